"""Supervised NMF's class dictionaries: KL-NMF templates per instrument class, learned
from rendered stems, and how they explain a mixture's own templates (:func:`class_shares`,
a timbre prior for grouping them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentsep import spectral
from latentsep.separation.nmf.core import activations, kl_nmf
from latentsep.spectral import stft

#: Supervised NMF works at the stem-trained network's rate and resolution.
DICT_RATE, DICT_N_FFT, DICT_HOP = 16000, 1024, 256
#: Frames of a part this far below its loudest frame are rests, not timbre.
DICT_FLOOR_DB = -60.0


@dataclass
class ClassDictionaries:
    """KL-NMF templates learned on each instrument class's isolated parts."""

    templates: np.ndarray  # (freqs, atoms), every class's atoms side by side
    owner: np.ndarray  # (atoms,) the class index of each atom
    classes: tuple[str, ...]

    @property
    def atoms_per_class(self) -> int:
        return int(np.bincount(self.owner).max())


def learn_dictionaries(
    parts: list[tuple[int, np.ndarray]],
    classes: tuple[str, ...],
    atoms: int,
    seed: int = 0,
    max_frames: int = 4000,
) -> ClassDictionaries:
    """One KL-NMF dictionary of ``atoms`` templates per class, from ``(class index, mono
    audio at DICT_RATE)`` parts: their sounding frames, at most ``max_frames`` per class
    (evenly spaced)."""
    templates, owner = [], []
    for c in range(len(classes)):
        frames = []
        for cls, x in parts:
            if cls != c:
                continue
            v = np.abs(stft(x.mean(axis=0), DICT_N_FFT, DICT_HOP))
            level = v.sum(axis=0)
            frames.append(v[:, level > level.max() * 10 ** (DICT_FLOOR_DB / 20)])
        if not frames:
            continue
        v = np.concatenate(frames, axis=1)
        v = v[:, :: -(-v.shape[1] // max_frames)]
        k = min(atoms, v.shape[1])
        w, _ = kl_nmf(v, k, seed, init="nndsvda", max_iter=200, tol=1e-4)
        templates.append(w / (w.sum(axis=0, keepdims=True) + 1e-12))
        owner += [c] * k
    if not templates:
        raise ValueError("no instrument parts to learn dictionaries from")
    return ClassDictionaries(np.concatenate(templates, axis=1), np.array(owner), tuple(classes))


def class_shares(basis: np.ndarray, rate: int, dicts: ClassDictionaries) -> np.ndarray:
    """How the class dictionaries explain each spectral template ``(freqs, components)`` of
    an STFT at ``rate`` (:data:`~latentsep.spectral.N_FFT`): each template, on the
    dictionaries' frequency grid, fitted with every class's atoms at once (KL, atoms fixed);
    the log share of each class, ``(components, classes)``. A timbre prior learned from
    rendered stems, for grouping a mixture's own templates."""
    src = spectral.frequencies(spectral.N_FFT, rate)
    dst = spectral.frequencies(DICT_N_FFT, DICT_RATE)
    v = np.stack([np.interp(dst, src, c, right=0.0) for c in basis.T], axis=1) + 1e-9
    a = activations(v.astype(dicts.templates.dtype), dicts.templates)
    share = np.stack(
        [
            (dicts.templates[:, dicts.owner == c] @ a[dicts.owner == c]).sum(axis=0)
            for c in range(len(dicts.classes))
        ],
        axis=1,
    )
    return np.log(share / share.sum(axis=1, keepdims=True) + 1e-3)
