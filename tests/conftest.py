import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for ``import naive``


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def mnist_dir():
    """The real MNIST directory named by FASTAE_DATA, or None."""
    d = os.environ.get("FASTAE_DATA")
    return d if d and Path(d).is_dir() else None


@pytest.fixture
def stop_after(monkeypatch):
    """``stop_after(k, nth=1)``: the ``nth`` ``fit`` from now stops after ``k`` batches, as
    if Ctrl-C had been pressed during batch ``k`` (other fits run unlimited)."""
    from fastae import stopping

    original = stopping.new_stop

    def arm(k, nth=1):
        calls = []

        def limited():
            stop = original()
            calls.append(1)
            if len(calls) == nth:
                monkeypatch.setattr(stopping, "new_stop", original)
                stop[1] = k
            return stop

        monkeypatch.setattr(stopping, "new_stop", limited)

    return arm


def skewed_sparse(rng, n, V, dtype=np.float32):
    """``n x V`` values in (0, 1] or 0, column ``j`` nonzero at a rate falling from 0.5
    to 0.01 in a shuffled column order: like MNIST's pixels, an input the training loops
    split into a dense prefix and a sparse tail."""
    rates = rng.permutation(np.linspace(0.5, 0.01, V))
    return ((rng.random((n, V)) < rates) * (0.1 + 0.9 * rng.random((n, V)))).astype(dtype)
