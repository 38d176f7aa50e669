"""scikit-learn estimators built on fastae: a transformer and a classifier.

>>> from sklearn.pipeline import Pipeline
>>> from sklearn.linear_model import LogisticRegression
>>> from fastae.sklearn import DenoisingAutoencoder
>>> model = Pipeline([("dae", DenoisingAutoencoder(hidden_layer_sizes=(100,))),
...                   ("logistic", LogisticRegression())])

Needs scikit-learn (``pip install 'fastae[sklearn]'``); ``import fastae`` alone never
imports it.
"""
try:
    import sklearn  # noqa: F401
except ImportError as e:  # pragma: no cover - only without the extra
    raise ImportError(
        f"fastae.sklearn needs scikit-learn ({e}); install it with pip install 'fastae[sklearn]'"
    ) from None

from ._autoencoder import DenoisingAutoencoder
from ._classifier import StackedAutoencoderClassifier

__all__ = ["DenoisingAutoencoder", "StackedAutoencoderClassifier"]
