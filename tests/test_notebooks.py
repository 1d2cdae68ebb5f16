"""Smoke runs of every chapter with the `smoke` preset, through papermill like the book."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from latentsep import cli
from latentsep.book import build as book
from latentsep.book import colab
from latentsep.paths import repository_url

ROOT = Path(__file__).resolve().parents[1]
SOURCES = book.chapter_sources(ROOT / "notebooks")

#: Text that each executed chapter must show (proof that its cells really ran).
EXPECTED_OUTPUT = {
    "00_overview": [
        "0.1822",
        "preset 'smoke'",
        "tracks (train/test)",
        "torchaudio",
        "The example is chosen by rule",
    ],
    "01_data_preparation": [
        "4 train and 2 test tracks",
        "other_",
        "<audio",
        "Open-Unmix",
        "median SDR",
        "image/png",
    ],
    "02_autoencoder_training": [
        "level (dB)",
        "seed study (reported, MUSDB18)",
        "ours, vae (median)",
        "SI-SDR (dB)",
        "<audio",
        "parameters (M)",
        "image/png",
    ],
    "03_latent_analysis": [
        "linear probe accuracy",
        "silhouette, within a track (median)",
        "latent frames",
        "image/png",
    ],
    "05_results": [
        "seed study: guitar + piano mix (reported)",
        "ours (median, embedded test set)",
        "The study's method, reproduced",
        "Hoyer sparsity",
        "Separating without stems:",
        "of the oracle mask's",
        "not reported",  # not NaN, where the study reported nothing
        "classmask",
        "latentsep evaluate",  # how to add real stems, when none were given
    ],
    "06_beyond": [
        "NMF, oracle grouping",
        "nmf+latent",
        "nmf+harmonic",
        "nmf+streams",
        "mixit: 4 steps",
        "stemnet: 6 steps",
        "deepclustering",
        "supervisednmf",
        "nmf+classes",
        "nmf+classmask",
        "notenmf+classmask",
        "share of the oracle",
        "mixit sounding outputs",
        "counting rule",
        "× real time",
        "<audio",
    ],
    "07_performance": ["this machine", "torch"],
    "04_clustering": [
        "oracle IRM",
        "Hoyer sparsity",
        "SIR (dB)",
        "right (%)",
        "<audio",
        "Explorer, static view",
        "image/png",
    ],
}


def test_chapters_exist_in_order():
    assert [p.stem for p in SOURCES][:1] == ["00_overview"]
    assert all(p.stem in EXPECTED_OUTPUT for p in SOURCES), "add the new chapter's checks"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_chapter_structure(source: Path):
    nb = jupytext.read(source)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "preset =" in tagged[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "google.colab" in code[0].source, "first code cell installs the package in Colab"
    assert colab.badge_url(source.stem) in source.read_text(), "Open-in-Colab link"
    # a reader sees prose, numbers, figures and sound; the code folds behind a toggle
    folded = {"parameters", "remove-cell", "hide-input", "remove-input", "hide-cell"}
    shown = [c.source.splitlines()[0] for c in code if not folded & set(c.metadata.get("tags", []))]
    assert not shown, f"tag these code cells hide-input (or remove-input): {shown}"


def test_every_link_to_the_repository_is_the_one_in_pyproject():
    url = repository_url()
    for page in colab.linked_pages(ROOT / "notebooks"):
        text = page.read_text()
        assert colab.point_to_repository(text, url) == text, f"{page.name}: run `make colab`"
    for source in SOURCES:
        install = next(c for c in jupytext.read(source).cells if c.cell_type == "code")
        assert f'"latentsep @ git+{url}"' in install.source, source.name
    clone = f"git clone {url}"
    assert clone in (ROOT / "README.md").read_text()
    assert clone in (ROOT / "book" / "reproduce.md").read_text()


def test_a_fork_sets_its_address_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import shutil

    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copy(ROOT / "README.md", tmp_path)
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "reproduce.md", tmp_path / "book")
    fork = "https://github.com/someone/fork"
    monkeypatch.setattr(colab, "repository_url", lambda: fork)
    changed = {p.name for p in colab.sync(tmp_path / "notebooks")}
    assert {"README.md", "reproduce.md", "00_overview.md", "00_overview.ipynb"} <= changed
    old = repository_url().removeprefix("https://github.com/")
    for page in [*colab.linked_pages(tmp_path / "notebooks"), *tmp_path.glob("notebooks/colab/*")]:
        assert old not in page.read_text(), page.name
    text = (tmp_path / "notebooks" / "colab" / "04_clustering.ipynb").read_text()
    assert "git+https://github.com/someone/fork" in text
    assert (
        "git clone https://github.com/someone/fork && cd fork"
        in (tmp_path / "book" / "reproduce.md").read_text()
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_colab_copy_is_in_sync(source: Path):
    copy = ROOT / "notebooks" / "colab" / f"{source.stem}.ipynb"
    assert copy.exists(), "run `make colab` to write the Colab copies"
    assert copy.read_text() == colab.render_copy(source), "run `make colab`"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_chapter_runs_with_smoke_preset(source: Path, smoke_book: Path):
    nb = json.loads((smoke_book / "chapters" / f"{source.stem}.ipynb").read_text())
    text = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", o
            text.append(
                o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
            )
            for mime, value in o.get("data", {}).items():
                text.append(mime)
                text.append(value if isinstance(value, str) else "".join(map(str, value)))
    blob = "\n".join(text)
    for expected in EXPECTED_OUTPUT[source.stem]:
        assert expected in blob, f"{expected!r} missing from {source.stem}'s outputs"
    # one parameters box, with this run's values folded in from papermill's injected cell
    tags = [c["metadata"].get("tags", []) for c in nb["cells"]]
    assert not any("injected-parameters" in t for t in tags)
    (box,) = [c for c, t in zip(nb["cells"], tags, strict=True) if "parameters" in t]
    assert 'preset = "smoke"' in "".join(box["source"])
    assert nb["metadata"]["latentsep"]["key"], "the build record of the chapter cache"


@pytest.mark.slow
def test_sweep_collects_a_table_and_survives_a_failed_run(data_root: Path, tmp_path: Path):
    out = tmp_path / "sweep"
    code = cli.main(
        [
            "sweep",
            "04_clustering",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--grid",
            'methods=[["kmeans"], ["no-such-method"]]',
            "--grid",
            "n_tracks=[1]",
        ]
    )
    assert code == 1  # one run failed, and says so
    table = pd.read_csv(out / "results.csv")
    assert list(table["status"]) == ["ok", "failed"]
    assert "unknown separation method" in table.loc[1, "error"]
    ok = table.loc[0]
    assert np.isfinite(ok["median SI-SDRi kmeans"]) and ok["median SI-SDRi oracle IRM"] > 0
    assert (out / "results.png").is_file()
    assert len(list((out / "runs").glob("*.ipynb"))) == 2
