"""latentsep: unsupervised music source separation by clustering an autoencoder's latents.

The package follows the pipeline one module per stage:
``render``/``datasets`` (data) → ``model`` → ``train`` → latents → clusters → sources →
metrics → report.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("latentsep")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
