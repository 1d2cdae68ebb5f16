import json
import math
import re

import pytest

import latentsep
from latentsep import cli, presets
from latentsep.book import report
from latentsep.presets import PresetError, get_preset


def test_version_is_reported():
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", latentsep.__version__)


def test_heavy_dependencies_import_together():
    # encodec and openunmix import torchaudio at import time: the pinned pair must load.
    import encodec  # noqa: F401
    import musdb  # noqa: F401
    import openunmix  # noqa: F401
    import torchaudio

    assert torchaudio.__version__


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_every_preset_validates(name):
    p = get_preset(name)
    assert p.name == name
    assert p.model.hop_length == math.prod(p.model.ratios)


def test_paper_preset_is_the_study():
    p = get_preset("paper")
    assert (p.model.channels, p.model.sample_rate) == (2, 44100)
    assert p.model.ratios == (4, 4, 4, 2) and p.model.dimension == 512
    assert p.model.n_filters == 48 and p.model.final_activation == "Tanh"
    assert p.train.epochs == 24 and p.train.fft_sizes == (512, 1024, 2048)
    assert (p.data.n_train, p.data.n_test) == (130, 20)


def test_overrides_are_typed_from_strings():
    p = get_preset(
        "smoke",
        {
            "train.epochs": "3",
            "model.ratios": "[2, 2]",
            "train.study_schedule": "true",
            "model.latent": "vae",
        },
    )
    assert p.train.epochs == 3 and p.model.ratios == (2, 2)
    assert p.train.study_schedule is True and p.model.latent == "vae"
    assert p.model.hop_length == 4


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("nope", {}, "unknown preset 'nope'"),
        ("cpu", {"train.epoch": 2}, "unknown preset field 'train.epoch'"),
        ("cpu", {"train.epochs": "many"}, "cannot use 'many' as int"),
        ("cpu", {"model.latent": "gan"}, "model.latent"),
        ("cpu", {"data.max_other": 5}, "max_other"),
    ],
)
def test_bad_presets_say_what_is_wrong(name, overrides, message):
    with pytest.raises(PresetError, match=re.escape(message)):
        get_preset(name, overrides)


def test_cli_prints_resolved_preset(capsys):
    assert cli.main(["presets", "--preset", "smoke", "--set", "train.epochs=7"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "smoke" and out["train"]["epochs"] == 7


def test_cli_rejects_bad_override(capsys):
    assert cli.main(["presets", "--set", "train.epochs"]) == 2
    assert "section.field=value" in capsys.readouterr().err


def test_sweep_grid_parsing():
    from latentsep.book import sweep

    grid = sweep.parse_grid(["seed=[0, 1]", 'methods=[["kmeans"], ["nmf"]]', "preset=cpu"])
    assert grid == {"seed": [0, 1], "methods": [["kmeans"], ["nmf"]], "preset": ["cpu"]}
    assert len(sweep.combinations(grid)) == 4
    with pytest.raises(ValueError, match="name=JSON"):
        sweep.parse_grid(["seed"])


def test_record_round_trip(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from latentsep.book import report\n"
            "report.record('x', 1.5)\nreport.record('name', 'kmeans')"
        )
    ]
    NotebookClient(nb, kernel_name="python3").execute()
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert report.recorded(path) == {"x": 1.5, "name": "kmeans"}


def test_drop_stderr_keeps_everything_else(tmp_path):
    import nbformat

    from latentsep.book import build as book

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="progress 50%"),
        nbformat.v4.new_output("stream", name="stdout", text="result"),
    ]
    nb.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    book.drop_stderr(path)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [o["name"] for o in outputs] == ["stdout"]


def test_the_listening_window_is_where_every_instrument_sounds():
    import numpy as np

    rate = 100
    t = np.arange(20 * rate)
    piano = np.sin(t)[None].astype(np.float32)
    organ = (np.sin(0.5 * t) * (t >= 12 * rate))[None].astype(np.float32)  # rests 12 s
    window = report.audible_window([piano, organ], rate, seconds=6)
    assert window.stop - window.start == 6 * rate
    assert window.start >= 12 * rate - rate  # not the first 6 s, where the organ is silent
    assert np.mean(organ[..., window] ** 2) > 0.3 * np.mean(piano[..., window] ** 2)
    short = report.audible_window([piano[..., :300], organ[..., :300]], rate, seconds=6)
    assert (short.start, short.stop) == (0, 300)


def test_a_measurement_names_its_commit_and_a_changed_tree(tmp_path):
    """``device.measured_on``: the commit of the checkout, "+changes" once a watched folder
    differs from it — read from the checkout's root even when asked from a subfolder."""
    import subprocess

    from latentsep.device import measured_on

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "src").mkdir()
    (tmp_path / "bench").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = measured_on(tmp_path / "bench", ("src",))
    assert clean["commit"] and not clean["commit"].endswith("+changes")
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    assert measured_on(tmp_path / "bench", ("src",))["commit"] == clean["commit"] + "+changes"
    assert not measured_on(tmp_path / "bench", ("bench",))["commit"].endswith("+changes")
    # a run's own results, written before its next measurement, do not count as a change
    git("checkout", "-q", "--", "src")
    (tmp_path / "bench" / "results").mkdir()
    (tmp_path / "bench" / "results" / "r.json").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two")
    (tmp_path / "bench" / "results" / "r.json").write_text("{1}\n")
    watched = ("src", "bench", "!bench/results")
    assert not measured_on(tmp_path / "bench", watched)["commit"].endswith("+changes")
    assert measured_on(tmp_path / "bench", ("bench",))["commit"].endswith("+changes")
