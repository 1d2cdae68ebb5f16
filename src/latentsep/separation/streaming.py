"""Separating an audio file into files, in blocks: memory stays flat in the input's length.

What ``latentsep separate`` runs. Everything that can be checked is checked before any
work (the input read through once, in blocks; the output folder; the number of sources),
and the sources are written block by block under temporary names, renamed into place at
the end: a failed run leaves no half-written output.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from latentsep import audio
from latentsep.separation import blocks
from latentsep.separation.base import (
    MIN_FRAMES,
    MODEL_FREE_METHOD,
    block_runner,
    check_not_cancelled,
    check_request,
    get_method,
    method_options,
    network_outputs,
    resample_sources,
    separate,
)


def separate_file(
    path: str | Path,
    out: str | Path,
    model=None,
    method: str = MODEL_FREE_METHOD,
    n_sources: int | None = None,
    *,
    seed: int = 0,
    separator=None,
    block_seconds: float | None = None,
    overlap_seconds: float = blocks.OVERLAP_SECONDS,
) -> tuple[list[Path], float]:
    """Separate the audio file ``path`` into ``out/source_1.wav ...`` (the input's rate and
    channels), block by block. Returns the files written and the seconds it took.

    Raises:
        AudioError: the input is missing, unreadable, truncated, too short, not finite,
            silent, or its channels cancel; or ``out`` cannot be written. Before any work.
        ValueError: more sources than the method gives; a method without its model.
    """
    path, out = Path(path), Path(out)
    spec = get_method(method)
    if spec.needs_model and model is None:
        raise ValueError(f"method {method!r} needs a trained autoencoder (model=...)")
    outputs = network_outputs(separator)
    hop_seconds = model.hop_length / model.cfg.sample_rate if model is not None else None
    info, level = preflight(path, out, method, n_sources, outputs=outputs, hop_seconds=hop_seconds)
    rate = info.samplerate
    block_seconds = block_seconds or blocks.block_seconds(rate, info.channels)

    def read(start: int, n: int) -> np.ndarray:
        return audio.read_block(path, start, n)

    start = time.perf_counter()
    if spec.fit is not None and model is None and info.frames > block_seconds * rate:
        # one fit on a sample of the whole file: the same instrument in each output throughout
        options = method_options(rate, seed=seed, separator=separator)
        separate_block, ordered = block_runner(spec, read, info.frames, rate, n_sources, options)
    else:
        ordered = False

        def separate_block(x: np.ndarray, n: int | None) -> list[np.ndarray]:
            sep = separate(
                x, model, method, n, rate=rate, seed=seed, separator=separator, name=str(path)
            )
            return resample_sources(sep, rate)

    def run(x: np.ndarray, n: int | None) -> list[np.ndarray]:
        return [_fit(s, x.shape[-1], info.channels) for s in separate_block(x, n)]

    pieces = blocks.separate_in_blocks(
        read,
        info.frames,
        rate,
        run,
        n_sources,
        level,
        block_seconds=block_seconds,
        overlap_seconds=overlap_seconds,
        ordered=ordered,
    )
    first = next(pieces)
    with audio.SourceWriter(out, len(first), rate, info.channels) as writer:
        writer.write(first)
        for piece in pieces:
            writer.write(piece)
        paths = writer.commit()
    return paths, time.perf_counter() - start


def preflight(
    path: str | Path,
    out: str | Path,
    method: str,
    n_sources: int | None,
    *,
    outputs: int | None = None,
    hop_seconds: float | None = None,
) -> tuple:
    """Every check of a file separation that needs no model, in milliseconds to seconds:
    the method and the number of sources (``outputs``: a learned method's network outputs),
    the input read through once in blocks (readable, complete, long enough for
    :data:`MIN_FRAMES` frames of ``hop_seconds``, finite, not silent, channels that do not
    cancel) and the output folder. Returns the input's info and RMS level."""
    check_request(get_method(method), n_sources, outputs)
    info = audio.audio_info(path)
    hop = hop_seconds if hop_seconds is not None else blocks.spectral.HOP / info.samplerate
    need = int(np.ceil(MIN_FRAMES * hop * info.samplerate))
    info, level, mono_level = audio.scan_audio(path, min_samples=need)
    check_not_cancelled(level, mono_level, str(path))
    audio.check_output_dir(out)
    return info, level


def _fit(x: np.ndarray, length: int, channels: int) -> np.ndarray:
    """A source at exactly ``length`` samples and ``channels`` channels (a model's mono output
    is given to every channel; resampling may leave a sample more or less)."""
    x = x[..., :length]
    x = np.pad(x, ((0, 0), (0, length - x.shape[-1])))
    return np.repeat(x, channels, axis=0) if x.shape[0] != channels else x
