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


def mse(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(np.mean((reference.astype(np.float64) - estimate) ** 2))


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Peak SNR: 10 log10(max|s|² / MSE)."""
    peak = float(np.max(np.abs(reference))) ** 2
    return float(10 * np.log10((peak + EPS) / (mse(reference, estimate) + EPS)))


def cosine(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Cosine similarity of the waveforms (1 = same shape, scale ignored)."""
    a = reference.astype(np.float64).ravel()
    b = estimate.astype(np.float64).ravel()
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + EPS))


def spectral_mse(reference: np.ndarray, estimate: np.ndarray, n_fft: int = 2048) -> float:
    """MSE between natural-log magnitude spectrograms (Hann, 75 % overlap, log(|X| + 1e-5)),
    the log-spectrogram distance of the study's loss at its largest FFT size."""
    from scipy.signal import stft

    def logmag(x):
        _, _, z = stft(x, nperseg=n_fft, noverlap=n_fft * 3 // 4, boundary=None)
        return np.log(np.abs(z) * n_fft / 2 + 1e-5)  # undo scipy's 1/sum(window) scaling

    return float(np.mean((logmag(reference) - logmag(estimate)) ** 2))


def reconstruction_metrics(reference: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """The study's autoencoder metrics, plus SI-SDR."""
    return {
        "MSE": mse(reference, estimate),
        "SNR (dB)": snr(reference, estimate),
        "PSNR (dB)": psnr(reference, estimate),
        "cosine similarity": cosine(reference, estimate),
        "spectral MSE": spectral_mse(reference, estimate),
        "SI-SDR (dB)": si_sdr(reference, estimate),
        "level (dB)": level_ratio(reference, estimate),
    }


def level_ratio(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Loudness of the estimate relative to the reference: 20 log10(rms(ŝ) / rms(s))."""
    rms = [np.sqrt(np.mean(np.asarray(v, np.float64) ** 2)) for v in (reference, estimate)]
    return float(20 * np.log10((rms[1] + EPS) / (rms[0] + EPS)))
