"""From a mixture to estimated sources: one registry of methods, one :func:`separate`.

``separate(audio, model, method, n_sources)`` runs any registered method;
``METHODS`` maps each name to its :class:`Method` (``describe()`` prints them).
"""

from latentsep.separation import methods, oracles  # noqa: E402,F401  (register the methods)
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

DEFAULT_METHOD = "kmeans"

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
    "separate",
]
