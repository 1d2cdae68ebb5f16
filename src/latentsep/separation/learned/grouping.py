"""A network's M outputs turned into sources and counted, without the truth.

The network gives M outputs (M ≥ the most instruments a stem holds) that add up to the
mixture. Grouping them needs no reference: outputs more than ``TUNING.floors.silent`` below the
loudest are silent; the sounding ones are the sources, merged by the similarity of their
spectral envelopes when there are more than asked for; silent ones join the source whose
envelope is nearest, so the sources still add up to the mixture. Counting is the number
of sounding outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from latentsep import spectral
from latentsep.audio import resample
from latentsep.models.masknet import MaskNetwork
from latentsep.models.stemnet import StemNet
from latentsep.separation import nmf
from latentsep.separation.base import BlockRun, Fit
from latentsep.tuning import TUNING


@torch.no_grad()
def outputs(separator: MaskNetwork | StemNet, x: np.ndarray, rate: int) -> np.ndarray:
    """The separator's M outputs for ``(channels, samples)`` audio at ``rate``, each
    channel separated on its own: ``(M, channels, samples)``, adding up to ``x``."""
    cfg = separator.cfg
    y = resample(x, rate, cfg.sample_rate)
    dev = next(separator.parameters()).device
    out = separator(torch.from_numpy(np.ascontiguousarray(y, np.float32)).to(dev))
    return at_rate(out.float().cpu().numpy().transpose(1, 0, 2), x, rate, cfg.sample_rate)


def at_rate(out: np.ndarray, x: np.ndarray, rate: int, net_rate: int) -> np.ndarray:
    """Outputs ``(M, channels, samples)`` made at ``net_rate`` back at the input's ``rate``
    and length, still adding up to the input ``x``."""
    if net_rate != rate:
        out = np.stack([resample(o, net_rate, rate) for o in out])
        out = out[..., : x.shape[-1]]
        out = np.pad(out, [(0, 0), (0, 0), (0, x.shape[-1] - out.shape[-1])])
        out += (x - out.sum(axis=0)) / len(out)  # what resampling lost, shared alike
    return out.astype(np.float32)


def envelopes(signals: np.ndarray) -> np.ndarray:
    """MFCC-like envelope descriptors of each signal's mean magnitude spectrum."""
    mags = np.stack([np.abs(spectral.stft(s.mean(axis=0))).mean(axis=-1) for s in signals])
    return nmf.timbre(mags.T + 1e-12)


def energies(outs: np.ndarray) -> np.ndarray:
    """Each output's energy: ``(M, channels, samples)`` → ``(M,)``, summed in float64."""
    return np.sum(np.asarray(outs, np.float64) ** 2, axis=(1, 2))


def sounding(energy: np.ndarray, floor_db: float) -> np.ndarray:
    """Which outputs of energies ``energy`` sound: those within ``floor_db`` of the loudest."""
    return np.asarray(energy) >= np.max(energy) * 10 ** (floor_db / 10)


def count_sounding(energy: np.ndarray, floor_db: float, ks: Sequence[int] = (2, 3, 4)) -> int:
    """How many outputs sound (:func:`sounding`), kept within ``ks``: the count of every
    class-output method."""
    return int(np.clip(sounding(energy, floor_db).sum(), min(ks), max(ks)))


