"""Real multi-voice music from music21's corpus, as note lists per voice.

A *piece* is one corpus file; its voices become the instruments of one track. Times are in
quarter notes here; :mod:`latentsep.data.render` turns them into seconds with a tempo.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Composers whose corpus pieces are mostly 4-6 real voices (chorales, motets, madrigals).
COMPOSERS = ("bach", "palestrina", "monteverdi")
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".mid")


@dataclass(frozen=True)
class Note:
    onset: float  # quarter notes from the piece's start
    duration: float  # quarter notes
    pitch: int  # MIDI key
    velocity: int = 90


@dataclass(frozen=True)
class Piece:
    """A parsed score: one note list per voice (highest first) and its meter."""

    piece_id: str  # corpus path relative to music21's corpus folder
    voices: tuple[tuple[Note, ...], ...]
    length: float  # quarter notes
    beats_per_bar: int
    beat_length: float  # quarter notes per beat


def corpus_pieces(composers: tuple[str, ...] = COMPOSERS) -> list[str]:
    """Corpus paths (stable, sorted) of candidate pieces."""
    from music21 import corpus

    ids = set()
    for composer in composers:
        for path in corpus.getComposer(composer):
            if Path(path).suffix in SCORE_SUFFIXES:  # not analyses such as .rntxt
                ids.add(_corpus_relative(Path(path)))
    return sorted(ids)


def _corpus_relative(path: Path) -> str:
    parts = path.parts
    idx = parts.index("corpus") if "corpus" in parts else len(parts) - 2
    return "/".join(parts[idx + 1 :])


def load_piece(piece_id: str, min_voices: int = 4) -> Piece | None:
    """Parse a corpus piece into voices; None when it is unusable (too few real voices)."""
    from music21 import corpus, meter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            score = corpus.parse(piece_id)
        except Exception:  # noqa: BLE001 - music21 raises many kinds on odd files
            return None
    voices = []
    for part in getattr(score, "parts", []):
        notes = []
        for n in part.stripTies().flatten().notes:
            ql = float(n.quarterLength)
            if ql <= 0:
                continue
            for p in n.pitches:
                notes.append(Note(float(n.offset), ql, int(p.midi)))
        if len(notes) >= 8:
            voices.append(tuple(sorted(notes, key=lambda x: (x.onset, x.pitch))))
    # Instrumental doublings (e.g. a horn on the soprano line) are not separate voices.
    unique: list[tuple[Note, ...]] = []
    for v in voices:
        if all(_signature(v) != _signature(u) for u in unique):
            unique.append(v)
    if len(unique) < min_voices:
        return None
    unique.sort(key=lambda v: -float(np.median([n.pitch for n in v])))
    ts = score.recurse().getElementsByClass(meter.TimeSignature)
    beats, beat_len = (4, 1.0)
    if ts:
        beats = max(1, int(ts[0].beatCount))
        beat_len = float(ts[0].beatDuration.quarterLength) or 1.0
    length = max(n.onset + n.duration for v in unique for n in v)
    return Piece(piece_id, tuple(unique), length, beats, beat_len)


def _signature(voice: tuple[Note, ...]) -> tuple:
    return tuple((round(n.onset, 3), n.pitch % 12) for n in voice[:40])


def harmony(piece: Piece, step: float) -> list[tuple[float, tuple[int, ...]]]:
    """The sounding pitch classes every ``step`` quarters: (onset, sorted MIDI pitches)."""
    out = []
    t = 0.0
    while t < piece.length:
        sounding = sorted(
            {n.pitch for v in piece.voices for n in v if n.onset <= t < n.onset + n.duration}
        )
        if sounding:
            out.append((t, tuple(sounding)))
        t += step
    return out


def chord_pad(piece: Piece, bar: float) -> tuple[Note, ...]:
    """A derived accompaniment voice: the harmony held as block chords, one per half bar."""
    step = max(bar / 2, 1.0)
    return tuple(
        Note(t, step, p, 70) for t, chord in harmony(piece, step) for p in _close_voicing(chord)
    )


def arpeggio(piece: Piece, beat: float) -> tuple[Note, ...]:
    """A derived accompaniment voice: the harmony broken into eighth-note arpeggios."""
    step = beat / 2
    notes = []
    for i, (t, chord) in enumerate(harmony(piece, step)):
        voicing = _close_voicing(chord)
        notes.append(Note(t, step, voicing[i % len(voicing)], 80))
    return tuple(notes)


def _close_voicing(chord: tuple[int, ...]) -> list[int]:
    """Pitch classes of a chord stacked within an octave above middle C's octave."""
    return sorted({60 + (p % 12) for p in chord})
