"""Multitrack sets with per-instrument ground truth: real recordings to score methods on.

Two ways in, both checked before any work (one line naming the file and the problem):

- a plain folder: one sub-folder per piece, one audio file per instrument (any format
  libsndfile reads; any rate, mono or stereo). The mixture is the sum of the stems, or
  ``mix.wav`` / ``mixture.wav`` when present and equal to that sum. A folder of audio files
  and no sub-folders is one piece.
- a dataset people already have, read through **mirdata**'s loader
  (:data:`MIRDATA_SETS`): ``--dataset NAME --data-home DIR``. Nothing is downloaded.

Real data is awkward, and what it may hold is decided here, once (``strict=False``):

- a silent or empty stem (an instrument resting), or one silent in an excerpt: left out
  of that piece or excerpt, with a note; the rest are scored;
- a piece or excerpt left with fewer than two sounding stems: skipped, with a note;
- stems whose lengths differ by at most :data:`TRIM_S`: trimmed to the shortest, with a note;
- stems at different sample rates: resampled to the highest, with a note;
- mono and stereo stems: the mono ones played on both channels;
- an unreadable file, NaN samples, lengths further apart, a mix that is not the sum of its
  stems: refused, in one line, before any work.

``strict=True`` refuses the first four instead (the behaviour before real sets were common).
Files are read window by window (:meth:`Stem.read`), so a full song scored as excerpts
(:func:`windows`) costs the memory of one excerpt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from latentsep.audio import prepare, resample
from latentsep.evaluation import scoring

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff", ".mp3")
MIX_NAMES = ("mix", "mixture")
#: A given mixture must equal the sum of its stems to this many dB (SNR of the sum).
MIX_MATCH_DB = 30.0
#: A stem whose peak is below this is silent.
SILENT = 1e-6
#: A stem this far below the mixture's energy (in the piece or an excerpt) is resting
#: there: not a source to score (its SI-SDR would measure noise). The embedded test set's
#: rule (:func:`~latentsep.evaluation.scoring.cases`).
RESTING = 1e-6
#: Stems whose lengths differ by at most this many seconds are trimmed to the shortest.
TRIM_S = 0.05
#: Frames read at a time when a stem is scanned.
SCAN_FRAMES = 1 << 18


class MultitrackError(ValueError):
    """A multitrack set that cannot be scored; the message names the file and the problem."""


@dataclass(frozen=True)
class Stem:
    """One instrument's recording: a file read window by window, or audio in memory."""

    name: str
    where: str  # the file, or "dataset/track" for a loader's audio
    rate: int
    frames: int
    channels: int
    path: str | None = None
    audio: np.ndarray | None = None  # (channels, frames), when not read from a file

    def read(self, start: int = 0, frames: int | None = None) -> np.ndarray:
        """``(channels, frames)`` float32 from frame ``start`` (None: to the end)."""
        frames = self.frames - start if frames is None else frames
        if self.audio is not None:
            return self.audio[:, start : start + frames]
        x, _ = sf.read(self.path, start=start, frames=frames, dtype="float32", always_2d=True)
        return x.T

    @property
    def identity(self) -> list:
        """What makes the stem this stem, for keys: its file's size and modification time."""
        if self.path is None:
            return [self.where, self.frames, self.rate]
        st = os.stat(self.path)
        return [self.where, st.st_size, st.st_mtime_ns]


