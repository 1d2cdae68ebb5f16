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

#: ``latentsep separate``'s default: the best method on unseen timbres (chapter 05) and on the
#: validation pieces: NMF whose atoms are the training soundfonts' own notes, fitted on
#: half-second frames, each class's part weighed by the stem network's class mask (both
#: shipped for the cpu preset: nothing to make). Fitted once per file on 40 s of it, so a
#: 3-minute 44.1 kHz stereo song takes ~17 s.
DEFAULT_METHOD = "notenmf+classmask"

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
