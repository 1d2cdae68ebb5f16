"""Reading, checking and writing audio. Bad input fails here, with the file and the problem.

Arrays are ``float32`` shaped ``(channels, samples)`` everywhere in the package.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.io import wavfile
from scipy.signal import resample_poly


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file (or array) and the problem."""


def check_audio(
    x: np.ndarray,
    name: str = "audio",
    *,
    min_samples: int = 1,
    allow_silent: bool = False,
    channels: int | None = None,
) -> np.ndarray:
    """Validate a ``(channels, samples)`` array and return it as float32."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise AudioError(f"{name}: expected (channels, samples), got shape {tuple(x.shape)}")
    if x.shape[0] > 8 and x.shape[1] <= 8:
        raise AudioError(
            f"{name}: shape {tuple(x.shape)} looks like (samples, channels); "
            "transpose it to (channels, samples)"
        )
    if channels is not None and x.shape[0] != channels:
        raise AudioError(f"{name}: expected {channels} channel(s), got {x.shape[0]}")
    if x.shape[1] < min_samples:
        raise AudioError(f"{name}: too short ({x.shape[1]} samples, need at least {min_samples})")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{name}: contains NaN or infinite samples")
    if not allow_silent and not np.any(np.abs(x) > 1e-8):
        raise AudioError(f"{name}: is silent (all samples are zero)")
    return np.ascontiguousarray(x, dtype=np.float32)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    mono: bool = False,
    min_seconds: float = 0.0,
    allow_silent: bool = False,
) -> tuple[np.ndarray, int]:
    """Read audio as ``(channels, samples)`` float32, optionally resampled and mixed down."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    x = data.T
    if mono and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True)
    if sample_rate is not None and sample_rate != rate:
        x = resample(x, rate, sample_rate)
        rate = sample_rate
    min_samples = max(1, int(round(min_seconds * rate)))
    return check_audio(x, str(path), min_samples=min_samples, allow_silent=allow_silent), rate


def crop(x: np.ndarray, start: int, n: int) -> np.ndarray:
    """``n`` samples of ``(channels, samples)`` audio from ``start``, zero-padded at the end."""
    seg = x[:, start : start + n]
    return np.pad(seg, ((0, 0), (0, n - seg.shape[1])))


def random_start(length: int, n: int, rng: np.random.Generator) -> int:
    """A uniformly drawn start for an ``n``-sample excerpt of ``length`` samples."""
    return int(rng.integers(0, max(1, length - n + 1)))


def resample(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Polyphase resampling along the last axis."""
    if orig_rate == new_rate:
        return x
    g = np.gcd(int(orig_rate), int(new_rate))
    return resample_poly(x, new_rate // g, orig_rate // g, axis=-1).astype(np.float32)


def prepare(signals: list[np.ndarray], rate: int, fmt) -> list[np.ndarray]:
    """Match audio to a model's format (``fmt`` has ``sample_rate`` and ``channels``, e.g. a
    :class:`~latentsep.presets.ModelConfig`): resample, then mix down or duplicate channels.
    Format conversion beside audio I/O, as EnCodec's ``convert_audio``."""
    out = []
    for x in signals:
        x = resample(x, rate, fmt.sample_rate)
        if x.shape[0] != fmt.channels:
            x = x.mean(0, keepdims=True) if fmt.channels == 1 else np.repeat(x[:1], 2, axis=0)
        out.append(np.ascontiguousarray(x, dtype=np.float32))
    return out


def save_audio(path: str | os.PathLike, x: np.ndarray, sample_rate: int) -> Path:
    """Write float32 WAV atomically (a temporary file renamed into place), byte-reproducibly."""
    path = Path(path)
    x = check_audio(x, str(path), allow_silent=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".wav")
    os.close(fd)
    try:
        # scipy, not libsndfile: libsndfile stamps float WAVs with the time (PEAK chunk),
        # which would make reruns differ byte for byte.
        wavfile.write(tmp, int(sample_rate), np.ascontiguousarray(x.T))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