@dataclass
class Piece:
    """A piece's sounding stems, checked; ``notes``: what was left out or adjusted."""

    name: str
    stems: list[Stem]
    rate: int  # the stems' common rate (the highest)
    frames: int  # the common length at ``rate`` (the shortest stem's)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the piece cannot be scored (fewer than two stems)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def read(self, start: int = 0, frames: int | None = None) -> dict[str, np.ndarray]:
        """Every stem from frame ``start`` at the common rate, on the same channels."""
        frames = self.frames - start if frames is None else frames
        out = {}
        for stem in self.stems:
            a = int(round(start * stem.rate / self.rate))
            n = int(round(frames * stem.rate / self.rate))
            out[stem.name] = resample(stem.read(a, min(n, stem.frames - a)), stem.rate, self.rate)
        channels = max(x.shape[0] for x in out.values())
        n = min(min(x.shape[1] for x in out.values()), frames)
        return {
            k: (np.repeat(x, channels, axis=0) if x.shape[0] < channels else x)[:, :n]
            for k, x in out.items()
        }

    @property
    def mixture(self) -> np.ndarray:
        """The sum of the stems (the whole piece, in memory)."""
        return np.sum(list(self.read().values()), axis=0, dtype=np.float64).astype(np.float32)


def _stem(path: Path) -> Stem:
    """A file's stem, from its header (an empty file: zero frames)."""
    if path.stat().st_size == 0:
        return Stem(path.stem, str(path), 0, 0, 1, path=str(path))
    try:
        info = sf.info(str(path))
    except Exception as err:  # libsndfile: LibsndfileError, RuntimeError, TypeError
        raise MultitrackError(f"{path}: not a readable audio file ({err})") from err
    return Stem(
        path.stem, str(path), int(info.samplerate), int(info.frames), info.channels, path=str(path)
    )


def _in_memory(name: str, x: np.ndarray, rate: int, where: str) -> Stem:
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    return Stem(name, where, int(rate), x.shape[1], x.shape[0], audio=x)


def _scan(stem: Stem) -> float:
    """The stem's peak, read through once; NaN or unreadable audio is a MultitrackError."""
    peak = 0.0
    for start in range(0, stem.frames, SCAN_FRAMES):
        try:
            x = stem.read(start, min(SCAN_FRAMES, stem.frames - start))
        except Exception as err:  # a truncated file
            raise MultitrackError(f"{stem.where}: not a readable audio file ({err})") from err
        if not np.all(np.isfinite(x)):
            raise MultitrackError(f"{stem.where}: contains NaN or infinite samples")
        peak = max(peak, float(np.max(np.abs(x), initial=0.0)))
    return peak


def piece(name: str, stems: list[Stem], mix: Stem | None = None, strict: bool = False) -> Piece:
    """One piece from its stems (and optionally its given mixture), checked: see the
    module's table for what is left out, adjusted, skipped or refused."""
    notes: list[str] = []
    sounding = []
    for stem in stems:
        silent = stem.frames == 0 or _scan(stem) < SILENT
        if silent and strict:
            raise MultitrackError(
                f"{stem.where}: the stem is {'empty' if not stem.frames else 'silent'}"
            )
        if silent:
            notes.append(f"{stem.where}: {'empty' if not stem.frames else 'silent'}, left out")
        else:
            sounding.append(stem)
    if strict and len(sounding) < 2:
        raise MultitrackError(
            f"{name}: a piece needs at least two instrument stems, found {len(sounding)}"
        )
    if len(sounding) < 2:
        return Piece(
            name,
            sounding,
            0,
            0,
            notes,
            f"fewer than two sounding instrument stems ({len(sounding)})",
        )
    rates = {s.where: s.rate for s in sounding}
    if len(set(rates.values())) > 1:
        listed = ", ".join(f"{Path(w).name} {r} Hz" for w, r in rates.items())
        if strict or mix is not None:
            raise MultitrackError(f"{name}: stems at different sample rates ({listed})")
        notes.append(
            f"{name}: stems at different sample rates ({listed}), resampled to "
            f"{max(rates.values())} Hz"
        )
    rate = max(rates.values())
    seconds = {s.where: s.frames / s.rate for s in sounding}
    if max(seconds.values()) - min(seconds.values()) > (0 if strict else TRIM_S) + 0.5 / rate:
        listed = ", ".join(f"{Path(w).name} {t:.3f} s" for w, t in seconds.items())
        raise MultitrackError(f"{name}: stems of different lengths ({listed})")
    frames = min(int(round(s.frames * rate / s.rate)) for s in sounding)
    if len({s.frames for s in sounding}) > 1 and len(set(rates.values())) == 1:
        notes.append(
            f"{name}: stems of lengths differing by "
            f"{max(s.frames for s in sounding) - frames} samples, trimmed"
        )
    out = Piece(name, sounding, rate, frames, notes)
    if mix is not None:
        _check_mix(out, mix, stems)
    return out


