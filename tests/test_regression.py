"""Pinned numbers of the smoke preset, in the style of open-unmix's ``test_regression.py``:
the embedded dataset's fingerprint, the autoencoder's losses after its one epoch, and the
median SI-SDR improvement of every method, stored in ``tests/data/regression-smoke.json``
and compared with tolerances. A change that moves any of them fails here; when the move is
intended, regenerate the file on purpose and commit it with the change:

    .venv/bin/python -m pytest tests/test_regression.py --regenerate

Also the quality floors: the oracle stays far above the mixture, and the methods the book
calls separators stay where the pinned run put them relative to the mixture.

These numbers hold on any machine (issue 21): the session runs with pinned numerics
(``conftest.PINNED_NUMERICS``: one thread, portable kernels), trained methods get the spread
measured across thread counts, kernel dispatches and BLAS cores, and a median below
:data:`NOISE_FLOOR_DB` is not pinned at all — an estimate that is almost silence scores
whatever the last bits of a float say — only that it stays below the mixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from latentsep import pipeline
from latentsep.evaluation import scoring
from latentsep.presets import get_preset

PINNED = Path(__file__).with_name("data") / "regression-smoke.json"
P = get_preset("smoke")
#: Tolerances. Model-free methods and the dataset are deterministic arithmetic (float
#: reductions may differ in the last bits between CPUs); trained methods get the largest
#: spread of their smoke medians measured across 1 and 2 threads, torch's AVX2 and portable
#: kernels and two OpenBLAS cores (issue 21's note), with a margin.
REL_DATASET = 1e-4
REL_LOSS = 1e-3
ABS_DB = {"model-free": 0.05, "trained": 0.5}
#: Medians below this are noise (near-silent estimates): pinned only as "below the mixture".
NOISE_FLOOR_DB = -20.0


def measure() -> dict:
    """Every pinned number, computed now (the artifacts are the session's cached ones)."""
    tracks = pipeline.tracks(P.data, "train") + pipeline.tracks(P.data, "test")
    fingerprint = {
        f"{t.subset}/{t.name}/{stem}": [
            float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))),
            float(np.abs(x).max()),
        ]
        for t in tracks
        for stem, x in sorted(t.stems.items())
    }
    _, history, _ = pipeline.autoencoder(P, progress=False)
    first = history.epochs[0]
    test_set = pipeline.evaluate_test_set(
        P,
        scoring.BEYOND_METHODS + scoring.SUPERVISED + scoring.STEMS,
        nmf_ceiling=True,
        progress=False,
    )
    medians = scoring.median_by_method(test_set.scores)
    return {
        "dataset key": pipeline.dataset_artifact(P.data).key,
        "dataset (RMS, peak)": fingerprint,
        "autoencoder epoch 1": {k: float(first[k]) for k in ("loss", "time", "spec", "valid")},
        "median SI-SDRi (dB)": {m: round(float(v), 4) for m, v in medians.items()},
    }


def _kind(method: str) -> str:
    from latentsep.separation import get_method

    spec = get_method(method)
    return "trained" if spec.needs_model or spec.learned else "model-free"


@pytest.fixture(scope="module")
def numbers(data_root: Path, request) -> dict:
    now = measure()
    if request.config.getoption("--regenerate"):
        PINNED.parent.mkdir(exist_ok=True)
        PINNED.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    return now


@pytest.fixture(scope="module")
def pinned() -> dict:
    return json.loads(PINNED.read_text())


def test_dataset_is_the_pinned_one(numbers: dict, pinned: dict):
    assert numbers["dataset key"] == pinned["dataset key"]
    assert numbers["dataset (RMS, peak)"].keys() == pinned["dataset (RMS, peak)"].keys()
    for name, values in pinned["dataset (RMS, peak)"].items():
        assert numbers["dataset (RMS, peak)"][name] == pytest.approx(values, rel=REL_DATASET), name


def test_autoencoder_losses_after_one_epoch(numbers: dict, pinned: dict):
    for part, value in pinned["autoencoder epoch 1"].items():
        assert numbers["autoencoder epoch 1"][part] == pytest.approx(value, rel=REL_LOSS), part


def matches(now: float, then: float, method: str) -> bool:
    """Whether a median still agrees with its pinned value (below the noise floor: whether
    it is still below the mixture)."""
    if then < NOISE_FLOOR_DB:
        return now < 0.0
    return now == pytest.approx(then, abs=ABS_DB[_kind(method)])


def test_every_methods_median_si_sdr(numbers: dict, pinned: dict):
    now, then = numbers["median SI-SDRi (dB)"], pinned["median SI-SDRi (dB)"]
    assert now.keys() == then.keys()
    for method, value in then.items():
        assert matches(now[method], value, method), (method, now[method], value)


def test_quality_floors(numbers: dict, pinned: dict):
    """The oracle mask is far above the mixture; every method the pinned run had above the
    mixture still is (the book's claims rest on those signs)."""
    now = numbers["median SI-SDRi (dB)"]
    assert now["oracle IRM"] > 15.0
    assert now["mixture"] == pytest.approx(0.0, abs=1e-9)
    above = [m for m, v in pinned["median SI-SDRi (dB)"].items() if v > 0.5]
    assert all(now[m] > 0 for m in above), {m: now[m] for m in above}


def instrument(seconds: float, base: float, seed: int, odd: bool, rate: int) -> np.ndarray:
    """Notes every 0.5 s over an octave from ``base``: odd harmonics only (clarinet-like) or
    all of them falling as 1/k² (a softer timbre)."""
    rng = np.random.default_rng(seed)
    n, step = int(seconds * rate), rate // 2
    f = np.repeat(base * 2 ** (rng.integers(0, 12, size=n // step + 1) / 12), step)[:n]
    amp = np.repeat(rng.uniform(0.3, 1, size=n // step + 1), step)[:n]
    phase = 2 * np.pi * np.cumsum(f) / rate
    ks = range(1, 12, 2) if odd else range(1, 12)
    wave = sum((0.3 / k if odd else 0.3 / k**2) * np.sin(k * phase) for k in ks)
    return (amp * wave)[None].astype(np.float32)


def test_the_default_method_separates_two_timbres():
    """A fixed small case with a known answer: two instruments of different timbres whose
    notes overlap in pitch. The default method must beat the mixture clearly on both."""
    from latentsep import separation
    from latentsep.evaluation.metrics import separation_scores

    rate = 16000
    a, b = instrument(6, 220, 0, True, rate), instrument(6, 330, 10, False, rate)
    mix = a + b
    sep = separation.separate(mix, None, n_sources=2, rate=rate)
    rows = separation_scores({"a": a, "b": b}, sep.sources, mix, rate, bss=False)
    assert all(r["SI-SDRi (dB)"] > 3.0 for r in rows), rows  # 4.1 and 4.7 dB when written
    oracle = separation.separate(mix, None, "oracle IRM", references=[a, b], rate=rate)
    rows = separation_scores({"a": a, "b": b}, oracle.sources, mix, rate, bss=False)
    assert all(r["SI-SDRi (dB)"] > 20.0 for r in rows), rows


def test_the_check_would_catch_a_3_db_shift(pinned: dict):
    """The tolerances are tight enough: every pinned method moved by 3 dB fails the
    comparison; one below the noise floor fails when it rises above the mixture."""
    for method, value in pinned["median SI-SDRi (dB)"].items():
        if value < NOISE_FLOOR_DB:
            assert not matches(0.5, value, method), method
        else:
            assert not matches(value + 3.0, value, method), method
            assert not matches(value - 3.0, value, method), method
