"""The Autoencoder API: training Q1, bad input, files."""
import json

import numpy as np
import pytest

from fastae.datasets import q1_patterns
from fastae.model import Autoencoder


@pytest.fixture(scope="module")
def q1_models():
    X = q1_patterns()
    plain = Autoencoder(9, 4, seed=0)
    sparse = Autoencoder(9, 4, sparsity=(0.1, 0.5), seed=0)
    losses = {"plain": plain.fit(X, 5000, 0.1), "sparse": sparse.fit(X, 5000, 0.1)}
    return X, plain, sparse, losses


def test_q1_reconstructs_every_pattern(q1_models):
    X, plain, sparse, losses = q1_models
    for model in (plain, sparse):
        Y = model.reconstruct(X)
        assert np.abs(Y - X).max() < 0.15
        assert ((Y > 0.5) != (X > 0.5)).sum() == 0
    assert losses["plain"][-1] < losses["plain"][0] / 10


def test_q1_sparse_run_is_sparser(q1_models):
    X, plain, sparse, _ = q1_models
    assert sparse.encode(X).mean() < plain.encode(X).mean()


def test_fit_is_reproducible_and_resumable():
    X = np.random.default_rng(0).random((37, 10)).astype(np.float32)
    whole = Autoencoder(10, 6, corruption=0.2, seed=4)
    parts = Autoencoder(10, 6, corruption=0.2, seed=4)
    a = whole.fit(X, 6, 0.1, batch_size=8)
    b = np.concatenate([parts.fit(X, 2, 0.1, batch_size=8), parts.fit(X, 4, 0.1, batch_size=8)])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(whole.W, parts.W)


