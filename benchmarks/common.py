"""Shared by the benchmark scripts: where results go, and how things are timed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def report(name: str, result: dict) -> dict:
    """Print a result and write it to ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def stft_round_trip(x: np.ndarray) -> float:
    """Seconds for one STFT and inverse STFT of ``x``: the same-process reference that
    speeds are divided by, so that machines can be compared."""
    from latentsep.separation import masks

    return best_time(lambda: masks.apply_masks(x, [np.ones(1)]))
