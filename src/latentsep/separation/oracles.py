"""The floor and the ceilings, registered as methods that need the true sources (or none):
the unprocessed mixture as every estimate, the oracle ideal ratio mask, and NMF with its
components grouped by the truth. Yardsticks, never separators: they are tagged
``"reference"`` and the CLI does not offer them."""

from __future__ import annotations

from latentsep.separation import masks, nmf
from latentsep.separation.base import Estimates, register


@register("mixture", "the floor: the unprocessed mixture as every estimate", tags=("reference",))
def _mixture(x, n_sources, **_) -> Estimates:
    return [x] * (n_sources or 1), None


@register(
    "oracle IRM",
    "the ceiling for masking: ideal ratio masks from the true sources",
    needs_references=True,
    tags=("reference",),
)
def _oracle_irm(x, n_sources, *, references, **_) -> Estimates:
    return masks.ideal_ratio_mask(x, references), None


@register(
    "NMF, oracle grouping",
    "the ceiling for NMF: each component given to the true source it matches",
    needs_references=True,
    tags=("reference",),
)
def _nmf_oracle(x, n_sources, *, references, seed=0, **_) -> Estimates:
    return nmf.oracle_grouping(x, references, seed=seed), None
