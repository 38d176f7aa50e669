"""Q1: fastae's compiled full-batch loop against the same loop in plain NumPy.

Run: ``pytest bench/test_bench_q1.py --benchmark-only`` (per call: ITERATIONS iterations).
That both loops compute the same thing is checked in tests/test_training.py.
"""
import pytest
import q1_numpy

from fastae import Autoencoder
from fastae.datasets import q1_patterns

ITERATIONS = 2000


@pytest.fixture(params=[None, (0.1, 0.5)], ids=["plain", "sparse"])
def sparsity(request):
    return request.param


def test_fastae(benchmark, sparsity):
    X = q1_patterns()
    model = Autoencoder(9, 4, sparsity=sparsity)
    model.fit(X, 10, 0.1)  # compiled before timing
    benchmark(model.fit, X, ITERATIONS, 0.1)


def test_numpy(benchmark, sparsity):
    X = q1_patterns()
    model = Autoencoder(9, 4, sparsity=sparsity)
    W, b, c = model.W.copy(), model.b.copy(), model.c.copy()
    benchmark(q1_numpy.train, W, b, c, X, ITERATIONS, 0.1, *(sparsity or (0.0, 0.0)))
