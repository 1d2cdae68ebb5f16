"""A mixture shared among a dictionary's classes: its fit with the class or note
dictionaries' atoms fixed, each class's part of the fit (:func:`class_models`), and their
ratio masks on the mixture (:func:`masked_parts`).
"""

from __future__ import annotations

import numpy as np

from latentsep import spectral
from latentsep.separation import masks
from latentsep.separation.nmf.core import activations
from latentsep.separation.nmf.dictionaries import ClassDictionaries
from latentsep.separation.nmf.notes import note_activations, stft_grid
from latentsep.spectral import stft


def class_parts(mixture: np.ndarray, dicts: ClassDictionaries, notes: bool = False) -> np.ndarray:
    """The mixture ``(channels, samples)`` at :data:`DICT_RATE` shared among the classes by
    ratio masks of each class's part of the fit (activations fitted with the templates
    fixed): ``(classes, channels, samples)``, adding up to the mixture. ``notes``: the
    atoms are a note dictionary's thousands, fitted by :func:`note_activations` instead of
    :func:`activations` to convergence."""
    spec, models = class_models(mixture, dicts, notes)
    return masked_parts(mixture, spec, models, notes)


def class_models(
    mixture: np.ndarray, dicts: ClassDictionaries, notes: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`class_parts`' STFT of the mixture and each class's part of the fit, one array
    ``(classes, freqs, frames)``."""
    n_fft, hop = stft_grid(notes)
    if len(dicts.templates) != n_fft // 2 + 1:
        raise ValueError(
            f"dictionaries of {len(dicts.templates)} frequencies on a {n_fft}-point STFT grid "
            f"({'note' if notes else 'class'} dictionaries need {n_fft // 2 + 1})"
        )
    spec = stft(mixture, n_fft, hop)
    v = np.abs(spec).mean(axis=0)
    h = note_activations(v, dicts.templates) if notes else activations(v, dicts.templates, 1e-4)
    # made in place in one array: a 3-minute input's are 9 × 46 MB, and the masks reuse it
    models = np.empty((len(dicts.classes), *v.shape), np.result_type(dicts.templates, h))
    for c, model in enumerate(models):
        np.matmul(dicts.templates[:, dicts.owner == c], h[dicts.owner == c], out=model)
    return spec, models


def masked_parts(
    mixture: np.ndarray,
    spec: np.ndarray,
    models: np.ndarray | list[np.ndarray],
    notes: bool = False,
    power: float = 1.0,
    overwrite: bool = False,
) -> np.ndarray:
    """The mixture shared among ``models`` by their ratio masks of its STFT ``spec`` (the
    note dictionaries' grid when ``notes``; ``power``: 2 is Wiener's; ``overwrite``: the
    models, one array, become the masks)."""
    ratios = masks.ratio_masks(models, power=power, overwrite=overwrite)
    grid = stft_grid(notes)
    masked = np.empty_like(spec)  # one buffer for every class's masked STFT
    return np.stack(
        [spectral.istft(np.multiply(spec, m, out=masked), mixture.shape[-1], *grid) for m in ratios]
    )
