"""Time-frequency masks: the oracle ideal ratio mask and Wiener-style filtering.

Every mask-based method ends the same way: magnitudes (of references, of estimates, of NMF
components) become ratio masks that share the mixture's STFT among the sources, so the
sources add back up to the mixture exactly and keep its phase.
"""

from __future__ import annotations

import numpy as np

from latentsep.spectral import N_FFT, hop_of, istft, stft

EPS = 1e-10


def ratio_masks(
    magnitudes: list[np.ndarray] | np.ndarray, power: float = 2.0, overwrite: bool = False
) -> list[np.ndarray]:
    """Masks ``|S_i|^p / Σ_j |S_j|^p`` that sum to 1 in every bin (p = 2: Wiener gains;
    where every magnitude is 0 the bin is shared equally). ``overwrite``: real magnitudes
    given as one array are made the masks in place, without a copy."""
    real_array = isinstance(magnitudes, np.ndarray) and not np.iscomplexobj(magnitudes)
    masks = magnitudes if overwrite and real_array else np.stack(magnitudes)
    if np.iscomplexobj(masks):
        masks = np.abs(masks)
    else:  # in place, as below: these are the largest arrays of a long input's separation
        np.abs(masks, out=masks)
    if power != 1:  # a power of one is not free
        masks **= power
    total = masks.sum(axis=0)
    masks /= np.maximum(total, EPS)
    masks[:, total <= EPS] = 1.0 / len(magnitudes)  # in place: np.where took 15 times as long
    return list(masks)


def apply_masks(
    mixture: np.ndarray, masks: list[np.ndarray], n_fft: int = N_FFT
) -> list[np.ndarray]:
    """The sources that the masks (on an ``n_fft``-point STFT) carve out of ``(channels,
    samples)`` mixture audio."""
    hop = hop_of(n_fft)
    z = stft(mixture, n_fft, hop)
    return [istft(m * z, mixture.shape[-1], n_fft, hop) for m in masks]


def wiener(mixture: np.ndarray, estimates: list[np.ndarray], power: float = 2.0):
    """Re-share the mixture among rough ``estimates`` by their spectral power: whatever the
    estimates got wrong in level or artefacts, the outputs are parts of the mixture itself."""
    return apply_masks(mixture, ratio_masks([stft(e) for e in estimates], power))


def ideal_ratio_mask(mixture: np.ndarray, references: list[np.ndarray]) -> list[np.ndarray]:
    """The oracle: ratio masks computed from the true sources (magnitude ratio, p = 1), the
    ceiling for any method that masks this STFT."""
    return apply_masks(mixture, ratio_masks([stft(r) for r in references], power=1.0))
