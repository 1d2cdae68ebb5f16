"""The mixture's own NMF components grouped by what was learned from rendered stems: by the
class dictionaries (``nmf+classes``) or by the stem network's class outputs
(``nmf+classmask``), each with harmonic timbre, by spectral clustering.
"""

from __future__ import annotations

import numpy as np

from latentsep import spectral
from latentsep.separation import clustering, nmf
from latentsep.separation.base import BlockRun, Estimates, fits, register
from latentsep.separation.learned.grouping import count_sounding, needs
from latentsep.separation.learned.stems import class_energies, component_shares
from latentsep.tuning import TUNING


def _grouped_by_classes(
    name: str, description: str, network: str, shares, count=None, streams: bool = False
) -> None:
    """Register a method that groups the mixture's own NMF components by spectral
    clustering of harmonic-timbre affinity × one class affinity per feature that
    ``shares(separator, mixture, w, h, rate)`` lists for the components (× ``streams``:
    ``nmf+streams``' cannot- and must-links); fitted once per file. The count, when not
    given: ``count(separator, x, rate, ks)``, else the affinity's eigengap."""

    def affinity(separator, rate: int):
        def run(mixture: np.ndarray, w: np.ndarray, h: np.ndarray, n_fft: int) -> np.ndarray:
            if n_fft != spectral.N_FFT:
                raise ValueError("class shares are measured on the package's STFT")
            if streams:
                out = nmf.stream_affinity(w, h, rate)
            else:
                out = clustering.gaussian_affinity(nmf.harmonic_timbre(w, rate))
            for feats in shares(separator, mixture, w, h, rate):
                out = out * clustering.gaussian_affinity(feats)
            return out

        return run

    def counted(x, n_sources, separator, rate, ks):
        if n_sources is None and count is not None:
            return count(separator, x, rate, ks)
        return n_sources

    def method(x, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> Estimates:
        needs(separator)
        n = counted(x, n_sources, separator, rate, ks)
        return nmf.separate(x, n, seed=seed, ks=ks, affinity=affinity(separator, rate))

    def fit(sample, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> BlockRun:
        needs(separator)
        n = counted(sample, n_sources, separator, rate, ks)
        return nmf.fit(sample, n, seed=seed, ks=ks, affinity=affinity(separator, rate))

    register(name, description, learned=True, network=network, tags=("stems",))(method)
    fits(name)(fit)


_grouped_by_classes(
    "nmf+classes",
    "the mixture's own KL-NMF components grouped by harmonic timbre and by the class "
    "dictionaries learned from rendered stems",
    "nmfdict",
    lambda dicts, mixture, w, h, rate: [nmf.class_shares(w, rate, dicts)],
)


_grouped_by_classes(
    "nmf+classmask",
    "the mixture's own KL-NMF components grouped by harmonic timbre, by streaming links and "
    "by the class outputs of the network learned from rendered stems (each component alone "
    "and in the mixture)",
    "stemnet",
    # each component alone and in the mixture, × nmf+streams' links (``nmf_grouping.py``)
    lambda net, mixture, w, h, rate: component_shares(net, mixture, w, h, rate),
    # counted like classmask, by the network's class outputs on the whole mixture: on
    # held-out pieces they count better than the affinity's eigengap
    lambda net, x, rate, ks: count_sounding(
        class_energies(net, x, rate), TUNING.floors.stem_class, ks
    ),
    streams=True,
)
