"""fastae: autoencoders from scratch, NumPy in and out, hot paths compiled with Numba.

>>> from fastae import Autoencoder
>>> model = Autoencoder(784, 625, corruption=0.1, sparsity=(0.02, 0.4))
"""
import importlib.metadata as _metadata

from . import config  # noqa: F401  (sets the thread environment before numba loads)
from .model import Autoencoder, StackedClassifier
from .stopping import TrainingInterrupted

try:
    __version__ = _metadata.version("fastae")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Autoencoder", "StackedClassifier", "TrainingInterrupted"]
