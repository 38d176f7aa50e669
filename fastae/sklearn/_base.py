"""What both estimators share: parameter checks, the choice of loss, greedy pretraining
of a stack of autoencoders, and moving fitted engine models through pickle."""
import tempfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from .. import io
from ..autoencoder import Autoencoder
from ..classifier import StackedClassifier
from ..model import TrainingDiverged

#: The estimators' loss names and the engine's.
LOSSES = {"cross_entropy": "cross_entropy", "squared_error": "mse"}

#: ``batch_size="auto"`` takes ``min(AUTO_BATCH, n_samples)``, as MLPClassifier does.
AUTO_BATCH = 200

#: Seeds drawn from ``random_state`` for the engine's models lie in ``[0, MAX_SEED)``.
MAX_SEED = 2**31 - 1


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def nonnegative_float(value, name, hint=""):
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a number >= 0{hint}, got {value!r}")
    return float(value)


def fraction(value, name, *, low_open, high_open):
    """A number in the interval from 0 to 1, each end open or closed as asked."""
    ok = not isinstance(value, bool) and isinstance(value, Real) and np.isfinite(value)
    ok = ok and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name}: expected a number in {interval}, got {value!r}")
    return float(value)


def layer_sizes(value):
    """``hidden_layer_sizes`` as a tuple of positive ints (an int is one layer)."""
    sizes = (value,) if isinstance(value, Integral) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = ()
    if not sizes or any(isinstance(n, bool) or not isinstance(n, Integral) or n < 1 for n in sizes):
        raise ValueError(
            f"hidden_layer_sizes: expected a positive integer or a non-empty sequence of them, "
            f"such as (100,) or (256, 64), got {value!r}"
        )
    return tuple(int(n) for n in sizes)


def batch_size(value, n_samples, name="batch_size"):
    """Samples per step: ``"auto"`` is ``min(AUTO_BATCH, n_samples)``; never more than ``n_samples``."""
    if isinstance(value, str) and value == "auto":
        return min(AUTO_BATCH, n_samples)
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name}: expected 'auto' or a positive integer, got {value!r}")
    return min(int(value), n_samples)


def sparsity(target, weight):
    """The engine's ``sparsity``: None for weight 0, else ``(target, weight)``."""
    target = fraction(target, "sparsity_target", low_open=True, high_open=True)
    weight = nonnegative_float(weight, "sparsity_weight", " (0 turns the penalty off)")
    return None if weight == 0 else (target, weight)


def choose_loss(loss, X):
    """The loss for data ``X``: ``loss`` itself, or for ``"auto"`` cross-entropy when ``X``
    lies in [0, 1] and squared error otherwise."""
    if loss == "auto":
        return "cross_entropy" if X.min() >= 0 and X.max() <= 1 else "squared_error"
    if isinstance(loss, str) and loss in LOSSES:
        return loss
    raise ValueError(f"loss: expected 'auto', 'cross_entropy' or 'squared_error', got {loss!r}")


def check_range(X, loss, *, fitted):
    """A ValueError that says how to fix it, for data outside [0, 1] under cross-entropy."""
    if loss != "cross_entropy":
        return
    lo, hi = X.min(), X.max()
    if lo >= 0 and hi <= 1:
        return
    cause = "this model was fitted with loss='cross_entropy'" if fitted else "loss='cross_entropy'"
    fix = (
        "scale the data into [0, 1] with the same transform as at fit time "
        "(e.g. sklearn.preprocessing.MinMaxScaler(clip=True) in a Pipeline)"
        if fitted
        else "scale them into [0, 1] (e.g. put sklearn.preprocessing.MinMaxScaler() before this "
        "estimator in a Pipeline), or choose loss='squared_error' (loss='auto' picks it for such data)"
    )
    raise ValueError(f"X: values must lie in [0, 1] because {cause} (found {lo:g} .. {hi:g}); {fix}")


def check_finite(loss, stage, lr_name):
    """A ValueError when training has diverged (the loss is no longer a finite number)."""
    if not np.isfinite(loss):
        raise ValueError(
            f"{stage} diverged (the loss became {loss}); lower {lr_name}, or scale the data "
            "(e.g. with sklearn.preprocessing.StandardScaler or MinMaxScaler)"
        )


def pretrain(layers, X, *, epochs, lr, batch_size, verbose, lr_name):
    """Greedy layer-wise training: ``epochs`` more epochs of each autoencoder in turn, each
    on the codes of the one below it (already trained). Returns each layer's epoch losses."""
    curves, codes = [], X
    for depth, ae in enumerate(layers, 1):
        callback, chunk = None, None
        if verbose:
            first = ae.epochs_trained

            def callback(done, losses, depth=depth, first=first):
                print(f"Layer {depth}, iteration {first + done}, loss = {losses[-1]:.8f}")

            chunk = 1
        try:
            losses = ae.fit(codes, epochs, lr, batch_size, callback=callback, chunk_epochs=chunk)
        except TrainingDiverged:  # the engine stopped at the first non-finite epoch
            check_finite(np.nan, f"training layer {depth}", lr_name)
        check_finite(losses[-1], f"training layer {depth}", lr_name)
        curves.append([float(v) for v in losses])
        if depth < len(layers):
            codes = ae.encode(codes)
    return curves


def new_layers(n_features, sizes, *, loss, corruption, sparsity, seeds, device):
    """Untrained autoencoders for a stack ``n_features -> sizes[0] -> sizes[1] ...``."""
    ins = (n_features,) + sizes[:-1]
    return [
        Autoencoder(n_in, n_out, loss=LOSSES[loss], corruption=corruption, sparsity=sparsity, seed=int(seed),
                    device=device, init="sigmoid_uniform")
        for n_in, n_out, seed in zip(ins, sizes, seeds)
    ]


def engine_state(model):
    """A fitted engine model as plain host data (its configuration and arrays), for pickle."""
    return {"config": model.config(), "arrays": model.params()}


def engine_model(state, device):
    """The engine model :func:`engine_state` described, rebuilt on ``device`` through the
    engine's own checked loader."""
    kind = {"Autoencoder": Autoencoder, "StackedClassifier": StackedClassifier}[state["config"]["kind"]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        io.save_model(path, state["arrays"], state["config"])
        return kind.load(path, device=device)
