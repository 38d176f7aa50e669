"""Slow, obviously correct NumPy twins of the compiled kernels, for the tests."""
import numpy as np

from fastae.backends.records import CROSS_ENTROPY

KL_EPS = 1e-6


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


M64 = (1 << 64) - 1
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(z):
    z = ((z ^ (z >> 30)) * MIX1) & M64
    z = ((z ^ (z >> 27)) * MIX2) & M64
    return z ^ (z >> 31)


def noise_key(seed, stream, row):
    """A pattern's hash key, in Python integers."""
    return _mix(_mix((seed + GOLDEN * (stream + 1)) & M64) ^ ((int(row) * MIX2) & M64))


def noise_bits(key, col):
    """24 random bits of column ``col`` of a pattern's hash."""
    return _mix((key + GOLDEN * (col + 1)) & M64) >> 40


def noise_mask(shape_rows, n_cols, p, seed, stream):
    """The counter-based masking noise, one pixel at a time in Python integers."""
    keep = np.empty((len(shape_rows), n_cols), dtype=bool)
    for i, r in enumerate(shape_rows):
        key = noise_key(seed, stream, r)
        for j in range(n_cols):
            keep[i, j] = noise_bits(key, j) / 2.0**24 >= p
    return keep


def gather_corrupt(X, rows, p, seed, stream):
    return X[rows] * noise_mask(rows, X.shape[1], p, seed, stream)


def image_shifts(rows, n_cols, shift, seed, stream):
    """Each pattern's (dy, dx), drawn from columns n_cols and n_cols + 1 of its hash."""
    out = []
    for r in rows:
        key = noise_key(seed, stream, r)
        out.append((noise_bits(key, n_cols) % (2 * shift + 1) - shift,
                    noise_bits(key, n_cols + 1) % (2 * shift + 1) - shift))
    return out


def gather_augment(X, rows, p, shift, height, seed, stream):
    """Each image moved by its (dy, dx) with zeros moved in, then masked."""
    n, V = len(rows), X.shape[1]
    width = V // height
    out = np.zeros((n, height, width), X.dtype)
    for i, (r, (dy, dx)) in enumerate(zip(rows, image_shifts(rows, V, shift, seed, stream), strict=True)):
        img = X[r].reshape(height, width)
        ys, xs = slice(max(dy, 0), height + min(dy, 0)), slice(max(dx, 0), width + min(dx, 0))
        yt, xt = slice(max(-dy, 0), height + min(-dy, 0)), slice(max(-dx, 0), width + min(-dx, 0))
        out[i][ys, xs] = img[yt, xt]
    return out.reshape(n, V) * noise_mask(rows, V, p, seed, stream)


def bias_sigmoid(Z, bias):
    return sigmoid(Z + bias)


def output_delta(Z, c, X_target, loss_kind, scale):
    """(delta, loss per row) for cross-entropy or squared error (``records.CROSS_ENTROPY``,
    ``records.MSE``)."""
    Y = sigmoid(Z + c)
    if loss_kind == CROSS_ENTROPY:
        loss = -(X_target * np.log(Y) + (1 - X_target) * np.log(1 - Y)).sum(axis=1)
        return (Y - X_target) * scale, loss
    loss = ((Y - X_target) ** 2).sum(axis=1)
    return 2 * (Y - X_target) * Y * (1 - Y) * scale, loss


def kl_penalty(rho_hat, rho, scale):
    q = np.clip(rho_hat, KL_EPS, 1 - KL_EPS)
    value = (rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))).sum()
    return value, scale * (-rho / q + (1 - rho) / (1 - q))


def hidden_delta(D, H, g):
    return (D + g) * H * (1 - H)


def softmax_xent(Z, d, labels, scale):
    """(delta, loss per row, hits) of softmax cross-entropy on logits ``Z + d``."""
    Z = Z + d
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    onehot = np.eye(Z.shape[1])[labels]
    loss = -np.log(P[np.arange(len(labels)), labels])
    return (P - onehot) * scale, loss, (P.argmax(axis=1) == labels).astype(float)


def adam(p, g, m, v, lr, beta1, beta2, eps, t):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return p - lr_t * m / (np.sqrt(v) + eps), m, v


def ae_loss_and_grads(W, b, c, Xt, X, loss_kind, rho, beta):
    """Loss and gradients of the tied autoencoder on one batch, written out plainly."""
    P = X.shape[0]
    H = sigmoid(Xt @ W + b)
    dY, loss_rows = output_delta(H @ W.T, c, X, loss_kind, 1.0 / P)
    loss = loss_rows.mean()
    g = np.zeros(W.shape[1])
    if beta > 0:
        kl, g = kl_penalty(H.mean(axis=0), rho, beta / P)
        loss += beta * kl
    dH = hidden_delta(dY @ W, H, g)
    return loss, {"W": Xt.T @ dH + dY.T @ H, "b": dH.sum(axis=0), "c": dY.sum(axis=0)}
