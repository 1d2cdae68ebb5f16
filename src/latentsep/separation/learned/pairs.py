"""``nmf+pairs``: ``nmf+streams``' six decompositions grouped by a learned affinity — the
pair network's probability that two components are one instrument
(:class:`~latentsep.models.pairnet.PairNet`), from cues of the pair that name no instrument
(:func:`pair_features`) — in place of ``nmf+streams``' hand-made product of cues, times
the same stereo affinity; spectral clustering, the hedge and the average of the members as
``nmf+streams`` does.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from latentsep import spectral
from latentsep.models.pairnet import PairNet
from latentsep.separation import nmf
from latentsep.separation.base import BlockRun, Estimates, fits, register
from latentsep.separation.learned.grouping import needs
from latentsep.separation.methods import streams_options

#: Every cue of a pair of components :func:`pair_features` can give, in its order.
PAIR_CUES = (
    "timbre distance",
    "pitch gap",
    "low pitch",
    "high pitch",
    "together",
    "follow",
    "fate",
    "loudness gap",
    "activation correlation",
    "chord place gap",
)

#: The cues the shipped pair network learns from. The chord place gap tells two players of
#: one instrument apart better than any of these, but a network learned with it on renders
#: groups real music no better (the book's Ablations), so it is left out.
PAIR_FEATURES = PAIR_CUES[:9]


def pair_features(
    w: np.ndarray,
    h: np.ndarray,
    rate: int,
    n_fft: int = spectral.N_FFT,
    cues: tuple[str, ...] = PAIR_FEATURES,
) -> np.ndarray:
    """``(components, components, cues)``: ``cues`` (of :data:`PAIR_CUES`, in the order
    given) of every pair of a decomposition (templates of an ``n_fft``-point STFT): their
    harmonic timbres' squared distance over the decomposition's median, the gap of their
    fundamentals and each one's (semitones from the energy-weighted mean), how much they
    sound together (:func:`nmf.overlap`), how often one follows the other
    (:func:`nmf.succession`), how alike their activations move (:func:`nmf.comodulation`),
    their loudness gap (log energy), their activations' correlation, and the gap of their
    places in the chords they sound in (:func:`nmf.chord_ranks`: one player keeps one
    voice)."""
    unknown = sorted(set(cues) - set(PAIR_CUES))
    if unknown:
        raise ValueError(f"unknown pair cues {unknown}; choose among {list(PAIR_CUES)}")
    f0 = np.log2(nmf.fundamentals(w, rate, n_fft))
    ht = nmf.harmonic_timbre(w, rate, n_fft)
    d = ((ht[:, None] - ht[None]) ** 2).sum(-1)
    d = d / (np.median(d[d > 0]) + 1e-12) if np.any(d > 0) else d
    energy = (w.sum(axis=0)[:, None] * h).sum(axis=1) + 1e-12
    semis = 12 * (f0 - np.average(f0, weights=energy))
    loud = np.log(energy)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(h))
    every = {
        "timbre distance": lambda: d,
        "pitch gap": lambda: _gap(semis),
        "low pitch": lambda: np.minimum.outer(semis, semis),
        "high pitch": lambda: np.maximum.outer(semis, semis),
        "together": lambda: nmf.overlap(h),
        "follow": lambda: nmf.succession(h, f0),
        "fate": lambda: nmf.comodulation(h),
        "loudness gap": lambda: _gap(loud),
        "activation correlation": lambda: corr,
        "chord place gap": lambda: _gap(nmf.chord_ranks(w, h, f0)),
    }
    return np.stack([every[c]() for c in cues], axis=-1)


def _gap(x: np.ndarray) -> np.ndarray:
    """Every pair's absolute difference of ``x``."""
    return np.abs(x[:, None] - x[None])


def labelled_pairs(
    w: np.ndarray,
    h: np.ndarray,
    rate: int,
    n_fft: int,
    labels: np.ndarray,
    cues: tuple[str, ...] = PAIR_FEATURES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the pair network learns from one decomposition whose components' instruments
    are ``labels``: every unordered pair's ``cues`` ``(pairs, cues)``, whether it is one
    instrument, and its weight (the geometric mean of the two components' shares of the
    energy, the decomposition's weights summing to one)."""
    f = pair_features(w, h, rate, n_fft, cues)
    energy = (w.sum(axis=0)[:, None] * h).sum(axis=1)
    share = energy / max(energy.sum(), 1e-12)
    i, j = np.triu_indices(len(labels), 1)
    weight = np.sqrt(share[i] * share[j])
    return f[i, j], (labels[i] == labels[j]).astype(np.float32), weight / max(weight.sum(), 1e-12)


def _affinity(rate: int, net: PairNet, mixture, w, h, n_fft: int) -> np.ndarray:
    pan = nmf.pan_affinity(nmf.channel_angles(mixture, w, h, n_fft=n_fft))
    return net.affinity(pair_features(w, h, rate, n_fft, net.features)) * pan


def pairs_options(rate: int, net: PairNet) -> dict:
    """``nmf+pairs``' options for :func:`nmf.separate` and :func:`nmf.fit`: ``nmf+streams``'
    with the pair network's affinity."""
    return streams_options(rate, affinity=partial(_affinity, rate, net))


def _network(separator) -> PairNet:
    needs(separator)
    if not hasattr(separator, "affinity"):
        raise ValueError(
            f"nmf+pairs needs its pair network as separator=, not {type(separator).__name__}"
        )
    return separator


@register(
    "nmf+pairs",
    "nmf+streams' six decompositions, components grouped by a learned affinity: how likely "
    "two are one instrument, from cues that name none (timbre, pitch, sounding together, "
    "following, moving together), learned on played renders",
    learned=True,
    network="pairs",
    tags=("stems",),
    version=2,  # 2: nmf+streams' masks in float32 (its version 8)
)
def _nmf_pairs(x, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> Estimates:
    options = pairs_options(rate, _network(separator))
    return nmf.separate(x, n_sources, seed=seed, ks=ks, **options)


@fits("nmf+pairs")
def _nmf_pairs_fit(sample, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> BlockRun:
    return nmf.fit(sample, n_sources, seed=seed, ks=ks, **pairs_options(rate, _network(separator)))
