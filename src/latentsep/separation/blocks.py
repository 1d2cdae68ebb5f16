"""Long inputs in bounded memory: separated in overlapping blocks, stitched consistently.

A method that can be *fitted* (its templates, grouping and count learned once, on a sample of
audio spread across the whole input: :func:`fit_sample`) separates every block with that one
fit, so each output holds the same instrument from the first block to the last. Any other
method separates each block on its own (the clustering fitted, the network run, per block);
the number of sources is then fixed by the first block that sounds (estimated there when not
given), and each block's sources are put in the order that continues the previous block's —
the permutation whose magnitude spectrograms agree best over the overlap. Either way blocks
are cross-faded over the overlap with weights that add up to one, so sources that add up to
the mixture in every block still do, and the working memory is that of one block whatever
the input's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from scipy.optimize import linear_sum_assignment

from latentsep import spectral

#: Inputs longer than this many samples × channels are separated in blocks of that size:
#: 45 s of 44.1 kHz stereo, 3 min of 22.05 kHz mono (the cpu preset's 3-minute benchmark
#: track in one piece). Sized in samples, not seconds: the working memory grows with
#: samples × channels.
BLOCK_SAMPLES = 4_000_000
#: Consecutive blocks share this much audio (seconds): where they are aligned and faded.
OVERLAP_SECONDS = 3.0
#: A block this far below the whole input's level (dB) is silence: its sources are silent.
SILENT_BLOCK_DB = -60.0

#: ``run(block, n_sources) -> sources``: each ``(channels, samples)`` like the block.
RunBlock = Callable[[np.ndarray, "int | None"], list[np.ndarray]]
#: A fitted method gets this much audio (seconds), in :data:`FIT_CHUNKS` pieces spread evenly
#: over the input: as much as a 35-s excerpt, which NMF's templates are learned from anyway.
FIT_SECONDS = 40.0
FIT_CHUNKS = 40


def fit_sample(read: Callable[[int, int], np.ndarray], length: int, rate: int) -> np.ndarray:
    """What a fitted method learns from: the whole input when it is short, else
    :data:`FIT_CHUNKS` evenly spaced pieces of it, :data:`FIT_SECONDS` in all, end to end."""
    total = int(FIT_SECONDS * rate)
    if length <= total:
        return read(0, length)
    chunk = total // FIT_CHUNKS
    starts = np.linspace(0, length - chunk, FIT_CHUNKS).astype(int)
    return np.concatenate([read(int(s), chunk) for s in starts], axis=-1)


def block_seconds(rate: int, channels: int) -> float:
    """The length of a block (seconds) of audio at ``rate`` with ``channels``."""
    return BLOCK_SAMPLES / (rate * max(1, channels))


def block_starts(length: int, block: int, overlap: int) -> tuple[list[int], int]:
    """Where each block starts, and the blocks' one length: as few blocks of at most
    ``block`` samples as cover ``length`` with ``overlap`` between neighbours, all of one
    length, the first starting at 0 and the last ending exactly at ``length`` (full-length
    blocks with the last one shifted back to the end did a fifth more work on a 3-minute
    song: five 45-s blocks for 180 s)."""
    if overlap >= block:
        raise ValueError(f"the overlap ({overlap}) must be shorter than the block ({block})")
    if length <= block:
        return [0], length
    n = -(-(length - overlap) // (block - overlap))
    size = -(-(length + (n - 1) * overlap) // n)
    return [*range(0, (n - 1) * (size - overlap), size - overlap), length - size], size


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def profiles(sources: list[np.ndarray]) -> np.ndarray:
    """Each source's magnitude spectrogram (channel mean), flattened to unit length: what
    :func:`similarity` compares (computed once for sources compared with several others)."""
    n_fft = 512 if sources[0].shape[-1] >= 512 else 2 ** int(np.log2(sources[0].shape[-1]))
    m = np.stack(
        [np.abs(spectral.stft(s.mean(axis=0), n_fft, n_fft // 4)).ravel() for s in sources]
    )
    return m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-12)


def similarity(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Cosine similarity of the magnitude spectrograms (channel mean) of every pair."""
    return profiles(a) @ profiles(b).T


