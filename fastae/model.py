"""What both models share (``Model``: seed, dtype, device, parameters by name, saving
and loading, pickling, work on data in rows) and the helpers they both use. The models
themselves: the tied-weight autoencoder in ``autoencoder.py`` and the stacked softmax
classifier in ``classifier.py``; both are importable from here too."""
import abc
import importlib
import math

import numpy as np

from . import config as _config
from . import io, mapped, stopping
from .backends import get_backend
from .checks import check_choice, check_count, check_dtype, check_seed

INITS = ("normal", "sigmoid_uniform")


def initial_weights(rng, n_in, n_out, init):
    """``normal``: ``N(0, 1/sqrt(n_in))``; ``sigmoid_uniform``: ``U(+-4 sqrt(6/(n_in+n_out)))``."""
    if init == "normal":
        return rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, n_out))
    bound = 4.0 * np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-bound, bound, (n_in, n_out))


def softmax(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def cosine_lr(lr, epoch, epochs):
    """Cosine decay from ``lr`` (epoch 0) towards 0 (epoch ``epochs``)."""
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))


def epoch_order(seed, epoch, n):
    """The order in which epoch ``epoch`` visits ``n`` patterns: a permutation drawn from
    ``(seed, epoch)`` alone, so a resumed run visits them as an uninterrupted one does."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_orders(seed, first, count, n):
    """The orders of the ``count`` epochs from ``first`` (:func:`epoch_order`), one row
    each, with no copy of a single epoch's."""
    order = epoch_order(seed, first, n)
    if count == 1:
        return order[None, :]
    orders = np.empty((count, n), order.dtype)
    orders[0] = order
    for e in range(1, count):
        orders[e] = epoch_order(seed, first + e, n)
    return orders


class TrainingDiverged(ValueError):
    """The training loss (or a parameter) of an epoch became infinite or NaN.

    ``fit`` stops there; the model keeps the parameters after the last finite epoch
    (``model.epochs_trained`` of them), and ``history`` holds those epochs. ``epoch`` is
    the epoch that diverged (counted over the model's training, from 1), ``lr`` its
    learning rate.
    """

    def __init__(self, model, history, lr, X=None):
        self.model, self.history, self.lr = model, history, lr
        self.epoch = model.epochs_trained + 1
        hint = f"lower the learning rate (lr {lr:g} now)"
        if X is not None:
            top = float(np.abs(self.model.backend.to_host(X)).max()) if X.size else 0.0
            if top > 1e3:
                hint += f", or scale the data (values up to {top:.3g})"
        super().__init__(
            f"training diverged: the loss or the parameters stopped being finite in epoch {self.epoch}; "
            f"the model keeps its parameters after epoch {self.epoch - 1}; {hint}"
        )


