"""Reading, checking and writing audio. Bad input fails here, with the file and the problem.

Arrays are ``float32`` shaped ``(channels, samples)`` everywhere in the package.
"""

from __future__ import annotations

import os
import re
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
    info = audio_info(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    if len(data) != info.frames:
        raise AudioError(
            f"{path}: truncated (the header says {info.frames} frames, read {len(data)})"
        )
    x = data.T
    if mono and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True)
    if sample_rate is not None and sample_rate != rate:
        x = resample(x, rate, sample_rate)
        rate = sample_rate
    min_samples = max(1, int(round(min_seconds * rate)))
    return check_audio(x, str(path), min_samples=min_samples, allow_silent=allow_silent), rate


#: libsndfile's note on a chunk whose header promises more bytes than the file holds.
_SHORT_CHUNK = re.compile(r"^(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def audio_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """The file's format (frames, rate, channels); an :class:`AudioError` naming the file
    when it is missing, unreadable or truncated (its header promises more audio than the
    file holds — libsndfile would silently read what is there)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    short = _SHORT_CHUNK.search(info.extra_info)
    if short and int(short.group(3)) < int(short.group(2)):
        raise AudioError(
            f"{path}: truncated: the header promises {int(short.group(2))} bytes of audio, "
            f"the file holds {int(short.group(3))} (an interrupted copy or download?)"
        )
    return info


def read_block(path: str | os.PathLike, start: int, frames: int) -> np.ndarray:
    """``frames`` frames from ``start`` as ``(channels, frames)`` float32 (fewer at the end)."""
    data, _ = sf.read(str(path), frames=frames, start=start, dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T)


def scan_audio(
    path: str | os.PathLike, *, min_samples: int = 1, block: int = 1 << 20
) -> tuple[sf._SoundFileInfo, float, float]:
    """Check a whole file in blocks (memory flat in its length), before any work on it:
    readable, not truncated, long enough, finite, not silent. Returns its info, the RMS of
    its samples and the RMS of its mono mix-down."""
    path = Path(path)
    info = audio_info(path)
    if info.frames < min_samples:
        raise AudioError(f"{path}: too short ({info.frames} samples, need at least {min_samples})")
    total = mono_total = 0.0
    peak = 0.0
    read = 0
    for start in range(0, info.frames, block):
        try:
            x = read_block(path, start, block)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(f"{path}: unreadable at frame {start} ({err})") from err
        if not np.all(np.isfinite(x)):
            raise AudioError(f"{path}: contains NaN or infinite samples")
        total += float(np.sum(np.square(x, dtype=np.float64)))
        mono_total += float(np.sum(np.square(x.mean(axis=0), dtype=np.float64)))
        peak = max(peak, float(np.max(np.abs(x), initial=0.0)))
        read += x.shape[1]
    if read != info.frames:
        raise AudioError(f"{path}: truncated (the header says {info.frames} frames, read {read})")
    if peak <= 1e-8:
        raise AudioError(f"{path}: is silent (all samples are zero)")
    n = max(1, info.frames)
    return info, float(np.sqrt(total / (n * info.channels))), float(np.sqrt(mono_total / n))


def check_output_dir(path: str | os.PathLike) -> Path:
    """The output folder, checked before any work (nothing is created yet): an existing
    folder we can write into, or one that can be created there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AudioError(f"{path}: exists and is not a folder; choose another --out")
    parent = path
    while not parent.exists():  # the nearest existing ancestor must be a writable folder
        parent = parent.parent
    if not parent.is_dir():
        raise AudioError(f"{path}: cannot be created: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AudioError(f"{path}: cannot be written: no permission to write in {parent}")
    return path


def _float_wav(path: Path, rate: int, channels: int) -> sf.SoundFile:
    """A float32 WAV open for writing, without libsndfile's PEAK chunk: it holds the time of
    writing, and reruns must give the same bytes."""
    f = sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, subtype="FLOAT")
    sf._snd.sf_command(f._file, 0x1050, sf._ffi.NULL, 0)  # SFC_SET_ADD_PEAK_CHUNK off
    return f


class SourceWriter:
    """Writes ``source_1.wav ...`` into a folder without ever leaving half an output: the
    files grow block by block under temporary names and are renamed into place by
    :meth:`commit`, which also removes ``source_N.wav`` of an earlier run with more sources;
    leaving the ``with`` block without a commit removes the temporary files."""

    def __init__(self, folder: Path, n: int, rate: int, channels: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.paths = [self.folder / f"source_{i}.wav" for i in range(1, n + 1)]
        self.tmps = [p.with_name(f".{p.stem}.partial-{os.getpid()}.wav") for p in self.paths]
        self.files = [_float_wav(t, rate, channels) for t in self.tmps]

    def write(self, sources: list[np.ndarray]) -> None:
        for f, x in zip(self.files, sources, strict=True):
            f.write(np.ascontiguousarray(np.asarray(x, np.float32).T))

    def commit(self) -> list[Path]:
        for f in self.files:
            f.close()
        for tmp, path in zip(self.tmps, self.paths, strict=True):
            os.replace(tmp, path)
        for stale in self.folder.glob("source_*.wav"):
            if stale not in self.paths and re.fullmatch(r"source_\d+\.wav", stale.name):
                stale.unlink()
        return self.paths

    def __enter__(self) -> SourceWriter:
        return self

    def __exit__(self, *exc) -> None:
        for f in self.files:
            f.close()
        for tmp in self.tmps:
            tmp.unlink(missing_ok=True)


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
