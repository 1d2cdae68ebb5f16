"""Learned separators as methods: networks whose outputs are grouped into sources without
the truth, and NMF whose atoms were learned from rendered stems. One module an idea:

- :mod:`.grouping`: a network's M outputs turned into sources and counted (no reference);
- :mod:`.mixit`: the mask network trained without stems (``mixit``) and its supervised
  twin (``pit``);
- :mod:`.stems`: the stem network's methods (``classmask``, ``deepclustering``) and its
  class outputs for NMF components;
- :mod:`.dictionaries`: supervised NMF (``supervisednmf``);
- :mod:`.notes`: NMF on note dictionaries (``notenmf``, ``notenmf+classmask``) and its
  counting model;
- :mod:`.components`: the mixture's own NMF components grouped by what the stems taught
  (``nmf+classes``, ``nmf+classmask``).

Each module registers its methods as it is imported; they are imported below in the order
the methods are listed. Every public name is re-exported here: ``learned.group``, ...
"""

# registration order is listing order: mixit's, the stem network's, the dictionaries', the
# notes', the grouped components'
from latentsep.separation.learned import grouping, mixit, stems, dictionaries, notes, components  # noqa: F401,I001
from latentsep.separation.learned.dictionaries import dictionary_parts
from latentsep.separation.learned.grouping import (
    at_rate,
    by_label,
    coactivity,
    count_sounding,
    count_unlike,
    energies,
    envelopes,
    fitted_classes,
    group,
    outputs,
    sounding,
)
from latentsep.separation.learned.notes import (
    COUNT_BIAS,
    COUNT_WEIGHTS,
    NotesAndMasks,
    count_likely,
    note_parts,
    output_features,
)
from latentsep.separation.learned.stems import (
    DC_FIT_BINS,
    SHARE_SECONDS,
    class_energies,
    class_masks,
    component_shares,
    context_shares,
    embeddings,
    missing_head,
    network_shares,
)

__all__ = [
    # grouping
    "at_rate",
    "by_label",
    "coactivity",
    "count_sounding",
    "count_unlike",
    "energies",
    "envelopes",
    "fitted_classes",
    "group",
    "outputs",
    "sounding",
    # stems
    "DC_FIT_BINS",
    "SHARE_SECONDS",
    "class_energies",
    "class_masks",
    "component_shares",
    "context_shares",
    "embeddings",
    "missing_head",
    "network_shares",
    # dictionaries
    "dictionary_parts",
    # notes
    "COUNT_BIAS",
    "COUNT_WEIGHTS",
    "NotesAndMasks",
    "count_likely",
    "note_parts",
    "output_features",
]