def _check_mix(p: Piece, mix: Stem, stems: list[Stem]) -> None:
    """A given mixture must be the sum of every stem (the silent ones included)."""
    if mix.rate != p.rate or mix.frames != max(s.frames for s in stems):
        raise MultitrackError(
            f"{mix.where}: the mix does not match its stems ({mix.rate} Hz, {mix.frames} "
            f"samples; the stems: {p.rate} Hz, {max(s.frames for s in stems)} samples)"
        )
    err = total = 0.0
    for start in range(0, p.frames, SCAN_FRAMES):
        n = min(SCAN_FRAMES, p.frames - start)
        parts = [s.read(start, n) for s in stems if s.frames]
        channels = max(x.shape[0] for x in parts)
        summed = np.sum(
            [np.broadcast_to(x, (channels, x.shape[1])) for x in parts], axis=0, dtype=np.float64
        )
        given = mix.read(start, n).astype(np.float64)
        if given.shape[0] != channels:
            given = np.broadcast_to(given.mean(axis=0, keepdims=True), summed.shape)
        err += float(np.sum((given - summed) ** 2))
        total += float(np.sum(summed**2))
    snr = 10 * np.log10(total / max(err, 1e-30))
    if snr < MIX_MATCH_DB:
        raise MultitrackError(
            f"{mix.where}: the mix is not the sum of its stems (they agree to {snr:.1f} dB, "
            f"{MIX_MATCH_DB:.0f} dB needed); remove it to use the sum"
        )


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def read_folder(root: str | os.PathLike, strict: bool = False) -> list[Piece]:
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
        stems = [_stem(p) for p in files if p is not mix]
        pieces.append(piece(folder.name, stems, _stem(mix) if mix else None, strict))
    if not pieces:
        raise MultitrackError(
            f"{root}: empty: expected one folder per piece with one audio file per instrument"
        )
    return pieces


#: mirdata's multitrack sets with one recording per instrument (or singer) that this reads,
#: each stem through the loader's own audio property (mirdata 1.0).
MIRDATA_SETS = ("phenicx_anechoic", "dagstuhl_choirset", "slakh")


