"""Q2: epochs of each model in fastae against the same epochs in plain NumPy.

Run: ``pytest bench/test_bench_q2.py --benchmark-only``. Each call trains EPOCHS epochs
(100 random 10x10 images, batch 32, lr 0.2), so a call's time / EPOCHS is one epoch.
"""
import pytest
import q2_numpy

from fastae import Autoencoder
from fastae.datasets import random_images

EPOCHS = 100
MODELS = {"undercomplete": (49, None), "overcomplete": (144, None), "sparse": (144, (0.05, 0.5))}


@pytest.fixture(params=list(MODELS))
def model_spec(request):
    return MODELS[request.param]


def make_model(spec):
    n_hidden, sparsity = spec
    return Autoencoder(100, n_hidden, loss="mse", sparsity=sparsity, init="sigmoid_uniform")


def test_fastae(benchmark, model_spec):
    X = random_images()
    model = make_model(model_spec)
    model.fit(X, 1, 0.2, batch_size=32)  # compiled before timing
    benchmark(model.fit, X, EPOCHS, 0.2, batch_size=32, chunk_epochs=EPOCHS)


def test_numpy(benchmark, model_spec):
    X = random_images()
    model = make_model(model_spec)
    W, b, c = model.W.copy(), model.b.copy(), model.c.copy()
    rho, beta = model_spec[1] or (0.0, 0.0)
    benchmark(q2_numpy.numpy_fit, W, b, c, X, EPOCHS, 32, 0.2, rho, beta)
