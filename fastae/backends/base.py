"""The backend interface: what a device supplies, and the host-side methods every device
shares.

A backend is three things:

* a **kernel namespace** (a module: ``cpu_kernels`` or ``cuda_kernels``) with the same
  names and arguments on every device. Buffers and copies: ``empty``, ``zeros``,
  ``arange``, ``copy``, ``sums``, ``set_sums``, ``get_sums``; ``ae_work`` and
  ``classifier_work``, called on the host before a loop, which takes the step's work
  buffers from them (and makes none). Batches: ``draw``, ``draw_augmented``, ``gather_corrupt``,
  ``gather_augment``, ``input_split`` (called before a loop, on the host),
  ``to_split_order``, ``from_split_order`` (they reorder only for a split input, which
  only the CPU makes). Products: ``gemm``, ``encode``, ``decode``, ``encode_input``,
  ``input_product``, ``input_gradient``, ``tied_weight_step``. Elementwise:
  ``bias_sigmoid``, ``add_bias``, ``output_delta``, ``col_sum``, ``kl_penalty``,
  ``hidden_delta``, ``softmax_xent``, ``sgd``, ``adam``, ``optimize``. Their docstrings are in
  ``cpu_elementwise.py``, ``cpu_gathers.py``, ``cpu_updates.py`` and ``cpu_sparse.py``.
  It may also define any of ``steps.COMPOSITES`` (fused versions of the step's
  compositions of these). The CPU's also has ``parts_step`` and ``classifier_parts_step``,
  which the autoencoder's and the classifier's loops call only with ``parts`` (which only
  ``CPUBackend.step_parts`` and ``CPUBackend.classifier_parts`` give);
* the **steps** (``steps.build(kernels)``): the training step, the epoch loops, the
  chunked loss and forward pass, written once;
* the few methods below marked abstract: how arrays reach the device and come back,
  how parameter lists are held, and how a loop runs.

Models hold a backend and call only the public methods of :class:`Backend`; they never
test which device they run on. Records (``Schedule``, ``Cursor``, ``Augment``, ...) are
in ``records.py``.
"""
import abc
import contextlib

import numpy as np

from .. import config
from .records import OptState, Tuning


def sparsity_term(rho_hat, rho, beta):
    """``beta * sum_j KL(rho || rho_hat_j)`` on the host, in float64, with ``rho_hat``
    clipped as the kernels clip it: the KL term of a loss taken in pieces (chunks of
    rows, or parts on threads), once on the mean activations over all of them."""
    q = np.clip(np.asarray(rho_hat, np.float64), config.KL_EPS, 1.0 - config.KL_EPS)
    return beta * float(np.sum(rho * np.log(rho / q) + (1.0 - rho) * np.log((1.0 - rho) / (1.0 - q))))


