"""Independent pieces of work run at once in threads, as many as the cores BLAS may use.

NumPy, SciPy's FFT and scikit-learn's updates release the GIL on large arrays, so threads
share one process's memory and still use both cores. Each thread's BLAS runs on one core
meanwhile: two threads each spinning two BLAS threads on two cores is slower than one.
Inside a ``latentsep evaluate --jobs`` worker, whose BLAS is held to one thread, the work
runs in turn. Results come back in the order of the items, each computed as it would be
alone, so the outcome does not depend on the number of threads.

:func:`flushing_denormals` is the floating-point mode the separations run in: numbers
below float32's smallest normal (1.2·10⁻³⁸) are taken as zero. NMF's multiplicative
updates drive the templates of empty bands (a 22 kHz piece played at 44.1 kHz) towards zero
through such numbers, which the CPU computes tens of times slower than normal ones: a
40-s decomposition took 12.5 s with them and 2.7 s without, its templates unchanged at
float precision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch
from threadpoolctl import threadpool_info, threadpool_limits

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """How many threads BLAS may use here now (one where no BLAS is loaded)."""
    blas = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, min(blas)) if blas else 1


def thread_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]``, up to :func:`cores` at once (each thread in the
    caller's floating-point mode, :func:`flushing_denormals`)."""
    items = list(items)
    n = min(cores(), len(items))
    if n <= 1:
        return [fn(item) for item in items]
    if getattr(_MODE, "flushing", False):
        fn = _flushing(fn)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, items))


_MODE = threading.local()  # .flushing: whether this thread is in flushing_denormals


@contextmanager
def flushing_denormals() -> Iterator[None]:
    """Within the block, this thread (and :func:`thread_map`'s threads) take numbers below
    float32's smallest normal as zero (the CPU's flush-to-zero mode, where it has one)."""
    before = getattr(_MODE, "flushing", False)
    _MODE.flushing = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
        _MODE.flushing = before


def _flushing(fn: Callable[[T], R]) -> Callable[[T], R]:
    def run(item: T) -> R:
        with flushing_denormals():
            return fn(item)

    return run
