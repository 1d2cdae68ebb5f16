"""NMF of the magnitude spectrogram, its components grouped into sources — and supervised
NMF, whose atoms are learned per instrument class or per note. One module an idea:

- :mod:`.core`: the decomposition itself (KL-NMF templates and activations, fits kept for
  reuse) and the mixture shared among its components or groups of them;
- :mod:`.grouping`: the components grouped into sources, by timbre, harmonic timbre, the
  autoencoder's latents or streaming links, alone or as an ensemble (``nmf+streams``);
- :mod:`.dictionaries`: supervised NMF's class dictionaries, learned from rendered stems;
- :mod:`.notes`: the note dictionaries' STFT grid and their pooled fit;
- :mod:`.parts`: a mixture shared among a dictionary's classes (class or note atoms).

Every public name is re-exported here: ``nmf.decompose``, ``nmf.separate``, ...
"""

from latentsep.separation.nmf.core import (
    MAX_FIT_FRAMES,
    N_COMPONENTS,
    activations,
    component_labels,
    component_sources,
    decompose,
    grouped_sources,
    hedged,
    iter_component_sources,
    loudest_seconds,
    magnitudes,
    n_groups,
    reusing_fits,
)
from latentsep.separation.nmf.dictionaries import (
    DICT_FLOOR_DB,
    DICT_HOP,
    DICT_N_FFT,
    DICT_RATE,
    ClassDictionaries,
    class_shares,
    learn_dictionaries,
)
from latentsep.separation.nmf.grouping import (
    Grouping,
    channel_angles,
    chord_ranks,
    chords,
    comodulation,
    fit,
    fundamentals,
    group_components,
    group_decomposition,
    groupings,
    harmonic_timbre,
    in_first_order,
    latent_embeddings,
    oracle_grouping,
    overlap,
    pan_affinity,
    pitch_local,
    separate,
    stream_affinity,
    succession,
    timbre,
)
from latentsep.separation.nmf.notes import (
    CHUNK,
    COARSE_BINS,
    NOTE_FLOOR_DB,
    NOTE_HOP,
    NOTE_N_FFT,
    POOL,
    POOLED_UPDATES,
    PRUNE_EVERY,
    PRUNE_SHARE,
    note_activations,
    note_template,
    played,
    pooled_fit,
    stft_grid,
)
from latentsep.separation.nmf.parts import class_models, class_parts, masked_parts

__all__ = [
    # core
    "MAX_FIT_FRAMES",
    "N_COMPONENTS",
    "activations",
    "component_labels",
    "component_sources",
    "decompose",
    "grouped_sources",
    "hedged",
    "iter_component_sources",
    "loudest_seconds",
    "magnitudes",
    "n_groups",
    "reusing_fits",
    # grouping
    "Grouping",
    "channel_angles",
    "chord_ranks",
    "chords",
    "comodulation",
    "group_decomposition",
    "in_first_order",
    "fit",
    "fundamentals",
    "group_components",
    "groupings",
    "harmonic_timbre",
    "latent_embeddings",
    "oracle_grouping",
    "overlap",
    "pan_affinity",
    "pitch_local",
    "separate",
    "stream_affinity",
    "succession",
    "timbre",
    # dictionaries
    "DICT_FLOOR_DB",
    "DICT_HOP",
    "DICT_N_FFT",
    "DICT_RATE",
    "ClassDictionaries",
    "class_shares",
    "learn_dictionaries",
    # notes
    "CHUNK",
    "COARSE_BINS",
    "NOTE_FLOOR_DB",
    "NOTE_HOP",
    "NOTE_N_FFT",
    "POOL",
    "POOLED_UPDATES",
    "PRUNE_EVERY",
    "PRUNE_SHARE",
    "note_activations",
    "note_template",
    "played",
    "pooled_fit",
    "stft_grid",
    # parts
    "class_models",
    "class_parts",
    "masked_parts",
]
