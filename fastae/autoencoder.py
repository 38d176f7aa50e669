"""The tied-weight autoencoder with sigmoid units, on the models' shared base
(``model.py``).

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
import time

import numpy as np

from . import config as _config
from . import mapped, stopping
from .backends.base import sparsity_term
from .backends.records import CROSS_ENTROPY, MSE, AEHyper, Cursor, Schedule
from .checks import check_choice, check_data, check_positive_int, check_probability, check_rate, check_sizes
from .checks import check_sparsity
from .history import History
from .model import Model, TrainingDiverged, epoch_orders, initial_weights

LOSSES = {"cross_entropy": CROSS_ENTROPY, "mse": MSE}


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
        check_sizes({"n_visible x n_hidden": self.n_visible * self.n_hidden})
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

    @classmethod
    def _array_shapes(cls, cfg):
        nv, nh = check_positive_int(cfg["n_visible"], "n_visible"), check_positive_int(cfg["n_hidden"], "n_hidden")
        return {"W": (nv, nh), "b": (nh,), "c": (nv,)}

    def _param_arrays(self):
        return {"W": self.W, "b": self.b, "c": self.c}

    def _load_arrays(self, arrays, cfg, path):
        for k in ("W", "b", "c"):
            setattr(self, k, self.backend.asarray(arrays[k], self.dtype))

    def _hyper(self):
        return AEHyper(LOSSES[self.loss_name], self.corruption or None, self.rho, self.beta, self.seed)

    def _data(self, X, name="X"):
        """``X`` checked (host array: floats of the model's dtype, or bytes; a mapped
        file stays mapped) and on the device: ``(host, device)``."""
        X = check_data(X, self.n_visible, name=name, unit_interval=self.loss_name == "cross_entropy",
                       dtype=self.dtype, keep_bytes=True)
        return X, self.backend.asarray(X, X.dtype)

    def _next_stream(self):
        """A fresh noise stream for an explicit draw (they count down from the top, away
        from the epochs')."""
        self._noise_stream += 1
        return 2**62 - self._noise_stream

    def _corrupted(self, Xf, mask):
        """The encoder's input (on the device) for the float rows ``Xf``: ``Xf * mask``,
        or a fresh noise draw when ``mask`` is None."""
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != tuple(Xf.shape):
                raise ValueError(f"mask: expected the shape of X {tuple(Xf.shape)}, got {mask.shape}")
            if not np.isin(mask, (0, 1)).all():
                raise ValueError("mask: expected only 0 and 1")
            return self.backend.asarray(self.backend.to_host(Xf) * mask, self.dtype)
        if self.corruption == 0.0:
            return Xf
        return self.backend.corrupt(Xf, self.corruption, self.seed, self._next_stream())

    def _chunked_loss(self, X, Xd):
        """``loss`` over ``EVAL_CHUNK`` rows at a time from the host: the reconstruction
        term and the mean activations summed over the chunks, the KL term taken once on
        the mean over all rows (as the one-piece loss does)."""
        n, hp = X.shape[0], self._hyper()
        stream = self._next_stream() if self.corruption > 0.0 else 0
        recon, rho_hat = 0.0, np.zeros(self.n_hidden)
        with mapped.reading(X):
            tuning = self.backend.tuning(X, _config.EVAL_BLOCK)  # one split for all the chunks
            for start in range(0, n, _config.EVAL_CHUNK):
                stop = min(start + _config.EVAL_CHUNK, n)
                clean = self._as_float(Xd, start, stop)
                seen = clean
                if self.corruption > 0.0:
                    seen = self.backend.gather_rows(Xd, start, stop, self.dtype, self.corruption, self.seed, stream)
                _, part, part_rho = self.backend.ae_loss(self.W, self.b, self.c, seen, clean, hp._replace(beta=0.0),
                                                         tuning)
                recon += float(part) * (stop - start)
                rho_hat += self.backend.to_host(part_rho).astype(np.float64) * (stop - start)
        loss = recon / n
        if self.beta > 0.0:
            loss += sparsity_term(rho_hat / n, self.rho, self.beta)
        return loss

    # ----------------------------------------------------------------- public

    def loss(self, X, mask=None):
        """The training loss on all of ``X`` taken as one batch (see the module docstring).

        Bytes and memory-mapped files are read ``EVAL_CHUNK`` rows at a time (without a
        ``mask``; the KL term is then computed in float64 on the host)."""
        return self.loss_on(X, mask)()

    def loss_on(self, X, mask=None):
        """``loss(X, mask)`` as a function of no arguments, of the parameters at each
        call: ``X`` is checked, scaled and masked, and its split found, once (a validation
        set measured after every epoch; change neither ``X`` nor ``mask`` meanwhile).
        Without a ``mask`` the noise is drawn afresh at every call, and bytes and mapped
        files are read ``EVAL_CHUNK`` rows at a time at every call."""
        X, Xd = self._data(X)
        if mask is None and self._in_chunks(X):
            return lambda: self._chunked_loss(X, Xd)
        Xf = self._as_float(Xd)
        drawn = mask is None and self.corruption > 0.0
        seen = None if drawn else self._corrupted(Xf, mask)
        tuning = None if drawn else self.backend.tuning(seen, _config.EVAL_BLOCK)

        def loss():
            Xt = self._corrupted(Xf, None) if drawn else seen
            value, _, _ = self.backend.ae_loss(self.W, self.b, self.c, Xt, Xf, self._hyper(), tuning)
            return float(value)

        return loss

    def loss_and_grads(self, X, mask=None):
        """Loss and its gradients ``{"W", "b", "c"}`` on ``X`` taken as one batch.

        ``mask``, a 0/1 array of X's shape, replaces the drawn masking noise (the target
        is still the clean ``X``).
        """
        X, Xd = self._data(X)
        Xf = self._as_float(Xd)
        loss, grads = self.backend.ae_loss_and_grads(
            self.W, self.b, self.c, self._corrupted(Xf, mask), Xf, self._hyper()
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
            Epochs run per compiled call; by default a twentieth of ``epochs``, and no
            more than the orders of ``config.ORDER_CHUNK_BYTES`` (at least one epoch).

        Returns
        -------
        fastae.History
            The loss of each epoch (as an array: each epoch's mean over its patterns of
            the batch losses, taken before each batch's update), and ``history["seconds"]``,
            each chunk's training time shared among its epochs.

        Raises
        ------
        fastae.TrainingInterrupted
            On Ctrl-C (or SIGTERM), at the end of the batch in progress (also in the
            last one: the finished model is kept). The model keeps every update so far
            and the position in the interrupted epoch (``partial_epoch``, saved with the
            model); the next ``fit`` with the same data and batch size finishes that epoch
            first (it counts as one of its ``epochs``), so that the result is the one of an
            uninterrupted run.
        fastae.TrainingDiverged
            At the first epoch whose loss (or whose updated parameters) is not finite.
            The model keeps the parameters after the last epoch that stayed finite, and
            the error's ``history`` holds the epochs before.
        """
        host, X = self._data(X)
        epochs = check_positive_int(epochs, "epochs")
        lr = check_rate(lr, "lr", self.dtype)
        if chunk_epochs is not None:
            chunk_epochs = check_positive_int(chunk_epochs, "chunk_epochs")
        n = X.shape[0]
        batch_size = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
        shuffle = shuffle and batch_size < n  # a full batch's order changes nothing
        pending = self.partial_epoch  # where an interrupted epoch stopped, if one did
        at, partial = self._resume_point(n, batch_size, shuffle)
        chunk = chunk_epochs or max(1, min(epochs // 20, _config.ORDER_CHUNK_BYTES // (8 * n)))
        losses, seconds = np.empty(epochs), np.empty(epochs)
        done = 0

        def history():
            return History({"loss": losses[:done], "seconds": seconds[:done]})

        ahead = mapped.ReadAhead(host, batch_size)

        def run(orders, stop):
            """Train the epochs of ``orders``; returns how many finished and their losses."""
            ahead.follow(orders, at[1], stop)
            chunk_losses = self.backend.train_autoencoder(
                self.W, self.b, self.c, X, Schedule(orders, self.epochs_trained, batch_size), lr, self._hyper(),
                Cursor(at, partial, stop),
            )
            return int(at[0]), chunk_losses[: int(at[0])]

        with stopping.ctrl_c_sets(stopping.new_stop()) as stop, mapped.reading(host, random=True, ahead=ahead):
            while done < epochs:
                todo = min(chunk, epochs - done)
                first = self.epochs_trained
                if shuffle:
                    orders = epoch_orders(self.seed, first, todo, n)
                else:
                    orders = np.broadcast_to(np.arange(n), (todo, n)).copy()
                snap, cursor0 = self._snapshot(), (at.copy(), partial.copy())
                started = time.perf_counter()
                finished, chunk_losses = run(orders, stop)
                trained = time.perf_counter() - started - self.backend.compile_seconds
                self.compile_seconds += self.backend.compile_seconds if self.backend.compiled else 0.0
                if not (np.isfinite(chunk_losses).all() and self._finite()):
                    # Back to the chunk's start, then forward to the last epoch that left
                    # finite parameters (the same seed gives the same epochs).
                    bad = int(np.argmin(np.isfinite(chunk_losses))) if not np.isfinite(chunk_losses).all() \
                        else finished
                    for keep in range(bad, -1, -1):
                        self._restore(snap)
                        at[:], partial[:] = cursor0
                        if keep:
                            run(orders[:keep], stopping.new_stop())
                        if self._finite():
                            break
                    if done + keep == 0:
                        self.partial_epoch = pending  # back where this fit started
                    losses[done : done + keep] = chunk_losses[:keep]
                    seconds[done : done + keep] = trained / todo
                    done += keep
                    self.epochs_trained += keep
                    at[:] = 0
                    raise TrainingDiverged(self, history(), lr, X)
                losses[done : done + finished] = chunk_losses
                seconds[done : done + finished] = trained / todo
                self.epochs_trained += finished
                done += finished
                if finished < todo:
                    self._stopped_at(at, partial, n, batch_size, shuffle)
                    raise stopping.TrainingInterrupted(self, history(), stop[0])
                at[:] = 0
                if callback is not None:
                    callback(done, history())
            if stop[0]:  # in the last batch, or in the last callback: the work is done and kept
                raise stopping.TrainingInterrupted(self, history(), stop[0])
        return history()

    def encode(self, X, out=None):
        """Hidden activations ``sigmoid(X W + b)`` of clean inputs.

        ``out``: an array of shape ``(len(X), n_hidden)`` and the model's dtype to write
        them into (a ``np.lib.format.open_memmap`` file, for data bigger than memory),
        returned. Bytes, mapped files and ``out`` go ``EVAL_CHUNK`` rows at a time.
        """
        X, Xd = self._data(X)
        return self._map_rows(X, Xd, lambda rows: self.backend.encode(rows, self.W, self.b), self.n_hidden, out)

    def decode(self, H, out=None):
        """Outputs ``sigmoid(H W^T + c)`` of codes ``H`` (``out`` as for :meth:`encode`)."""
        H = check_data(H, self.n_hidden, name="H", dtype=self.dtype, keep_bytes=False)
        return self._map_rows(H, self.backend.asarray(H, self.dtype),
                              lambda rows: self.backend.decode(rows, self.W, self.c), self.n_visible, out)

    def reconstruct(self, X, out=None):
        """``decode(encode(X))`` (``out`` as for :meth:`encode`)."""
        X, Xd = self._data(X)

        def up_and_down(rows):
            return self.backend.decode(self.backend.encode(rows, self.W, self.b), self.W, self.c)

        return self._map_rows(X, Xd, up_and_down, self.n_visible, out)

    def corrupt(self, X, stream=0):
        """``X`` with the masking noise of ``stream`` (as training draws it for an epoch),
        in the model's dtype."""
        X, Xd = self._data(X)
        return self.backend.to_host(self.backend.corrupt(Xd, self.corruption, self.seed, stream, self.dtype))

    def __repr__(self):
        sparsity = "None" if self.sparsity is None else f"(rho={self.rho:g}, beta={self.beta:g})"
        return (
            f"Autoencoder({self.n_visible} -> {self.n_hidden}, loss={self.loss_name!r}, "
            f"corruption={self.corruption:g}, sparsity={sparsity}, device={self.device!r}, {self._trained()})"
        )
