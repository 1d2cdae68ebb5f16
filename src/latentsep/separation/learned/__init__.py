"""Learned separators as methods: networks whose outputs are grouped into sources without
the truth, and NMF whose atoms were learned from rendered stems. One module an idea:

- :mod:`.grouping`: a network's M outputs turned into sources and counted (no reference);
- :mod:`.mixit`: the mask network trained without stems (``mixit``) and its supervised
  twin (``pit``);
- :mod:`.stems`: the stem network's methods (``classmask``, ``deepclustering``) and its
  class outputs for NMF components;
- :mod:`.dictionaries`: supervised NMF (``supervisednmf``);
- :mod:`.notes`: NMF on note dictionaries (``notenmf``, ``notenmf+classmask``);
- :mod:`.counting`: ``notenmf+classmask``'s counting model, fitted after its network;
- :mod:`.components`: the mixture's own NMF components grouped by what the stems taught
  (``nmf+classes``, ``nmf+classmask``);
- :mod:`.pairs`: the mixture's own NMF components grouped by a learned affinity
  (``nmf+pairs``).

Each module registers its methods as it is imported; they are imported below in the order
the methods are listed. Every public name is re-exported here: ``learned.group``, ...
"""

# registration order is listing order: mixit's, the stem network's, the dictionaries', the
# notes', the grouped components', the learned pairs'
from latentsep.separation.learned import grouping, mixit, stems, dictionaries  # noqa: F401,I001
from latentsep.separation.learned import notes, components, pairs  # noqa: F401,I001
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
from latentsep.separation.learned.counting import (
    COUNT_FEATURES,
    CountModel,
    fit_count_model,
    output_features,
)
from latentsep.separation.learned.notes import NotesAndMasks, note_parts
from latentsep.separation.learned.pairs import (
    PAIR_CUES,
    PAIR_FEATURES,
    labelled_pairs,
    pair_features,
    pairs_options,
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
    "NotesAndMasks",
    "note_parts",
    # pairs
    "PAIR_CUES",
    "PAIR_FEATURES",
    "labelled_pairs",
    "pair_features",
    "pairs_options",
    # counting
    "COUNT_FEATURES",
    "CountModel",
    "fit_count_model",
    "output_features",
]
