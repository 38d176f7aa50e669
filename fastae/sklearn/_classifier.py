"""``StackedAutoencoderClassifier``: greedy pretraining, a softmax head, fine-tuning."""
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..classifier import StackedClassifier
from ..model import TrainingDiverged
from . import _base

SOLVERS = ("adam", "sgd")


class StackedAutoencoderClassifier(ClassifierMixin, BaseEstimator):
    """A stack of denoising autoencoders pretrained greedily, topped by a softmax layer,
    then fine-tuned as one network.

    ``fit`` trains each layer as a :class:`fastae.Autoencoder` on the codes of the one
    below (``pretrain_iter`` epochs, plain SGD), puts a softmax layer on the stack
    (:meth:`fastae.StackedClassifier.from_autoencoders`) and fine-tunes every weight
    with softmax cross-entropy for up to ``max_iter`` epochs. As in MLPClassifier,
    training stops once the training loss (or, with ``early_stopping``, the validation
    accuracy) has not improved by ``tol`` for ``n_iter_no_change`` epochs in a row.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Units of each hidden layer, from the input up.
    loss : {"auto", "cross_entropy", "squared_error"}, default="auto"
        Reconstruction loss of the pretraining; ``"auto"`` takes cross-entropy when ``X``
        lies in [0, 1] and squared error otherwise.
    corruption : float in [0, 1), default=0.3
        Masking noise of the pretraining (the share of the inputs zeroed).
    sparsity_target, sparsity_weight : float, default=0.05, 0.0
        KL sparsity penalty of the pretraining (weight 0: none).
    pretrain_iter : int, default=50
        Epochs of pretraining of each layer.
    pretrain_learning_rate : float, default=0.3
        SGD step size of the pretraining.
    pretrain_batch_size : int or "auto", default=20
        Samples per step of the pretraining.
    solver : {"adam", "sgd"}, default="adam"
        Optimizer of the fine-tuning (Adam: beta1 0.9, beta2 0.999, eps 1e-8).
    learning_rate_init : float, default=0.001
        Step size of the fine-tuning.
    max_iter : int, default=200
        Most epochs of fine-tuning.
    batch_size : int or "auto", default="auto"
        Samples per step of the fine-tuning; ``"auto"`` is ``min(200, n_samples)``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), stop when its
        accuracy stops improving, and keep the weights of the best epoch.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the sample order, the masking noise and the validation split.
    verbose : bool or int, default=0
        Print the loss of every epoch.
    device : {"cpu", "cuda"}, default="cpu"

    Attributes
    ----------
    classes_ : ndarray
        The class labels (any values: ints, strings, ...).
    classifier_ : fastae.StackedClassifier
        The fine-tuned network.
    pretrain_loss_curve_ : list of list of float
        ``pretrain_loss_curve_[l][e]``: the reconstruction loss of layer ``l`` in epoch ``e``.
    loss_curve_ : list of float
        Mean softmax cross-entropy of each fine-tuning epoch.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch (``early_stopping`` only).
    best_validation_score_ : float or None
    best_loss_ : float or None
        The lowest training loss (without ``early_stopping``).
    n_iter_ : int
        Epochs of fine-tuning run.
    n_features_in_ : int
    """

    def __init__(self, hidden_layer_sizes=(100,), *, loss="auto", corruption=0.3, sparsity_target=0.05,
                 sparsity_weight=0.0, pretrain_iter=50, pretrain_learning_rate=0.3, pretrain_batch_size=20,
                 solver="adam", learning_rate_init=0.001, max_iter=200, batch_size="auto", early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, random_state=None, verbose=0,
                 device="cpu"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.loss = loss
        self.corruption = corruption
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.pretrain_iter = pretrain_iter
        self.pretrain_learning_rate = pretrain_learning_rate
        self.pretrain_batch_size = pretrain_batch_size
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def fit(self, X, y):
        """Pretrain the stack on ``X``, then fine-tune it with the labels ``y``."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        classes, y = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y: only one class ({np.asarray(classes[0]).tolist()!r}) in the training data; "
                "a classifier needs samples of at least 2 classes"
            )
        sizes = _base.layer_sizes(self.hidden_layer_sizes)
        loss = _base.choose_loss(self.loss, X)
        _base.check_range(X, loss, fitted=False)
        corruption = _base.fraction(self.corruption, "corruption", low_open=False, high_open=True)
        sparsity = _base.sparsity(self.sparsity_target, self.sparsity_weight)
        pretrain_iter = _base.positive_int(self.pretrain_iter, "pretrain_iter")
        pretrain_lr = _base.positive_float(self.pretrain_learning_rate, "pretrain_learning_rate")
        if not (isinstance(self.solver, str) and self.solver in SOLVERS):
            raise ValueError(f"solver: expected one of {', '.join(SOLVERS)}, got {self.solver!r}")
        lr = _base.positive_float(self.learning_rate_init, "learning_rate_init")
        max_iter = _base.positive_int(self.max_iter, "max_iter")
        patience = _base.positive_int(self.n_iter_no_change, "n_iter_no_change")
        tol = _base.nonnegative_float(self.tol, "tol")
        rng = check_random_state(self.random_state)

        X_val = y_val = None
        if self.early_stopping:
            X, X_val, y, y_val = self._validation_split(X, y, rng)
        batch_size = _base.batch_size(self.batch_size, X.shape[0])
        pretrain_batch = _base.batch_size(self.pretrain_batch_size, X.shape[0], "pretrain_batch_size")
        seeds = rng.randint(_base.MAX_SEED, size=len(sizes) + 1)

        layers = _base.new_layers(X.shape[1], sizes, loss=loss, corruption=corruption, sparsity=sparsity,
                                  seeds=seeds[:-1], device=self.device)
        self.pretrain_loss_curve_ = _base.pretrain(layers, X, epochs=pretrain_iter, lr=pretrain_lr,
                                                   batch_size=pretrain_batch, verbose=self.verbose,
                                                   lr_name="pretrain_learning_rate")
        model = StackedClassifier.from_autoencoders(layers, len(classes), seed=int(seeds[-1]), device=self.device)
        self.classes_ = classes
        self.classifier_ = model
        self._fine_tune(X, y, X_val, y_val, lr=lr, batch_size=batch_size, max_iter=max_iter, patience=patience,
                        tol=tol)
        return self

    def _validation_split(self, X, y, rng):
        fraction = _base.fraction(self.validation_fraction, "validation_fraction", low_open=True, high_open=True)
        n_val = int(np.ceil(fraction * X.shape[0]))
        if n_val < 1 or X.shape[0] - n_val < 1:
            raise ValueError(
                f"validation_fraction: {fraction:g} of {X.shape[0]} samples leaves no validation or no "
                "training samples; give more samples, change validation_fraction or set early_stopping=False"
            )
        counts = np.bincount(y)
        stratify = y if counts.min() >= 2 and n_val >= len(counts) else None
        return train_test_split(X, y, test_size=n_val, random_state=rng, stratify=stratify)

    def _fine_tune(self, X, y, X_val, y_val, *, lr, batch_size, max_iter, patience, tol):
        """Epochs of fine-tuning until ``max_iter``, or until ``patience`` epochs in a row
        fail to improve the training loss (or validation accuracy) by ``tol``."""
        model, early = self.classifier_, X_val is not None
        evals = {"validation": (X_val, y_val)} if early else None
        self.loss_curve_, self.validation_scores_ = [], [] if early else None
        self.best_loss_ = None if early else np.inf
        self.best_validation_score_ = -np.inf if early else None
        best_state, stale = None, 0
        self.n_iter_ = 0
        for epoch in range(max_iter):
            try:
                record = model.fit(X, y, 1, lr, batch_size, optimizer=self.solver, eval_sets=evals)
            except TrainingDiverged:  # the engine stopped at the first non-finite epoch
                _base.check_finite(np.nan, "fine-tuning", "learning_rate_init")
            self.n_iter_ += 1
            loss = record["loss"][0]
            _base.check_finite(loss, "fine-tuning", "learning_rate_init")
            self.loss_curve_.append(loss)
            if early:
                score = record["accuracy_validation"][0]
                self.validation_scores_.append(score)
                stale = stale + 1 if score < self.best_validation_score_ + tol else 0
                if score > self.best_validation_score_:
                    self.best_validation_score_, best_state = score, _base.engine_state(model)
            else:
                stale = stale + 1 if loss > self.best_loss_ - tol else 0
                self.best_loss_ = min(self.best_loss_, loss)
            if self.verbose:
                extra = f", validation accuracy = {score:.6f}" if early else ""
                print(f"Iteration {epoch + 1}, loss = {loss:.8f}{extra}")
            if stale > patience:
                break
        else:
            warnings.warn(
                f"fine-tuning ran max_iter={max_iter} epochs and has not converged yet; "
                "raise max_iter or tol for it to converge", ConvergenceWarning, stacklevel=3,
            )
        if best_state is not None:
            self.classifier_ = _base.engine_model(best_state, self.device)

    def predict_proba(self, X):
        """Class probabilities, ndarray (n_samples, n_classes) in the order of ``classes_``."""
        check_is_fitted(self)
        return self.classifier_.predict_proba(validate_data(self, X, dtype=np.float32, reset=False))

    def predict(self, X):
        """The most probable class of each sample (values of ``classes_``)."""
        check_is_fitted(self)
        return self.classes_[self.classifier_.predict(validate_data(self, X, dtype=np.float32, reset=False))]

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: it may be the live __dict__
        if "classifier_" in state:
            state["classifier_"] = _base.engine_state(state["classifier_"])
        return state

    def __setstate__(self, state):
        if "classifier_" in state:
            state = {**state, "classifier_": _base.engine_model(state["classifier_"], state["device"])}
        super().__setstate__(state)
