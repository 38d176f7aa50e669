"""Models: the tied-weight autoencoder and the stacked softmax classifier.

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
import math

import numpy as np

from . import io, stopping
from .backends import get_backend
from .backends.cpu import ADAM, CROSS_ENTROPY, MSE, SGD, AEHyper, Optim

LOSSES = {"cross_entropy": CROSS_ENTROPY, "mse": MSE}
INITS = ("normal", "sigmoid_uniform")


def check_data(X, n_features, *, name="X", unit_interval=False, dtype=np.float32):
    """``X`` as a C-contiguous 2-D array of ``dtype``, or a ValueError naming ``name``."""
    X = np.asarray(X)
    if X.ndim == 1 and n_features is not None and X.shape[0] == n_features:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (patterns x features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name}: expected {n_features} features per row, got {X.shape[1]}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=dtype)
    lo, hi = X.min(), X.max()  # NaN propagates into both: two passes check everything
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if unit_interval and (lo < 0.0 or hi > 1.0):
        raise ValueError(
            f"{name}: values must lie in [0, 1] for the cross-entropy loss "
            f"(found {lo:g} .. {hi:g}); rescale, e.g. X / X.max(), or use loss='mse'"
        )
    return X


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _check_rate(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive number, got {value!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return value


def check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


def check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
    return dtype


def check_init(init):
    if init not in INITS:
        raise ValueError(f"init: expected one of {', '.join(INITS)}, got {init!r}")
    return init


def check_probability(value, name):
    """A masking-noise level in [0, 1)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return value


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


class _PartialEpoch:
    """Where Ctrl-C stopped an epoch (``partial_epoch``), for ``fit`` to finish it first.

    ``partial_epoch`` is None, or a dict: ``row``, the patterns of the epoch's order
    already trained on; ``sums``, the epoch's loss (and, for a classifier, hit count)
    summed over them; and the ``patterns``, ``batch_size`` and ``shuffle`` of that ``fit``.
    """

    partial_epoch = None

    def _resume_point(self, n, batch_size, shuffle):
        """``(at, partial)`` for the backend: where the interrupted epoch stopped, if any."""
        at, partial = np.zeros(2, np.int64), np.zeros(2)
        p = self.partial_epoch
        if p is not None:
            wanted = {"patterns": n, "batch_size": batch_size, "shuffle": shuffle}
            diff = [f"{k} {p[k]!r} then, {wanted[k]!r} now" for k in wanted if p[k] != wanted[k]]
            if diff:
                raise ValueError(
                    f"fit: epoch {self.epochs_trained + 1} was interrupted after {p['row']} patterns "
                    f"(with {', '.join(diff)}); fit with the same data and settings to finish it, "
                    "or call discard_partial_epoch() to start the next epoch afresh"
                )
            at[1], partial[:] = p["row"], p["sums"]
            self.partial_epoch = None  # set again if this fit stops too
        return at, partial

    def _stopped_at(self, at, partial, n, batch_size, shuffle):
        row = int(at[1])
        self.partial_epoch = None if row == 0 else {
            "row": row, "sums": [float(partial[0]), float(partial[1])], "patterns": n,
            "batch_size": batch_size, "shuffle": shuffle,
        }

    def discard_partial_epoch(self):
        """Forget where an interrupted epoch stopped (its batches' updates stay); the next
        ``fit`` starts a fresh epoch."""
        self.partial_epoch = None

    @staticmethod
    def _checked_partial_epoch(p, path):
        """A ``partial_epoch`` read from a saved model's JSON, checked."""
        if p is None:
            return None
        keys = ("row", "sums", "patterns", "batch_size", "shuffle")
        ok = isinstance(p, dict) and all(k in p for k in keys)
        ok = ok and all(isinstance(p[k], int) and p[k] > 0 for k in ("row", "patterns", "batch_size"))
        ok = ok and p["row"] < p["patterns"] and isinstance(p["sums"], list) and len(p["sums"]) == 2
        if not ok:
            raise ValueError(f"path: {path} has a malformed partial_epoch {p!r}")
        return p


