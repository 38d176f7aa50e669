"""The scikit-learn estimators: scikit-learn's own checks, pickling, model selection,
the choice of loss, labels, early stopping, and the digits comparison with BernoulliRBM."""
import importlib.util
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastae
from fastae.sklearn import DenoisingAutoencoder, StackedAutoencoderClassifier

ROOT = Path(__file__).resolve().parents[1]

# Small models, so that scikit-learn's checks (which fit them dozens of times) run fast.
CHECKED = [
    DenoisingAutoencoder(hidden_layer_sizes=(4,), max_iter=5),
    StackedAutoencoderClassifier(hidden_layer_sizes=(8,), pretrain_iter=5, max_iter=50, learning_rate_init=0.01),
]


# Every check passes: none is listed as an expected failure.
@parametrize_with_checks(CHECKED)
def test_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits, pixels scaled into [0, 1], and their labels."""
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=5, random_state=0)
    return X, y


def small_classifier(**kw):
    return StackedAutoencoderClassifier(**{"hidden_layer_sizes": (8,), "pretrain_iter": 5, "max_iter": 40,
                                           "learning_rate_init": 0.01, "random_state": 0, **kw})


# ------------------------------------------------------------------ the package


def test_import_fastae_does_not_import_sklearn():
    code = "import sys, fastae; assert 'sklearn' not in sys.modules, sorted(m for m in sys.modules if 'sklearn' in m)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------ the transformer


def test_transformer_shapes_attributes_and_names(digits):
    X, _ = digits
    dae = DenoisingAutoencoder(hidden_layer_sizes=(20, 6), max_iter=3, random_state=0).fit(X)
    codes = dae.transform(X)
    assert codes.shape == (len(X), 6) and codes.dtype == np.float32
    assert dae.inverse_transform(codes).shape == X.shape
    assert [ae.n_hidden for ae in dae.autoencoders_] == [20, 6]
    assert all(isinstance(ae, fastae.Autoencoder) and ae.epochs_trained == 3 for ae in dae.autoencoders_)
    assert [len(c) for c in dae.loss_curve_] == [3, 3] and dae.n_iter_ == 3 and dae.n_features_in_ == 64
    assert list(dae.get_feature_names_out()) == [f"denoisingautoencoder{i}" for i in range(6)]
    with pytest.raises(ValueError, match="expected codes of 6 features"):
        dae.inverse_transform(codes[:, :5])
    with pytest.raises(NotFittedError):
        DenoisingAutoencoder().transform(X)


def test_partial_fit_adds_one_epoch_and_matches_fit(digits):
    X, _ = digits
    whole = DenoisingAutoencoder(hidden_layer_sizes=(16,), max_iter=3, random_state=1).fit(X)
    steps = DenoisingAutoencoder(hidden_layer_sizes=(16,), random_state=1)
    for n in range(1, 4):
        steps.partial_fit(X)
        assert steps.n_iter_ == n and len(steps.loss_curve_[0]) == n
    np.testing.assert_array_equal(steps.transform(X), whole.transform(X))
    assert steps.loss_curve_ == whole.loss_curve_


def test_score_is_the_engine_loss_on_clean_inputs(digits):
    X, _ = digits
    for loss in ("cross_entropy", "squared_error"):
        dae = DenoisingAutoencoder(hidden_layer_sizes=(12,), loss=loss, max_iter=2, random_state=0).fit(X)
        engine = dae.autoencoders_[0].loss(X, mask=np.ones_like(X))  # no noise, no sparsity term
        assert dae.score(X) == pytest.approx(-engine, rel=1e-5)
    before = DenoisingAutoencoder(hidden_layer_sizes=(12,), max_iter=1, random_state=0).fit(X).score(X)
    after = DenoisingAutoencoder(hidden_layer_sizes=(12,), max_iter=10, random_state=0).fit(X).score(X)
    assert after > before


def test_loss_auto_picks_cross_entropy_only_for_data_in_unit_interval(digits):
    X, _ = digits
    small = dict(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    assert DenoisingAutoencoder(**small).fit(X).loss_function_ == "cross_entropy"
    assert DenoisingAutoencoder(**small).fit(X * 16).loss_function_ == "squared_error"
    assert DenoisingAutoencoder(**small).fit(X - 0.5).loss_function_ == "squared_error"
    assert DenoisingAutoencoder(loss="squared_error", **small).fit(X).loss_function_ == "squared_error"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        small_classifier(max_iter=1).fit(X * 16, digits[1])  # cross-entropy would refuse these data


def test_cross_entropy_outside_unit_interval_says_how_to_fix_it(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"\[0, 1\].*found 0 \.\. 16.*MinMaxScaler.*loss='squared_error'"):
        DenoisingAutoencoder(loss="cross_entropy").fit(X * 16)
    with pytest.raises(ValueError, match=r"\[0, 1\].*MinMaxScaler.*loss='squared_error'"):
        StackedAutoencoderClassifier(loss="cross_entropy").fit(X * 16, y)
    dae = DenoisingAutoencoder(hidden_layer_sizes=(4,), max_iter=1).fit(X)
    with pytest.raises(ValueError, match=r"fitted with loss='cross_entropy' \(found -0\.5 .*MinMaxScaler\(clip=True\)"):
        dae.transform(X - 0.5)
    with pytest.raises(ValueError, match="fitted with loss='cross_entropy'"):
        dae.partial_fit(X * 2)


@pytest.mark.parametrize("params, message", [
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes: expected a positive integer"),
    ({"hidden_layer_sizes": ()}, "hidden_layer_sizes"),
    ({"loss": "mse"}, "loss: expected 'auto', 'cross_entropy' or 'squared_error'"),
    ({"corruption": 1.0}, r"corruption: expected a number in \[0, 1\)"),
    ({"sparsity_target": 0.0, "sparsity_weight": 1.0}, r"sparsity_target: expected a number in \(0, 1\)"),
    ({"sparsity_weight": -1}, "sparsity_weight: expected a number >= 0"),
    ({"batch_size": 0}, "batch_size: expected 'auto' or a positive integer"),
    ({"learning_rate_init": 0.0}, "learning_rate_init: expected a positive number"),
    ({"max_iter": 2.5}, "max_iter: expected a positive integer"),
    ({"device": "tpu"}, "device: unknown device 'tpu'"),
])
def test_bad_transformer_parameters(digits, params, message):
    with pytest.raises(ValueError, match=message):
        DenoisingAutoencoder(**params).fit(digits[0][:50])


@pytest.mark.parametrize("params, message", [
    ({"solver": "lbfgs"}, "solver: expected one of adam, sgd"),
    ({"pretrain_iter": 0}, "pretrain_iter: expected a positive integer"),
    ({"validation_fraction": 1.0, "early_stopping": True}, r"validation_fraction: expected a number in \(0, 1\)"),
    ({"n_iter_no_change": 0}, "n_iter_no_change: expected a positive integer"),
    ({"tol": -1.0}, "tol: expected a number >= 0"),
])
def test_bad_classifier_parameters(digits, params, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        small_classifier(**params).fit(X[:50], y[:50])


def test_divergence_is_an_error_that_says_what_to_do():
    X = np.random.default_rng(0).normal(size=(50, 5)) * 1e30  # its squared error overflows float32
    with pytest.raises(ValueError, match=r"training layer 1 diverged .*lower learning_rate_init, or scale the data"):
        DenoisingAutoencoder(hidden_layer_sizes=(3,), max_iter=2).fit(X)


def test_verbose_prints_every_epoch(digits, capsys):
    DenoisingAutoencoder(hidden_layer_sizes=(4, 3), max_iter=2, verbose=1).fit(digits[0])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", loss")[0] for line in lines] == [
        "Layer 1, iteration 1", "Layer 1, iteration 2", "Layer 2, iteration 1", "Layer 2, iteration 2"]


# ------------------------------------------------------------------ the classifier


def test_classifier_learns_and_keeps_any_labels(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = StackedAutoencoderClassifier(hidden_layer_sizes=(32,), pretrain_iter=5, max_iter=30,
                                       learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:1200], names[y[:1200]])
    assert list(clf.classes_) == sorted(names)
    assert clf.predict(X[:5]).dtype == names.dtype
    proba = clf.predict_proba(X[1200:])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert (clf.classes_[proba.argmax(axis=1)] == clf.predict(X[1200:])).all()
    assert clf.score(X[1200:], names[y[1200:]]) > 0.85
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert [len(c) for c in clf.pretrain_loss_curve_] == [5]


def test_one_class_is_an_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match=r"only one class \('a'\)"):
        small_classifier().fit(X, ["a"] * len(X))


def test_early_stopping_keeps_the_best_epoch(digits):
    X, y = digits
    clf = small_classifier(hidden_layer_sizes=(16,), max_iter=200, early_stopping=True, n_iter_no_change=3,
                           learning_rate_init=0.05).fit(X, y)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    best = int(np.argmax(clf.validation_scores_))
    assert clf.best_validation_score_ == clf.validation_scores_[best]
    assert clf.classifier_.epochs_trained == best + 1  # the weights of the best epoch
    assert clf.best_loss_ is None
    top, stale = -np.inf, 0  # MLPClassifier's rule: stop once 3 epochs in a row gained less than tol
    for epoch, score in enumerate(clf.validation_scores_, 1):
        stale = stale + 1 if score < top + clf.tol else 0
        top = max(top, score)
        assert (stale > 3) == (epoch == clf.n_iter_)


def test_training_loss_plateau_stops_without_early_stopping(digits):
    X, y = digits
    clf = small_classifier(max_iter=500, tol=10.0, n_iter_no_change=2).fit(X[:300], y[:300])
    assert clf.n_iter_ == 4 and clf.validation_scores_ is None  # after the first, no epoch gained 10
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        small_classifier(max_iter=2).fit(X[:300], y[:300])


# ------------------------------------------------------------------ pickle, clone, model selection


@pytest.mark.parametrize("make", [
    lambda: DenoisingAutoencoder(hidden_layer_sizes=(10, 5), max_iter=3, random_state=0),
    lambda: small_classifier(hidden_layer_sizes=(10, 5), max_iter=5),
])
def test_pickle_round_trip(digits, make):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = make().fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    if hasattr(est, "transform"):
        np.testing.assert_array_equal(back.transform(X), est.transform(X))
        np.testing.assert_array_equal(back.inverse_transform(est.transform(X)), est.inverse_transform(est.transform(X)))
        est.partial_fit(X)
        back.partial_fit(X)  # the unpickled model trains on exactly as the original
        np.testing.assert_array_equal(back.transform(X), est.transform(X))
    else:
        np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert back.get_params() == est.get_params()


def test_clone_copies_parameters_not_the_fit(digits):
    X, _ = digits
    dae = DenoisingAutoencoder(hidden_layer_sizes=(7,), corruption=0.3, max_iter=2, random_state=3).fit(X)
    twin = clone(dae)
    assert twin.get_params() == dae.get_params() and not hasattr(twin, "autoencoders_")
    np.testing.assert_array_equal(twin.fit(X).transform(X), dae.transform(X))


def test_pipeline_and_cross_val_score(digits):
    X, y = digits
    pipe = Pipeline([("scale", MinMaxScaler(clip=True)),
                     ("dae", DenoisingAutoencoder(hidden_layer_sizes=(32,), max_iter=5, random_state=0)),
                     ("logistic", LogisticRegression(max_iter=500))])
    pipe.fit(X[:1200] * 16, y[:1200])
    assert pipe.score(X[1200:] * 16, y[1200:]) > 0.85
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(small_classifier(hidden_layer_sizes=(16,)), X[:600], y[:600], cv=3)
    assert scores.shape == (3,) and scores.min() > 0.6


def test_grid_search_gives_the_same_result_with_one_or_two_processes(digits):
    X, _ = digits
    grid = {"hidden_layer_sizes": [(4,), (16,)], "corruption": [0.0, 0.3]}
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(DenoisingAutoencoder(max_iter=3, random_state=0), grid, cv=2, n_jobs=n_jobs)
        results.append(search.fit(X[:600]))
    one, two = results
    assert one.best_params_ == two.best_params_ and one.best_params_["hidden_layer_sizes"] == (16,)
    # BLAS may split the products differently in the worker processes: float32 rounding.
    np.testing.assert_allclose(one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"], rtol=1e-4)
    np.testing.assert_allclose(one.best_estimator_.transform(X), two.best_estimator_.transform(X), atol=1e-5)


def test_grid_search_over_a_classifier_pipeline(digits):
    X, y = digits
    pipe = Pipeline([("dae", DenoisingAutoencoder(max_iter=3, random_state=0)),
                     ("logistic", LogisticRegression(max_iter=300))])
    search = GridSearchCV(pipe, {"dae__hidden_layer_sizes": [(2,), (24,)]}, cv=2, n_jobs=2).fit(X[:600], y[:600])
    assert search.best_params_ == {"dae__hidden_layer_sizes": (24,)}


# ------------------------------------------------------------------ digits, against BernoulliRBM


def test_digits_features_beat_the_rbm_with_an_untuned_logistic_head():
    """bench/sklearn_digits.py's data and its ``default`` head; fastae with its defaults."""
    spec = importlib.util.spec_from_file_location("sklearn_digits", ROOT / "bench" / "sklearn_digits.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    X_train, X_test, y_train, y_test = bench.nudged_digits()
    scores = {}
    for name, features in (("fastae", DenoisingAutoencoder(random_state=0)),
                           ("rbm", BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10, random_state=0))):
        pipe = Pipeline([("features", features), ("logistic", LogisticRegression(max_iter=1000))])
        scores[name] = pipe.fit(X_train, y_train).score(X_test, y_test)
    assert scores["fastae"] > scores["rbm"] + 0.03, scores
