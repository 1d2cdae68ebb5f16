"""The mask network trained without stems (``mixit``) and its supervised twin (``pit``),
their M outputs grouped into sources without the truth (:mod:`.grouping`).
"""

from __future__ import annotations

from latentsep.separation.base import Estimates, register
from latentsep.separation.learned.grouping import group, needs, outputs
from latentsep.tuning import TUNING


def _learned(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    needs(separator)
    return group(outputs(separator, x, rate), n_sources, TUNING.floors.silent, ks)


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