class Autoencoder(_PartialEpoch):
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
    device : {"cpu"}
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

    def __init__(
        self,
        n_visible,
        n_hidden,
        *,
        loss="cross_entropy",
        corruption=0.0,
        sparsity=None,
        seed=0,
        dtype=np.float32,
        device="cpu",
        init="normal",
    ):
        self.n_visible = _check_positive_int(n_visible, "n_visible")
        self.n_hidden = _check_positive_int(n_hidden, "n_hidden")
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {', '.join(LOSSES)}, got {loss!r}")
        self.loss_name = loss
        self.corruption = check_probability(corruption, "corruption")
        if sparsity is None:
            self.rho, self.beta = 0.0, 0.0
        else:
            try:
                rho, beta = (float(v) for v in sparsity)
            except (TypeError, ValueError):
                raise ValueError(f"sparsity: expected None or a pair (rho, beta), got {sparsity!r}") from None
            if not 0.0 < rho < 1.0:
                raise ValueError(f"sparsity: rho must lie in (0, 1), got {rho!r}")
            if not (np.isfinite(beta) and beta >= 0.0):
                raise ValueError(f"sparsity: beta must be a number >= 0, got {beta!r}")
            self.rho, self.beta = rho, beta
        self.seed = check_seed(seed)
        self.dtype = check_dtype(dtype)
        self.init = check_init(init)
        self.device = device
        self.backend = get_backend(device)
        self.epochs_trained = 0
        self._noise_stream = 0
        self.W, self.b, self.c = self._initial_params()

    # ------------------------------------------------------------------ set-up

    def _initial_params(self):
        rng = np.random.default_rng([self.seed, 0xAE])
        W = initial_weights(rng, self.n_visible, self.n_hidden, self.init)
        as_dev = self.backend.asarray
        return (
            as_dev(W, self.dtype),
            as_dev(np.zeros(self.n_hidden), self.dtype),
            as_dev(np.zeros(self.n_visible), self.dtype),
        )

    @property
    def sparsity(self):
        return None if self.beta == 0.0 and self.rho == 0.0 else (self.rho, self.beta)

    def _hyper(self):
        return AEHyper(LOSSES[self.loss_name], self.corruption, self.rho, self.beta, self.seed)

    def _data(self, X, name="X"):
        """``X`` checked (host array) and on the device: ``(host, device)``."""
        X = check_data(
            X, self.n_visible, name=name, unit_interval=self.loss_name == "cross_entropy", dtype=self.dtype
        )
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
        callback : callable(epochs_done, losses_so_far) or None
            Called after every chunk of epochs (for progress display).
        chunk_epochs : int or None
            Epochs run per compiled call; by default a twentieth of ``epochs``.

        Returns
        -------
        ndarray (epochs,)
            Each epoch's mean over its patterns of the batch losses, taken before each
            batch's update.

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
        epochs = _check_positive_int(epochs, "epochs")
        lr = _check_rate(lr, "lr")
        n = X.shape[0]
        batch_size = n if batch_size is None else min(_check_positive_int(batch_size, "batch_size"), n)
        shuffle = shuffle and batch_size < n  # a full batch's order changes nothing
        at, partial = self._resume_point(n, batch_size, shuffle)
        chunk = chunk_epochs or max(1, epochs // 20)
        losses = np.empty(epochs)
        done = 0
        with stopping.ctrl_c_sets(stopping.new_stop()) as stop:
            while done < epochs:
                todo = min(chunk, epochs - done)
                first = self.epochs_trained
                if shuffle:
                    orders = np.stack([epoch_order(self.seed, first + e, n) for e in range(todo)])
                else:
                    orders = np.broadcast_to(np.arange(n), (todo, n)).copy()
                chunk_losses = self.backend.train_autoencoder(
                    self.W, self.b, self.c, X, orders, first, batch_size, lr, self._hyper(), at, partial, stop
                )
                finished = int(at[0])
                losses[done : done + finished] = chunk_losses[:finished]
                self.epochs_trained += finished
                done += finished
                if finished < todo:
                    self._stopped_at(at, partial, n, batch_size, shuffle)
                    raise stopping.TrainingInterrupted(self, losses[:done].copy())
                at[:] = 0
                if callback is not None:
                    callback(done, losses[:done])
        return losses

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

    def params(self):
        """Host copies of ``W``, ``b`` and ``c``, by name."""
        return {k: np.array(self.backend.to_host(getattr(self, k))) for k in ("W", "b", "c")}

    # ------------------------------------------------------------------- files

    def config(self):
        return {
            "kind": "Autoencoder",
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "loss": self.loss_name,
            "corruption": self.corruption,
            "sparsity": self.sparsity,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "init": self.init,
            "epochs_trained": self.epochs_trained,
            "partial_epoch": self.partial_epoch,
        }

    def save(self, path, **extra):
        """Write ``PATH.npz`` (W, b, c) and ``PATH.json`` (the config, plus ``extra``)."""
        return io.save_model(path, self.params(), {**self.config(), **extra})

    @classmethod
    def load(cls, path, device="cpu"):
        """An autoencoder saved by :meth:`save`."""
        keys = ("kind", "n_visible", "n_hidden", "loss", "corruption", "sparsity", "seed", "dtype", "init",
                "epochs_trained")
        arrays, cfg = io.load_model(path, ("W", "b", "c"), keys)
        if cfg.get("kind") != "Autoencoder":
            raise ValueError(f"path: {path} holds a {cfg.get('kind')!r}, not an Autoencoder")
        model = cls(
            cfg["n_visible"],
            cfg["n_hidden"],
            loss=cfg["loss"],
            corruption=cfg["corruption"],
            sparsity=cfg["sparsity"],
            seed=cfg["seed"],
            dtype=np.dtype(cfg["dtype"]),
            device=device,
            init=cfg["init"],
        )
        for k in ("W", "b", "c"):
            expected = getattr(model, k).shape
            if arrays[k].shape != expected:
                raise ValueError(f"path: {k} in {path} has shape {arrays[k].shape}, expected {expected}")
            setattr(model, k, model.backend.asarray(arrays[k], model.dtype))
        model.epochs_trained = int(cfg["epochs_trained"])
        model.partial_epoch = cls._checked_partial_epoch(cfg.get("partial_epoch"), path)
        return model

    def __repr__(self):
        n = self.epochs_trained
        trained = f"trained {n} epoch{'' if n == 1 else 's'}" if n else "untrained"
        if self.partial_epoch is not None:
            trained += f" and {self.partial_epoch['row']} patterns of the next"
        sparsity = "None" if self.sparsity is None else f"(rho={self.rho:g}, beta={self.beta:g})"
        return (
            f"Autoencoder({self.n_visible} -> {self.n_hidden}, loss={self.loss_name!r}, "
            f"corruption={self.corruption:g}, sparsity={sparsity}, device={self.device!r}, {trained})"
        )


OPTIMIZERS = {"sgd": SGD, "adam": ADAM}


class StackedClassifier(_PartialEpoch):
    """Sigmoid layers topped by a softmax layer, trained with softmax cross-entropy.

    ``H_l = sigmoid(H_{l-1} W_l + b_l)`` for each hidden layer (``H_0`` = the input),
    then ``p = softmax(H_L V + d)``. The loss is the mean over the batch of
    ``-log p[label]``. Build it from pretrained autoencoders with
    :meth:`from_autoencoders` (their encoders become the hidden layers; the decoders take
    no part), or from random weights.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_input, n_hidden_1, ..., n_hidden_L)``.
    n_classes : int
    seed : int
        Seeds the random weights, the shuffling and any input noise.
    dtype, device, init : as for :class:`Autoencoder` (``init`` of the hidden layers;
        the softmax layer starts at zero, as is usual for a convex top layer).

    Attributes
    ----------
    weights : list of ndarray, ``W_1 ... W_L`` then ``V`` (n_hidden_L x n_classes)
    biases : list of ndarray, ``b_1 ... b_L`` then ``d``
    """

    def __init__(self, layer_sizes, n_classes=10, *, seed=0, dtype=np.float32, device="cpu",
                 init="sigmoid_uniform"):
        sizes = [_check_positive_int(n, "layer_sizes") for n in layer_sizes]
        if len(sizes) < 1:
            raise ValueError("layer_sizes: give at least the input size")
        self.layer_sizes = sizes
        self.n_classes = _check_positive_int(n_classes, "n_classes")
        if n_classes < 2:
            raise ValueError("n_classes: a softmax needs at least 2 classes")
        self.seed = check_seed(seed)
        self.dtype = check_dtype(dtype)
        self.init = check_init(init)
        self.device = device
        self.backend = get_backend(device)
        self.epochs_trained = 0
        rng = np.random.default_rng([self.seed, 0xC1A55])
        weights, biases = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            weights.append(initial_weights(rng, n_in, n_out, init))
            biases.append(np.zeros(n_out))
        weights.append(np.zeros((sizes[-1], self.n_classes)))
        biases.append(np.zeros(self.n_classes))
        self._set_params(weights, biases)

    def _set_params(self, weights, biases):
        as_dev = self.backend.asarray
        self.weights = self.backend.param_list([as_dev(W, self.dtype) for W in weights])
        self.biases = self.backend.param_list([as_dev(b, self.dtype) for b in biases])
        self._opt_state = None  # (optimizer name, its state), kept in memory between fit calls

    @classmethod
    def from_autoencoders(cls, autoencoders, n_classes=10, *, seed=0, device="cpu"):
        """A classifier whose hidden layers start as copies of the autoencoders' encoders."""
        aes = list(autoencoders)
        if not aes:
            raise ValueError("autoencoders: give at least one")
        sizes = [aes[0].n_visible] + [ae.n_hidden for ae in aes]
        for below, above in zip(aes[:-1], aes[1:]):
            if above.n_visible != below.n_hidden:
                raise ValueError(
                    f"autoencoders: a layer of {above.n_visible} inputs cannot sit on {below.n_hidden} codes"
                )
        model = cls(sizes, n_classes, seed=seed, dtype=aes[0].dtype, device=device)
        top = model.params()
        model._set_params([ae.params()["W"] for ae in aes] + [top["V"]], [ae.params()["b"] for ae in aes] + [top["d"]])
        return model

    @property
    def param_names(self):
        L = len(self.layer_sizes) - 1
        return [f"W{l + 1}" for l in range(L)] + ["V"], [f"b{l + 1}" for l in range(L)] + ["d"]

    def _inputs(self, X, y=None):
        X = check_data(X, self.layer_sizes[0], name="X", dtype=self.dtype)
        X = self.backend.asarray(X, self.dtype)
        if y is None:
            return X
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y: expected {X.shape[0]} labels (one per row of X), got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y: expected integer class labels, got dtype {y.dtype}")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"y: labels must lie in 0..{self.n_classes - 1}, found {y.min()}..{y.max()}")
        return X, self.backend.asarray(y, np.int64)

    def params(self):
        """Host copies of every parameter, by name (``W1, ..., V, b1, ..., d``)."""
        w_names, b_names = self.param_names
        arrays = list(self.weights) + list(self.biases)
        return {n: np.array(self.backend.to_host(a)) for n, a in zip(w_names + b_names, arrays)}

    def loss_and_grads(self, X, y):
        """Mean softmax cross-entropy on ``(X, y)`` as one batch, and its gradients by name."""
        X, y = self._inputs(X, y)
        loss, dWs, dbs = self.backend.classifier_loss_and_grads(self.weights, self.biases, X, y)
        w_names, b_names = self.param_names
        grads = {n: self.backend.to_host(g).copy() for n, g in zip(w_names + b_names, dWs + dbs)}
        return float(loss), grads

    def loss(self, X, y):
        X, y = self._inputs(X, y)
        logits = self.backend.to_host(self.backend.classifier_layers(self.weights, self.biases, X)[-1])
        p = softmax(logits.astype(np.float64))[np.arange(len(y)), self.backend.to_host(y)]
        return float(-np.log(p).mean())

    def layers(self, X):
        """Every layer's output for ``X``: the hidden activations, then the logits."""
        X = self._inputs(X)
        return [self.backend.to_host(a) for a in self.backend.classifier_layers(self.weights, self.biases, X)]

    def predict_proba(self, X):
        return softmax(self.layers(X)[-1])

    def predict(self, X):
        return self.layers(X)[-1].argmax(axis=1)

    def accuracy(self, X, y):
        X, y = self._inputs(X, y)
        return float((self.predict(X) == self.backend.to_host(y)).mean())

    def fit(self, X, y, epochs, lr, batch_size=128, *, optimizer="sgd", corruption=0.0, shift=0,
            image_shape=None, cosine_epochs=None, eval_sets=None, callback=None):
        """Train every layer together; returns the history of each epoch.

        Parameters
        ----------
        X, y : training patterns and their integer labels
        epochs : int
        lr : float
        batch_size : int
        optimizer : {"sgd", "adam"}
            Adam uses beta1 0.9, beta2 0.999, eps 1e-8. Its moments and step count carry
            over to the next ``fit`` call with the same optimizer, and through
            ``save(path, optimizer_state=True)`` and ``load``; a change of optimizer
            starts them afresh.
        corruption : float in [0, 1)
            Masking noise on the input during training (0: none).
        shift : int >= 0
            Data augmentation: move every training image by a random whole number of
            pixels in ``-shift..shift`` along each axis (0 filled in), redrawn every epoch
            (before the masking noise). The rows of ``X`` are images of ``image_shape``
            (rows, columns), by default square.
        cosine_epochs : int or None
            Cosine learning-rate decay: epoch ``k`` (counted over the model's whole
            training, ``epochs_trained``) uses ``lr * (1 + cos(pi k / cosine_epochs)) / 2``.
            None keeps ``lr``.
        eval_sets : dict name -> (X, y), optional
            Data sets whose accuracy is measured after every epoch.
        callback : callable(epoch, record) or None
            Called after every epoch with that epoch's record.

        Returns
        -------
        dict of lists: ``loss`` and ``train_accuracy`` (measured during each epoch, before
        each batch's update), ``accuracy_NAME`` for each evaluation set, and ``seconds``
        (the training time of each epoch, evaluation excluded).

        Raises
        ------
        fastae.TrainingInterrupted
            On Ctrl-C, at the end of the batch in progress, with the history of the
            epochs this call finished; as for :meth:`Autoencoder.fit`, the next ``fit``
            finishes the interrupted epoch first.
        """
        import time

        X, y = self._inputs(X, y)
        epochs = _check_positive_int(epochs, "epochs")
        lr = _check_rate(lr, "lr")
        batch_size = _check_positive_int(batch_size, "batch_size")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        corruption = check_probability(corruption, "corruption")
        height = self._image_height(shift, image_shape)
        if cosine_epochs is not None:
            cosine_epochs = _check_positive_int(cosine_epochs, "cosine_epochs")
        evals = {name: self._inputs(*xy) for name, xy in (eval_sets or {}).items()}
        if self._opt_state is None or self._opt_state[0] != optimizer:
            self._opt_state = (optimizer, self.backend.optimizer_state(self.weights, self.biases))
        history = {"loss": [], "train_accuracy": [], "seconds": [], **{f"accuracy_{k}": [] for k in evals}}
        n = X.shape[0]
        at, partial = self._resume_point(n, batch_size, True)
        with stopping.ctrl_c_sets(stopping.new_stop()) as stop:
            for _ in range(epochs):
                start = time.perf_counter()
                order = epoch_order(self.seed, self.epochs_trained, n)[None, :]
                epoch_lr = lr if cosine_epochs is None else cosine_lr(lr, self.epochs_trained, cosine_epochs)
                opt = Optim(OPTIMIZERS[optimizer], epoch_lr, 0.9, 0.999, 1e-8)
                loss, hits = self.backend.train_classifier(
                    self.weights, self.biases, X, y, order, self.epochs_trained, batch_size, opt,
                    self._opt_state[1], corruption, shift, height, self.seed, at, partial, stop,
                )
                seconds = time.perf_counter() - start
                if at[0] == 0:  # stopped inside this epoch
                    self._stopped_at(at, partial, n, batch_size, True)
                    raise stopping.TrainingInterrupted(self, history)
                at[:] = 0
                self.epochs_trained += 1
                record = {"loss": float(loss[0]), "train_accuracy": float(hits[0] / n)}
                for name, (Xe, ye) in evals.items():
                    record[f"accuracy_{name}"] = self.accuracy(Xe, ye)
                record["seconds"] = seconds
                for k, v in record.items():
                    history[k].append(v)
                if callback is not None:
                    callback(self.epochs_trained, record)
        return history

    def _image_height(self, shift, image_shape):
        """Rows of the input images for ``shift`` > 0 (checked), else 1."""
        if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
            raise ValueError(f"shift: expected an integer >= 0, got {shift!r}")
        if shift == 0:
            return 1
        n = self.layer_sizes[0]
        if image_shape is None:
            side = math.isqrt(n)
            if side * side != n:
                raise ValueError(f"shift: the {n} inputs are not a square image; give image_shape=(rows, columns)")
            image_shape = (side, side)
        rows, cols = (int(v) for v in image_shape)
        if rows < 1 or cols < 1 or rows * cols != n:
            raise ValueError(f"image_shape: {image_shape!r} does not hold the {n} inputs")
        if shift >= min(rows, cols):
            raise ValueError(f"shift: {shift} pixels would move the {rows}x{cols} images out of sight")
        return rows

    def config(self):
        return {
            "kind": "StackedClassifier",
            "layer_sizes": self.layer_sizes,
            "n_classes": self.n_classes,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "init": self.init,
            "epochs_trained": self.epochs_trained,
            "partial_epoch": self.partial_epoch,
        }

    def save(self, path, *, optimizer_state=False, **extra):
        """Write ``PATH.npz`` (W1, b1, ..., V, d) and ``PATH.json`` (the config, plus ``extra``).

        ``optimizer_state=True`` adds the optimizer's state (Adam's moments as arrays
        ``mW1, vW1, ..., mb1, vb1, ...`` and the step count), so that a loaded model
        trains on exactly as this one would (a checkpoint).
        """
        arrays, config = self.params(), self.config()
        if optimizer_state and self._opt_state is not None:
            name, state = self._opt_state
            w_names, b_names = self.param_names
            for prefix, moments, names in (("m", state.mW, w_names), ("v", state.vW, w_names),
                                           ("m", state.mb, b_names), ("v", state.vb, b_names)):
                for n, a in zip(names, moments):
                    arrays[prefix + n] = np.array(self.backend.to_host(a))
            config["optimizer"] = {"name": name, "steps": int(state.t[0])}
        return io.save_model(path, arrays, {**config, **extra})

    @classmethod
    def load(cls, path, device="cpu"):
        """A classifier saved by :meth:`save`, with its optimizer state if that was saved."""
        keys = ("kind", "layer_sizes", "n_classes", "seed", "dtype", "init", "epochs_trained")
        arrays, cfg = io.load_model(path, (), keys)
        if cfg.get("kind") != "StackedClassifier":
            raise ValueError(f"path: {path} holds a {cfg.get('kind')!r}, not a StackedClassifier")
        model = cls(cfg["layer_sizes"], cfg["n_classes"], seed=cfg["seed"], dtype=np.dtype(cfg["dtype"]),
                    device=device, init=cfg["init"])
        w_names, b_names = model.param_names
        shapes = {n: a.shape for n, a in zip(w_names + b_names, list(model.weights) + list(model.biases))}
        opt = cfg.get("optimizer")
        if opt is not None:
            if not (isinstance(opt, dict) and opt.get("name") in OPTIMIZERS and isinstance(opt.get("steps"), int)):
                raise ValueError(f"path: {path} has a malformed optimizer record {opt!r}")
            shapes.update({p + n: shape for n, shape in shapes.items() for p in ("m", "v")})
        for n, shape in shapes.items():
            if n not in arrays:
                raise ValueError(f"path: {path} lacks the array {n} of a {cfg['layer_sizes']} network")
            if arrays[n].shape != shape:
                raise ValueError(f"path: {n} in {path} has shape {arrays[n].shape}, expected {shape}")
        model._set_params([arrays[n] for n in w_names], [arrays[n] for n in b_names])
        if opt is not None:
            state = model.backend.optimizer_state(model.weights, model.biases)
            for prefix, moments, names in (("m", state.mW, w_names), ("v", state.vW, w_names),
                                           ("m", state.mb, b_names), ("v", state.vb, b_names)):
                for i, n in enumerate(names):
                    moments[i] = model.backend.asarray(arrays[prefix + n], model.dtype)
            state.t[0] = opt["steps"]
            model._opt_state = (opt["name"], state)
        model.epochs_trained = int(cfg["epochs_trained"])
        model.partial_epoch = cls._checked_partial_epoch(cfg.get("partial_epoch"), path)
        return model

    def __repr__(self):
        n = self.epochs_trained
        trained = f"trained {n} epoch{'' if n == 1 else 's'}" if n else "untrained"
        if self.partial_epoch is not None:
            trained += f" and {self.partial_epoch['row']} patterns of the next"
        sizes = " -> ".join(str(size) for size in self.layer_sizes)
        return f"StackedClassifier({sizes} -> {self.n_classes} classes, device={self.device!r}, {trained})"
