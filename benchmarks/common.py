"""Shared by the benchmark scripts: where results go, and how things are timed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def measured_on() -> dict:
    """Where and when a result was measured (:func:`latentsep.device.measured_on`)."""
    from latentsep.device import measured_on as on

    return on(HERE, ("src", "benchmarks", "!benchmarks/results"))  # not what this run writes


def report(name: str, result: dict) -> dict:
    """Print a result and write it to ``benchmarks/results/<name>.json`` (atomically), with
    where and when it was measured. The default preset's results are committed: the book's
    Performance page shows them without re-measuring (``make bench`` measures again)."""
    from latentsep.paths import atomic_write

    result = {**result, "measured on": measured_on()}
    text = json.dumps(result, indent=1)
    atomic_write(RESULTS / f"{name}.json", lambda tmp: tmp.write_text(text + "\n"))
    print(text)
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