class Model(stopping.PartialEpoch, abc.ABC):
    """What both models share: seed, dtype, init and device; the epochs trained and the
    interrupted epoch (``stopping.PartialEpoch``); parameters by name; saving and loading."""

    #: The ``kind`` recorded in a saved model's JSON.
    kind = None
    #: Config keys a saved model must have, besides the shared ones.
    saved_keys = ()
    #: Seconds this model's ``fit`` calls spent compiling their loops (numba, on the
    #: first call of each kind in a process with a cold cache): never counted in the
    #: training seconds of its histories.
    compile_seconds = 0.0

    def _setup(self, seed, dtype, device, init):
        self.seed = check_seed(seed)
        self.dtype = check_dtype(dtype)
        self.init = check_choice(init, INITS, "init")
        self.device = device
        self.backend = get_backend(device)
        self.epochs_trained = 0

    # ------------------------------------------------------------- parameters

    @abc.abstractmethod
    def _param_arrays(self):
        """``{name: device array}`` of every parameter."""

    @abc.abstractmethod
    def _settings(self):
        """The model's own constructor settings, as saved in its config."""

    @classmethod
    @abc.abstractmethod
    def _from_config(cls, cfg, device):
        """A fresh model with the settings of a saved config."""

    @abc.abstractmethod
    def _load_arrays(self, arrays, cfg, path):
        """Take the parameters (and any state) from a saved model's arrays, shapes checked."""

    def params(self):
        """Host copies of every parameter, by name."""
        return {n: np.array(self.backend.to_host(a)) for n, a in self._param_arrays().items()}

    # ------------------------------------------------------------------- files

    def config(self):
        return {
            "kind": self.kind, **self._settings(), "seed": self.seed, "dtype": self.dtype.name, "init": self.init,
            "epochs_trained": self.epochs_trained, "partial_epoch": self.partial_epoch,
        }

    def save(self, path, **extra):
        """Write ``PATH.npz`` (the parameters) and ``PATH.json`` (the config, plus ``extra``)."""
        return io.save_model(path, self.params(), {**self.config(), **extra})

    @classmethod
    @abc.abstractmethod
    def _array_shapes(cls, cfg):
        """``{name: shape}`` of the parameters a saved config describes (its sizes checked,
        nothing allocated)."""

    @classmethod
    def load(cls, path, device="cpu"):
        """A model saved by :meth:`save`.

        The config's sizes are checked against the saved arrays' headers before anything
        is allocated; weights that are not finite real numbers, a ``.npz`` that does not
        belong to its ``.json``, and a malformed config raise a ValueError naming the file.
        """
        keys = ("kind", *cls.saved_keys, "seed", "dtype", "init", "epochs_trained")

        def shapes(cfg):
            if cfg.get("kind") != cls.kind:
                raise ValueError(f"it holds a {cfg.get('kind')!r}, not a {cls.kind}")
            return cls._array_shapes(cfg)

        arrays, cfg = io.load_model(path, (), keys, shapes)
        return cls._from_saved(arrays, cfg, device, path)

    @classmethod
    def _from_saved(cls, arrays, cfg, device, path):
        """A model from its arrays and config (as :meth:`save` writes them), checked."""
        try:
            model = cls._from_config(cfg, device)
            model._load_arrays(arrays, cfg, path)
            model.epochs_trained = check_count(cfg["epochs_trained"], "epochs_trained")
        except (TypeError, KeyError, AttributeError, OverflowError) as e:  # a hand-edited or foreign .json
            raise ValueError(f"{io.model_paths(path)[1]}: not a usable saved {cls.kind} "
                             f"({type(e).__name__}: {e})") from None
        except ValueError as e:
            text = str(e)
            raise ValueError(text if str(path) in text else f"{io.model_paths(path)[1]}: {text}") from None
        model.partial_epoch = cls._checked_partial_epoch(cfg.get("partial_epoch"), path)
        return model

    # --------------------------------------------------------- divergence

    def _snapshot(self):
        """Host copies of the state training changes, for :meth:`_restore`."""
        return {"arrays": self.params(), "epochs_trained": self.epochs_trained, "partial_epoch": self.partial_epoch}

    def _restore(self, snap):
        self._load_arrays({k: a.copy() for k, a in snap["arrays"].items()}, {}, "a snapshot")
        self.epochs_trained, self.partial_epoch = snap["epochs_trained"], snap["partial_epoch"]

    def _finite(self):
        return all(np.isfinite(a).all() for a in self.params().values())

    # ---------------------------------------------------------------- pickling

    def _saved(self):
        """``(arrays, config)``: what :meth:`save` writes."""
        return self.params(), self.config()

    def __reduce__(self):
        """A pickle holds what :meth:`save` writes (the parameters as NumPy arrays and the
        config), no compiled code and no device handle: unpickling rebuilds the model on
        its device through the same path as :meth:`load`. Small enough to ship to the
        workers of a cluster (README, "Scaling out")."""
        arrays, cfg = self._saved()
        return _unpickle, (type(self), arrays, cfg, self.device)

    # ------------------------------------------------------------- data in rows

    def _as_float(self, Xd, start=0, stop=None):
        """Rows ``start:stop`` of a checked device array as the model's dtype (bytes
        scaled by 1/255: a new array; floats: a view)."""
        stop = Xd.shape[0] if stop is None else stop
        if Xd.dtype == self.dtype:
            return Xd[start:stop]
        return self.backend.gather_rows(Xd, start, stop, self.dtype)

    def _in_chunks(self, X):
        """True when work on all of ``X`` (a checked host array) goes ``EVAL_CHUNK`` rows
        at a time from the host: bytes or a mapped file (in memory, floats go whole to
        the device's own chunked loops, as they always did)."""
        return X.dtype != self.dtype or mapped.is_mapped(X)

    def _map_rows(self, X, Xd, fn, width, out, name="out"):
        """``fn(rows)`` (device arrays of ``width`` columns) of every row of ``X``, into
        ``out`` (None: a new array), ``EVAL_CHUNK`` rows at a time when ``_in_chunks``."""
        n = X.shape[0]
        if out is not None:
            if not isinstance(out, np.ndarray) or out.shape != (n, width) or out.dtype != self.dtype:
                raise ValueError(f"{name}: expected a writable {self.dtype.name} array of shape {(n, width)}, "
                                 f"got {getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
            if not out.flags.writeable:
                raise ValueError(f"{name}: the array is read-only; open it writable (mode 'w+' or 'r+')")
        if out is None and not self._in_chunks(X):
            return self.backend.to_host(fn(self._as_float(Xd)))
        if out is None:
            out = np.empty((n, width), self.dtype)
        step = _config.EVAL_CHUNK
        with mapped.reading(X, out):
            for start in range(0, n, step):
                stop = min(start + step, n)
                out[start:stop] = self.backend.to_host(fn(self._as_float(Xd, start, stop)))
        return out


def _unpickle(cls, arrays, cfg, device):
    return cls._from_saved(arrays, cfg, device, "the pickled model")


_MOVED = {"Autoencoder": "autoencoder", "LOSSES": "autoencoder", "StackedClassifier": "classifier",
          "OPTIMIZERS": "classifier"}


def __getattr__(name):
    """The models by their older address: ``from fastae.model import Autoencoder`` works."""
    if name in _MOVED:
        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
