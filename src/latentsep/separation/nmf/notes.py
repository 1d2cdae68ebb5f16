"""Note dictionaries: one template per note the training soundfonts play, on their own STFT
grid (:func:`stft_grid`), and their pooled fit (:func:`pooled_fit`,
:func:`note_activations`), pruned as it goes to the notes a mixture plays.
"""

from __future__ import annotations

import numpy as np

from latentsep.separation.nmf.core import reused
from latentsep.separation.nmf.dictionaries import DICT_HOP, DICT_N_FFT, ClassDictionaries
from latentsep.spectral import stft

#: A rendered note's frames this far below its loudest are its release, not its timbre.
NOTE_FLOOR_DB = -30.0
#: The note dictionaries' STFT at DICT_RATE: 256-ms windows, 3.9-Hz bins that resolve the
#: partials of neighbouring low notes (a semitone at 100 Hz is 6 Hz). The activations are
#: held for half a second anyway (POOL), so the longer window costs no timing.
NOTE_N_FFT, NOTE_HOP = 4096, 512


def stft_grid(notes: bool = False) -> tuple[int, int]:
    """The ``(n_fft, hop)`` at DICT_RATE of the class dictionaries, or of the notes'."""
    return (NOTE_N_FFT, NOTE_HOP) if notes else (DICT_N_FFT, DICT_HOP)


#: A note dictionary's activations are fitted on the mixture's frames summed POOL at a time
#: (half a second at NOTE_HOP), POOLED_UPDATES multiplicative updates, then spread back
#: over the frames (linearly between the pooled frames' centres); atoms below PRUNE_SHARE
#: of the loudest atom's activation are dropped. Activations held for half a second are a
#: continuity prior: a frame alone is explained as well by wrong notes as by right ones
#: (``experiments/note_fits.py``; the Ablations appendix).
POOL, POOLED_UPDATES, PRUNE_SHARE = 16, 300, 1e-2
#: ... dropped every PRUNE_EVERY updates too, which makes the fit about three times as fast
#: with the same separation; a larger share than PRUNE_SHARE drops notes that play.
PRUNE_EVERY = 25
#: The first PRUNE_EVERY updates, the only ones with every atom, are on bins summed
#: COARSE_BINS at a time (15.6 Hz): they only decide which atoms go on, and were two
#: thirds of the fit's time.
COARSE_BINS = 4
#: The pooled frames are fitted (and their atoms pruned) this many at a time: ~10 s, the
#: length of the pieces it was chosen on. The frames' fits are independent given the atoms,
#: so a long input costs its length, not its length times every note it plays anywhere
#: (a 3-minute input's two fits, the sample's and the whole's: 4.7 s against 9.2).
CHUNK = 20


def note_template(x: np.ndarray) -> np.ndarray:
    """One rendered note ``(channels, samples)`` at :data:`DICT_RATE` as a template: its mean
    magnitude spectrum (:data:`NOTE_N_FFT`) over the frames it sounds in, summing to one
    (``(freqs,)``)."""
    v = np.abs(stft(x.mean(axis=0), *stft_grid(notes=True)))
    level = v.sum(axis=0)
    if level.max() <= 0:
        raise ValueError("a silent note cannot be a template")
    t = v[:, level > level.max() * 10 ** (NOTE_FLOOR_DB / 20)].mean(axis=1)
    return t / t.sum()


def _coarse(x: np.ndarray) -> np.ndarray:
    """``x`` ``(freqs, n)`` with its bins summed :data:`COARSE_BINS` at a time (the last
    group padded with zeros): columns that sum to one still do."""
    pad = -len(x) % COARSE_BINS
    x = np.pad(x, [(0, pad), (0, 0)])
    return x.reshape(-1, COARSE_BINS, x.shape[1]).sum(axis=1)