def group(
    outs: np.ndarray,
    n_sources: int | None,
    floor_db: float,
    ks: Sequence[int] = (2, 3, 4),
    named: bool = False,
    alike: np.ndarray | None = None,
    count_floor_db: float | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Sources from outputs ``(M, channels, samples)`` and each output's source label.
    ``named``: the outputs are instrument classes, so the loudest ``n`` are the sources and
    every other output joins the one whose envelope is nearest (on the 13 held-out train
    pieces, with the count given: ``classmask`` +3.45 / +3.61 dB in the two training
    soundfonts against +2.24 / +3.64 when the sounding outputs were clustered). ``alike``
    ``(M, M)`` in [0, 1]: the sounding outputs are clustered by it instead of by their
    envelopes (silent ones join the source they are most alike on average), and the count
    is :func:`count_unlike`'s. ``count_floor_db``: the outputs counted are those within it
    (``floor_db`` when not given)."""
    m = len(outs)
    energy = energies(outs)
    count_floor_db = floor_db if count_floor_db is None else count_floor_db
    if n_sources is not None:
        n = n_sources
    elif alike is not None:
        n = count_unlike(energy, alike, count_floor_db, ks)
    else:
        n = count_sounding(energy, count_floor_db, ks)
    order = np.argsort(-energy)
    if n >= m:
        labels = np.arange(m)
    elif named:
        feats = envelopes(outs)
        labels = np.full(m, -1)
        labels[order[:n]] = np.arange(n)
        for i in order[n:]:
            labels[i] = int(np.argmin(((feats[order[:n]] - feats[i]) ** 2).sum(axis=1)))
    else:
        from sklearn.cluster import AgglomerativeClustering

        keep = sounding(energy, floor_db)
        if keep.sum() < n:  # fewer sounding than asked for: the loudest n are the sources
            keep[order[:n]] = True
        idx = np.flatnonzero(keep)
        if alike is not None:
            distance = 1.0 - alike[np.ix_(idx, idx)]
            cluster = AgglomerativeClustering(n, metric="precomputed", linkage="average")
        else:
            feats = envelopes(outs)
            distance = feats[idx]
            cluster = AgglomerativeClustering(n, linkage="average")
        labels = np.full(m, -1)
        labels[idx] = cluster.fit_predict(distance) if len(idx) > n else np.arange(len(idx))
        if alike is None:  # the sounding outputs' envelopes are the sources' centres
            centres = np.stack([feats[idx[labels[idx] == g]].mean(axis=0) for g in range(n)])
        for i in np.flatnonzero(labels < 0):  # silent outputs join the nearest source
            if alike is not None:  # (and those that joined it before them)
                labels[i] = int(np.argmax([alike[i, labels == g].mean() for g in range(n)]))
            else:
                labels[i] = int(np.argmin(((centres - feats[i]) ** 2).sum(axis=1)))
    return by_label(outs, labels, n), labels


def count_unlike(
    energy: np.ndarray,
    alike: np.ndarray,
    floor_db: float,
    ks: Sequence[int] = (2, 3, 4),
    leak: float | None = None,
) -> int:
    """How many sounding outputs (:func:`sounding`) are not a louder one's leak: from the
    loudest down, an output counts unless it is ``leak`` (``TUNING.leak_alike``) alike or more
    to one that counted; kept within ``ks``."""
    leak = TUNING.leak_alike if leak is None else leak
    loud = sounding(energy, floor_db)
    counted: list[int] = []
    for i in np.argsort(-np.asarray(energy)):
        if loud[i] and all(alike[i, j] < leak for j in counted):
            counted.append(int(i))
    return int(np.clip(len(counted), min(ks), max(ks)))


def coactivity(models: Sequence[np.ndarray]) -> np.ndarray:
    """How alike class models ``(freqs, frames)`` are: the cosine of their magnitude
    spectrograms, ``(M, M)`` in [0, 1]. High where a class plays the notes another plays, at
    the same times: one instrument's sound shared by two classes' atoms (a leak)."""
    x = np.stack([np.ravel(m) for m in models]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    return np.clip(x @ x.T, 0.0, 1.0)


def by_label(outs: np.ndarray, labels: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` sources, source ``g`` the sum of the outputs labelled ``g`` (n > M: the groups
    past the outputs are silent)."""
    zero = np.zeros_like(outs[0])
    return [outs[labels == g].sum(axis=0) if np.any(labels == g) else zero for g in range(n)]


def fitted_classes(
    parts,
    floor_db: float,
    named: bool = False,
    count_floor_db: float | None = None,
    count=None,
) -> Fit:
    """A class-output method fitted once on a long input's sample: which classes make which
    source (and how many sources) is decided there, so each output is the same classes, the
    same instrument, in every block. ``parts(separator, x, rate)`` gives the class outputs,
    or the outputs and how alike they are (:func:`group`'s ``alike``); ``count(separator,
    outs, alike, ks)``, if given, counts the sources when they are not given (None: as
    :func:`group` does)."""

    def fit(sample, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> BlockRun:
        needs(separator)
        outs, alike = _with_alike(parts(separator, sample, rate))
        if n_sources is None and count is not None:
            n_sources = count(separator, outs, alike, ks)
        sources, labels = group(outs, n_sources, floor_db, ks, named, alike, count_floor_db)

        def run(block: np.ndarray) -> list[np.ndarray]:
            return by_label(_with_alike(parts(separator, block, rate))[0], labels, len(sources))

        return run

    return fit


def _with_alike(found) -> tuple[np.ndarray, np.ndarray | None]:
    return found if isinstance(found, tuple) else (found, None)


def needs(separator) -> None:
    if separator is None:
        raise ValueError("a learned method needs its trained separator (separator=...)")
