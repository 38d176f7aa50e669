"""fastae: autoencoders from scratch, NumPy in and out, hot paths compiled with Numba.

>>> from fastae import Autoencoder
>>> model = Autoencoder(784, 625, corruption=0.1, sparsity=(0.02, 0.4))
"""
from . import config  # noqa: F401  (sets the thread environment before numba loads)
from .model import Autoencoder, StackedClassifier
from .stopping import TrainingInterrupted

__all__ = ["Autoencoder", "StackedClassifier", "TrainingInterrupted"]
