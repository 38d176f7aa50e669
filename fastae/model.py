"""Models: the tied-weight autoencoder (here) and the stacked softmax classifier
(``classifier.py``), on one shared base.

Conventions (the tutorial's code uses the same):

* One pattern per row. ``W`` is ``n_visible x n_hidden``; the encoder computes
  ``H = sigmoid(X~ W + b)`` and the tied decoder ``Y = sigmoid(H W^T + c)``.
* The reconstruction term is summed over visible units and averaged over the patterns
  of a batch: cross-entropy ``-sum_i (x_i log y_i + (1 - x_i) log(1 - y_i))`` or squared
  error ``sum_i (y_i - x_i)^2``.
* The sparsity term is ``beta * sum_j KL(rho || rho_hat_j)`` with ``rho_hat_j`` the mean
  activation of hidden unit ``j`` over the batch.
* With masking noise the encoder sees ``X~`` (each pixel kept with probability
  ``1 - corruption``), and the target is always the clean ``X``.
"""
import abc
import math
import time

import numpy as np

from . import io, stopping
from .backends import get_backend
from .backends.records import CROSS_ENTROPY, MSE, AEHyper, Cursor, Schedule
from .checks import check_choice, check_data, check_dtype, check_positive_int, check_probability, check_rate
from .checks import check_seed, check_sparsity
from .history import History

LOSSES = {"cross_entropy": CROSS_ENTROPY, "mse": MSE}
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
    def load(cls, path, device="cpu"):
        """A model saved by :meth:`save`."""
        keys = ("kind", *cls.saved_keys, "seed", "dtype", "init", "epochs_trained")
        arrays, cfg = io.load_model(path, (), keys)
        if cfg.get("kind") != cls.kind:
            raise ValueError(f"path: {path} holds a {cfg.get('kind')!r}, not a {cls.kind}")
        model = cls._from_config(cfg, device)
        expected = {n: a.shape for n, a in model._param_arrays().items()}
        for n, shape in expected.items():
            if n not in arrays:
                raise ValueError(f"path: {path} lacks the array {n} of this {cls.kind}")
            if arrays[n].shape != shape:
                raise ValueError(f"path: {n} in {path} has shape {arrays[n].shape}, expected {shape}")
        model._load_arrays(arrays, cfg, path)
        model.epochs_trained = int(cfg["epochs_trained"])
        model.partial_epoch = cls._checked_partial_epoch(cfg.get("partial_epoch"), path)
        return model


