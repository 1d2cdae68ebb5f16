"""Where computation runs (CPU or GPU, picked automatically) and what software it runs on."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from latentsep.paths import cpu_model

REPORTED_PACKAGES = (
    "latentsep",
    "torch",
    "torchaudio",
    "encodec",
    "openunmix",
    "musdb",
    "museval",
    "music21",
    "tinysoundfont",
    "scikit-learn",
    "numpy",
)


def pick_device(prefer: str | None = None) -> torch.device:
    """``prefer`` if given ("cpu", "cuda", "cuda:1"), else CUDA when present, else CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def environment() -> dict[str, str]:
    """Versions and hardware, shown in the book so every number has its context."""
    info = {"python": platform.python_version(), "machine": platform.machine()}
    for name in REPORTED_PACKAGES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    info["CPU cores"] = str(os.cpu_count())
    info["torch threads"] = str(torch.get_num_threads())
    info["GPU"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return info


def machine() -> dict[str, Any]:
    """The machine a number was measured on: CPU model and cores, platform, torch's threads
    and the GPU (cheap: no probing beyond /proc/cpuinfo)."""
    info: dict[str, Any] = {
        "CPU": cpu_model(),
        "CPU cores": os.cpu_count(),
        "platform": platform.platform(),
    }
    info["torch threads"] = torch.get_num_threads()
    info["GPU"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return info


#: glibc's mallopt parameters and the values :func:`keep_freed_memory` sets: freed memory
#: kept for reuse (trim), heap grown 512 MiB at a time (top pad), blocks up to 32 MiB (the
#: most glibc allows) taken from the heap rather than fresh, zero-filled mmap pages.
_MALLOPT = {
    "M_TRIM_THRESHOLD": (-1, 2**31 - 1),
    "M_TOP_PAD": (-2, 2**29),
    "M_MMAP_THRESHOLD": (-3, 2**25),
}


def measured_on(where: Path, watched: tuple[str, ...] = ("src",)) -> dict[str, Any]:
    """Where and when a result was measured: the machine, the date and the commit of the
    checkout holding ``where`` (with "+changes" when a ``watched`` folder differs from it;
    a folder given as ``"!path"`` is not watched: the results a run itself writes)."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True)
        return run.stdout.strip() if run.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    # watched from the checkout's root, not ``where``
    top = [f":(top,exclude){w[1:]}" if w.startswith("!") else f":(top){w}" for w in watched]
    if git("status", "--porcelain", "--untracked-files=no", "--", *top):
        commit += "+changes"
    return {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "commit": commit}


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to reuse freed memory instead of returning it to the system.

    Separating a long file allocates and frees the same large spectrogram-sized arrays many
    times; by default each comes back as fresh pages the kernel must zero. ``latentsep
    separate`` on a 3-minute 44.1 kHz stereo song (``notenmf+classmask``, fresh processes
    alternating, 2 cores) took 16.9 / 17.3 / 19.0 s with this against 20.0 / 19.9 / 19.6 s
    without, and wrote the same files. The price: the process keeps its memory until it exits
    (its peak there: 1.92 GB against 1.83). Returns whether the allocator took the settings
    (False off glibc, e.g. on macOS, where nothing changes)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(key, value) == 1 for key, value in _MALLOPT.values())
