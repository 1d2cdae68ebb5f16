"""``latentsep evaluate``: methods scored on multitrack stems from a plain folder or through
mirdata; every bad input is one line and exit 2 before any work (issue 22)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from latentsep import cli
from latentsep.evaluation import multitrack

RATE = 16000
METHODS = "mixture,oracle IRM,nmf+harmonic"


def tone(seconds: float, base: float, odd: bool, seed: int, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n, step = int(seconds * rate), rate // 4
    f = np.repeat(base * 2 ** (rng.integers(0, 12, size=n // step + 1) / 12), step)[:n]
    phase = 2 * np.pi * np.cumsum(f) / rate
    ks = range(1, 10, 2) if odd else range(1, 10)
    return (sum(0.1 / k * np.sin(k * phase) for k in ks)).astype(np.float32)


def write_piece(folder: Path, n: int = 2, seconds: float = 2.0, seed: int = 0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    stems = {}
    for i, name in enumerate(["clarinet", "flute", "viola"][:n]):
        stems[name] = tone(seconds, 110 * (i + 2), i % 2 == 0, seed + i)
        sf.write(folder / f"{name}.wav", stems[name], RATE)
    return stems


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(["evaluate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_folder_of_stems_is_scored(tmp_path: Path, capsys):
    write_piece(tmp_path / "stems" / "duo", 2)
    write_piece(tmp_path / "stems" / "trio", 3, seed=5)
    stems = write_piece(tmp_path / "stems" / "with_mix", 2, seed=9)
    sf.write(tmp_path / "stems" / "with_mix" / "mix.wav", sum(stems.values()), RATE)
    out = tmp_path / "out"
    code, text, err = run(
        [str(tmp_path / "stems"), "--methods", METHODS, "--out", str(out)], capsys
    )
    assert code == 0, err
    assert "3 pieces, 7 instruments" in text and "nmf+harmonic" in text
    summary = pd.read_csv(out / "summary.csv").set_index("method")
    assert summary.loc["oracle IRM", "median SI-SDRi (dB)"] > 10
    assert summary.loc["mixture", "median SI-SDRi (dB)"] == pytest.approx(0.0, abs=1e-6)
    assert {"2 instruments", "3 instruments", "count right (%)"} <= set(summary.columns)
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["track"]) == {"duo", "trio", "with_mix"}
    assert set(scores[scores["track"] == "trio"]["source"]) == {"clarinet", "flute", "viola"}


def test_a_folder_of_audio_files_is_one_piece(tmp_path: Path):
    write_piece(tmp_path / "duo", 2)
    pieces = multitrack.read_folder(tmp_path / "duo")
    assert [p.name for p in pieces] == ["duo"] and sorted(pieces[0].stems) == ["clarinet", "flute"]
    assert np.allclose(pieces[0].mixture, sum(pieces[0].stems.values()))


def _bad(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Bad input -> (arguments, what the one-line error says)."""
    cases = {}
    (tmp / "empty").mkdir()
    cases["empty folder"] = ([str(tmp / "empty")], "empty")
    write_piece(tmp / "solo" / "p", 1)
    cases["one stem"] = ([str(tmp / "solo")], "at least two instrument stems, found 1")
    write_piece(tmp / "lengths" / "p", 2)
    sf.write(tmp / "lengths" / "p" / "flute.wav", tone(1.5, 330, False, 1), RATE)
    cases["different lengths"] = ([str(tmp / "lengths")], "stems of different lengths")
    write_piece(tmp / "rates" / "p", 2)
    sf.write(tmp / "rates" / "p" / "flute.wav", tone(2.0, 330, False, 1, 22050), 22050)
    cases["different rates"] = ([str(tmp / "rates")], "stems at different sample rates")
    write_piece(tmp / "garbage" / "p", 2)
    (tmp / "garbage" / "p" / "flute.wav").write_bytes(b"RIFF not really a wav")
    cases["unreadable stem"] = ([str(tmp / "garbage")], "flute.wav: not a readable audio file")
    write_piece(tmp / "silent" / "p", 2)
    sf.write(tmp / "silent" / "p" / "flute.wav", np.zeros(2 * RATE, np.float32), RATE)
    cases["silent stem"] = ([str(tmp / "silent")], "flute.wav: the stem is silent")
    stems = write_piece(tmp / "badmix" / "p", 2)
    sf.write(tmp / "badmix" / "p" / "mix.wav", stems["clarinet"], RATE)
    cases["mix not the sum"] = ([str(tmp / "badmix")], "mix.wav: the mix is not the sum")
    cases["no such folder"] = ([str(tmp / "nowhere")], "no such folder")
    cases["folder and dataset"] = (
        [str(tmp / "solo"), "--dataset", "urmp"],
        "give a folder of stems or --dataset",
    )
    cases["unknown method"] = ([str(tmp / "solo"), "--methods", "nope"], "unknown separation")
    cases["unknown dataset"] = (["--dataset", "nope", "--data-home", str(tmp)], "dataset 'nope'")
    cases["missing data home"] = (
        ["--dataset", "phenicx_anechoic", "--data-home", str(tmp / "nowhere")],
        "no such folder",
    )
    return cases