def separate_in_blocks(
    read: Callable[[int, int], np.ndarray],
    length: int,
    rate: int,
    run: RunBlock,
    n_sources: int | None,
    level: float,
    *,
    block_seconds: float,
    overlap_seconds: float = OVERLAP_SECONDS,
    ordered: bool = False,
) -> Iterator[list[np.ndarray]]:
    """Separate ``length`` samples read block by block with ``read(start, n)``; yields
    consecutive finished pieces of the sources (lists of ``(channels, samples)``) whose
    lengths add up to ``length``. ``level`` is the whole input's RMS (silent blocks are
    judged against it). ``ordered``: ``run`` gives every block's sources in one fixed order
    (a fitted method), so they are not reordered."""
    block = max(1, int(block_seconds * rate))
    overlap = min(int(round(overlap_seconds * rate)), block // 2)
    starts, block = block_starts(length, block, overlap)
    held: list[np.ndarray] | None = None  # the previous block's sources not yet yielded
    held_start = 0
    pending_silent: list[tuple[int, np.ndarray]] = []  # silent blocks before the count is known
    n = n_sources
    for start in starts:
        x = read(start, min(block, length - start))
        if rms(x) <= level * 10 ** (SILENT_BLOCK_DB / 20):
            sources = None
        else:
            sources = run(x, n)
            if n is None:
                n = len(sources)
        if n is None:  # silence so far: wait until a block says how many sources there are
            pending_silent.append((start, x))
            continue
        for s0, sx in pending_silent:  # those leading silent blocks, now that n is known
            held, held_start = yield from _join(held, held_start, s0, [np.zeros_like(sx)] * n, n)
        pending_silent = []
        if sources is None:
            sources = [np.zeros_like(x) for _ in range(n)]
        held, held_start = yield from _join(held, held_start, start, sources, n, ordered)
    if n is None:  # the whole input is silence
        raise ValueError("the input is silent: nothing to separate")
    if held is not None:
        yield held


def _join(
    held, held_start: int, start: int, sources: list[np.ndarray], n: int, ordered: bool = False
):
    """Yield what of ``held`` comes before ``start``; return the new held part: ``sources``
    in the order that continues ``held``, cross-faded into it over the overlap."""
    if held is None:
        return _count(sources, n), start
    cut = start - held_start
    if cut > 0:
        yield [h[..., :cut] for h in held]
    tail = [h[..., cut:] for h in held]
    overlap = tail[0].shape[-1]
    head = [s[..., :overlap] for s in sources]
    if not ordered and any(rms(h) > 0 for h in head) and any(rms(t) > 0 for t in tail):
        sim = similarity(tail, head)  # (held, current)
        rows, cols = linear_sum_assignment(sim, maximize=True)
        # extra current sources join the held one they sound most like
        target = [int(np.argmax(sim[:, c])) for c in range(len(head))]
        for r, c in zip(rows, cols, strict=True):
            target[c] = int(r)
        ordered = [np.zeros_like(sources[0]) for _ in range(n)]
        for c, r in enumerate(target):
            ordered[r] = ordered[r] + sources[c]
        sources = ordered
    else:
        sources = _count(sources, n)
    fade = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, overlap))).astype(np.float32)
    joined = [
        np.concatenate([t * (1 - fade) + s[..., :overlap] * fade, s[..., overlap:]], axis=-1)
        for t, s in zip(tail, sources, strict=True)
    ]
    return joined, start


def _count(sources: list[np.ndarray], n: int) -> list[np.ndarray]:
    """Exactly ``n`` sources: silent ones added, or extra ones joined to the one of the
    first ``n`` they sound most like (a method that finds its own count, e.g. DBSCAN)."""
    out = [s.copy() for s in sources[:n]]
    out += [np.zeros_like(sources[0]) for _ in range(n - len(out))]
    if len(sources) > n:
        sim = similarity(out, sources[n:])
        for c, extra in enumerate(sources[n:]):
            out[int(np.argmax(sim[:, c]))] += extra
    return out