class Backend(abc.ABC):
    """Host-side launchers of one device's steps: allocate, then call the steps."""

    #: "cpu" or "cuda".
    name = None
    #: The device's kernel namespace.
    kernels = None
    #: ``steps.build(kernels)``, compiled where the device compiles.
    steps = None

    # ------------------------------------------------------ what a device supplies

    @abc.abstractmethod
    def asarray(self, x, dtype):
        """``x`` as a C-contiguous array of ``dtype`` on the device."""

    @abc.abstractmethod
    def to_host(self, x):
        """A device array as a NumPy array (NumPy arrays pass through)."""

    def empty(self, shape, dtype):
        """A new array on the device, for the caller to fill."""
        return self.kernels.empty(shape, dtype)

    def zeros(self, shape, dtype):
        """A new array of zeros on the device."""
        return self.kernels.zeros(shape, dtype)

    def param_list(self, arrays):
        """A list of parameter arrays that the steps update in place (a Python list: the
        model reads it from Python; ``step_list`` makes what the steps take of it)."""
        return list(arrays)

    def step_list(self, arrays):
        """The list of arrays ``arrays`` as the steps take it (the same arrays)."""
        return arrays

    def ae_work(self, X, W, batch_size, with_dW, with_clean, split):
        """An autoencoder step's work buffers (``k.ae_work``) for ``X`` and ``W``, made
        before a loop runs: the steps take them, and make none."""
        return self.kernels.ae_work(X.shape[1], W.shape[1], min(batch_size, X.shape[0]), W.dtype, with_dW, with_clean,
                                    split)

    def classifier_work(self, X, weights, batch_size, split):
        """A classifier step's work buffers (``k.classifier_work``) for ``X``, as
        ``ae_work``; its lists are Python lists, as the model's parameters are."""
        return self.kernels.classifier_work(weights, min(batch_size, X.shape[0]), split)

    def step_work(self, ws):
        """A classifier's work buffers as the steps take them: each list a ``step_list``."""
        L = self.step_list
        return ws._replace(acts=L(ws.acts), deltas=L(ws.deltas), zeros=L(ws.zeros), dWs=L(ws.dWs), dbs=L(ws.dbs))

    @abc.abstractmethod
    def run(self, loop, *args, work=None):
        """Call an epoch loop of ``steps`` (the CPU: on a worker thread, so that Ctrl-C
        is heard meanwhile). ``work``: about how many multiply-adds a pattern's weights
        cost, summed over the call's patterns (None: unknown)."""

    #: Seconds the last ``run`` spent getting its loop ready before training: compiling it,
    #: or loading it from numba's cache (0 when it was ready); ``compiled``: whether it
    #: compiled.
    compile_seconds = 0.0
    compiled = False

    def schedule(self, sched):
        """``sched`` with its orders where the loops read them."""
        return sched

    def n_blocks(self, n_elements):
        """How many row blocks (threads) an elementwise kernel on ``n_elements`` uses."""
        return 1

    def tuning(self, X, batch_size):
        """The ``Tuning`` of a training loop over ``X`` in batches of ``batch_size``: its
        threads, and ``X``'s split (None when ``input_split`` finds none)."""
        cols, n_dense = self.kernels.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)
        split = (cols, n_dense) if n_dense < X.shape[1] else None
        return Tuning(self.n_blocks(min(batch_size, X.shape[0]) * X.shape[1]), split)

    def _chunk_blocks(self, X):
        """``n_blocks`` for work on ``config.EVAL_CHUNK`` rows of ``X`` at a time."""
        return self.n_blocks(min(config.EVAL_CHUNK, X.shape[0]) * X.shape[1])

    # --------------------------------------------------------- tied autoencoder

    def corrupt(self, X, p, seed, stream, dtype=None):
        """``X`` with masking noise, in ``dtype`` (default: ``X``'s; bytes scaled by 1/255)."""
        return self.gather_rows(X, 0, X.shape[0], X.dtype if dtype is None else dtype, p, seed, stream)

    def gather_rows(self, X, start, stop, dtype, p=0.0, seed=0, stream=0):
        """Rows ``start:stop`` of ``X`` as a new ``dtype`` array on the device, bytes scaled
        by 1/255, with the masking noise of ``stream`` (drawn for the rows' indices in
        ``X``, as training and ``corrupt`` draw it)."""
        k = self.kernels
        out = self.empty((stop - start, X.shape[1]), dtype)
        rows = self.asarray(np.arange(start, stop), np.int64)
        k.gather_corrupt(out, X, rows, p or None, seed, stream, self.n_blocks(out.size))  # None: no noise compiled
        return out

    @contextlib.contextmanager
    def step_parts(self, X, W, batch_size, tuning, work):
        """How many row parts the steps of a tied autoencoder's training loop (``W``'s
        shape, over ``X`` with ``tuning``; ``work``: the call's patterns times ``W.size``)
        run in, for the duration of the block; None: they run whole (every device but the
        CPU)."""
        yield None

    @contextlib.contextmanager
    def classifier_parts(self, X, weights, batch_size, tuning, work):
        """As ``step_parts``, for a stacked classifier's training loop (``work``: the
        call's patterns times the size of every weight)."""
        yield None

    def train_autoencoder(self, W, b, c, X, sched, lr, hp, cursor):
        """Epochs of ``steps.ae_epochs``; returns each finished epoch's mean loss."""
        history = np.zeros((sched.orders.shape[0], 2))
        tuning = self.tuning(X, sched.batch_size)
        work = sched.orders.size * W.size
        direct = tuning.split is None and X.dtype != np.uint8  # the targets read from X itself (k.step_targets)
        ws = self.ae_work(X, W, sched.batch_size, False, not direct, tuning.split)
        with self.step_parts(X, W, sched.batch_size, tuning, work) as parts:
            self.run(self.steps.ae_epochs, W, b, c, X, self.schedule(sched), lr, hp, cursor, history, tuning,
                     parts, None if parts else True, ws, work=work)
        return history[:, 0]

    def ae_loss_and_grads(self, W, b, c, Xt, X, hp):
        ws = self.ae_work(X, W, X.shape[0], True, False, None)
        loss, dW, db, dc = self.steps.ae_grads(W, b, c, Xt, X, hp, self.n_blocks(X.size), ws)
        return loss, {"W": dW, "b": db, "c": dc}

    def ae_loss(self, W, b, c, Xt, X, hp, tuning=None):
        """``(loss, reconstruction term, rho_hat)`` over all of ``X``, a sparse input ``Xt``
        split as in training (``tuning`` as in ``classifier_layers``)."""
        tuning = self.tuning(Xt, config.EVAL_BLOCK) if tuning is None else tuning
        return self._ae_loss(W, b, c, Xt, X, hp, tuning)

    def _ae_loss(self, W, b, c, Xt, X, hp, tuning):
        """``ae_loss`` for a given ``tuning``, in one piece (``W`` and ``c`` reordered while
        it runs, for a split); the CPU's cuts it into parts on threads where that pays."""
        ws = self.ae_work(X, W, config.EVAL_BLOCK, False, tuning.split is not None, tuning.split)
        return self.steps.ae_loss(W, b, c, Xt, X, hp, tuning.n_blocks, tuning.split, ws)

    def encode(self, X, W, b):
        out = self.empty((X.shape[0], W.shape[1]), W.dtype)
        self.kernels.encode(out, X, W, b, self.n_blocks(out.size))
        return out

    def decode(self, H, W, c):
        out = self.empty((H.shape[0], W.shape[0]), W.dtype)
        self.kernels.decode(out, H, W, c, self.n_blocks(out.size))
        return out

    # ------------------------------------------------------- stacked classifier

    def optimizer_state(self, weights, biases):
        def zeros(arrays):
            return self.param_list([self.zeros(a.shape, a.dtype) for a in arrays])

        return OptState(zeros(weights), zeros(weights), zeros(biases), zeros(biases), np.zeros(1, np.int64))

    def train_classifier(self, weights, biases, X, labels, sched, opt, state, aug, cursor):
        """Epochs of ``steps.classifier_epochs``; returns ``(losses, hits)`` per epoch."""
        history = np.zeros((sched.orders.shape[0], 2))
        tuning = self.tuning(X, sched.batch_size)
        L = self.step_list
        state = state._replace(mW=L(state.mW), vW=L(state.vW), mb=L(state.mb), vb=L(state.vb))
        work = sched.orders.size * sum(W.size for W in weights)
        ws = self.classifier_work(X, weights, sched.batch_size, tuning.split)
        with self.classifier_parts(X, weights, sched.batch_size, tuning, work) as parts:
            self.run(self.steps.classifier_epochs, L(weights), L(biases), X, labels, self.schedule(sched), opt,
                     state, aug, cursor, history, tuning, parts, None if parts else True, self.step_work(ws))
        return history[:, 0], history[:, 1]

    def classifier_loss_and_grads(self, weights, biases, X, labels):
        ws = self.classifier_work(X, weights, X.shape[0], None)
        loss = self.steps.classifier_grads(self.step_list(weights), self.step_list(biases), X, labels,
                                           self.n_blocks(X.size), self.step_work(ws))
        return loss, ws.dWs, ws.dbs

    def classifier_layers(self, weights, biases, X, tuning=None):
        """Every layer's output for ``X``, a sparse input split as in training (``tuning``:
        that of ``self.tuning(X, config.EVAL_BLOCK)``, or of the data set ``X`` is a part of)."""
        tuning = self.tuning(X, config.EVAL_BLOCK) if tuning is None else tuning
        outs = [self.empty((X.shape[0], W.shape[1]), W.dtype) for W in weights]
        self._layers(weights, biases, X, tuning, outs)
        return outs

    def _layers(self, weights, biases, X, tuning, outs):
        """``classifier_layers`` into ``outs``, in one piece (the first weight reordered
        while it runs, for a split); the CPU's cuts it into parts as ``_ae_loss``."""
        ws = self.classifier_work(X, weights, config.EVAL_BLOCK, tuning.split)
        self.steps.layers(self.step_list(weights), self.step_list(biases), X, tuning.n_blocks, tuning.split,
                          self.step_work(ws), self.step_list(outs))

    def classifier_accuracy(self, weights, biases, X, y, tuning=None):
        """The share of the rows of ``X`` (on the device) whose largest logit is at their
        label ``y`` (``tuning`` as in ``classifier_layers``)."""
        logits = self.to_host(self.classifier_layers(weights, biases, X, tuning)[-1])
        return float((logits.argmax(axis=1) == self.to_host(y)).mean())
