"""One epoch of Q3's layer-1 denoising autoencoder in plain NumPy, with hand-written gradients.

The reference that ``bench/compare_q3.py`` times fastae against: the same model (tied
W, sigmoid units, masking noise, cross-entropy + beta KL) and the same SGD, one NumPy
call per operation. Its masks come from NumPy's generator, so its losses match fastae's
only statistically.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def epoch(W, b, c, X, order, batch_size=128, lr=0.1, corruption=0.1, rho=0.02, beta=0.4, rng=None):
    """Train one epoch in place; returns the mean batch loss."""
    rng = rng or np.random.default_rng(0)
    total = 0.0
    for start in range(0, len(order), batch_size):
        x = X[order[start : start + batch_size]]
        P = x.shape[0]
        xt = x * (rng.random(x.shape, dtype=np.float32) >= corruption)
        H = sigmoid(xt @ W + b)
        Z = H @ W.T + c
        Y = sigmoid(Z)
        q = np.clip(H.mean(axis=0), 1e-6, 1 - 1e-6)
        loss = (np.maximum(Z, 0) - x * Z + np.log1p(np.exp(-np.abs(Z)))).sum() / P
        loss += beta * (rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))).sum()
        dY = (Y - x) / P
        dH = (dY @ W + beta / P * (-rho / q + (1 - rho) / (1 - q))) * H * (1 - H)
        W -= lr * (xt.T @ dH + dY.T @ H)
        b -= lr * dH.sum(axis=0)
        c -= lr * dY.sum(axis=0)
        total += P * loss
    return total / len(order)