def pooled_fit(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The atoms of ``w`` ``(freqs, atoms)``, summing to one, that magnitudes ``v``
    ``(freqs, frames)`` play, and their activations on the pooled frames (:data:`POOL`,
    :data:`POOLED_UPDATES`, :data:`PRUNE_SHARE`, :data:`PRUNE_EVERY`, :data:`COARSE_BINS`),
    fitted :data:`CHUNK` pooled frames at a time: ``(kept atoms' indices, (kept, pooled
    frames))``, float32."""
    v = np.asarray(v, np.float32)
    w = np.asarray(w, np.float32)
    frames = -(-v.shape[1] // POOL)
    pooled = np.pad(v, [(0, 0), (0, frames * POOL - v.shape[1])])
    pooled = pooled.reshape(len(v), frames, POOL).sum(axis=2)
    coarse = _coarse(w)
    h = np.zeros((w.shape[1], frames), np.float32)
    for start in range(0, frames, CHUNK):
        keep, fit = _pooled_chunk(pooled[:, start : start + CHUNK], w, coarse)
        h[keep, start : start + CHUNK] = fit
    keep = np.flatnonzero(h.any(axis=1))
    return keep, h[keep]


def _pooled_chunk(
    pooled: np.ndarray, w: np.ndarray, coarse: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pooled_fit` of one chunk, ``coarse`` being ``w``'s :func:`_coarse`: the kept
    atoms' indices and activations (none for a silent chunk)."""
    if not pooled.any():
        return np.arange(0), np.zeros((0, pooled.shape[1]), np.float32)
    start = pooled.sum(axis=0).mean() / w.shape[1] + 1e-9
    h = np.full((w.shape[1], pooled.shape[1]), start, np.float32)
    v, basis = _coarse(pooled), coarse
    for _ in range(PRUNE_EVERY):  # the templates sum to one: no denominator
        h *= basis.T @ (v / (basis @ h + 1e-9))
        np.maximum(h, _TINY, out=h)
    keep = np.arange(w.shape[1])
    for i in range(PRUNE_EVERY, POOLED_UPDATES):
        if i % PRUNE_EVERY == 0:  # what is silent now stays silent: drop it as we go
            loud = _loud(h)
            keep, h, w = keep[loud], h[loud], w[:, loud]
        h *= w.T @ (pooled / (w @ h + 1e-9))
        np.maximum(h, _TINY, out=h)
    loud = _loud(h)
    return keep[loud], h[loud]


#: The smallest normal float32: activations decaying below it become subnormal numbers,
#: whose arithmetic is many times slower on some CPUs (a 60-s fit on an Intel Xeon: 4.7 s,
#: 1.4 s floored here, the same atoms kept); a value this small is silence anyway.
_TINY = np.finfo(np.float32).tiny


def _loud(h: np.ndarray) -> np.ndarray:
    """The atoms whose activations ``h`` ``(atoms, frames)`` reach PRUNE_SHARE of the
    loudest one's."""
    energy = h.sum(axis=1)
    return np.flatnonzero(energy >= energy.max() * PRUNE_SHARE)


@reused
def note_activations(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """KL-NMF activations ``(atoms, frames)`` of magnitudes ``v`` ``(freqs, frames)`` with
    the templates ``w`` ``(freqs, atoms)`` fixed and summing to one: :func:`pooled_fit`'s,
    spread linearly over the frames between the pooled frames' centres (the dropped atoms'
    are zero), float32."""
    keep, pooled = pooled_fit(v, w)
    frames = v.shape[1]
    at = np.clip((np.arange(frames) + 0.5) / POOL - 0.5, 0, pooled.shape[1] - 1)
    left = np.minimum(at.astype(int), max(pooled.shape[1] - 2, 0))
    right = np.minimum(left + 1, pooled.shape[1] - 1)
    share = (at - left)[None].astype(np.float32)
    out = np.zeros((w.shape[1], frames), np.float32)
    out[keep] = (pooled[:, left] * (1 - share) + pooled[:, right] * share) / POOL
    return out


def played(dicts: ClassDictionaries, mixture: np.ndarray) -> ClassDictionaries:
    """The atoms of ``dicts`` that a mixture ``(channels, samples)`` at :data:`DICT_RATE`
    plays (those :func:`pooled_fit` keeps): a long input's dictionary, found once on a sample
    of it, so that its blocks do not start from every atom."""
    v = np.abs(stft(mixture, *stft_grid(notes=True))).mean(axis=0)
    keep, _ = pooled_fit(v, dicts.templates)
    if not len(keep):  # a silent sample says nothing about the notes: all of them
        return dicts
    return ClassDictionaries(dicts.templates[:, keep], dicts.owner[keep], dicts.classes)
