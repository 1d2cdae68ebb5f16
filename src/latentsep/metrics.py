"""Separation and reconstruction metrics. BSSEval v4 comes from ``museval``.

Signals are ``(channels, samples)`` arrays; metrics are in dB unless said otherwise.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-10


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio of an estimate: 10 log10(|s|² / |s - ŝ|²)."""
    num = np.sum(reference.astype(np.float64) ** 2)
    den = np.sum((reference.astype(np.float64) - estimate) ** 2)
    return float(10 * np.log10((num + EPS) / (den + EPS)))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR (Le Roux et al. 2019), over all channels at once."""
    s = reference.astype(np.float64).ravel()
    e = estimate.astype(np.float64).ravel()
    s = s - s.mean()
    e = e - e.mean()
    target = (np.dot(e, s) / (np.dot(s, s) + EPS)) * s
    return float(10 * np.log10((np.sum(target**2) + EPS) / (np.sum((e - target) ** 2) + EPS)))


def bss_eval(
    references: list[np.ndarray], estimates: list[np.ndarray], rate: int, window_s: float = 1.0
) -> dict[str, np.ndarray]:
    """BSSEval v4 (museval) per source: the median over windows of SDR, ISR, SIR and SAR.

    ``references`` and ``estimates`` are lists of ``(channels, samples)`` arrays in the same
    order; all the sources of the mixture should be given, or SIR means little.
    """
    import museval

    ref = np.stack([r.T for r in references]).astype(np.float64)
    est = np.stack([e.T for e in estimates]).astype(np.float64)
    win = int(window_s * rate)
    sdr, isr, sir, sar = museval.evaluate(ref, est, win=win, hop=win)
    return {
        name: np.nanmedian(v, axis=1)
        for name, v in zip(("SDR", "ISR", "SIR", "SAR"), (sdr, isr, sir, sar), strict=True)
    }
