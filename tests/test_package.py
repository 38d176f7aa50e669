"""The package's face: its version, and how its models print."""
import importlib.metadata
import tomllib
from pathlib import Path

import numpy as np
import pytest

import fastae

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_installed_and_the_declared_one():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert fastae.__version__ == importlib.metadata.version("fastae") == declared


def test_autoencoder_repr(rng, stop_after):
    X = rng.random((60, 9)).astype(np.float32)
    ae = fastae.Autoencoder(9, 4, corruption=0.25, sparsity=(0.05, 0.5))
    assert repr(ae) == ("Autoencoder(9 -> 4, loss='cross_entropy', corruption=0.25, "
                        "sparsity=(rho=0.05, beta=0.5), device='cpu', untrained)")
    ae.fit(X, 2, 0.1, 20)
    assert repr(ae).endswith(", device='cpu', trained 2 epochs)")
    stop_after(2)
    with pytest.raises(fastae.TrainingInterrupted):
        ae.fit(X, 1, 0.1, 20)
    assert repr(ae).endswith(", trained 2 epochs and 40 patterns of the next)")
    assert repr(fastae.Autoencoder(3, 2, loss="mse")) == (
        "Autoencoder(3 -> 2, loss='mse', corruption=0, sparsity=None, device='cpu', untrained)")


def test_stacked_classifier_repr(rng):
    X = rng.random((60, 9)).astype(np.float32)
    clf = fastae.StackedClassifier([9, 5, 3], n_classes=4)
    assert repr(clf) == "StackedClassifier(9 -> 5 -> 3 -> 4 classes, device='cpu', untrained)"
    clf.fit(X, np.arange(60) % 4, 1, 0.01, 20)
    assert repr(clf) == "StackedClassifier(9 -> 5 -> 3 -> 4 classes, device='cpu', trained 1 epoch)"
