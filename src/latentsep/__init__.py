"""latentsep: unsupervised music source separation in an autoencoder's latent space.

The package is layered, imports pointing one way (a test checks it)::

    presets, paths, device, audio, spectral     the base
    data/          the embedded dataset (corpus → synth → render) and MUSDB18 (musdb)
    models/        the SEANet autoencoder, its loss and training; Open-Unmix (stage 1)
    separation/    the registry of methods and separate(); latents, clustering, masks, NMF
    evaluation/    metrics, scoring against the truth, reconstruction, the latent space
    pipeline       every cached artifact, declared once
    book/, cli     the book's tooling and the command line

The public API is importable from here: ``separate``, ``Separation``, ``METHODS``,
``get_preset``, ``load_model``, ``fit``, ``trained_model``, ``evaluate_test_set``.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("latentsep")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# Imported on first use: ``import latentsep`` (the CLI's start) stays light.
_API = {
    "separate": "latentsep.separation",
    "Separation": "latentsep.separation",
    "METHODS": "latentsep.separation",
    "get_preset": "latentsep.presets",
    "load_model": "latentsep.models.training",
    "fit": "latentsep.models.training",
    "trained_model": "latentsep.pipeline",
    "evaluate_test_set": "latentsep.pipeline",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'latentsep' has no attribute {name!r}")
