"""``latentsep evaluate``: methods scored on multitrack stems from a plain folder or through
mirdata; every bad input is one line and exit 2 before any work (issue 22)."""

from __future__ import annotations

import dataclasses
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
    assert [p.name for p in pieces] == ["duo"]
    assert sorted(s.name for s in pieces[0].stems) == ["clarinet", "flute"]
    assert np.allclose(pieces[0].mixture, sum(pieces[0].read().values()))


def _bad(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Bad input -> (arguments, what the one-line error says)."""
    cases = {}
    (tmp / "empty").mkdir()
    cases["empty folder"] = ([str(tmp / "empty")], "empty")
    write_piece(tmp / "solo" / "p", 1)
    cases["one stem"] = ([str(tmp / "solo")], "no piece has two sounding")
    cases["one stem, strict"] = (
        [str(tmp / "solo"), "--strict"],
        "at least two instrument stems, found 1",
    )
    write_piece(tmp / "lengths" / "p", 2)
    sf.write(tmp / "lengths" / "p" / "flute.wav", tone(1.5, 330, False, 1), RATE)
    cases["different lengths"] = ([str(tmp / "lengths")], "stems of different lengths")
    write_piece(tmp / "rates" / "p", 2)
    sf.write(tmp / "rates" / "p" / "flute.wav", tone(2.0, 330, False, 1, 22050), 22050)
    cases["different rates, strict"] = (
        [str(tmp / "rates"), "--strict"],
        "stems at different sample rates",
    )
    write_piece(tmp / "garbage" / "p", 2)
    (tmp / "garbage" / "p" / "flute.wav").write_bytes(b"RIFF not really a wav")
    cases["unreadable stem"] = ([str(tmp / "garbage")], "flute.wav: not a readable audio file")
    write_piece(tmp / "silent" / "p", 2)
    sf.write(tmp / "silent" / "p" / "flute.wav", np.zeros(2 * RATE, np.float32), RATE)
    cases["silent stem, strict"] = (
        [str(tmp / "silent"), "--strict"],
        "flute.wav: the stem is silent",
    )
    write_piece(tmp / "rest" / "p", 2)
    sf.write(tmp / "rest" / "p" / "flute.wav", np.zeros(2 * RATE, np.float32), RATE)
    cases["only one sounding stem anywhere"] = ([str(tmp / "rest")], "no piece has two sounding")
    write_piece(tmp / "nan" / "p", 2)
    bad = tone(2.0, 330, False, 1)
    bad[100] = np.nan
    sf.write(tmp / "nan" / "p" / "flute.wav", bad, RATE, subtype="FLOAT")
    cases["NaN"] = ([str(tmp / "nan")], "flute.wav: contains NaN")
    stems = write_piece(tmp / "badmix" / "p", 2)
    sf.write(tmp / "badmix" / "p" / "mix.wav", stems["clarinet"], RATE)
    cases["mix not the sum"] = ([str(tmp / "badmix")], "mix.wav: the mix is not the sum")
    cases["no such folder"] = ([str(tmp / "nowhere")], "no such folder")
    cases["folder and dataset"] = (
        [str(tmp / "solo"), "--dataset", "urmp"],
        "give a folder of stems or --dataset",
    )
    cases["unknown method"] = ([str(tmp / "solo"), "--methods", "nope"], "unknown separation")
    cases["an unmade network"] = (
        [str(tmp / "solo"), "--methods", "mixture,deepclustering"],
        "deepclustering",
    )
    cases["an untrained autoencoder"] = (
        [str(tmp / "solo"), "--methods", "kmeans", "--preset", "smoke"],
        "kmeans needs the autoencoder, which is not trained for preset smoke",
    )
    cases["a hop without a segment"] = ([str(tmp / "solo"), "--hop", "2"], "--hop needs")
    cases["no jobs"] = ([str(tmp / "solo"), "--jobs", "0"], "--jobs must be at least 1")
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
        "one stem, strict",
        "different lengths",
        "different rates, strict",
        "unreadable stem",
        "silent stem, strict",
        "only one sounding stem anywhere",
        "NaN",
        "mix not the sum",
        "no such folder",
        "folder and dataset",
        "unknown method",
        "an unmade network",
        "an untrained autoencoder",
        "a hop without a segment",
        "no jobs",
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

    monkeypatch.setattr(pipeline, "evaluate_real", no_work)
    if name == "an untrained autoencoder":
        # The session's data folder may hold a smoke autoencoder another test trained.
        monkeypatch.setenv("LATENTSEP_DATA", str(tmp_path / "data"))
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
    assert sorted(s.name for s in pieces[1].stems) == ["clarinet", "flute", "viola"]
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


# --- real data as people have it (issue 48) -------------------------------------------------


def _zoo(tmp: Path) -> Path:
    """One set holding every awkward thing real multitrack sets hold, each beside pieces
    that can be scored."""
    root = tmp / "zoo"
    stems = write_piece(root / "resting", 3, seed=1)
    sf.write(root / "resting" / "viola.wav", np.zeros_like(stems["viola"]), RATE)
    write_piece(root / "empty file", 2, seed=2)
    (root / "empty file" / "oboe.wav").write_bytes(b"")
    write_piece(root / "a few samples", 2, seed=3)
    sf.write(root / "a few samples" / "flute.wav", tone(2.0, 330, False, 3)[:-7], RATE)
    stems = write_piece(root / "mono and stereo", 2, seed=4)
    sf.write(root / "mono and stereo" / "flute.wav", np.stack([stems["flute"]] * 2, 1), RATE)
    write_piece(root / "two rates", 2, seed=5)
    sf.write(root / "two rates" / "flute.wav", tone(2.0, 330, False, 5, 22050), 22050)
    write_piece(root / "one stem", 1, seed=6)
    return root


def test_a_set_of_awkward_real_pieces_is_scored_with_a_note_for_each(tmp_path: Path, capsys):
    out = tmp_path / "out"
    code, text, err = run(
        [
            str(_zoo(tmp_path)),
            "--methods",
            "mixture,NMF, oracle grouping,oracle-irm",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    assert "resting/viola.wav: silent, left out" in err
    assert "empty file/oboe.wav: empty, left out" in err
    assert "a few samples: stems of lengths differing by 7 samples, trimmed" in err
    assert "two rates: stems at different sample rates" in err and "resampled to 22050" in err
    assert "skipped: one stem: fewer than two sounding instrument stems (1)" in err
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["track"]) == {
        "resting",
        "empty file",
        "a few samples",
        "mono and stereo",
        "two rates",
    }
    assert set(scores[scores["track"] == "resting"]["source"]) == {"clarinet", "flute"}
    # a comma in a name, and its identifier, name one method
    assert set(scores["method"]) == {"mixture", "NMF, oracle grouping", "oracle IRM"}
    summary = pd.read_csv(out / "summary.csv").set_index("method")
    assert summary.loc["oracle IRM", "median SI-SDRi (dB)"] > 10
    assert "s per s of audio" in summary.columns


def test_a_piece_a_method_cannot_give_is_a_row_not_a_crash(tmp_path: Path, capsys):
    write_piece(tmp_path / "set" / "trio", 3)
    write_piece(tmp_path / "set" / "duo", 2, seed=3)
    out = tmp_path / "out"
    from latentsep.separation import METHODS, get_method

    two = dataclasses.replace(get_method("nmf+harmonic"), name="two at most", max_sources=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(METHODS, "two at most", two)
        code, text, err = run(
            [
                str(tmp_path / "set"),
                "--methods",
                "mixture,two-at-most",
                "--out",
                str(out),
                "--no-count",
            ],
            capsys,
        )
    assert code == 0, err
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped[["track", "method"]].values.tolist() == [["trio", "two at most"]]
    assert "gives at most 2 sources; 3 instruments sound in it" in skipped["why"][0]
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores[scores["method"] == "two at most"]["track"]) == {"duo"}


def test_a_full_song_is_scored_as_excerpts_read_one_window_at_a_time(
    tmp_path: Path, capsys, monkeypatch
):
    write_piece(tmp_path / "set" / "song", 2, seconds=9.0)
    reads = []
    real_read = sf.read

    def spy(path, *a, frames=-1, **k):
        reads.append(frames)
        return real_read(path, *a, frames=frames, **k)

    monkeypatch.setattr(multitrack.sf, "read", spy)
    out = tmp_path / "out"
    code, text, err = run(
        [
            str(tmp_path / "set"),
            "--methods",
            "mixture,oracle-irm",
            "--segment",
            "3",
            "--hop",
            "2",
            "--out",
            str(out),
            "--no-count",
        ],
        capsys,
    )
    assert code == 0, err
    scores = pd.read_csv(out / "scores.csv")
    # windows at 0, 2, 4 and 6 s: the last one that fits ends at 9 s
    assert sorted(set(scores["track"])) == [f"song [{a:.1f}-{a + 3:.1f} s]" for a in (0, 2, 4, 6)]
    assert set(scores["piece"]) == {"song"}
    assert 0 < max(reads) <= multitrack.SCAN_FRAMES  # no read of the whole song at once
    summary = pd.read_csv(out / "summary.csv").set_index("method")
    per_piece = scores[scores["method"] == "oracle IRM"].groupby("source")["SI-SDRi (dB)"].median()
    assert summary.loc["oracle IRM", "median SI-SDRi (dB)"] == pytest.approx(per_piece.median())


def _timeless(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in ("seconds", "× real time") if c in table.columns])


def test_a_killed_evaluation_rerun_ends_with_the_tables_of_an_uninterrupted_one(tmp_path: Path):
    import signal
    import subprocess
    import time

    for k in range(4):
        write_piece(tmp_path / "set" / f"piece{k}", 2 + k % 2, seconds=3.0, seed=k)
    args = [
        sys.executable,
        "-m",
        "latentsep",
        "evaluate",
        str(tmp_path / "set"),
        "--methods",
        "mixture,nmf+harmonic,oracle-irm",
    ]
    whole = tmp_path / "whole"
    subprocess.run([*args, "--out", str(whole)], check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*args, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    parts = killed / ".parts"
    while time.monotonic() < deadline and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("*.json")))
    assert 0 < done < len(list((whole / ".parts").glob("*.json"))), "not killed halfway"
    rerun = subprocess.run(
        [*args, "--out", str(killed)], check=True, capture_output=True, text=True
    )
    assert f"{done} scores of an earlier run reused" in rerun.stderr
    for name in ("scores", "runs", "counts", "skipped"):
        a = _timeless(pd.read_csv(whole / f"{name}.csv"))
        b = _timeless(pd.read_csv(killed / f"{name}.csv"))
        pd.testing.assert_frame_equal(a, b)


def test_workers_end_with_a_killed_evaluation(tmp_path: Path):
    """``--jobs`` workers do not outlive the command: orphans would go on taking the cores."""
    import signal
    import subprocess
    import time

    psutil = pytest.importorskip("psutil")
    for k in range(4):
        write_piece(tmp_path / "set" / f"piece{k}", 2, seconds=3.0, seed=k)
    proc = subprocess.Popen(
        [sys.executable, "-m", "latentsep", "evaluate", str(tmp_path / "set"), "--jobs", "2",
         "--methods", "mixture,nmf+streams", "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline, workers = time.monotonic() + 120, []
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = [
            c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())
        ]
        time.sleep(0.1)
    assert len(workers) == 2, "no workers started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def running(w) -> bool:  # an exited worker may stay a zombie until init reaps it
        try:
            return w.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 10
    while any(map(running, workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if running(w)]
    for w in alive:
        w.kill()
    assert not alive, f"{len(alive)} workers outlived the command"


def test_pieces_scored_in_parallel_give_the_same_scores(tmp_path: Path, capsys):
    for k in range(3):
        write_piece(tmp_path / "set" / f"piece{k}", 2, seed=k)
    tables = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        code, _, err = run(
            [
                str(tmp_path / "set"),
                "--methods",
                "mixture,nmf+harmonic",
                "--jobs",
                str(jobs),
                "--out",
                str(out),
                "--no-count",
            ],
            capsys,
        )
        assert code == 0, err
        assert "ETA" in err
        tables[jobs] = pd.read_csv(out / "scores.csv")
    pd.testing.assert_frame_equal(tables[1], tables[2])
