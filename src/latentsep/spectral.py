"""The one short-time Fourier transform of the package (as open-unmix's ``transforms.py``).

NumPy (scipy) for masks, NMF, metrics and figures; PyTorch for the training losses. Hann
windows throughout; every caller names its FFT size and hop here rather than building an
STFT of its own (an overlap once silently differed between two copies).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from scipy import fft as sp_fft
from scipy.signal import get_window
from scipy.signal import istft as _istft
from scipy.signal import stft as _stft

#: The masks' and NMF's transform: 2048-point frames, 75 % overlap.
N_FFT = 2048
HOP = 512


def hop_of(n_fft: int) -> int:
    """The hop the package pairs with ``n_fft``: the same 75 % overlap as :data:`HOP`."""
    return n_fft * HOP // N_FFT


#: The transforms kept while :func:`reusing_transforms` is open, by input and grid.
_KEPT: dict[tuple, tuple[np.ndarray, np.ndarray]] | None = None
_KEPT_LOCK = threading.Lock()


@contextmanager
def reusing_transforms() -> Iterator[None]:
    """Within the block, :func:`stft` of the same array (the same memory, shape and strides)
    on the same grid is computed once and handed out read-only: a method that decomposes,
    places and masks one block on two grids (``nmf+streams``' six members) transforms it
    twice, not eighteen times. Only for inputs that do not change inside the block; each
    input is held until the block ends, so no other array can take its memory and key."""
    global _KEPT
    outer, _KEPT = _KEPT, {}
    try:
        yield
    finally:
        _KEPT = outer


def stft(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP, *, boundary: bool = True) -> np.ndarray:
    """Complex STFT along the last axis: ``(..., samples)`` → ``(..., freqs, frames)``.

    scipy's scaling (1 / sum of the window). ``boundary`` pads half a frame of zeros at each
    end (needed to invert it exactly); without it frames start at sample 0.
    """
    kept = _KEPT
    if kept is None:
        return _transform(x, n_fft, hop, boundary)
    key = (x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.str, n_fft, hop, boundary)
    with _KEPT_LOCK:  # two threads asking for one transform: the second waits for it
        if key not in kept:
            z = _transform(x, n_fft, hop, boundary)
            z.flags.writeable = False  # shared: a caller must not change it in place
            kept[key] = (x, z)
        return kept[key][1]


def _transform(x: np.ndarray, n_fft: int, hop: int, boundary: bool) -> np.ndarray:
    with sp_fft.set_workers(-1):  # the frames' transforms are independent: same numbers
        _, _, z = _stft(
            x, nperseg=n_fft, noverlap=n_fft - hop, axis=-1, boundary="zeros" if boundary else None
        )
    return z


def istft(z: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Inverse of :func:`stft`, trimmed or zero-padded to ``length`` samples, float32."""
    if n_fft % hop:
        _, x = _istft(z, nperseg=n_fft, noverlap=n_fft - hop, time_axis=-1, freq_axis=-2)
    else:
        x = _overlap_add(z, n_fft, hop)
    x = x[..., :length]
    if x.shape[-1] < length:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])
    return x.astype(np.float32)


def _overlap_add(z: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """scipy's ``istft`` (Hann, one-sided, boundary trimmed), bit for bit, with its
    overlap-add done ``n_fft // hop`` slices at a time instead of frame by frame in Python
    (a 45-s stereo block: 0.28 s, scipy 0.43), and each frame's transform on contiguous
    memory and every core. The frames are added in scipy's order, so every sum is the same;
    a test compares the two."""
    win = get_window("hann", n_fft)
    frames = sp_fft.irfft(np.swapaxes(z, -1, -2), axis=-1, n=n_fft, workers=-1)[..., :n_fft]
    if np.result_type(win, frames) != frames.dtype:
        win = win.astype(frames.dtype)
    frames *= win.sum()
    frames *= win  # (..., frames, n_fft)
    n_frames, parts = frames.shape[-2], n_fft // hop
    # the output in hop-long blocks: frame i's part k is added to block i + k
    x = np.zeros((*frames.shape[:-2], n_frames - 1 + parts, hop), frames.dtype)
    norm = np.zeros((n_frames - 1 + parts, hop), frames.dtype)
    for k in reversed(range(parts)):
        part = slice(k * hop, (k + 1) * hop)
        x[..., k : k + n_frames, :] += frames[..., part]
        norm[k : k + n_frames] += win[part] ** 2
    x = x.reshape(*x.shape[:-2], -1)[..., n_fft // 2 : -(n_fft // 2)]
    norm = norm.reshape(-1)[n_fft // 2 : -(n_fft // 2)]
    return x / np.where(norm > 1e-10, norm, 1.0)


def frequencies(n_fft: int, rate: float) -> np.ndarray:
    """Centre frequency (Hz) of each STFT bin."""
    return np.fft.rfftfreq(n_fft, 1.0 / rate)


def times(n_frames: int, hop: int, rate: float) -> np.ndarray:
    """Centre time (s) of each frame of a :func:`stft` with ``boundary``."""
    return np.arange(n_frames) * hop / rate


def power_spectrum(x: np.ndarray, n_fft: int = N_FFT) -> np.ndarray:
    """Time-averaged power spectrum of the channel mean (75 % overlap)."""
    mono = np.atleast_2d(np.asarray(x, np.float64)).mean(axis=0, keepdims=True)
    return np.mean(np.abs(stft(mono, n_fft, n_fft // 4)[0]) ** 2, axis=-1)


def torch_stft(x, n_fft: int, hop: int | None = None):
    """Complex STFT of ``(batch, channels, samples)`` torch audio, flattened to
    ``(batch × channels, freqs, frames)``; Hann window, hop ``n_fft // 4`` by default."""
    import torch

    flat = x.reshape(-1, x.shape[-1]).float()
    window = torch.hann_window(n_fft, device=x.device)
    hop = hop or n_fft // 4
    return torch.stft(flat, n_fft, hop_length=hop, window=window, return_complex=True)


def torch_istft(z, n_fft: int, hop: int, length: int):
    """Inverse of :func:`torch_stft` for ``(..., freqs, frames)``: ``(..., length)``."""
    import torch

    shape = z.shape[:-2]
    flat = z.reshape(-1, *z.shape[-2:])
    window = torch.hann_window(n_fft, device=z.device)
    x = torch.istft(flat, n_fft, hop_length=hop, window=window, length=length)
    return x.reshape(*shape, length)
