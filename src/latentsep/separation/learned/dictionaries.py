"""Supervised NMF (``supervisednmf``): the mixture shared among the instrument classes by
class dictionaries learned from rendered stems (:mod:`latentsep.separation.nmf.dictionaries`),
its class outputs grouped as a network's are (:mod:`.grouping`).
"""

from __future__ import annotations

import numpy as np

from latentsep.audio import resample
from latentsep.separation import nmf
from latentsep.separation.base import Estimates, fits, register
from latentsep.separation.learned.grouping import at_rate, fitted_classes, group, needs
from latentsep.tuning import TUNING


def _supervisednmf(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    needs(separator)
    return group(dictionary_parts(separator, x, rate), n_sources, TUNING.floors.nmf_class, ks)


def dictionary_parts(dicts: nmf.ClassDictionaries, x: np.ndarray, rate: int) -> np.ndarray:
    y = resample(x, rate, nmf.DICT_RATE)
    return at_rate(nmf.class_parts(y, dicts), x, rate, nmf.DICT_RATE)


register(
    "supervisednmf",
    "NMF with one dictionary per instrument class, learned from rendered stems",
    learned=True,
    network="nmfdict",
    tags=("stems",),
)(_supervisednmf)
# its classes leak more: picked by loudness its outputs did no better, so they are clustered
fits("supervisednmf")(fitted_classes(dictionary_parts, TUNING.floors.nmf_class, named=False))
