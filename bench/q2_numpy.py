"""Plain NumPy reference of one Q2 training epoch, for benchmarks against ``Autoencoder.fit``.

The same math as fastae's compiled kernels (see ``fastae/model.py``):

* tied weights, ``W`` is ``n_visible x n_hidden``; ``H = sigmoid(X W + b)``,
  ``Y = sigmoid(H W^T + c)``;
* loss of a batch of ``P`` patterns: ``sum_i (y_i - x_i)^2`` summed over pixels and
  averaged over the batch, plus ``beta * sum_j KL(rho || rho_hat_j)`` with ``rho_hat_j``
  the batch mean of ``h_j``, clipped to ``[1e-6, 1 - 1e-6]``;
* ``dJ/dz_out = 2 (y - x) y (1 - y) / P``; ``dJ/dH = dY W + beta/P * dKL/drho_hat``;
  ``dJ/dz_hid = dJ/dH * H (1 - H)``; ``dW = X^T dH + dY^T H`` (both paths of the tied
  weight), ``db = sum dH``, ``dc = sum dY``;
* plain SGD after every batch; batches are consecutive slices of ``order``, the last one
  may be smaller.

Not a package module: load it from its file path (``importlib.util``). Run it as a
script for a rough timing of the default Q2 setting.
"""
import numpy as np

#: rho_hat is clipped to [KL_EPS, 1 - KL_EPS] inside the KL term (fastae.config.KL_EPS).
KL_EPS = 1e-6


def sigmoid(z):
    """Logistic function without overflow warnings for large ``|z|``."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def epoch_order(seed, epoch, n):
    """The order fastae's ``fit`` visits ``n`` patterns in epoch ``epoch`` (shuffle on)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def numpy_step(W, b, c, Xb, rho, beta):
    """Loss and gradients ``(loss, dW, db, dc)`` of the batch ``Xb`` (no update)."""
    P = Xb.shape[0]
    H = sigmoid(Xb @ W + b)
    Y = sigmoid(H @ W.T + c)
    diff = Y - Xb
    loss = float((diff * diff).sum()) / P
    dY = (2.0 / P) * diff * Y * (1.0 - Y)
    dH = dY @ W
    if beta > 0.0:
        q = np.clip(H.mean(axis=0), KL_EPS, 1.0 - KL_EPS)
        loss += beta * float((rho * np.log(rho / q) + (1.0 - rho) * np.log((1.0 - rho) / (1.0 - q))).sum())
        dH += (beta / P) * (-rho / q + (1.0 - rho) / (1.0 - q))
    dH *= H * (1.0 - H)
    dW = Xb.T @ dH + dY.T @ H
    return loss, dW, dH.sum(axis=0), dY.sum(axis=0)


def numpy_epoch(W, b, c, X, order, batch_size, lr, rho, beta):
    """One epoch of mini-batch SGD over ``X[order]``, updating ``W``, ``b``, ``c`` in place.

    Returns the epoch's loss as ``fit`` reports it: the mean over the patterns of the
    batch losses, each taken before its update. ``beta = 0`` turns the KL term off.
    """
    n = len(order)
    lr = W.dtype.type(lr)
    total = 0.0
    for start in range(0, n, batch_size):
        Xb = X[order[start : start + batch_size]]
        loss, dW, db, dc = numpy_step(W, b, c, Xb, rho, beta)
        total += Xb.shape[0] * loss
        W -= lr * dW.astype(W.dtype, copy=False)
        b -= lr * db.astype(b.dtype, copy=False)
        c -= lr * dc.astype(c.dtype, copy=False)
    return total / n


def numpy_fit(W, b, c, X, epochs, batch_size, lr, rho, beta, seed=0, first_epoch=0):
    """``epochs`` epochs in fastae's shuffled order; returns the per-epoch losses."""
    n = X.shape[0]
    return np.array(
        [
            numpy_epoch(W, b, c, X, epoch_order(seed, first_epoch + e, n), batch_size, lr, rho, beta)
            for e in range(epochs)
        ]
    )


def q2_init(n_visible=100, n_hidden=144, seed=0, dtype=np.float32):
    """``W, b, c`` as fastae's ``init="sigmoid_uniform"`` draws them for ``seed``."""
    rng = np.random.default_rng([seed, 0xAE])
    bound = 4.0 * np.sqrt(6.0 / (n_visible + n_hidden))
    W = np.ascontiguousarray(rng.uniform(-bound, bound, (n_visible, n_hidden)), dtype=dtype)
    return W, np.zeros(n_hidden, dtype), np.zeros(n_visible, dtype)


if __name__ == "__main__":
    import time

    X = np.random.default_rng(0).random((100, 100)).astype(np.float32)
    for name, k, rho, beta in (("undercomplete", 49, 0.05, 0.0), ("overcomplete", 144, 0.05, 0.0),
                               ("sparse", 144, 0.05, 0.5)):
        W, b, c = q2_init(100, k)
        t = time.perf_counter()
        losses = numpy_fit(W, b, c, X, 200, 32, 0.2, rho, beta)
        dt = time.perf_counter() - t
        print(f"{name:13s} {k:3d} hidden: {dt / 200 * 1e3:.3f} ms/epoch, "
              f"loss after 200 epochs {losses[-1]:.4f}")
