"""The embedded dataset, the MUSDB reader and their errors, on small fixtures made here."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import musdb
import numpy as np
import pytest
import soundfile as sf

from latentsep import pipeline
from latentsep.audio import AudioError, check_audio, load_audio, save_audio
from latentsep.data import musdb as reader
from latentsep.data import render
from latentsep.data.musdb import DatasetError
from latentsep.presets import get_preset

CFG = get_preset("smoke").data


def key(cfg) -> str:
    return pipeline.dataset_artifact(cfg).key


@pytest.fixture(scope="session")
def smoke_root(data_root: Path) -> Path:
    return pipeline.dataset(CFG, progress=False)


@pytest.fixture
def track_copy(smoke_root: Path, tmp_path: Path) -> Path:
    """A one-track MUSDB root, free to break."""
    src = next((smoke_root / "test").iterdir())
    dst = tmp_path / "db" / "test" / src.name
    shutil.copytree(src, dst)
    return dst


def test_same_seed_gives_bit_identical_files(smoke_root: Path, tmp_path: Path):
    again = render.build(CFG, tmp_path / "again", key(CFG), progress=False)
    a = render.load_manifest(smoke_root)["files"]
    b = render.load_manifest(again)["files"]
    assert a == b and len(a) > 6 * 5


def test_a_stored_plan_reads_back_equal_and_renders_the_same_files(
    smoke_root: Path, tmp_path: Path
):
    planned = render.plan(CFG)
    path = render.save_plan(planned, tmp_path / "plan.json.gz")
    assert render.load_plan(path) == planned
    again = render.build(
        CFG, tmp_path / "again", key(CFG), progress=False, plan_of=lambda _: render.load_plan(path)
    )
    assert render.load_manifest(again)["files"] == render.load_manifest(smoke_root)["files"]


def test_other_seed_differs(tmp_path: Path):
    cfg = get_preset("smoke", {"data.seed": 1, "data.n_train": 1, "data.n_test": 1}).data
    base = get_preset("smoke", {"data.n_train": 1, "data.n_test": 1}).data
    a = render.load_manifest(render.build(cfg, tmp_path / "a", key(cfg), progress=False))
    b = render.load_manifest(render.build(base, tmp_path / "b", key(base), progress=False))
    assert a["files"] != b["files"]


def test_matching_manifest_is_reused(smoke_root: Path, monkeypatch):
    monkeypatch.setattr(render, "plan", lambda cfg: pytest.fail("should not re-render"))
    assert pipeline.dataset(CFG, progress=False) == smoke_root
    assert render.build(CFG, smoke_root, key(CFG), progress=False, verify=True) == smoke_root


def test_damaged_build_is_rebuilt(tmp_path: Path):
    cfg = get_preset("smoke", {"data.n_train": 1, "data.n_test": 1}).data
    root = render.build(cfg, tmp_path / "d", key(cfg), progress=False)
    victim = next(root.rglob("bass.wav"))
    victim.write_bytes(b"broken")
    render.build(cfg, root, key(cfg), progress=False)
    assert sf.info(str(victim)).frames == int(cfg.excerpt_seconds * cfg.sample_rate)


def test_interrupted_build_leaves_nothing(tmp_path: Path, monkeypatch):
    calls = []

    def explode(spec, piece, cfg, *soundfont):
        calls.append(spec.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(spec, piece, cfg, *soundfont)

    real = render.render_track
    monkeypatch.setattr(render, "render_track", explode)
    cfg = get_preset("smoke", {"data.n_train": 2, "data.n_test": 1}).data
    with pytest.raises(KeyboardInterrupt):
        render.build(cfg, tmp_path / "x", key(cfg), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_musdb_reads_the_layout(smoke_root: Path):
    for subset, n in (("train", CFG.n_train), ("test", CFG.n_test)):
        db = musdb.DB(root=str(smoke_root), subsets=subset, is_wav=True)
        assert len(db) == n
        track = db.tracks[0]
        assert track.rate == CFG.sample_rate
        assert track.targets["other"].audio.shape == (int(CFG.excerpt_seconds * track.rate), 2)


def test_stems_sum_to_mixture(smoke_root: Path):
    for subset in ("train", "test"):
        for t in reader.load_tracks(smoke_root, subset):
            total = sum(t.stems[s] for s in reader.STEMS)
            np.testing.assert_allclose(total, t.mixture, atol=1e-6)
            np.testing.assert_allclose(sum(t.other_parts.values()), t.stems["other"], atol=1e-6)
            assert CFG.min_other <= len(t.other_parts) <= CFG.max_other
            assert np.abs(t.mixture).max() <= render.PEAK + 1e-6
            for name, x in t.other_parts.items():
                assert np.sqrt(np.mean(x**2)) > 1e-3, f"{t.name}: {name} is (nearly) silent"


def test_metadata_describes_each_track(smoke_root: Path):
    for folder in (smoke_root / "train").iterdir():
        meta = json.loads((folder / "metadata.json").read_text())
        names = {s["name"] for s in meta["stems"]}
        assert {"vocals", "bass", "drums"} <= names
        classes = [s["instrument_class"] for s in meta["stems"] if s["name"].startswith("other_")]
        assert len(classes) == len(set(classes)), "instruments of 'other' differ in class"
        assert {f"other_{c}.wav" for c in classes} <= {p.name for p in folder.glob("*.wav")}
        assert meta["piece_id"] and meta["tempo_bpm"] > 0 and meta["seed"][0] == CFG.seed


def test_split_is_by_work(smoke_root: Path):
    tracks = render.load_manifest(smoke_root)["tracks"]
    groups = {
        s: {render.piece_group(t["piece"]) for t in tracks if t["subset"] == s}
        for s in ("train", "test")
    }
    assert groups["train"] and groups["test"] and not groups["train"] & groups["test"]
    # the split of a piece does not depend on how many tracks are asked for
    bigger = get_preset("smoke", {"data.n_train": 40}).data
    assert all(render.piece_subset(t["piece"], bigger) == t["subset"] for t in tracks)


# --- bad input -------------------------------------------------------------------------


def test_missing_root_is_named(tmp_path: Path):
    with pytest.raises(DatasetError, match="MUSDB root does not exist"):
        reader.open_db(tmp_path / "nowhere", "test")


def test_no_root_without_download():
    with pytest.raises(DatasetError, match="MUSDB_PATH"):
        reader.open_db(None, "test")


def test_missing_stem_is_named(track_copy: Path):
    (track_copy / "bass.wav").unlink()
    with pytest.raises(DatasetError, match=r"bass\.wav: missing stem 'bass'"):
        reader.open_db(track_copy.parents[1], "test")


def test_unreadable_stem_is_named(track_copy: Path):
    (track_copy / "drums.wav").write_text("this is not audio")
    with pytest.raises(DatasetError, match=r"drums\.wav: not a readable audio file"):
        reader.open_db(track_copy.parents[1], "test")


def test_stems_of_different_length(track_copy: Path):
    x, rate = sf.read(track_copy / "vocals.wav")
    sf.write(track_copy / "vocals.wav", x[:-100], rate, subtype="FLOAT")
    with pytest.raises(DatasetError, match="different lengths"):
        reader.open_db(track_copy.parents[1], "test")


def test_stems_of_different_rate(track_copy: Path):
    x, rate = sf.read(track_copy / "vocals.wav")
    sf.write(track_copy / "vocals.wav", x, rate * 2, subtype="FLOAT")
    with pytest.raises(DatasetError, match="different sample rates"):
        reader.open_db(track_copy.parents[1], "test")


def test_silent_source_stem_warns(track_copy: Path):
    x, rate = sf.read(track_copy / "vocals.wav")
    sf.write(track_copy / "vocals.wav", np.zeros_like(x), rate, subtype="FLOAT")
    with pytest.warns(UserWarning, match="stem 'vocals' is silent"):
        reader.load_tracks(track_copy.parents[1], "test")


def test_silent_mixture_is_an_error(track_copy: Path):
    x, rate = sf.read(track_copy / "mixture.wav")
    sf.write(track_copy / "mixture.wav", np.zeros_like(x), rate, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"mixture: is silent"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.load_tracks(track_copy.parents[1], "test")


def test_nan_in_stem_is_an_error(track_copy: Path):
    x, rate = sf.read(track_copy / "other.wav")
    x[10] = np.nan
    sf.write(track_copy / "other.wav", x, rate, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"other: contains NaN"):
        reader.load_tracks(track_copy.parents[1], "test")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((2, 3, 4)), "expected (channels, samples)"),
        (np.ones((1000, 2)), "looks like (samples, channels)"),
        (np.ones((1, 5)), "too short"),
        (np.zeros((1, 100)), "is silent"),
        (np.full((1, 100), np.inf), "NaN or infinite"),
    ],
)
def test_check_audio_messages(array, message):
    with pytest.raises(AudioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_audio(array, "x", min_samples=10)


def test_load_audio_errors_name_the_file(tmp_path: Path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(AudioError, match=r"junk\.wav: not a readable audio file"):
        load_audio(junk)
    short = save_audio(tmp_path / "short.wav", np.ones((1, 100), np.float32), 8000)
    with pytest.raises(AudioError, match="too short"):
        load_audio(short, min_seconds=1.0)


def test_load_audio_resamples_and_mixes_down(tmp_path: Path):
    t = np.arange(16000) / 16000
    x = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)]).astype(np.float32)
    path = save_audio(tmp_path / "tone.wav", x, 16000)
    y, rate = load_audio(path, 8000, mono=True)
    assert rate == 8000 and y.shape == (1, 8000)
    assert np.isclose(np.sqrt(np.mean(y[:, 100:-100] ** 2)), np.sqrt(0.5), atol=0.01)


def test_real_musdb18_stem_mp4_layout(tmp_path: Path):
    """MUSDB18's .stem.mp4 files (here a small one written with stempeg, AAC streams in
    MUSDB's order) go through musdb and come back as the same stems."""
    import stempeg

    rate, t = 44100, np.arange(44100) / 44100
    tones = {
        name: 0.2 * np.sin(2 * np.pi * f * t)
        for name, f in (("drums", 110), ("bass", 220), ("other", 440), ("vocals", 880))
    }
    stems = [sum(tones.values())] + [tones[s] for s in reader.STEMS]
    data = np.stack([np.stack([s, s], axis=1) for s in stems]).astype(np.float32)
    path = tmp_path / "test" / "Fixture - Tones.stem.mp4"
    path.parent.mkdir(parents=True)
    stempeg.write_stems(
        str(path), data, sample_rate=rate, writer=stempeg.StreamsWriter(codec="aac", bitrate=192000)
    )
    (track,) = reader.load_tracks(tmp_path, "test")
    assert track.name == "Fixture - Tones" and track.rate == rate
    assert track.other_parts == {}  # MUSDB18 has no ground truth inside "other"
    for stem in reader.STEMS:
        x = track.stems[stem][0, 4096:40000]
        ref = tones[stem][4096:40000]
        best = max(np.corrcoef(x[k : k + 30000], ref[:30000])[0, 1] for k in range(0, 3000, 1))
        assert best > 0.95, f"{stem} does not match its tone ({best:.2f})"
