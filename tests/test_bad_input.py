"""Bad input fails before any work with one line naming the file and the problem; a failed
run never leaves half an output; long inputs are separated in blocks in flat memory."""

from __future__ import annotations

import dataclasses
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentsep import cli, separation
from latentsep.audio import AudioError
from latentsep.separation import blocks, streaming

RATE = 16000


def music(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Two "instruments": a low harmonic tone and a high one, notes changing every 0.5 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    out = np.zeros(n)
    for base in (110.0, 880.0):
        f = np.repeat(base * 2 ** (rng.integers(0, 12, size=n // (rate // 2) + 1) / 12), rate // 2)
        phase = 2 * np.pi * np.cumsum(f[:n]) / rate
        out += sum(0.2 / k * np.sin(k * phase) for k in range(1, 5))
    return (out / np.abs(out).max() * 0.5 + 0 * t)[None].astype(np.float32)


def _cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Bad input → (the command's arguments, what the one-line error must say)."""
    good = tmp / "good.wav"
    sf.write(good, music(3)[0], RATE, subtype="PCM_16")
    x = music(3)[0]
    sf.write(tmp / "cancel.wav", np.stack([x, -x], axis=1), RATE, subtype="PCM_16")
    blob = (tmp / "good.wav").read_bytes()
    (tmp / "truncated.wav").write_bytes(blob[: len(blob) // 2])
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("not audio")
    sf.write(tmp / "nan.wav", np.full(RATE, np.nan, np.float32), RATE, subtype="FLOAT")
    sf.write(tmp / "short.wav", x[: RATE // 10], RATE)
    sf.write(tmp / "zeros.wav", np.zeros(RATE), RATE)
    sf.write(tmp / "header.wav", np.zeros(0), RATE)
    (tmp / "a-file").write_text("")
    out = ["--out", str(tmp / "out")]
    return {
        "output folder is a file": (
            [str(good), "--out", str(tmp / "a-file")],
            "a-file: exists and is not a folder",
        ),
        "output folder under a file": (
            [str(good), "--out", str(tmp / "a-file" / "sub")],
            "is a file, not a folder",
        ),
        "channels cancel (L = -R, 16-bit)": ([str(tmp / "cancel.wav"), *out], "channels cancel"),
        "truncated wav": ([str(tmp / "truncated.wav"), *out], "truncated.wav: truncated"),
        "--n-sources 50, nmf": (
            [str(good), *out, "--method", "nmf", "--n-sources", "50"],
            "nmf gives at most 8 sources",
        ),
        "--n-sources 50, default method": (
            [str(good), *out, "--n-sources", "50"],
            f"{separation.DEFAULT_METHOD} gives at most 8 sources",
        ),
        "--n-sources 0": ([str(good), *out, "--n-sources", "0"], "must be >= 1"),
        "empty file": ([str(tmp / "empty.wav"), *out], "empty.wav: not a readable audio file"),
        "text named .wav": ([str(tmp / "text.wav"), *out], "text.wav: not a readable audio"),
        "NaN samples": ([str(tmp / "nan.wav"), *out], "nan.wav: contains NaN"),
        "0.1 s clip": ([str(tmp / "short.wav"), *out], "short.wav: too short"),
        "all-zero audio": ([str(tmp / "zeros.wav"), *out], "zeros.wav: is silent"),
        "header only": ([str(tmp / "header.wav"), *out], "header.wav: too short"),
        "missing file": ([str(tmp / "nope.wav"), *out], "nope.wav: no such file"),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, tuple[list[str], str]]:
    return _cases(tmp_path_factory.mktemp("bad"))


NAMES = [
    "output folder is a file",
    "output folder under a file",
    "channels cancel (L = -R, 16-bit)",
    "truncated wav",
    "--n-sources 50, nmf",
    "--n-sources 50, default method",
    "--n-sources 0",
    "empty file",
    "text named .wav",
    "NaN samples",
    "0.1 s clip",
    "all-zero audio",
    "header only",
    "missing file",
]


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_one_line_before_any_work(name: str, cases, capsys, monkeypatch):
    args, message = cases[name]
    monkeypatch.setattr(  # no separation may start
        streaming, "separate", lambda *a, **k: pytest.fail("separation started")
    )
    t0 = time.perf_counter()
    assert cli.main(["separate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert err.startswith("latentsep: ")
    assert time.perf_counter() - t0 < 5
    assert not (Path(args[0]).parent / "out").exists(), "an output folder was created"


def test_the_table_covers_every_case(cases):
    assert sorted(cases) == sorted(NAMES)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_folder_is_refused(tmp_path: Path, capsys):
    sf.write(tmp_path / "in.wav", music(3)[0], RATE)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["separate", str(tmp_path / "in.wav"), "--out", str(locked / "o")]) == 2
        assert "no permission to write" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_stale_sources_of_an_earlier_run_are_removed(tmp_path: Path, capsys):
    song = tmp_path / "song.wav"
    sf.write(song, music(4)[0], RATE)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli.main(["separate", str(song), "--out", str(out), "--n-sources", "3"]) == 0
    assert sorted(p.name for p in out.glob("source_*.wav")) == [
        f"source_{i}.wav" for i in (1, 2, 3)
    ]
    assert cli.main(["separate", str(song), "--out", str(out), "--n-sources", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "source_1.wav", "source_2.wav"]
    assert "2 sources" in capsys.readouterr().out


def test_a_failure_mid_run_leaves_the_earlier_output_untouched(tmp_path: Path, monkeypatch):
    song = tmp_path / "song.wav"
    sf.write(song, music(12)[0], RATE)
    out = tmp_path / "out"
    streaming.separate_file(song, out, None, "nmf", 2, block_seconds=4, overlap_seconds=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []
    real = streaming._fit  # called once per source of every block, whichever the method

    def fail_on_third_block(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:  # the third block's first source
            raise RuntimeError("out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(streaming, "_fit", fail_on_third_block)
    with pytest.raises(RuntimeError):
        streaming.separate_file(song, out, None, "nmf", 3, block_seconds=4, overlap_seconds=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary files


# --- separate() on arrays -----------------------------------------------------------------


def test_cancelled_stereo_is_refused_relative_to_its_level():
    x = music(2)
    quantised = np.round(x * 32767) / 32767
    stereo = np.concatenate([quantised, -quantised + 1.5e-5 * np.sign(quantised)])
    with pytest.raises(AudioError, match="clip.wav: its channels cancel"):
        separation.separate(stereo, None, rate=RATE, name="clip.wav")
    separation.separate(np.concatenate([x, 0.5 * x]), None, rate=RATE)  # a real stereo image


def test_more_sources_than_a_method_gives():
    with pytest.raises(ValueError, match="nmf gives at most 8 sources; 9 were asked for"):
        separation.separate(music(2), None, "nmf", 9, rate=RATE)
    spec = separation.get_method("mixit")
    assert spec.limit(4) == 4 and separation.get_method("nmf").limit(4) == 8


# --- blocks -------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [10, 100, 101, 250, 1000, 1001])
def test_blocks_cover_the_input_with_as_few_equal_blocks_as_fit(length: int):
    starts, size = blocks.block_starts(length, 100, 20)
    ends = [s + size for s in starts]
    assert starts[0] == 0 and ends[-1] == length and size <= 100
    assert all(b - a <= size - 20 for a, b in zip(starts, starts[1:], strict=False))  # overlap
    # one block fewer could not cover it: the work is as little as the limit allows
    assert len(starts) == 1 or (len(starts) - 1) * (100 - 20) + 20 < length
    with pytest.raises(ValueError, match="overlap"):
        blocks.block_starts(1000, 100, 100)


def test_stitching_undoes_each_blocks_permutation():
    """A "method" that returns the true sources of each block in a random order: the
    stitched output is the true sources, exactly (up to one order for the whole)."""
    x = music(13)
    on = (np.arange(x.shape[1]) % 3000) < 1500
    a, b = x * on, x * ~on
    mix = a + b
    block, overlap = 3 * RATE, RATE // 2
    starts = iter(blocks.block_starts(mix.shape[1], block, overlap)[0])
    rng = np.random.default_rng(1)

    def run(chunk: np.ndarray, n):
        s = next(starts)
        truth = [a[:, s : s + chunk.shape[1]], b[:, s : s + chunk.shape[1]]]
        return truth if rng.random() < 0.5 else truth[::-1]

    pieces = blocks.separate_in_blocks(
        lambda s, n: mix[:, s : s + n],
        mix.shape[1],
        RATE,
        run,
        None,
        blocks.rms(mix),
        block_seconds=3,
        overlap_seconds=0.5,
    )
    got = [np.concatenate(p, axis=-1) for p in zip(*pieces, strict=True)]
    if not np.allclose(got[0], a, atol=1e-6):
        got = got[::-1]
    np.testing.assert_allclose(got[0], a, atol=1e-6)
    np.testing.assert_allclose(got[1], b, atol=1e-6)


def test_long_arrays_are_separated_in_blocks_that_add_up(monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_SAMPLES", 4 * RATE)  # mono: 4-s blocks
    monkeypatch.setattr(blocks, "OVERLAP_SECONDS", 1.0)
    calls = []
    real = blocks.separate_in_blocks
    monkeypatch.setattr(
        blocks, "separate_in_blocks", lambda *a, **k: calls.append(k) or real(*a, **k)
    )
    x = music(11)
    sep = separation.separate(x, None, "nmf+harmonic", 2, rate=RATE)
    assert calls and calls[0]["block_seconds"] == 4.0  # 11 s in 4-s blocks
    assert sep.n_sources == 2 and all(s.shape == x.shape for s in sep.sources)
    np.testing.assert_allclose(np.sum(sep.sources, axis=0), x, atol=1e-4)
    again = separation.separate(x, None, "nmf+harmonic", 2, rate=RATE)
    assert all(np.array_equal(p, q) for p, q in zip(sep.sources, again.sources, strict=True))


def test_a_silent_stretch_gives_silent_sources(tmp_path: Path):
    x = music(12)
    x[:, 4 * RATE : 9 * RATE] = 0
    sf.write(tmp_path / "gap.wav", x[0], RATE, subtype="FLOAT")
    paths, _ = streaming.separate_file(
        tmp_path / "gap.wav", tmp_path / "o", None, "nmf", 2, block_seconds=2, overlap_seconds=0.5
    )
    sources = np.stack([sf.read(p, always_2d=True)[0].T for p in paths])
    assert np.abs(sources[:, :, int(5.5 * RATE) : int(7.5 * RATE)]).max() == 0
    np.testing.assert_allclose(sources.sum(axis=0), x, atol=1e-4)


def test_separate_file_matches_separate_on_a_short_input(tmp_path: Path):
    x = music(3)
    sf.write(tmp_path / "in.wav", x[0], RATE, subtype="FLOAT")
    paths, _ = streaming.separate_file(tmp_path / "in.wav", tmp_path / "o", None, "nmf+harmonic", 2)
    sep = separation.separate(x, None, "nmf+harmonic", 2, rate=RATE)
    for p, s in zip(paths, sep.sources, strict=True):
        np.testing.assert_allclose(sf.read(p, always_2d=True, dtype="float32")[0].T, s, atol=1e-7)


def test_memory_stays_flat_in_the_inputs_length(tmp_path: Path, monkeypatch):
    """Peak traced memory (numpy's arrays included) of a file 4× longer stays the same."""
    monkeypatch.setattr(blocks, "FIT_SECONDS", 8.0)  # what a fitted method learns from is
    monkeypatch.setattr(blocks, "FIT_CHUNKS", 8)  # bounded (40 s): here below either length
    peaks = {}
    for seconds in (12, 48):
        path = tmp_path / f"{seconds}.wav"
        with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="FLOAT") as f:
            for i in range(seconds // 12):
                f.write(music(12, seed=i)[0])
        tracemalloc.start()
        streaming.separate_file(
            path, tmp_path / f"o{seconds}", None, "nmf", 2, block_seconds=4, overlap_seconds=1
        )
        peaks[seconds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[48] < 1.25 * peaks[12], peaks


@pytest.mark.parametrize("method", ["nmf", "nmf+harmonic", "nmf+streams"])
def test_a_long_input_keeps_each_instrument_in_one_output(tmp_path: Path, method: str, monkeypatch):
    """Issue 24: a 4-s piece looped six times and separated in 5-s blocks. The method is
    fitted once, on a sample of the whole file, so each output holds the same sound in every
    repetition, whichever block it falls in."""
    calls = []
    spec = separation.get_method(method)
    fit = spec.fit
    monkeypatch.setitem(
        separation.METHODS,
        method,
        dataclasses.replace(spec, fit=lambda *a, **k: calls.append(1) or fit(*a, **k)),
    )
    x = np.tile(music(4, seed=3), 6)
    sf.write(tmp_path / "loop.wav", x[0], RATE, subtype="FLOAT")
    paths, _ = streaming.separate_file(
        tmp_path / "loop.wav", tmp_path / "o", None, method, 2, block_seconds=5, overlap_seconds=1
    )
    assert calls == [1], "fitted once for the whole file"
    sources = np.stack([sf.read(p, always_2d=True, dtype="float32")[0].T for p in paths])
    np.testing.assert_allclose(sources.sum(axis=0), x, atol=1e-4)
    # each repetition's middle 3 s (the file's own edges differ by the STFT's padding):
    # fitted per block instead, the last repetition is 45–99 % off; fitted once, 3 % at most
    loops = sources[:, 0].reshape(2, 6, 4 * RATE)[:, :, RATE // 2 : -RATE // 2]
    for out in loops:
        for rep in out:
            assert np.linalg.norm(rep - out[1]) < 0.1 * np.linalg.norm(out[1])
