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


def finetune_epoch(weights, biases, X, y, order, state, batch_size=128, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    """One epoch of fine-tuning the whole classifier (sigmoid layers, softmax on top) with
    Adam, in place; ``state`` holds Adam's moments (lists like the parameters) and its step
    count ``t``. Returns the mean batch loss."""
    params = weights + biases
    total = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        P = len(rows)
        acts = [X[rows]]
        for W, b in zip(weights[:-1], biases[:-1]):
            acts.append(sigmoid(acts[-1] @ W + b))
        z = acts[-1] @ weights[-1] + biases[-1]
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        total += -np.log(p[np.arange(P), y[rows]]).sum()
        p[np.arange(P), y[rows]] -= 1.0
        D = p / P
        grads_w, grads_b = [], []
        for l in range(len(weights) - 1, -1, -1):
            grads_w.insert(0, acts[l].T @ D)
            grads_b.insert(0, D.sum(axis=0))
            if l > 0:
                D = (D @ weights[l].T) * acts[l] * (1 - acts[l])
        state["t"] += 1
        t = state["t"]
        lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
        for i, (param, g) in enumerate(zip(params, grads_w + grads_b)):
            m, v = state["m"][i], state["v"][i]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            param -= lr_t * m / (np.sqrt(v) + eps)
    return total / len(order)
