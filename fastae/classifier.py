"""The stacked softmax classifier: sigmoid layers (pretrained autoencoders' encoders, or
random) topped by a softmax layer, trained together."""
import time

import numpy as np

from . import config as _config
from . import io, mapped, stopping
from .autoencoder import Autoencoder
from .backends.records import ADAM, SGD, Augment, Cursor, Schedule, optim
from .checks import check_choice, check_data, check_not_masked, check_positive_int, check_probability, check_rate
from .checks import check_shift, check_sizes
from .history import History
from .model import Model, TrainingDiverged, cosine_lr, epoch_order, initial_weights, softmax

OPTIMIZERS = {"sgd": SGD, "adam": ADAM}


class StackedClassifier(Model):
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

    kind = "StackedClassifier"
    saved_keys = ("layer_sizes", "n_classes")

    def __init__(self, layer_sizes, n_classes=10, *, seed=0, dtype=np.float32, device="cpu",
                 init="sigmoid_uniform"):
        sizes, self.n_classes = self._checked_sizes(layer_sizes, n_classes)
        self.layer_sizes = sizes
        self._setup(seed, dtype, device, init)
        rng = np.random.default_rng([self.seed, 0xC1A55])
        weights, biases = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            weights.append(initial_weights(rng, n_in, n_out, init))
            biases.append(np.zeros(n_out))
        weights.append(np.zeros((sizes[-1], self.n_classes)))
        biases.append(np.zeros(self.n_classes))
        self._set_params(weights, biases)

    @staticmethod
    def _checked_sizes(layer_sizes, n_classes):
        """``(layer_sizes as a list, n_classes)``, checked, and small enough to allocate."""
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__iter__"):
            raise ValueError(f"layer_sizes: expected a sequence of layer sizes, got {layer_sizes!r}")
        sizes = [check_positive_int(n, "layer_sizes") for n in layer_sizes]
        if len(sizes) < 1:
            raise ValueError("layer_sizes: give at least the input size")
        n_classes = check_positive_int(n_classes, "n_classes")
        if n_classes < 2:
            raise ValueError("n_classes: a softmax needs at least 2 classes")
        check_sizes({"layer_sizes and n_classes": sum(a * b for a, b in zip(sizes, sizes[1:] + [n_classes]))})
        return sizes, n_classes

    @classmethod
    def _array_shapes(cls, cfg):
        sizes, n_classes = cls._checked_sizes(cfg["layer_sizes"], cfg["n_classes"])
        outs = sizes[1:] + [n_classes]
        L = len(sizes) - 1
        names = [f"W{l + 1}" for l in range(L)] + ["V"], [f"b{l + 1}" for l in range(L)] + ["d"]
        return {**{n: (a, b) for n, a, b in zip(names[0], sizes, outs)}, **{n: (b,) for n, b in zip(names[1], outs)}}

    def _set_params(self, weights, biases):
        as_dev = self.backend.asarray
        self.weights = self.backend.param_list([as_dev(W, self.dtype) for W in weights])
        self.biases = self.backend.param_list([as_dev(b, self.dtype) for b in biases])
        self._opt_state = None  # (optimizer name, its state), kept in memory between fit calls

    @classmethod
    def from_autoencoders(cls, autoencoders, n_classes=10, *, seed=0, device="cpu"):
        """A classifier whose hidden layers start as copies of the autoencoders' encoders."""
        if isinstance(autoencoders, Autoencoder) or not hasattr(autoencoders, "__iter__"):
            raise ValueError(f"autoencoders: expected a list of fastae.Autoencoder models, got {autoencoders!r}")
        aes = list(autoencoders)
        if not aes:
            raise ValueError("autoencoders: give at least one")
        if not all(isinstance(ae, Autoencoder) for ae in aes):
            raise ValueError("autoencoders: expected fastae.Autoencoder models")
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

    def _param_arrays(self):
        w_names, b_names = self.param_names
        return dict(zip(w_names + b_names, list(self.weights) + list(self.biases)))

    def _settings(self):
        return {"layer_sizes": self.layer_sizes, "n_classes": self.n_classes}

    def _inputs(self, X, y=None, host=False):
        """``X`` checked and on the device (bytes stay bytes, a mapped file stays mapped),
        with ``y`` checked when given; ``host=True`` puts the checked host array first."""
        X = check_data(X, self.layer_sizes[0], name="X", dtype=self.dtype, keep_bytes=True)
        X_host, X = X, self.backend.asarray(X, X.dtype)
        if y is None:
            return (X_host, X) if host else X
        check_not_masked(y, "y")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y: expected {X.shape[0]} labels (one per row of X), got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y: expected integer class labels, got dtype {y.dtype}")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"y: labels must lie in 0..{self.n_classes - 1}, found {y.min()}..{y.max()}")
        if host:
            return X_host, X, self.backend.asarray(y, np.int64)
        return X, self.backend.asarray(y, np.int64)

    def _logit_chunks(self, X_host, X):
        """``(start, stop, logits)`` of every row: all at once for floats in memory (the
        device's own chunked pass), else ``EVAL_CHUNK`` rows at a time from the host."""
        n = X.shape[0]
        if not self._in_chunks(X_host):
            yield 0, n, self.backend.to_host(self.backend.classifier_layers(self.weights, self.biases, X)[-1])
            return
        with mapped.reading(X_host):
            tuning = self.backend.tuning(X_host, _config.EVAL_BLOCK)  # one split for all the chunks
            for start in range(0, n, _config.EVAL_CHUNK):
                stop = min(start + _config.EVAL_CHUNK, n)
                rows = self._as_float(X, start, stop)
                out = self.backend.classifier_layers(self.weights, self.biases, rows, tuning)[-1]
                yield start, stop, self.backend.to_host(out)

    def loss_and_grads(self, X, y):
        """Mean softmax cross-entropy on ``(X, y)`` as one batch, and its gradients by name."""
        X, y = self._inputs(X, y)
        loss, dWs, dbs = self.backend.classifier_loss_and_grads(self.weights, self.biases, self._as_float(X), y)
        w_names, b_names = self.param_names
        grads = {n: self.backend.to_host(g).copy() for n, g in zip(w_names + b_names, dWs + dbs)}
        return float(loss), grads

    def loss(self, X, y):
        X_host, X, y = self._inputs(X, y, host=True)
        y, total = self.backend.to_host(y), 0.0
        for start, stop, logits in self._logit_chunks(X_host, X):
            p = softmax(logits.astype(np.float64))[np.arange(stop - start), y[start:stop]]
            total += float(-np.log(p).sum())
        return total / len(y)

    def layers(self, X):
        """Every layer's output for ``X``: the hidden activations, then the logits."""
        X_host, X = self._inputs(X, host=True)
        if not self._in_chunks(X_host):
            return [self.backend.to_host(a) for a in self.backend.classifier_layers(self.weights, self.biases, X)]
        outs = [np.empty((X.shape[0], W.shape[1]), self.dtype) for W in self.weights]
        with mapped.reading(X_host):
            tuning = self.backend.tuning(X_host, _config.EVAL_BLOCK)  # one split for all the chunks
            for start in range(0, X.shape[0], _config.EVAL_CHUNK):
                stop = min(start + _config.EVAL_CHUNK, X.shape[0])
                rows = self._as_float(X, start, stop)
                for out, a in zip(outs, self.backend.classifier_layers(self.weights, self.biases, rows, tuning)):
                    out[start:stop] = self.backend.to_host(a)
        return outs

    def _logits(self, X):
        X_host, X = self._inputs(X, host=True)
        return np.concatenate([logits for _, _, logits in self._logit_chunks(X_host, X)])

    def predict_proba(self, X):
        return softmax(self._logits(X))

    def predict(self, X):
        return self._logits(X).argmax(axis=1)

    def accuracy(self, X, y):
        return self._eval_accuracy(*self._inputs(X, y, host=True))

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
        callback : callable(epochs_done, history) or None
            Called after every epoch, as for :meth:`Autoencoder.fit`, with the number of
            epochs this call has finished and their history.

        Returns
        -------
        fastae.History
            The loss of each epoch (as an array, and ``history["loss"]``), with
            ``train_accuracy`` (measured during each epoch, before each batch's update),
            ``accuracy_NAME`` for each evaluation set, and ``seconds`` (the training time
            of each epoch, evaluation excluded).

        Raises
        ------
        fastae.TrainingInterrupted
            On Ctrl-C, at the end of the batch in progress, with the history of the
            epochs this call finished; as for :meth:`Autoencoder.fit`, the next ``fit``
            finishes the interrupted epoch first.
        """
        X_host, X, y = self._inputs(X, y, host=True)
        epochs = check_positive_int(epochs, "epochs")
        lr = check_rate(lr, "lr", self.dtype)
        batch_size = check_positive_int(batch_size, "batch_size")
        check_choice(optimizer, tuple(OPTIMIZERS), "optimizer")
        corruption = check_probability(corruption, "corruption")
        height = check_shift(shift, image_shape, self.layer_sizes[0])
        if cosine_epochs is not None:
            cosine_epochs = check_positive_int(cosine_epochs, "cosine_epochs")
        if eval_sets is not None and not isinstance(eval_sets, dict):
            raise ValueError("eval_sets: expected a dict of name -> (X, y)")
        evals = {name: self._accuracy_on(*xy) for name, xy in (eval_sets or {}).items()}
        if self._opt_state is None or self._opt_state[0] != optimizer:
            self._opt_state = (optimizer, self.backend.optimizer_state(self.weights, self.biases))
        history = {"loss": [], "train_accuracy": [], "seconds": [], **{f"accuracy_{k}": [] for k in evals}}
        n = X.shape[0]
        pending = self.partial_epoch  # where an interrupted epoch stopped, if one did
        at, partial = self._resume_point(n, batch_size, True)
        aug = Augment(corruption or None, shift or None, height, self.seed)  # None: the loop compiles neither
        ahead = mapped.ReadAhead(X_host, batch_size)
        with stopping.ctrl_c_sets(stopping.new_stop()) as stop, \
                mapped.reading(X_host, random=True, ahead=ahead):
            for _ in range(epochs):
                start = time.perf_counter()
                order = epoch_order(self.seed, self.epochs_trained, n)[None, :]
                epoch_lr = lr if cosine_epochs is None else cosine_lr(lr, self.epochs_trained, cosine_epochs)
                adam = (0.9, 0.999, 1e-8) if optimizer == "adam" else None  # None: no Adam compiled
                opt = optim(OPTIMIZERS[optimizer], epoch_lr, adam)
                snap = self._snapshot()
                ahead.follow(order, at[1], stop)
                loss, hits = self.backend.train_classifier(
                    self.weights, self.biases, X, y, Schedule(order, self.epochs_trained, batch_size), opt,
                    self._opt_state[1], aug, Cursor(at, partial, stop),
                )
                seconds = time.perf_counter() - start - self.backend.compile_seconds
                self.compile_seconds += self.backend.compile_seconds if self.backend.compiled else 0.0
                if at[0] != 0 and not (np.isfinite(loss[0]) and self._finite()):
                    self._restore(snap)  # the parameters (and the optimizer's state) before this epoch
                    if not history["loss"]:
                        self.partial_epoch = pending  # back where this fit started
                    at[:] = 0
                    raise TrainingDiverged(self, History(history), epoch_lr)
                if at[0] == 0:  # stopped inside this epoch
                    self._stopped_at(at, partial, n, batch_size, True)
                    raise stopping.TrainingInterrupted(self, History(history), stop[0])
                at[:] = 0
                self.epochs_trained += 1
                record = {"loss": float(loss[0]), "train_accuracy": float(hits[0] / n)}
                for name, accuracy in evals.items():
                    record[f"accuracy_{name}"] = accuracy()
                record["seconds"] = seconds
                for k, v in record.items():
                    history[k].append(v)
                if callback is not None:
                    callback(len(history["loss"]), History(history))
            if stop[0]:  # in the last batch, or in the last callback: the work is done and kept
                raise stopping.TrainingInterrupted(self, History(history), stop[0])
        return History(history)

    def _accuracy_on(self, X, y):
        """The accuracy on ``(X, y)`` as a function of no arguments, of the parameters at
        each call (``fit``'s evaluation sets, measured after every epoch): ``X`` is checked,
        scaled to the model's floats and split once. A mapped file, and bytes whose floats
        would take more than ``config.EVAL_FLOATS_MAX`` bytes, are read ``EVAL_CHUNK`` rows
        at a time at every call instead."""
        X_host, X, y = self._inputs(X, y, host=True)
        if self._in_chunks(X_host) and (mapped.is_mapped(X_host)
                                        or X_host.size * self.dtype.itemsize > _config.EVAL_FLOATS_MAX):
            return lambda: self._eval_accuracy(X_host, X, y)
        X = self._as_float(X)
        tuning = self.backend.tuning(X, _config.EVAL_BLOCK)
        return lambda: self.backend.classifier_accuracy(self.weights, self.biases, X, y, tuning)

    def _eval_accuracy(self, X_host, X, y):
        y, hits = self.backend.to_host(y), 0
        for start, stop, logits in self._logit_chunks(X_host, X):
            hits += int((logits.argmax(axis=1) == y[start:stop]).sum())
        return hits / len(y)

    def __repr__(self):
        sizes = " -> ".join(str(size) for size in self.layer_sizes)
        return f"StackedClassifier({sizes} -> {self.n_classes} classes, device={self.device!r}, {self._trained()})"

    # ------------------------------------------------------------------- files

    def _moments(self, state):
        """``(name, moment list)`` pairs of the optimizer's state, as saved: ``mW1``, ``vW1``, ..."""
        w_names, b_names = self.param_names
        for prefix, moments, names in (("m", state.mW, w_names), ("v", state.vW, w_names),
                                       ("m", state.mb, b_names), ("v", state.vb, b_names)):
            for i, n in enumerate(names):
                yield prefix + n, moments, i

    def save(self, path, *, optimizer_state=False, **extra):
        """Write ``PATH.npz`` (W1, b1, ..., V, d) and ``PATH.json`` (the config, plus ``extra``).

        ``optimizer_state=True`` adds the optimizer's state (Adam's moments as arrays
        ``mW1, vW1, ..., mb1, vb1, ...`` and the step count), so that a loaded model
        trains on exactly as this one would (a checkpoint).
        """
        arrays, config = self._saved(optimizer_state)
        return io.save_model(path, arrays, {**config, **extra})

    def _saved(self, optimizer_state=True):
        """``(arrays, config)`` as :meth:`save` writes them (a pickle keeps the optimizer's
        state too)."""
        arrays, config = self.params(), self.config()
        if optimizer_state and self._opt_state is not None:
            more, config["optimizer"] = self._optimizer_arrays()
            arrays.update(more)
        return arrays, config

    def _optimizer_arrays(self):
        """Host copies of the optimizer's moments by name, and its record ``{name, steps}``."""
        name, state = self._opt_state
        arrays = {key: np.array(self.backend.to_host(moments[i])) for key, moments, i in self._moments(state)}
        return arrays, {"name": name, "steps": int(state.t[0])}

    def _snapshot(self):
        snap = super()._snapshot()
        snap["optimizer"] = None
        if self._opt_state is not None:
            more, snap["optimizer"] = self._optimizer_arrays()
            snap["arrays"].update(more)
        return snap

    def _restore(self, snap):
        arrays = {k: a.copy() for k, a in snap["arrays"].items()}
        self._load_arrays(arrays, {"optimizer": snap["optimizer"]}, "a snapshot")
        self.epochs_trained, self.partial_epoch = snap["epochs_trained"], snap["partial_epoch"]

    @classmethod
    def _from_config(cls, cfg, device):
        return cls(cfg["layer_sizes"], cfg["n_classes"], seed=cfg["seed"], dtype=cfg["dtype"], device=device,
                   init=cfg["init"])

    def _load_arrays(self, arrays, cfg, path):
        w_names, b_names = self.param_names
        opt = cfg.get("optimizer")
        if opt is not None:
            ok = isinstance(opt, dict) and opt.get("name") in OPTIMIZERS and isinstance(opt.get("steps"), int)
            if not ok or not 0 <= opt["steps"] < 2**63:
                raise ValueError(f"path: {path} has a malformed optimizer record {opt!r}")
            shapes = {n: a.shape for n, a in self._param_arrays().items()}
            for key, shape in ((p + n, s) for n, s in shapes.items() for p in ("m", "v")):
                if key not in arrays or arrays[key].shape != shape:
                    raise ValueError(f"path: {path} lacks the optimizer array {key} of shape {shape}")
        self._set_params([arrays[n] for n in w_names], [arrays[n] for n in b_names])
        if opt is not None:
            state = self.backend.optimizer_state(self.weights, self.biases)
            for key, moments, i in self._moments(state):
                moments[i] = self.backend.asarray(arrays[key], self.dtype)
            state.t[0] = opt["steps"]
            self._opt_state = (opt["name"], state)
