"""Our metrics against independent implementations and cases with a known answer: SI-SDR
against torchmetrics, BSSEval v4 (museval) against signals whose SDR is known, and the
permutation solver against brute force and torchmetrics' permutation-invariant search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torchmetrics.functional.audio import (
    permutation_invariant_training,
    scale_invariant_signal_distortion_ratio,
)

from latentsep.evaluation import metrics

RATE = 8000


def signals(n: int, seconds: float = 2.0, seed: int = 0) -> list[np.ndarray]:
    """``n`` independent coloured-noise "sources", ``(1, samples)`` each."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.standard_normal(int(seconds * RATE))
        x = np.convolve(x, np.ones(i + 2) / (i + 2), mode="same")  # each its own colour
        out.append((x / x.std())[None])
    return out


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 7.5, 30.0])
def test_si_sdr_matches_torchmetrics(snr_db: float):
    rng = np.random.default_rng(int(snr_db) + 100)
    s = signals(1)[0] + 0.3  # an offset: both remove the mean
    noise = rng.standard_normal(s.shape) * 10 ** (-snr_db / 20)
    e = 0.7 * (s + noise)
    ours = metrics.si_sdr(s, e)
    theirs = scale_invariant_signal_distortion_ratio(
        torch.from_numpy(e), torch.from_numpy(s), zero_mean=True
    ).item()
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert ours == pytest.approx(snr_db, abs=0.5)  # and it is the SNR we built in


def test_bss_eval_v4_on_known_answers():
    """White noise at a known level: SDR is that SNR (the 512-tap filters absorb almost none
    of independent noise). A short filter of the reference: museval's v4 scores images, so
    the filtering is spatial distortion, not forgiven — SDR and ISR are the plain SNR of the
    filtered signal, while SIR (no other source leaks in) is very high."""
    s = signals(2, seconds=4.0)
    rng = np.random.default_rng(1)
    noisy = [x + rng.standard_normal(x.shape) * 10 ** (-10 / 20) for x in s]
    scores = metrics.bss_eval(s, noisy, RATE)
    np.testing.assert_allclose(scores["SDR"], 10.0, atol=0.3)
    fir = np.array([0.9, 0.3, -0.2, 0.1])
    filtered = [np.convolve(x[0], fir)[: x.shape[1]][None] for x in s]
    scores = metrics.bss_eval(s, filtered, RATE)
    expected = [metrics.snr(x, f) for x, f in zip(s, filtered, strict=True)]
    np.testing.assert_allclose(scores["SDR"], expected, atol=0.3)
    assert np.all(scores["SIR"] > 30)


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_permutation_solver_matches_brute_force(n: int, seed: int):
    rng = np.random.default_rng(seed)
    refs = signals(n, seed=seed)
    # noisy, partly mixed-up estimates in a random order: not an obvious assignment
    leak = rng.uniform(0.1, 0.6, size=(n, n))
    est = [sum(leak[i, j] * refs[j] for j in range(n)) + refs[i] for i in range(n)]
    est = [e + rng.standard_normal(e.shape) * rng.uniform(0.2, 1.5) for e in est]
    order = rng.permutation(n)
    est = [est[k] for k in order]
    match = metrics.match_sources(refs, est)

    def total(perm) -> float:
        return sum(metrics.si_sdr(r, est[p]) for r, p in zip(refs, perm, strict=True))

    best = max(itertools.permutations(range(n)), key=total)
    assert total(match) == pytest.approx(total(best), abs=1e-9)
    _, theirs = permutation_invariant_training(
        torch.from_numpy(np.concatenate(est))[None],
        torch.from_numpy(np.concatenate(refs))[None],
        scale_invariant_signal_distortion_ratio,
        mode="permutation-wise",
        eval_func="max",
    )
    # torchmetrics' best_perm[j]: the estimate that goes with reference j, as ours
    assert match == theirs[0].tolist() == list(best)