@pytest.mark.parametrize(
    "name",
    [
        "empty folder",
        "one stem",
        "different lengths",
        "different rates",
        "unreadable stem",
        "silent stem",
        "mix not the sum",
        "no such folder",
        "folder and dataset",
        "unknown method",
        "unknown dataset",
        "missing data home",
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_work(
    name, tmp_path: Path, capsys, monkeypatch
):
    args, message = _bad(tmp_path)[name]
    out = tmp_path / "out"

    def no_work(*a, **k):
        raise AssertionError("evaluated although the input was bad")

    from latentsep import pipeline

    monkeypatch.setattr(pipeline, "evaluate_multitrack", no_work)
    extra = [] if "--methods" in args else ["--methods", METHODS]
    code, _, err = run([*args, *extra, "--out", str(out)], capsys)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def _fake_mirdata(root: Path) -> types.ModuleType:
    """A stand-in with mirdata 1.0's multitrack API (initialize → mtrack_ids, multitrack(),
    MultiTrack.tracks and track_audio_property), over stems written under ``root``."""
    write_piece(root / "piece_a", 2)
    write_piece(root / "piece_b", 3, seed=4)

    class Track:
        def __init__(self, path: Path):
            self.instrument, self.path = path.stem, path

        @property
        def audio(self):
            y, sr = sf.read(self.path, dtype="float32")
            return y, sr

    class MultiTrack:
        track_audio_property = "audio"

        def __init__(self, folder: Path):
            self.tracks = {
                f"{folder.name}-{p.stem}": Track(p) for p in sorted(folder.glob("*.wav"))
            }

    class Dataset:
        def __init__(self, data_home: str):
            self.home = Path(data_home)
            self.mtrack_ids = sorted(p.name for p in self.home.iterdir() if p.is_dir())

        def multitrack(self, mtrack_id: str) -> MultiTrack:
            return MultiTrack(self.home / mtrack_id)

    module = types.ModuleType("mirdata")
    module.initialize = lambda name, data_home=None, version="default": Dataset(data_home)
    return module


def test_a_mirdata_dataset_is_read_through_its_loader(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mirdata", _fake_mirdata(tmp_path / "home"))
    pieces = multitrack.read_mirdata("phenicx_anechoic", tmp_path / "home")
    assert [p.name for p in pieces] == ["phenicx_anechoic/piece_a", "phenicx_anechoic/piece_b"]
    assert sorted(pieces[1].stems) == ["clarinet", "flute", "viola"]
    assert pieces[0].rate == RATE
    assert len(multitrack.read_mirdata("phenicx_anechoic", tmp_path / "home", limit=1)) == 1


def test_a_missing_mirdata_file_is_one_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mirdata", _fake_mirdata(tmp_path / "home"))
    (tmp_path / "home" / "piece_a" / "clarinet.wav").write_bytes(b"")
    with pytest.raises(multitrack.MultitrackError, match="piece_a-clarinet: mirdata could not"):
        multitrack.read_mirdata("phenicx_anechoic", tmp_path / "home")


@pytest.mark.skipif(
    not os.environ.get("LATENTSEP_REAL_STEMS"),
    reason="real multitrack stems are not committed (licences, and this project's rule on "
    "fetched data): set LATENTSEP_REAL_STEMS to a folder of them to run this",
)
def test_real_stems_are_scored(capsys, tmp_path: Path):  # pragma: no cover - optional
    code, text, err = run(
        [os.environ["LATENTSEP_REAL_STEMS"], "--methods", METHODS, "--out", str(tmp_path)], capsys
    )
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("method")
    assert summary.loc["oracle IRM", "median SI-SDRi (dB)"] > 5
