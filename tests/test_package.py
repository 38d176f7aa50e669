"""The package's face: its version, the thread environment its import sets, and how its
models print."""
import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import fastae

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_installed_and_the_declared_one():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert fastae.__version__ == importlib.metadata.version("fastae") == declared


_READ_TIMEOUT = """
import ctypes, glob, os, fastae, scipy.linalg
libs = glob.glob(os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*.so"))
read = [getattr(ctypes.CDLL(p), "openblas_thread_timeout", None) for p in libs]
print(os.environ["OPENBLAS_THREAD_TIMEOUT"], *(f() for f in read if f is not None))
"""


@pytest.mark.parametrize("preset", [None, "7"])
def test_import_sets_the_blas_thread_timeout_unless_the_user_did(preset):
    """``import fastae`` sets OpenBLAS's idle-worker timeout before scipy's BLAS loads (so
    the library read it), and leaves a value the user set."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    out = subprocess.run([sys.executable, "-c", _READ_TIMEOUT], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    expected = preset or fastae.config.THREAD_ENV["OPENBLAS_THREAD_TIMEOUT"]
    assert out[0] == expected
    assert set(out[1:]) <= {expected}  # what the library read, where it says


_BLAS_ALONE = """
import sys
import numpy as np
from fastae import Autoencoder
Autoencoder(4, 2, seed=0).fit(np.random.default_rng(0).random((8, 4)), 1, 0.1)
print("scipy.linalg" in sys.modules)
import scipy.linalg
from scipy.linalg import cython_blas
print(cython_blas is sys.modules["scipy.linalg.cython_blas"], scipy.linalg.norm(np.ones(4)))
"""


def test_training_loads_scipys_blas_without_scipy_linalg():
    """The compiled products bind to ``scipy.linalg.cython_blas`` without importing the
    ``scipy.linalg`` package (a tenth of a second in every process); a later import of
    the package works and finds the same module."""
    out = subprocess.run([sys.executable, "-c", _BLAS_ALONE], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "2.0"]


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
