"""``DenoisingAutoencoder``: a scikit-learn transformer over fastae's autoencoders."""
import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _base


class DenoisingAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A denoising autoencoder, or a greedily trained stack of them, as a transformer.

    Each layer is a :class:`fastae.Autoencoder` (sigmoid units, tied weights) trained with
    mini-batch gradient descent to rebuild its clean input from a copy with masking
    noise; a stack trains its layers one after the other, each on the codes of the one
    below. ``transform`` gives the codes of the top layer, ``inverse_transform`` decodes
    codes back down to the input space.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Units of each layer, from the input up.
    loss : {"auto", "cross_entropy", "squared_error"}, default="auto"
        Reconstruction loss of every layer, summed over the features of a sample.
        Cross-entropy needs data in [0, 1]; ``"auto"`` takes cross-entropy when the data
        given to ``fit`` lie in [0, 1] and squared error otherwise (see ``loss_function_``).
    corruption : float in [0, 1), default=0.3
        Masking noise: the share of the inputs zeroed, redrawn for every batch. 0 trains
        plain autoencoders.
    sparsity_target : float in (0, 1), default=0.05
        Target mean activation of each hidden unit for the KL sparsity penalty.
    sparsity_weight : float >= 0, default=0.0
        Weight of the KL sparsity penalty; 0 turns it off.
    batch_size : int or "auto", default=20
        Samples per gradient step; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=0.3
        Step size of plain stochastic gradient descent.
    max_iter : int, default=50
        Epochs of training of each layer in ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the order of the samples and the masking noise.
    verbose : bool or int, default=0
        Print the loss of every epoch.
    device : {"cpu", "cuda"}, default="cpu"
        Where the engine computes.

    Attributes
    ----------
    autoencoders_ : list of fastae.Autoencoder
        The fitted layers, from the input up.
    loss_function_ : str
        The loss used: ``"cross_entropy"`` or ``"squared_error"``.
    loss_curve_ : list of list of float
        ``loss_curve_[l][e]``: the mean training loss of layer ``l`` in its epoch ``e``.
    n_iter_ : int
        Epochs each layer has trained (``partial_fit`` adds one).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Notes
    -----
    The engine computes in float32: ``transform`` and ``inverse_transform`` return
    float32 whatever the input's dtype.
    """

    def __init__(self, hidden_layer_sizes=(100,), *, loss="auto", corruption=0.3, sparsity_target=0.05,
                 sparsity_weight=0.0, batch_size=20, learning_rate_init=0.3, max_iter=50, random_state=None,
                 verbose=0, device="cpu"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.loss = loss
        self.corruption = corruption
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ training

    def fit(self, X, y=None):
        """Train every layer for ``max_iter`` epochs, greedily from the input up.

        ``y`` is ignored.
        """
        X = validate_data(self, X, dtype=np.float32)
        epochs = _base.positive_int(self.max_iter, "max_iter")
        self._train(X, epochs, start=True)
        return self

    def partial_fit(self, X, y=None):
        """One more epoch of each layer on ``X`` (the first call starts the model)."""
        start = not hasattr(self, "autoencoders_")
        X = validate_data(self, X, dtype=np.float32, reset=start)
        self._train(X, 1, start=start)
        return self

    def _train(self, X, epochs, *, start):
        """``epochs`` epochs of every layer; ``start``: first make untrained layers for ``X``."""
        lr = _base.positive_float(self.learning_rate_init, "learning_rate_init")
        batch_size = _base.batch_size(self.batch_size, X.shape[0])
        if start:
            sizes = _base.layer_sizes(self.hidden_layer_sizes)
            loss = _base.choose_loss(self.loss, X)
            corruption = _base.fraction(self.corruption, "corruption", low_open=False, high_open=True)
            sparsity = _base.sparsity(self.sparsity_target, self.sparsity_weight)
            _base.check_range(X, loss, fitted=False)
            seeds = check_random_state(self.random_state).randint(_base.MAX_SEED, size=len(sizes))
            self.autoencoders_ = _base.new_layers(X.shape[1], sizes, loss=loss, corruption=corruption,
                                                  sparsity=sparsity, seeds=seeds, device=self.device)
            self.loss_function_ = loss
            self.loss_curve_ = [[] for _ in sizes]
            self.n_iter_ = 0
            self._n_features_out = sizes[-1]
        else:
            _base.check_range(X, self.loss_function_, fitted=True)
        curves = _base.pretrain(self.autoencoders_, X, epochs=epochs, lr=lr, batch_size=batch_size,
                                verbose=self.verbose, lr_name="learning_rate_init")
        for curve, more in zip(self.loss_curve_, curves):
            curve.extend(more)
        self.n_iter_ += epochs

    # ----------------------------------------------------------------- inference

    def _checked(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        _base.check_range(X, self.loss_function_, fitted=True)
        return X

    def transform(self, X):
        """The codes of the top layer: ndarray (n_samples, hidden_layer_sizes[-1]), float32."""
        codes = self._checked(X)
        for ae in self.autoencoders_:
            codes = ae.encode(codes)
        return codes

    def inverse_transform(self, X):
        """Codes of the top layer decoded back down to the input space, float32."""
        check_is_fitted(self)
        H = check_array(X, dtype=np.float32)
        if H.shape[1] != self._n_features_out:
            raise ValueError(
                f"X: expected codes of {self._n_features_out} features (the top layer's units), "
                f"got {H.shape[1]}"
            )
        for ae in reversed(self.autoencoders_):
            H = ae.decode(H)
        return H

    def score(self, X, y=None):
        """Negative mean reconstruction loss of ``X`` through the whole stack and back.

        The loss is ``loss_function_`` in the input space, summed over the features of a
        sample and averaged over the samples, on clean inputs (no noise, no sparsity
        term): higher is better, as scikit-learn's model selection expects.
        """
        X = self._checked(X).astype(np.float64)
        Y = self.inverse_transform(self.transform(X)).astype(np.float64)
        if self.loss_function_ == "squared_error":
            per_sample = ((Y - X) ** 2).sum(axis=1)
        else:
            Y = np.clip(Y, 1e-7, 1 - 1e-7)
            per_sample = -(X * np.log(Y) + (1 - X) * np.log1p(-Y)).sum(axis=1)
        return -float(per_sample.mean())

    # ---------------------------------------------------------------- scikit-learn

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: it may be the live __dict__
        if "autoencoders_" in state:
            state["autoencoders_"] = [_base.engine_state(ae) for ae in state["autoencoders_"]]
        return state

    def __setstate__(self, state):
        if "autoencoders_" in state:
            state = {**state, "autoencoders_": [_base.engine_model(s, state["device"])
                                                for s in state["autoencoders_"]]}
        super().__setstate__(state)
