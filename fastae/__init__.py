"""fastae: autoencoders from scratch, NumPy in and out, hot paths compiled with Numba.

>>> from fastae import Autoencoder
>>> model = Autoencoder(784, 625, corruption=0.1, sparsity=(0.02, 0.4))
"""
import importlib as _importlib
import importlib.metadata as _metadata

from . import config  # noqa: F401  (sets the thread environment before numba loads)

try:
    __version__ = _metadata.version("fastae")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Autoencoder", "History", "StackedClassifier", "TrainingDiverged", "TrainingInterrupted"]


_HOMES = {"Autoencoder": "autoencoder", "StackedClassifier": "classifier", "TrainingDiverged": "model",
          "History": "history", "TrainingInterrupted": "stopping"}


def __getattr__(name):
    """The models load numba (and the kernels) on first use, not on ``import fastae``."""
    if name in _HOMES:
        return getattr(_importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'fastae' has no attribute {name!r}")
