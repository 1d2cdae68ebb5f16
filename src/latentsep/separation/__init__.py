"""From a mixture to estimated sources: one registry of methods, one :func:`separate`.

``separate(audio, model, method, n_sources)`` runs any registered method on an array,
``separate_file(path, out, ...)`` on a file of any length, in blocks;
``METHODS`` maps each name to its :class:`Method` (``describe()`` prints them).
"""

# registration order is listing order: the classic methods, the references, the learned
from latentsep.separation import methods, oracles  # noqa: E402,F401,I001
from latentsep.separation import learned  # noqa: E402,F401,I001
from latentsep.separation.base import (
    METHODS,
    MODEL_FREE_METHOD,
    Method,
    Separation,
    describe,
    get_method,
    method_names,
    register,
    resample_sources,
    separate,
)
from latentsep.separation.streaming import preflight, separate_file

#: ``latentsep separate``'s default: the best method on real recordings (the URMP
#: development set, chapter 05). Its pair network is shipped (a few kilobytes), so the
#: command loads it; the API's default, which is given no network, is
#: :data:`MODEL_FREE_METHOD`, the same decompositions grouped by hand-made cues. The methods
#: that learn instruments' sounds lead on the renderer's own timbres and fall to about 0 dB
#: on real ones.
DEFAULT_METHOD = "nmf+pairs"

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "MODEL_FREE_METHOD",
    "Method",
    "Separation",
    "describe",
    "get_method",
    "method_names",
    "register",
    "resample_sources",
    "preflight",
    "separate",
    "separate_file",
]
