"""Separation and reconstruction metrics. BSSEval v4 comes from ``museval``.

Signals are ``(channels, samples)`` arrays; metrics are in dB unless said otherwise.
"""

from __future__ import annotations

import numpy as np

from latentsep.spectral import power_spectrum, stft

EPS = 1e-10


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio of an estimate: 10 log10(|s|² / |s - ŝ|²)."""
    num = np.sum(reference.astype(np.float64) ** 2)
    den = np.sum((reference.astype(np.float64) - estimate) ** 2)
    return float(10 * np.log10((num + EPS) / (den + EPS)))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR (Le Roux et al. 2019), over all channels at once; -inf for a
    silent estimate of a sound."""
    s = reference.astype(np.float64).ravel()
    e = estimate.astype(np.float64).ravel()
    s = s - s.mean()
    e = e - e.mean()
    if np.dot(e, e) <= EPS * 1e-6 < np.dot(s, s):
        return float("-inf")
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
    # museval refuses an all-zero estimate; a whisper of noise scores it as what it is, a
    # very bad estimate, instead of failing the whole evaluation
    silent = ~np.any(est != 0, axis=(1, 2))
    est[silent] = 1e-9 * np.random.default_rng(0).standard_normal(est[silent].shape)
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

    def logmag(x):
        z = stft(x, n_fft, n_fft // 4, boundary=False)
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


# --- separation: the study's cluster statistics -------------------------------------------


def entropy(values: np.ndarray) -> float:
    """Shannon entropy (bits) of non-negative ``values`` taken as a distribution: 0 for a
    single peak, log2(n) for a flat one."""
    p = np.asarray(values, np.float64).ravel()
    if np.any(p < 0):
        raise ValueError("entropy needs non-negative values (e.g. a power spectrum)")
    if p.sum() <= 0:
        raise ValueError("entropy of an all-zero distribution is undefined")
    p = p / p.sum()
    nz = p[p > 0]
    return float(-np.sum(nz * np.log2(nz)))


def hoyer_sparsity(values: np.ndarray) -> float:
    """Hoyer's sparsity (2004): 1 for a single non-zero value, 0 for all values equal."""
    v = np.abs(np.asarray(values, np.float64).ravel())
    n = v.size
    if n < 2:
        raise ValueError("Hoyer sparsity needs at least 2 values")
    ratio = v.sum() / (np.sqrt(np.sum(v**2)) + EPS)
    return float((np.sqrt(n) - ratio) / (np.sqrt(n) - 1))


def cluster_statistics(mixture: np.ndarray, sources: list[np.ndarray]) -> dict[str, float]:
    """The study's judgement of a clustering, without ground truth: how well the sources
    add back up to the input, how peaked (entropy) and sparse (Hoyer) their spectra are,
    and how the energy is shared (a share near 100 % means one cluster took everything)."""
    total = np.sum(np.asarray(mixture, np.float64) ** 2) + EPS
    shares = [100 * float(np.sum(np.asarray(s, np.float64) ** 2) / total) for s in sources]
    spectra = [power_spectrum(s) for s in sources]
    return {
        "reconstruction MSE": mse(mixture, np.sum(sources, axis=0)),
        "entropy (bits)": float(
            np.nanmean([entropy(p) if p.sum() > 0 else np.nan for p in spectra])
        ),
        "Hoyer sparsity": float(np.mean([hoyer_sparsity(np.sqrt(p)) for p in spectra])),
        "largest share (%)": max(shares),
        "sum of shares (%)": float(sum(shares)),
    }


# --- separation against ground truth ------------------------------------------------------


def match_sources(references: list[np.ndarray], estimates: list[np.ndarray]) -> list[int | None]:
    """For each reference, the index of its estimate under the permutation that maximises
    the total SI-SDR (Hungarian algorithm); None for references left without an estimate
    when there are fewer estimates than references."""
    from scipy.optimize import linear_sum_assignment

    if not references or not estimates:
        return [None] * len(references)
    score = np.array([[si_sdr(r, e) for e in estimates] for r in references])
    # a silent estimate scores -inf; the solver needs finite costs to find an assignment
    rows, cols = linear_sum_assignment(np.nan_to_num(score, neginf=-1e9), maximize=True)
    match: list[int | None] = [None] * len(references)
    for r, c in zip(rows, cols, strict=True):
        match[r] = int(c)
    return match


def separation_scores(
    references: dict[str, np.ndarray],
    estimates: list[np.ndarray],
    mixture: np.ndarray,
    rate: int,
    bss: bool = True,
    mixture_bss: dict[str, np.ndarray] | None = None,
) -> list[dict[str, float | str]]:
    """One row per reference source, its estimate found by :func:`match_sources`: SI-SDR and
    its improvement over the unprocessed mixture, and (``bss``) BSSEval v4 SDR/SIR/SAR with
    the SDR improvement (``mixture_bss``: the mixture's own BSSEval scores, if computed
    already). A reference without an estimate is scored against silence."""
    names = list(references)
    refs = [np.asarray(references[n], np.float64) for n in names]
    match = match_sources(refs, estimates)
    matched = [
        np.asarray(estimates[m], np.float64) if m is not None else np.zeros_like(r)
        for r, m in zip(refs, match, strict=True)
    ]
    rows = []
    for name, r, e in zip(names, refs, matched, strict=True):
        rows.append(
            {
                "source": name,
                "SI-SDR (dB)": si_sdr(r, e),
                "SI-SDRi (dB)": si_sdr(r, e) - si_sdr(r, mixture),
            }
        )
    if bss:
        est = bss_eval(refs, matched, rate)
        base = mixture_bss or bss_eval(refs, [np.asarray(mixture, np.float64)] * len(refs), rate)
        for i, row in enumerate(rows):
            row.update(
                {
                    "SDR (dB)": float(est["SDR"][i]),
                    "SIR (dB)": float(est["SIR"][i]),
                    "SAR (dB)": float(est["SAR"][i]),
                    "SDRi (dB)": float(est["SDR"][i] - base["SDR"][i]),
                }
            )
    return rows
