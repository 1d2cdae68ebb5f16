"""Read MUSDB18 / MUSDB18-HQ or the embedded dataset through ``musdb``, checked first.

The embedded dataset has the MUSDB18-HQ layout plus ``other_<class>.wav`` files, so the
same code reads both. Problems in a track folder (a missing stem, an unreadable file,
stems of different lengths or rates) raise :class:`DatasetError` naming the file, before
musdb or torch ever sees them. Silent source stems, which real MUSDB18 has, only warn.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from latentsep.audio import check_audio

STEMS = ("drums", "bass", "other", "vocals")
SUBSETS = ("train", "test")


class DatasetError(ValueError):
    """A dataset that cannot be used as it is; the message names the file and the problem."""


@dataclass
class Track:
    """One track's audio, ``(channels, samples)`` float32 per stem."""

    name: str
    subset: str
    rate: int
    stems: dict[str, np.ndarray]  # mixture, drums, bass, other, vocals
    other_parts: dict[str, np.ndarray] = field(default_factory=dict)  # class -> audio
    path: Path | None = None

    @property
    def mixture(self) -> np.ndarray:
        return self.stems["mixture"]

    @property
    def seconds(self) -> float:
        return self.mixture.shape[1] / self.rate


def resolve_root(root: str | os.PathLike | None) -> Path | None:
    """The MUSDB root: the argument, else ``$MUSDB_PATH``, else None (previews)."""
    value = root if root is not None else os.environ.get("MUSDB_PATH")
    return Path(value).expanduser() if value else None


def check_track_folder(folder: Path) -> int:
    """Check a MUSDB18-HQ track folder; returns its sample rate."""
    infos = {}
    for name in ("mixture", *STEMS):
        path = folder / f"{name}.wav"
        if not path.is_file():
            raise DatasetError(f"{path}: missing stem '{name}' in track '{folder.name}'")
        infos[path] = _info(path)
    for path in sorted(folder.glob("other_*.wav")):
        infos[path] = _info(path)
    rates = {p.name: i.samplerate for p, i in infos.items()}
    frames = {p.name: i.frames for p, i in infos.items()}
    if len(set(rates.values())) > 1:
        raise DatasetError(f"{folder}: stems have different sample rates {rates}")
    if len(set(frames.values())) > 1:
        raise DatasetError(f"{folder}: stems have different lengths (samples) {frames}")
    if next(iter(frames.values())) == 0:
        raise DatasetError(f"{folder}: stems are empty")
    return next(iter(rates.values()))


def _info(path: Path):
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise DatasetError(f"{path}: not a readable audio file ({err})") from err


def open_db(
    root: str | os.PathLike | None = None,
    subset: str = "test",
    *,
    is_wav: bool | None = None,
    download: bool = False,
):
    """A checked ``musdb.DB`` for ``subset``.

    ``root=None`` and no ``$MUSDB_PATH`` with ``download=True`` gives musdb's 7-second
    previews (needs the network). ``is_wav`` defaults to True when the root holds track
    folders (MUSDB18-HQ and the embedded dataset) and False for .stem.mp4 files.
    """
    import musdb

    if subset not in SUBSETS:
        raise DatasetError(f"subset must be one of {SUBSETS}, got {subset!r}")
    path = resolve_root(root)
    if path is None:
        if not download:
            raise DatasetError(
                "no MUSDB root: pass root=..., set MUSDB_PATH, or allow download=True for "
                "the 7-second previews"
            )
        return musdb.DB(download=True, subsets=subset)
    folder = path / subset
    if not path.is_dir():
        raise DatasetError(f"{path}: MUSDB root does not exist")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing the '{subset}' folder of a MUSDB root")
    if is_wav is None:
        is_wav = any(p.is_dir() for p in folder.iterdir())
    if is_wav:
        tracks = sorted(p for p in folder.iterdir() if p.is_dir())
        if not tracks:
            raise DatasetError(f"{folder}: no track folders")
        for t in tracks:
            check_track_folder(t)
    db = musdb.DB(root=str(path), subsets=subset, is_wav=is_wav)
    if len(db) == 0:
        raise DatasetError(f"{folder}: musdb found no tracks")
    return db


def load_track(mus_track, subset: str = "test") -> Track:
    """Audio of one musdb track, checked, as ``(channels, samples)`` arrays.

    Track folders (MUSDB18-HQ, embedded) are read with soundfile: exact float samples and no
    ffmpeg process per stem. ``.stem.mp4`` files are decoded by musdb (stempeg).
    """
    name = mus_track.name
    folder = Path(mus_track.path).parent if str(mus_track.path).endswith(".wav") else None
    if folder is not None:
        raw = {n: _read(folder / f"{n}.wav") for n in ("mixture", *STEMS)}
        parts = {
            p.stem.removeprefix("other_"): check_audio(_read(p), str(p))
            for p in sorted(folder.glob("other_*.wav"))
        }
    else:
        raw = {"mixture": mus_track.audio.T}
        raw.update({n: mus_track.targets[n].audio.T for n in STEMS})
        parts = {}
    where = str(folder) if folder is not None else name
    stems = {"mixture": check_audio(raw["mixture"], f"{where}/mixture")}
    for stem in STEMS:
        x = check_audio(raw[stem], f"{where}/{stem}", allow_silent=True)
        if not np.any(np.abs(x) > 1e-8):
            warnings.warn(f"{where}: stem '{stem}' is silent", stacklevel=2)
        stems[stem] = x
    return Track(name, subset, int(mus_track.rate), stems, parts, folder)


def _read(path: Path) -> np.ndarray:
    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise DatasetError(f"{path}: not a readable audio file ({err})") from err
    return data.T


def load_tracks(
    root: str | os.PathLike | None, subset: str = "test", limit: int | None = None, **kwargs
) -> list[Track]:
    """All (or the first ``limit``) tracks of a subset."""
    db = open_db(root, subset, **kwargs)
    tracks = db.tracks[:limit] if limit else db.tracks
    return [load_track(t, subset) for t in tracks]


def instrument_statistics(tracks: list[Track], frame_s: float = 0.05):
    """One row per (track, instrument): loudness, how often it plays, its share of the stem.

    Instruments are the MUSDB stems plus, where known, the classes inside "other".
    """
    import pandas as pd

    rows = []
    for t in tracks:
        hop = max(1, int(frame_s * t.rate))
        other_energy = float(np.sum(t.stems["other"] ** 2)) + 1e-12
        sources = {s: t.stems[s] for s in STEMS if s != "other"}
        sources.update({f"other: {k}": v for k, v in t.other_parts.items()})
        if not t.other_parts:
            sources["other"] = t.stems["other"]
        for name, x in sources.items():
            mono = x.mean(axis=0)
            frames = mono[: len(mono) // hop * hop].reshape(-1, hop)
            frame_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
            rows.append(
                {
                    "track": t.name,
                    "subset": t.subset,
                    "instrument": name,
                    "stem": "other" if name.startswith("other") else name,
                    "RMS (dBFS)": 10 * np.log10(np.mean(x**2) + 1e-12),
                    "active (%)": 100 * float(np.mean(frame_db > frame_db.max() - 40)),
                    "share of other (%)": (
                        100 * float(np.sum(x**2)) / other_energy
                        if name.startswith("other")
                        else np.nan
                    ),
                }
            )
    return pd.DataFrame(rows)