class Autoencoder(Model):
    """A tied-weight autoencoder with sigmoid units.

    Parameters
    ----------
    n_visible, n_hidden : int
        Sizes of the input and of the code.
    loss : {"cross_entropy", "mse"}
        Reconstruction term (see the module docstring). Cross-entropy needs data in [0, 1].
    corruption : float in [0, 1)
        Masking-noise level: each input pixel is zeroed with this probability, redrawn
        for every batch of every epoch. 0 trains a plain autoencoder.
    sparsity : None or (rho, beta)
        KL sparsity target ``rho`` in (0, 1) and weight ``beta >= 0``.
    seed : int
        Seeds the initial weights, the shuffling and the masking noise.
    dtype : np.float32 or np.float64
        float32 for speed; float64 for gradient checks.
    device : {"cpu", "cuda"}
        Where the computation runs.
    init : {"normal", "sigmoid_uniform"}
        ``normal``: ``W ~ N(0, 1/sqrt(n_visible))`` (standard deviation), as the tutorial's
        code for Q1; ``sigmoid_uniform``: ``U(+-4 sqrt(6 / (n_visible + n_hidden)))``.
        Biases start at zero.

    Attributes
    ----------
    W : ndarray (n_visible, n_hidden)
    b : ndarray (n_hidden,), the encoder bias
    c : ndarray (n_visible,), the decoder bias
    epochs_trained : int
    """

    kind = "Autoencoder"
    saved_keys = ("n_visible", "n_hidden", "loss", "corruption", "sparsity")

    def __init__(self, n_visible, n_hidden, *, loss="cross_entropy", corruption=0.0, sparsity=None, seed=0,
                 dtype=np.float32, device="cpu", init="normal"):
        self.n_visible = check_positive_int(n_visible, "n_visible")
        self.n_hidden = check_positive_int(n_hidden, "n_hidden")
        self.loss_name = check_choice(loss, tuple(LOSSES), "loss")
        self.corruption = check_probability(corruption, "corruption")
        self.rho, self.beta = check_sparsity(sparsity) or (0.0, 0.0)
        self._setup(seed, dtype, device, init)
        self._noise_stream = 0
        rng = np.random.default_rng([self.seed, 0xAE])
        W = initial_weights(rng, self.n_visible, self.n_hidden, self.init)
        as_dev = self.backend.asarray
        self.W = as_dev(W, self.dtype)
        self.b = as_dev(np.zeros(self.n_hidden), self.dtype)
        self.c = as_dev(np.zeros(self.n_visible), self.dtype)

    @property
    def sparsity(self):
        return None if self.beta == 0.0 and self.rho == 0.0 else (self.rho, self.beta)

    def _settings(self):
        return {"n_visible": self.n_visible, "n_hidden": self.n_hidden, "loss": self.loss_name,
                "corruption": self.corruption, "sparsity": self.sparsity}

    @classmethod
    def _from_config(cls, cfg, device):
        return cls(cfg["n_visible"], cfg["n_hidden"], loss=cfg["loss"], corruption=cfg["corruption"],
                   sparsity=cfg["sparsity"], seed=cfg["seed"], dtype=cfg["dtype"], device=device, init=cfg["init"])

    def _param_arrays(self):
        return {"W": self.W, "b": self.b, "c": self.c}

    def _load_arrays(self, arrays, cfg, path):
        for k in ("W", "b", "c"):
            setattr(self, k, self.backend.asarray(arrays[k], self.dtype))

    def _hyper(self):
        return AEHyper(LOSSES[self.loss_name], self.corruption, self.rho, self.beta, self.seed)

    def _data(self, X, name="X"):
        """``X`` checked (host array) and on the device: ``(host, device)``."""
        X = check_data(X, self.n_visible, name=name, unit_interval=self.loss_name == "cross_entropy",
                       dtype=self.dtype)
        return X, self.backend.asarray(X, self.dtype)

    def _corrupted(self, X, Xd, mask):
        """The encoder's input (on the device): ``X * mask``, or a fresh noise draw of
        ``Xd`` (``X`` on the device) when ``mask`` is None."""
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != X.shape:
                raise ValueError(f"mask: expected the shape of X {X.shape}, got {mask.shape}")
            if not np.isin(mask, (0, 1)).all():
                raise ValueError("mask: expected only 0 and 1")
            return self.backend.asarray(X * mask, self.dtype)
        if self.corruption == 0.0:
            return Xd
        self._noise_stream += 1
        # Streams of explicit draws count down from the top, away from the epochs'.
        return self.backend.corrupt(Xd, self.corruption, self.seed, 2**62 - self._noise_stream)

    # ----------------------------------------------------------------- public

    def loss(self, X, mask=None):
        """The training loss on all of ``X`` taken as one batch (see the module docstring)."""
        X, Xd = self._data(X)
        loss, _, _ = self.backend.ae_loss(self.W, self.b, self.c, self._corrupted(X, Xd, mask), Xd, self._hyper())
        return float(loss)

    def loss_and_grads(self, X, mask=None):
        """Loss and its gradients ``{"W", "b", "c"}`` on ``X`` taken as one batch.

        ``mask``, a 0/1 array of X's shape, replaces the drawn masking noise (the target
        is still the clean ``X``).
        """
        X, Xd = self._data(X)
        loss, grads = self.backend.ae_loss_and_grads(
            self.W, self.b, self.c, self._corrupted(X, Xd, mask), Xd, self._hyper()
        )
        return float(loss), {k: self.backend.to_host(v).copy() for k, v in grads.items()}

    def fit(self, X, epochs, lr, batch_size=None, *, shuffle=True, callback=None, chunk_epochs=None):
        """Train with mini-batch gradient descent; returns the loss of each epoch.

        Parameters
        ----------
        X : array (n_patterns, n_visible)
        epochs : int
        lr : float
            Learning rate.
        batch_size : int or None
            None trains full-batch (plain gradient descent, as in Q1).
        shuffle : bool
            Visit the patterns in a new seeded order every epoch.
        callback : callable(epochs_done, history) or None
            Called after every chunk of epochs (for progress display), with the number
            of epochs this call has finished and their :class:`fastae.History`.
        chunk_epochs : int or None
            Epochs run per compiled call; by default a twentieth of ``epochs``.

        Returns
        -------
        fastae.History
            The loss of each epoch (as an array: each epoch's mean over its patterns of
            the batch losses, taken before each batch's update), and ``history["seconds"]``,
            each chunk's training time shared among its epochs.

        Raises
        ------
        fastae.TrainingInterrupted
            On Ctrl-C, at the end of the batch in progress. The model keeps every
            update so far and the position in the interrupted epoch (``partial_epoch``,
            saved with the model); the next ``fit`` with the same data and batch size
            finishes that epoch first (it counts as one of its ``epochs``), so that the
            result is the one of an uninterrupted run.
        """
        _, X = self._data(X)
        epochs = check_positive_int(epochs, "epochs")
        lr = check_rate(lr, "lr", self.dtype)
        if chunk_epochs is not None:
            chunk_epochs = check_positive_int(chunk_epochs, "chunk_epochs")
        n = X.shape[0]
        batch_size = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
        shuffle = shuffle and batch_size < n  # a full batch's order changes nothing
        at, partial = self._resume_point(n, batch_size, shuffle)
        chunk = chunk_epochs or max(1, epochs // 20)
        losses, seconds = np.empty(epochs), np.empty(epochs)
        done = 0

        def history():
            return History({"loss": losses[:done], "seconds": seconds[:done]})

        with stopping.ctrl_c_sets(stopping.new_stop()) as stop:
            while done < epochs:
                todo = min(chunk, epochs - done)
                first = self.epochs_trained
                if shuffle:
                    orders = np.stack([epoch_order(self.seed, first + e, n) for e in range(todo)])
                else:
                    orders = np.broadcast_to(np.arange(n), (todo, n)).copy()
                started = time.perf_counter()
                chunk_losses = self.backend.train_autoencoder(
                    self.W, self.b, self.c, X, Schedule(orders, first, batch_size), lr, self._hyper(),
                    Cursor(at, partial, stop),
                )
                finished = int(at[0])
                losses[done : done + finished] = chunk_losses[:finished]
                trained = time.perf_counter() - started - self.backend.compile_seconds
                self.compile_seconds += self.backend.compile_seconds if self.backend.compiled else 0.0
                seconds[done : done + finished] = trained / todo
                self.epochs_trained += finished
                done += finished
                if finished < todo:
                    self._stopped_at(at, partial, n, batch_size, shuffle)
                    raise stopping.TrainingInterrupted(self, history())
                at[:] = 0
                if callback is not None:
                    callback(done, history())
        return history()

    def encode(self, X):
        """Hidden activations ``sigmoid(X W + b)`` of clean inputs."""
        return self.backend.to_host(self.backend.encode(self._data(X)[1], self.W, self.b))

    def decode(self, H):
        """Outputs ``sigmoid(H W^T + c)`` of codes ``H``."""
        H = check_data(H, self.n_hidden, name="H", dtype=self.dtype)
        return self.backend.to_host(self.backend.decode(self.backend.asarray(H, self.dtype), self.W, self.c))

    def reconstruct(self, X):
        """``decode(encode(X))``."""
        H = self.backend.encode(self._data(X)[1], self.W, self.b)
        return self.backend.to_host(self.backend.decode(H, self.W, self.c))

    def corrupt(self, X, stream=0):
        """``X`` with the masking noise of ``stream`` (as training draws it for an epoch)."""
        return self.backend.to_host(self.backend.corrupt(self._data(X)[1], self.corruption, self.seed, stream))

    def __repr__(self):
        sparsity = "None" if self.sparsity is None else f"(rho={self.rho:g}, beta={self.beta:g})"
        return (
            f"Autoencoder({self.n_visible} -> {self.n_hidden}, loss={self.loss_name!r}, "
            f"corruption={self.corruption:g}, sparsity={sparsity}, device={self.device!r}, {self._trained()})"
        )


from .classifier import OPTIMIZERS, StackedClassifier  # noqa: E402,F401  (fastae.model's public names)