def read_mirdata(
    name: str,
    data_home: str | os.PathLike | None,
    limit: int = 0,
    version: str = "default",
    strict: bool = False,
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
        stems: dict[str, Stem] = {}
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
            key = _unique(inst, stems)
            stems[key] = _in_memory(key, y, rate, f"{name}/{track_id}")
        pieces.append(piece(f"{name}/{mtrack_id}", list(stems.values()), strict=strict))
    if not pieces:
        raise MultitrackError(f"{data_home}: mirdata found no {name} multitracks")
    return pieces


def _unique(name: str, taken: dict) -> str:
    out, k = name, 2
    while out in taken:
        out, k = f"{name} {k}", k + 1
    return out


@dataclass(frozen=True)
class Window:
    """Where an excerpt lies in its piece, in frames at the piece's rate."""

    start: int
    frames: int
    whole: bool  # the whole piece, not an excerpt

    def label(self, rate: int) -> str:
        return (
            ""
            if self.whole
            else f"{self.start / rate:.1f}-{(self.start + self.frames) / rate:.1f} s"
        )


def windows(p: Piece, segment: float | None = None, hop: float | None = None) -> list[Window]:
    """The excerpts a piece is scored on: the whole piece, or (``segment`` seconds) every
    full window ``hop`` apart (default: ``segment``) — a piece shorter than one window is
    scored whole, as SiSEC scores a short track."""
    if not segment or p.frames <= segment * p.rate:
        return [Window(0, p.frames, True)]
    n, step = int(round(segment * p.rate)), int(round((hop or segment) * p.rate))
    return [Window(a, n, False) for a in range(0, p.frames - n + 1, step)]


@dataclass(frozen=True)
class Excerpt:
    """A unit of scoring: a piece, or one window of it, not yet read."""

    piece: Piece
    window: Window

    @property
    def name(self) -> str:
        label = self.window.label(self.piece.rate)
        return f"{self.piece.name} [{label}]" if label else self.piece.name

    @property
    def identity(self) -> list:
        return [
            self.piece.name,
            [s.identity for s in self.piece.stems],
            self.window.start,
            self.window.frames,
            self.piece.rate,
        ]

    def case(self, fmt) -> tuple[scoring.Case | None, list[str]]:
        """The excerpt as a scoring case in ``fmt``'s format (rate, channels), its resting
        stems left out, and notes on what was; None when fewer than two sound in it."""
        stems = self.piece.read(self.window.start, self.window.frames)
        mixture = np.sum(list(stems.values()), axis=0, dtype=np.float64).astype(np.float32)
        energy = float(np.sum(mixture.astype(np.float64) ** 2))
        sounding = {
            k: x for k, x in stems.items() if np.sum(x.astype(np.float64) ** 2) > RESTING * energy
        }
        notes = [f"{self.name}: {k} rests here, left out" for k in stems if k not in sounding]
        if len(sounding) < 2:
            return None, notes
        mixture, *refs = prepare([mixture, *sounding.values()], self.piece.rate, fmt)
        return scoring.Case(
            self.name, mixture, dict(zip(sounding, refs, strict=True)), fmt.sample_rate
        ), notes


def excerpts(
    pieces: list[Piece], segment: float | None = None, hop: float | None = None
) -> list[Excerpt]:
    """Every excerpt of every scorable piece (:func:`windows`)."""
    return [Excerpt(p, w) for p in pieces if not p.skipped for w in windows(p, segment, hop)]


def cases(pieces: list[Piece], fmt) -> list[scoring.Case]:
    """The pieces, whole, as scoring cases in ``fmt``'s format (rate, channels), as the
    embedded test set's are (:func:`~latentsep.evaluation.scoring.cases`)."""
    out = []
    for e in excerpts(pieces):
        case, _ = e.case(fmt)
        if case is not None:
            out.append(case)
    return out


def table(scores, counted=None, order=None, runs=None):
    """Median SI-SDRi per method over all (piece, instrument) pairs and per number of
    instruments in the piece — a piece scored as excerpts counts once, by the median of its
    excerpts, as SiSEC aggregates — and (``counted``: runs with the count estimated) how
    often each method found the true number of instruments, and (``runs``) its cost in
    seconds per second of audio."""
    import pandas as pd

    column = "SI-SDRi (dB)"
    piece = "piece" if "piece" in scores.columns else "track"
    per = scores.groupby(["method", piece, "source"], sort=False)[column].median().reset_index()
    n = per.groupby(["method", piece])["source"].transform("count")
    by_n = per.assign(n=n).pivot_table(index="method", columns="n", values=column, aggfunc="median")
    by_n.columns = [f"{c} instruments" for c in by_n.columns]
    out = pd.concat([scoring.median_by_method(per).rename("median SI-SDRi (dB)"), by_n], axis=1)
    if counted is not None and len(counted):
        right = counted.assign(ok=counted["sources found"] == counted["true sources"])
        out["count right (%)"] = 100 * right.groupby("method")["ok"].mean()
    if runs is not None and len(runs) and "audio (s)" in runs.columns:
        cost = runs.groupby("method")[["seconds", "audio (s)"]].sum()
        out["s per s of audio"] = cost["seconds"] / cost["audio (s)"]
    return out.reindex(order) if order is not None else out
