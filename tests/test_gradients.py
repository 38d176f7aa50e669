"""Gradients against central finite differences, in float64, for every loss term."""
import numpy as np
import pytest

from fastae.backends import cpu_kernels
from fastae.model import Autoencoder

EPS = 1e-5
MAX_REL = 1e-6
MEAN_REL = 1e-7


def kl_penalty(grad, rho_hat, rho, scale):
    """``sum_j KL(rho || rho_hat_j)``; fills ``grad = scale * dKL/d rho_hat``."""
    sums = np.zeros(2)
    cpu_kernels.kl_penalty(grad, rho_hat, rho, 1.0, scale, 1.0, sums)
    return sums[0]


def rel_error(a, n):
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), 1e-8)


def numeric_grads(f, params, n_entries, rng):
    """Central differences of ``f()`` at up to ``n_entries`` random entries of each array."""
    out = {}
    for name, p in params.items():
        flat = p.reshape(-1)
        picks = rng.choice(flat.size, size=min(n_entries, flat.size), replace=False)
        vals = []
        for i in picks:
            old = flat[i]
            flat[i] = old + EPS
            up = f()
            flat[i] = old - EPS
            down = f()
            flat[i] = old
            vals.append((up - down) / (2 * EPS))
        out[name] = (picks, np.array(vals))
    return out


def check(model_grads, numeric):
    errors = np.concatenate([rel_error(model_grads[k].reshape(-1)[idx], vals) for k, (idx, vals) in numeric.items()])
    assert errors.max() < MAX_REL, errors.max()
    assert errors.mean() < MEAN_REL, errors.mean()


def make_model(rng, loss, sparsity, n_visible=13, n_hidden=7):
    model = Autoencoder(n_visible, n_hidden, loss=loss, sparsity=sparsity, dtype=np.float64, seed=3)
    model.b[:] = rng.normal(size=n_hidden) * 0.3
    model.c[:] = rng.normal(size=n_visible) * 0.3
    return model


CASES = {
    "ce": ("cross_entropy", None),
    "mse": ("mse", None),
    "ce+kl": ("cross_entropy", (0.1, 0.5)),
    "mse+kl": ("mse", (0.05, 0.5)),
}


@pytest.mark.parametrize("with_mask", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("case", list(CASES))
def test_autoencoder_gradients(rng, case, with_mask):
    loss, sparsity = CASES[case]
    model = make_model(rng, loss, sparsity)
    X = rng.random((9, 13))
    mask = (rng.random(X.shape) > 0.3).astype(float) if with_mask else None
    value, grads = model.loss_and_grads(X, mask=mask)
    assert value == pytest.approx(model.loss(X, mask=mask), rel=1e-12)
    numeric = numeric_grads(lambda: model.loss(X, mask=mask), {"W": model.W, "b": model.b, "c": model.c}, 40, rng)
    check(grads, numeric)


@pytest.mark.parametrize("with_mask", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_kl_term_alone(rng, loss, with_mask):
    """The sparsity term's own gradient: (loss with KL) - (loss without), same weights."""
    sparse = make_model(rng, loss, (0.1, 0.7))
    plain = make_model(rng, loss, None)
    for k in ("W", "b", "c"):
        getattr(plain, k)[:] = getattr(sparse, k)
    X = rng.random((8, 13))
    mask = (rng.random(X.shape) > 0.3).astype(float) if with_mask else None
    grads = {k: sparse.loss_and_grads(X, mask)[1][k] - plain.loss_and_grads(X, mask)[1][k] for k in ("W", "b")}

    def kl_only():
        for k in ("W", "b"):
            getattr(plain, k)[:] = getattr(sparse, k)
        return sparse.loss(X, mask) - plain.loss(X, mask)

    numeric = numeric_grads(kl_only, {"W": sparse.W, "b": sparse.b}, 40, rng)
    check(grads, numeric)


def test_kl_penalty_derivative(rng):
    rho_hat = rng.uniform(0.01, 0.99, size=12)
    grad = np.empty(12)
    kl_penalty(grad, rho_hat, 0.05, 1.0)
    for j in range(12):
        up, down = rho_hat.copy(), rho_hat.copy()
        up[j] += EPS
        down[j] -= EPS
        numeric = (kl_penalty(np.empty(12), up, 0.05, 1.0) - kl_penalty(np.empty(12), down, 0.05, 1.0)) / (
            2 * EPS
        )
        assert rel_error(grad[j], numeric) < MAX_REL


def make_classifier(rng, sizes, n_classes):
    from fastae import StackedClassifier

    model = StackedClassifier(sizes, n_classes, dtype=np.float64, seed=2)
    for W in model.weights:
        W[:] = rng.normal(size=W.shape) * 0.7
    for b in model.biases:
        b[:] = rng.normal(size=b.shape) * 0.3
    return model


@pytest.mark.parametrize("sizes", [[9], [9, 6], [9, 7, 5]], ids=["softmax-only", "one-layer", "two-layer-stack"])
def test_classifier_gradients(rng, sizes):
    """Softmax cross-entropy alone, and back through one and two fine-tuned sigmoid layers."""
    model = make_classifier(rng, sizes, 4)
    X = rng.random((11, 9))
    y = rng.integers(0, 4, size=11)
    value, grads = model.loss_and_grads(X, y)
    assert value == pytest.approx(model.loss(X, y), rel=1e-12)
    w_names, b_names = model.param_names
    params = dict(zip(w_names + b_names, list(model.weights) + list(model.biases)))
    check(grads, numeric_grads(lambda: model.loss(X, y), params, 30, rng))
