"""Q2: the experiment end to end, the MSE + KL gradients, and the NumPy reference epoch."""
import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fastae import io  # noqa: E402
from fastae.datasets import random_images  # noqa: E402
from fastae.experiments.q2 import METRICS, MODELS, Q2Config, map_shape, run  # noqa: E402
from fastae.model import Autoencoder, epoch_order  # noqa: E402

BENCH_FILE = Path(__file__).resolve().parents[1] / "bench" / "q2_numpy.py"


def _load_reference():
    spec = importlib.util.spec_from_file_location("q2_numpy", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


q2_numpy = _load_reference()

# ------------------------------------------------------------------ end to end

#: The sparse model's mean activation is below the plain overcomplete one's from the
#: first epoch on (seeds 0-4: 0.13 against 0.41-0.45 after 1 epoch, 0.07 against
#: 0.42-0.44 after 20); 20 epochs leave a wide margin and keep the run short.
SHORT_EPOCHS = 20


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("q2")
    lines = []
    metrics = run(Q2Config(epochs=SHORT_EPOCHS), out=out, echo=lines.append)
    return out, metrics, lines


def test_run_writes_every_promised_file(short_run):
    out, _, _ = short_run
    expected = ["learning_curves.png", "comparison.png", "activation_histogram.png", "metrics.json"]
    for name in MODELS:
        expected += [
            f"weights_{name}.png",
            f"reconstructions_{name}.png",
            f"activations_{name}.png",
            f"model_{name}.npz",
            f"model_{name}.json",
        ]
    for name in expected:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_metrics_json_has_the_keys(short_run):
    out, returned, _ = short_run
    metrics = io.load_json(out / "metrics.json")
    assert metrics["exercise"] == "q2"
    assert metrics["config"]["epochs"] == SHORT_EPOCHS
    assert set(metrics["runs"]) == set(MODELS)
    hidden = {"undercomplete": 49, "overcomplete": 144, "sparse": 144}
    for name, r in metrics["runs"].items():
        for key in (*METRICS, "hidden", "sparsity", "loss_curve", "mse_curve", "train_seconds"):
            assert key in r, (name, key)
        assert r["hidden"] == hidden[name]
        assert len(r["loss_curve"]) == SHORT_EPOCHS
        assert len(r["mean_activation_per_unit"]) == hidden[name]
        assert 0.0 <= r["share_quiet"] <= 1.0
        assert 0 <= r["silent_units"] <= r["hidden"]
        assert np.isfinite(r["mse"]) and r["mse"] < r["loss_curve"][0]
    assert metrics["runs"]["sparse"]["sparsity"] == [0.05, 0.5]
    assert metrics["runs"]["overcomplete"]["sparsity"] is None
    assert returned["runs"]["sparse"]["mse"] == pytest.approx(metrics["runs"]["sparse"]["mse"])


def test_run_reports_one_line_per_model_and_the_table(short_run):
    _, _, lines = short_run
    text = "\n".join(lines)
    for name in MODELS:
        assert sum(line.startswith(f"Q2 {name} ") for line in lines) == 1, name
    for label in METRICS.values():
        assert label in text


def test_sparse_model_is_sparser(short_run):
    _, metrics, _ = short_run
    runs = metrics["runs"]
    assert runs["sparse"]["mean_activation"] < 0.5 * runs["overcomplete"]["mean_activation"]
    assert runs["sparse"]["share_quiet"] > runs["overcomplete"]["share_quiet"]


def test_saved_model_reloads(short_run):
    out, metrics, _ = short_run
    model = Autoencoder.load(out / "model_sparse")
    assert (model.n_hidden, model.sparsity, model.epochs_trained) == (144, (0.05, 0.5), SHORT_EPOCHS)
    X = random_images(100, 10, seed=0)
    H = model.encode(X)
    assert H.mean() == pytest.approx(metrics["runs"]["sparse"]["mean_activation"], rel=1e-5)
    assert io.load_json(out / "model_sparse.json")["history"]["loss"] == pytest.approx(
        metrics["runs"]["sparse"]["loss_curve"]
    )


def test_map_shape():
    assert map_shape(49) == (7, 7)
    assert map_shape(144) == (12, 12)
    assert map_shape(50) == (5, 10)
    assert map_shape(7) == (1, 7)


# --------------------------------------------------------------- gradient check

#: Central differences of order 6: f'(w) ~ sum_k a_k (f(w + k h) - f(w - k h)) / h.
#: Plain central differences with h = 1e-6 are limited by round-off near
#: |loss| * 2**-52 / h ~ 1e-8 here (the loss is 14-60), which is as large as the
#: smallest gradient entries (~1e-5 to 1e-4): their relative error reached 2.5e-4. The
#: order-6 stencil at h = 5e-3 has a truncation error ~ h**6 and round-off ~ 1e-12, and
#: measured below 5e-9 relative on every entry.
STENCIL = ((1, 3 / 4), (2, -3 / 20), (3, 1 / 60))
STEP = 5e-3


def _numeric(model, arr, idx, X):
    old = arr[idx]
    total = 0.0
    for k, a in STENCIL:
        arr[idx] = old + k * STEP
        plus = model.loss(X)
        arr[idx] = old - k * STEP
        minus = model.loss(X)
        total += a * (plus - minus)
    arr[idx] = old
    return total / STEP


@pytest.mark.parametrize("rows", [32, 7])
@pytest.mark.parametrize("n_hidden, sparsity", [(144, (0.05, 0.5)), (49, None)])
def test_mse_kl_gradients_match_finite_differences(n_hidden, sparsity, rows):
    rng = np.random.default_rng([n_hidden, rows])
    X = random_images(100, 10, seed=1, dtype=np.float64)[rng.choice(100, rows, replace=False)]
    model = Autoencoder(
        100, n_hidden, loss="mse", sparsity=sparsity, dtype=np.float64, seed=3, init="sigmoid_uniform"
    )
    # Off the all-zero biases, so that no symmetry hides a wrong term.
    model.b[:] = rng.normal(0.0, 0.5, n_hidden)
    model.c[:] = rng.normal(0.0, 0.5, 100)
    loss, grads = model.loss_and_grads(X)
    assert loss == pytest.approx(model.loss(X), rel=1e-12)

    W_entries = [np.unravel_index(f, model.W.shape) for f in rng.choice(model.W.size, 30, replace=False)]
    checks = [("W", model.W, W_entries), ("b", model.b, list(np.ndindex(n_hidden))),
              ("c", model.c, list(np.ndindex(100)))]
    worst = (0.0, None)
    for name, arr, entries in checks:
        for idx in entries:
            a = grads[name][idx]
            n = _numeric(model, arr, idx, X)
            rel = abs(a - n) / max(abs(a) + abs(n), 1e-8)
            worst = max(worst, (rel, (name, idx, a, n)), key=lambda t: t[0])
    assert worst[0] < 1e-6, worst


# ------------------------------------------------------- NumPy reference epoch


@pytest.mark.parametrize("n_hidden, sparsity", [(144, (0.05, 0.5)), (144, None), (49, None)])
def test_numpy_reference_epochs_match_fit(n_hidden, sparsity):
    X = random_images(100, 10, seed=0)
    model = Autoencoder(100, n_hidden, loss="mse", sparsity=sparsity, seed=4, init="sigmoid_uniform")
    W, b, c = (np.array(getattr(model, k)) for k in ("W", "b", "c"))
    ref_W, ref_b, ref_c = q2_numpy.q2_init(100, n_hidden, seed=4)
    np.testing.assert_array_equal(W, ref_W)

    losses = model.fit(X, 3, 0.2, 32)
    rho, beta = sparsity or (0.05, 0.0)
    ref = [
        q2_numpy.numpy_epoch(W, b, c, X, epoch_order(4, e, 100), 32, 0.2, rho, beta) for e in range(3)
    ]
    np.testing.assert_allclose(ref, losses, rtol=2e-5)
    np.testing.assert_allclose(W, model.W, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(b, model.b, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(c, model.c, rtol=1e-4, atol=2e-5)
    assert W.dtype == np.float32
    # numpy_fit draws the same orders itself.
    W2, b2, c2 = q2_numpy.q2_init(100, n_hidden, seed=4)
    again = q2_numpy.numpy_fit(W2, b2, c2, X, 3, 32, 0.2, rho, beta, seed=4)
    np.testing.assert_allclose(again, ref, rtol=1e-6)


def test_jacobian_stats_match_finite_differences():
    from fastae.experiments.q2 import _jacobian_stats

    model = Autoencoder(6, 4, loss="mse", dtype=np.float64, seed=2, init="sigmoid_uniform")
    X = np.random.default_rng(0).random((70, 6))  # more than one chunk of 64
    h = 1e-6
    J = np.empty((70, 6, 6))
    for k in range(6):
        step = np.zeros(6)
        step[k] = h
        J[:, :, k] = (model.reconstruct(X + step) - model.reconstruct(X - step)) / (2 * h)
    diag = np.einsum("nii->", J) / (70 * 6)
    off = (np.abs(J).sum() - np.abs(np.einsum("nii->ni", J)).sum()) / (70 * 6 * 5)
    assert _jacobian_stats(model, X) == pytest.approx((diag, off), rel=1e-6)
