"""Independent pieces of work run at once in threads, as many as the cores BLAS may use.

NumPy, SciPy's FFT and scikit-learn's updates release the GIL on large arrays, so threads
share one process's memory and still use both cores. Each thread's BLAS runs on one core
meanwhile: two threads each spinning two BLAS threads on two cores is slower than one.
Inside a ``latentsep evaluate --jobs`` worker, whose BLAS is held to one thread, the work
runs in turn. Results come back in the order of the items, each computed as it would be
alone, so the outcome does not depend on the number of threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_info, threadpool_limits

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """How many threads BLAS may use here now (one where no BLAS is loaded)."""
    blas = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, min(blas)) if blas else 1


def thread_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]``, up to :func:`cores` at once."""
    items = list(items)
    n = min(cores(), len(items))
    if n <= 1:
        return [fn(item) for item in items]
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, items))
