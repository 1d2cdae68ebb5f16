"""Learned separators as methods: the mask network trained without stems (``mixit``) and
its supervised twin (``pit``), with their M outputs grouped into sources without the truth.

The network gives M outputs (M ≥ the most instruments a stem holds) that add up to the
mixture. Grouping them needs no reference: outputs more than :data:`FLOOR_DB` below the
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
from latentsep.models.separator import MaskSeparator
from latentsep.separation import nmf
from latentsep.separation.base import Estimates, register

#: Outputs this far below the loudest are silent (an inference choice: not in the model's key).
FLOOR_DB = -20.0


@torch.no_grad()
def outputs(separator: MaskSeparator, x: np.ndarray, rate: int) -> np.ndarray:
    """The separator's M outputs for ``(channels, samples)`` audio at ``rate``, each
    channel separated on its own: ``(M, channels, samples)``, adding up to ``x``."""
    cfg = separator.cfg
    y = resample(x, rate, cfg.sample_rate)
    dev = next(separator.parameters()).device
    out = separator(torch.from_numpy(np.ascontiguousarray(y, np.float32)).to(dev))
    out = out.float().cpu().numpy().transpose(1, 0, 2)  # (M, channels, samples)
    if cfg.sample_rate != rate:
        out = np.stack([resample(o, cfg.sample_rate, rate) for o in out])
        out = out[..., : x.shape[-1]]
        out = np.pad(out, [(0, 0), (0, 0), (0, x.shape[-1] - out.shape[-1])])
        out += (x - out.sum(axis=0)) / len(out)  # what resampling lost, shared alike
    return out.astype(np.float32)


def envelopes(signals: np.ndarray) -> np.ndarray:
    """MFCC-like envelope descriptors of each signal's mean magnitude spectrum."""
    mags = np.stack([np.abs(spectral.stft(s.mean(axis=0))).mean(axis=-1) for s in signals])
    return nmf.timbre(mags.T + 1e-12)


def group(
    outs: np.ndarray, n_sources: int | None, floor_db: float, ks: Sequence[int] = (2, 3, 4)
) -> tuple[list[np.ndarray], np.ndarray]:
    """Sources from outputs ``(M, channels, samples)`` and each output's source label."""
    m = len(outs)
    energy = np.sum(np.asarray(outs, np.float64) ** 2, axis=(1, 2))
    sounding = energy >= energy.max() * 10 ** (floor_db / 10)
    n = n_sources if n_sources is not None else int(np.clip(sounding.sum(), min(ks), max(ks)))
    order = np.argsort(-energy)
    if n >= m:
        labels = np.arange(m)
    else:
        feats = envelopes(outs)
        keep = sounding.copy()
        if keep.sum() < n:  # fewer sounding than asked for: the loudest n are the sources
            keep[order[:n]] = True
        idx = np.flatnonzero(keep)
        if len(idx) > n:
            from sklearn.cluster import AgglomerativeClustering

            sub = AgglomerativeClustering(n, linkage="average").fit_predict(feats[idx])
        else:
            sub = np.arange(len(idx))
        labels = np.full(m, -1)
        labels[idx] = sub
        centres = np.stack([feats[idx][sub == g].mean(axis=0) for g in range(n)])
        for i in np.flatnonzero(labels < 0):  # silent outputs join the nearest source
            labels[i] = int(np.argmin(((centres - feats[i]) ** 2).sum(axis=1)))
    # n > M: the groups past the outputs are silent
    zero = np.zeros_like(outs[0])
    return [
        outs[labels == g].sum(axis=0) if np.any(labels == g) else zero for g in range(n)
    ], labels


def _learned(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    if separator is None:
        raise ValueError("a learned method needs its trained separator (separator=...)")
    return group(outputs(separator, x, rate), n_sources, FLOOR_DB, ks)


register(
    "mixit",
    "a mask network trained on mixtures of mixtures only (MixIT), outputs grouped unsupervised",
    learned=True,
    tags=("beyond",),
)(_learned)
register(
    "pit",
    "the same network trained on the instruments' stems (supervised twin, the ceiling)",
    learned=True,
    tags=("supervised",),
)(_learned)
