"""Where computation runs (CPU or GPU, picked automatically) and what software it runs on."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
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