def test_save_and_load_round_trip(tmp_path):
    X = q1_patterns()
    model = Autoencoder(9, 4, loss="mse", sparsity=(0.2, 0.3), corruption=0.1, seed=7)
    model.fit(X, 20, 0.1)
    npz, js = model.save(tmp_path / "m")
    assert npz.name == "m.npz" and json.loads(js.read_text())["n_hidden"] == 4
    back = Autoencoder.load(tmp_path / "m")
    np.testing.assert_array_equal(back.W, model.W)
    np.testing.assert_array_equal(back.reconstruct(X), model.reconstruct(X))
    assert back.config() == model.config()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(corruption=1.0), "corruption"),
        (dict(corruption=-0.1), "corruption"),
        (dict(sparsity=(0.0, 0.5)), "sparsity"),
        (dict(sparsity=(1.0, 0.5)), "sparsity"),
        (dict(sparsity=(0.1, -1)), "sparsity"),
        (dict(loss="hinge"), "loss"),
        (dict(dtype=np.int32), "dtype"),
        (dict(init="zeros"), "init"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Autoencoder(9, 4, **kwargs)


def test_bad_data():
    model = Autoencoder(9, 4)
    X = q1_patterns()
    with pytest.raises(ValueError, match="X: expected 9 features"):
        model.fit(X[:, :8], 1, 0.1)
    with pytest.raises(ValueError, match="X: expected a 2-D"):
        model.loss(np.zeros((2, 3, 3)))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X: contains NaN"):
        model.fit(bad, 1, 0.1)
    with pytest.raises(ValueError, match=r"X: values must lie in \[0, 1\]"):
        model.fit(X * 2, 1, 0.1)
    Autoencoder(9, 4, loss="mse").fit(X * 2, 1, 0.1)  # fine for squared error
    with pytest.raises(ValueError, match="mask"):
        model.loss_and_grads(X, mask=np.ones((5, 8)))
    with pytest.raises(ValueError, match="epochs"):
        model.fit(X, 0, 0.1)
    with pytest.raises(ValueError, match="lr"):
        model.fit(X, 1, -0.1)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(X, 1, 0.1, batch_size=0)


def test_classifier_learns_and_round_trips(tmp_path):
    from fastae import StackedClassifier

    rng = np.random.default_rng(0)
    X = rng.random((600, 12)).astype(np.float32)
    y = X[:, :3].argmax(axis=1)
    for optimizer, lr in (("sgd", 0.5), ("adam", 0.01)):
        model = StackedClassifier([12, 10, 6], 3, seed=1)
        history = model.fit(X, y, 40, lr, 32, optimizer=optimizer, eval_sets={"train": (X, y)})
        assert history["loss"][-1] < history["loss"][0] / 2
        assert history["accuracy_train"][-1] > 0.9
    model.save(tmp_path / "clf")
    back = StackedClassifier.load(tmp_path / "clf")
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_classifier_from_autoencoders_copies_encoders():
    from fastae import StackedClassifier

    a1, a2 = Autoencoder(12, 8, seed=1), Autoencoder(8, 5, seed=2)
    model = StackedClassifier.from_autoencoders([a1, a2], 3)
    np.testing.assert_array_equal(model.weights[0], a1.W)
    np.testing.assert_array_equal(model.weights[1], a2.W)
    X = np.random.default_rng(0).random((4, 12)).astype(np.float32)
    np.testing.assert_allclose(model.layers(X)[1], a2.encode(a1.encode(X)), rtol=1e-6)
    model.weights[0][0, 0] += 1.0
    assert a1.W[0, 0] != model.weights[0][0, 0]  # fine-tuning leaves the autoencoders alone
    with pytest.raises(ValueError, match="autoencoders"):
        StackedClassifier.from_autoencoders([a2, a1], 3)


def test_classifier_bad_labels():
    from fastae import StackedClassifier

    model = StackedClassifier([4, 3], 2)
    X = np.zeros((3, 4))
    with pytest.raises(ValueError, match="y: labels must lie"):
        model.fit(X, np.array([0, 1, 2]), 1, 0.1)
    with pytest.raises(ValueError, match="y: expected 3 labels"):
        model.fit(X, np.array([0, 1]), 1, 0.1)
    with pytest.raises(ValueError, match="optimizer"):
        model.fit(X, np.array([0, 1, 1]), 1, 0.1, optimizer="rmsprop")


def test_cosine_decay_is_a_learning_rate_per_epoch():
    """cosine_epochs=E trains epoch k with lr (1 + cos(pi k / E)) / 2: the same model as
    one fit per epoch at those rates (Adam's state carries over between fits)."""
    from fastae.model import StackedClassifier, cosine_lr

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 9)).astype(np.float32), rng.integers(0, 3, 40)
    a = StackedClassifier([9, 5], 3, seed=1)
    a.fit(X, y, 4, 0.01, 8, optimizer="adam", cosine_epochs=4)
    b = StackedClassifier([9, 5], 3, seed=1)
    for k in range(4):
        b.fit(X, y, 1, cosine_lr(0.01, k, 4), 8, optimizer="adam")
    for name, v in a.params().items():
        np.testing.assert_array_equal(v, b.params()[name])
    assert cosine_lr(1.0, 0, 4) == 1.0 and cosine_lr(1.0, 2, 4) == pytest.approx(0.5) and cosine_lr(1.0, 4, 4) == 0.0


def test_shift_needs_images():
    from fastae.model import StackedClassifier

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 10)
    model = StackedClassifier([12, 4], 3)
    X = rng.random((10, 12)).astype(np.float32)
    with pytest.raises(ValueError, match=r"12 inputs are not a square image; give image_shape"):
        model.fit(X, y, 1, 0.1, shift=1)
    with pytest.raises(ValueError, match=r"image_shape: \(5, 3\) does not hold the 12 inputs"):
        model.fit(X, y, 1, 0.1, shift=1, image_shape=(5, 3))
    with pytest.raises(ValueError, match=r"shift: 4 pixels would move the 3x4 images out of sight"):
        model.fit(X, y, 1, 0.1, shift=4, image_shape=(3, 4))
    with pytest.raises(ValueError, match=r"shift: expected an integer >= 0"):
        model.fit(X, y, 1, 0.1, shift=-1)
    model.fit(X, y, 2, 0.1, shift=1, image_shape=(3, 4), corruption=0.2)
    assert model.epochs_trained == 2
