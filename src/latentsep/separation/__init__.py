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

#: The best method that needs no stems on the embedded test set (chapter 06): NMF grouped by
#: pitch-invariant timbre. It needs no trained model, so ``latentsep separate`` starts at once.
DEFAULT_METHOD = "nmf+harmonic"

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
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
