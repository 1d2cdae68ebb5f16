"""Multitrack sets with per-instrument ground truth: real recordings to score methods on.

Two ways in, both checked before any work (one line naming the file and the problem):

- a plain folder: one sub-folder per piece, one audio file per instrument (any format
  libsndfile reads; any rate, mono or stereo). The mixture is the sum of the stems, or
  ``mix.wav`` / ``mixture.wav`` when present and equal to that sum. A folder of audio files
  and no sub-folders is one piece.
- a dataset people already have, read through **mirdata**'s loader
  (:data:`MIRDATA_SETS`): ``--dataset NAME --data-home DIR``. Nothing is downloaded.

:func:`cases` turns pieces into :class:`~latentsep.evaluation.scoring.Case` objects, so a
real set is scored exactly as the embedded test set is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from latentsep.audio import prepare
from latentsep.evaluation import scoring

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff", ".mp3")
MIX_NAMES = ("mix", "mixture")
#: A given mixture must equal the sum of its stems to this many dB (SNR of the sum).
MIX_MATCH_DB = 30.0
#: A stem whose peak is below this is silent.
SILENT = 1e-6


class MultitrackError(ValueError):
    """A multitrack set that cannot be scored; the message names the file and the problem."""


@dataclass
class Piece:
    name: str
    stems: dict[str, np.ndarray]  # instrument -> (channels, samples)
    rate: int
    mixture: np.ndarray  # (channels, samples): the sum of the stems


def _read(path: Path) -> tuple[np.ndarray, int]:
    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile: LibsndfileError, RuntimeError, TypeError
        raise MultitrackError(f"{path}: not a readable audio file ({err})") from err
    return x.T, int(rate)


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def piece(
    name: str,
    stems: dict[str, tuple[np.ndarray, int, str]],
    mix: tuple[np.ndarray, int, str] | None = None,
) -> Piece:
    """One piece from its stems, instrument -> ``(audio (channels, samples), rate, where it
    came from)``, and optionally its given mixture; checked."""
    if len(stems) < 2:
        raise MultitrackError(
            f"{name}: a piece needs at least two instrument stems, found {len(stems)}"
        )
    for x, _, where in stems.values():
        if not np.all(np.isfinite(x)):
            raise MultitrackError(f"{where}: contains NaN or infinite samples")
        if np.max(np.abs(x), initial=0.0) < SILENT:
            raise MultitrackError(f"{where}: the stem is silent")
    rates = {where: rate for _, rate, where in stems.values()}
    if len(set(rates.values())) > 1:
        listed = ", ".join(f"{Path(w).name} {r} Hz" for w, r in rates.items())
        raise MultitrackError(f"{name}: stems at different sample rates ({listed})")
    rate = next(iter(rates.values()))
    lengths = {where: x.shape[1] for x, _, where in stems.values()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{Path(w).name} {n / rate:.3f} s" for w, n in lengths.items())
        raise MultitrackError(f"{name}: stems of different lengths ({listed})")
    channels = max(x.shape[0] for x, _, _ in stems.values())
    audio = {
        k: np.repeat(x, channels, axis=0) if x.shape[0] < channels else x
        for k, (x, _, _) in stems.items()
    }
    total = np.sum(list(audio.values()), axis=0, dtype=np.float64)
    if mix is not None:
        given, mix_rate, where = mix
        if mix_rate != rate or given.shape[1] != total.shape[1]:
            raise MultitrackError(
                f"{where}: the mix does not match its stems ({mix_rate} Hz, {given.shape[1]} "
                f"samples; the stems: {rate} Hz, {total.shape[1]} samples)"
            )
        if given.shape[0] != total.shape[0]:
            given = np.broadcast_to(given.mean(axis=0, keepdims=True), total.shape)
        err = np.sum((given - total) ** 2)
        snr = 10 * np.log10(np.sum(total**2) / max(err, 1e-30))
        if snr < MIX_MATCH_DB:
            raise MultitrackError(
                f"{where}: the mix is not the sum of its stems (they agree to {snr:.1f} dB, "
                f"{MIX_MATCH_DB:.0f} dB needed); remove it to use the sum"
            )
    return Piece(name, audio, rate, total.astype(np.float32))


def _loaded(path: Path) -> tuple[np.ndarray, int, str]:
    return (*_read(path), str(path))


def read_folder(root: str | os.PathLike) -> list[Piece]:
    """Every piece of a plain folder (see the module's docstring), checked."""
    root = Path(root)
    if not root.is_dir():
        raise MultitrackError(f"{root}: no such folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders and _audio_files(root):
        folders = [root]
    pieces = []
    for folder in folders:
        files = _audio_files(folder)
        mix = next((p for p in files if p.stem.lower() in MIX_NAMES), None)
        if not files:
            continue
        stems = {p.stem: _loaded(p) for p in files if p is not mix}
        pieces.append(piece(folder.name, stems, _loaded(mix) if mix else None))
    if not pieces:
        raise MultitrackError(
            f"{root}: empty: expected one folder per piece with one audio file per instrument"
        )
    return pieces


#: mirdata's multitrack sets with one recording per instrument (or singer) that this reads,
#: each stem through the loader's own audio property (mirdata 1.0).
MIRDATA_SETS = ("phenicx_anechoic", "dagstuhl_choirset", "slakh")


def read_mirdata(
    name: str, data_home: str | os.PathLike | None, limit: int = 0, version: str = "default"
) -> list[Piece]:
    """Every multitrack of a mirdata dataset already on disk, each stem read by mirdata's
    loader (nothing is downloaded: a missing file or index is one clear error)."""
    if name not in MIRDATA_SETS:
        raise MultitrackError(
            f"dataset {name!r}: choose one of {MIRDATA_SETS}, or give a plain folder of stems"
        )
    if data_home is None or not Path(data_home).is_dir():
        raise MultitrackError(
            f"{data_home}: no such folder; put the {name} dataset there as mirdata lays it out "
            f"(mirdata.initialize({name!r}, data_home=DIR).download() on a machine with "
            "internet) and pass --data-home DIR"
        )
    try:
        import mirdata
    except ImportError as err:
        raise MultitrackError(
            "reading a dataset by name needs mirdata: pip install 'latentsep[real]'"
        ) from err
    dataset = mirdata.initialize(name, data_home=str(data_home), version=version)
    try:
        ids = list(dataset.mtrack_ids)[: limit or None]
    except FileNotFoundError as err:  # the index is fetched by mirdata's download()
        raise MultitrackError(f"{name}: mirdata has no index for it here ({err})") from err
    pieces = []
    for mtrack_id in ids:
        mtrack = dataset.multitrack(mtrack_id)
        stems: dict[str, tuple[np.ndarray, int, str]] = {}
        for track_id, track in mtrack.tracks.items():
            try:
                loaded = getattr(track, mtrack.track_audio_property)
            except Exception as err:  # the loader's own: missing file, unreadable audio
                raise MultitrackError(
                    f"{name}/{track_id}: mirdata could not read its audio under {data_home} "
                    f"({type(err).__name__}: {err})"
                ) from err
            if loaded is None:
                continue
            y, rate = loaded
            inst = str(getattr(track, "instrument", None) or track_id)
            stems[_unique(inst, stems)] = (
                np.atleast_2d(y).astype(np.float32),
                int(rate),
                f"{name}/{track_id}",
            )
        pieces.append(piece(f"{name}/{mtrack_id}", stems))
    if not pieces:
        raise MultitrackError(f"{data_home}: mirdata found no {name} multitracks")
    return pieces


def _unique(name: str, taken: dict) -> str:
    out, k = name, 2
    while out in taken:
        out, k = f"{name} {k}", k + 1
    return out


def cases(pieces: list[Piece], fmt) -> list[scoring.Case]:
    """The pieces as scoring cases in ``fmt``'s format (rate, channels), as the embedded test
    set's are (:func:`~latentsep.evaluation.scoring.cases`)."""
    out = []
    for p in pieces:
        mixture, *refs = prepare([p.mixture, *p.stems.values()], p.rate, fmt)
        out.append(
            scoring.Case(p.name, mixture, dict(zip(p.stems, refs, strict=True)), fmt.sample_rate)
        )
    return out


def table(scores, counted=None, order=None):
    """Median SI-SDRi per method over all (piece, instrument) pairs and per number of
    instruments in the piece, and (``counted``: runs with the count estimated) how often
    each method found the true number of instruments."""
    import pandas as pd

    n = scores.groupby(["method", "track"])["source"].transform("count")
    by_n = scores.assign(n=n).pivot_table(
        index="method", columns="n", values="SI-SDRi (dB)", aggfunc="median"
    )
    by_n.columns = [f"{c} instruments" for c in by_n.columns]
    out = pd.concat([scoring.median_by_method(scores).rename("median SI-SDRi (dB)"), by_n], axis=1)
    if counted is not None and len(counted):
        right = counted.assign(ok=counted["sources found"] == counted["true sources"])
        out["count right (%)"] = 100 * right.groupby("method")["ok"].mean()
    return out.reindex(order) if order is not None else out
