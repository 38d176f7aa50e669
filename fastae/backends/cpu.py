"""CPU kernels, compiled with numba.

Layout of this module, from the bottom up:

* Row kernels ``_name_rows(lo, hi, out, ...)``: serial, no checks, outputs first, no
  allocation beyond a row of scratch; they work on rows ``lo:hi`` (or columns, where said).
* Block wrappers ``name(out, ..., n_blocks)``: split the rows into ``n_blocks`` spans
  and run them in a ``prange`` (``n_blocks == 1`` stays on the calling thread: the
  small exercises pay no thread wake-ups).
* Steps and loops (``ae_step``, ``train_autoencoder``, ``classifier_step``, ...):
  one training step written as a sequence of named kernel calls and BLAS products
  (``np.dot`` inside numba calls scipy's BLAS), and whole epochs compiled around it
  so that a run pays no Python overhead per batch.

Matrices are row-major, one pattern per row. The tied autoencoder's ``W`` is
``n_visible x n_hidden``; the decoder uses ``W.T``, never a copy.

Kernels compile with numba's ``error_model="numpy"``: a float division by zero gives
inf (as in NumPy) instead of raising, which lets the compiler vectorise the loops.

Parallel results are bitwise reproducible for a fixed ``n_blocks``: every row
and every column sum is computed by one thread, in order. BLAS products may round
differently with a different BLAS thread count.
"""
from collections import namedtuple

import numpy as np
from numba import njit, prange
from numba.typed import List

from .. import config
from ..config import FASTMATH
from ..stopping import run_in_worker
from .blas import gemm
from .mathfn import (
    keep_threshold,
    kl_divergence,
    kl_divergence_grad,
    noise_bits,
    noise_row_key,
    sigmoid,
    sigmoid_ce,
)

#: Reconstruction losses, as the integers the compiled code switches on.
CROSS_ENTROPY = 0
MSE = 1

#: Optimisers, as the integers the compiled code switches on.
SGD = 0
ADAM = 1

#: An optimiser: ``kind`` (SGD or ADAM), learning rate, and Adam's constants.
Optim = namedtuple("Optim", "kind lr beta1 beta2 eps")

#: Optimiser state of a classifier: Adam's moments per parameter (typed lists shaped like
#: the weights and the biases) and the step count ``t`` (1-element int64 array).
OptState = namedtuple("OptState", "mW vW mb vb t")

#: Hyper-parameters of one autoencoder training step.
AEHyper = namedtuple("AEHyper", "loss_kind corruption rho beta seed")

#: Buffers of one autoencoder step, for batches of up to ``B`` patterns.
#: ``xd`` stacks [X~ ; dY] (2B x n_visible) and ``hg`` stacks [dH ; H]
#: (2B x n_hidden), so that both paths of the tied weight gradient are one product:
#: dW = X~^T dH + dY^T H = xd^T hg.
AEWork = namedtuple("AEWork", "xd hg dW db dc rho_hat kl_grad loss_rows")

_jit = dict(cache=True, fastmath=FASTMATH, error_model="numpy")
_pjit = dict(_jit, parallel=True)


@njit(inline="always", **_jit)
def _span(k, n_blocks, n):
    """Bounds of block ``k`` of ``n_blocks`` nearly equal blocks of ``range(n)``."""
    return k * n // n_blocks, (k + 1) * n // n_blocks


# --------------------------------------------------------------------------- noise


@njit(**_jit)
def _gather_corrupt_rows(lo, hi, out, X, rows, p, seed, stream):
    threshold = keep_threshold(p)
    zero = out.dtype.type(0.0)
    for i in range(lo, hi):
        r = rows[i]
        if p == 0.0:
            out[i, :] = X[r, :]
            continue
        key = noise_row_key(seed, stream, r)
        for j in range(X.shape[1]):
            out[i, j] = X[r, j] if noise_bits(key, j) >= threshold else zero


@njit(**_pjit)
def gather_corrupt(out, X, rows, p, seed, stream, n_blocks):
    """``out[i] = X[rows[i]] * m`` with a masking-noise draw ``m`` (keep prob ``1 - p``).

    The mask of a pixel is a hash of ``(seed, stream, rows[i], column)``: the same seed
    gives the same mask whatever the batch order or the thread count.
    """
    n = rows.shape[0]
    if n_blocks <= 1:
        _gather_corrupt_rows(0, n, out, X, rows, p, seed, stream)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _gather_corrupt_rows(lo, hi, out, X, rows, p, seed, stream)


@njit(**_jit)
def _gather_shift_corrupt_rows(lo, hi, out, X, rows, p, shift, height, seed, stream):
    threshold = keep_threshold(p)
    zero = out.dtype.type(0.0)
    V = X.shape[1]
    width = V // height
    span = np.uint64(2 * shift + 1)
    for i in range(lo, hi):
        r = rows[i]
        key = noise_row_key(seed, stream, r)
        # Columns V and V + 1 of the pattern's hash (past its pixels) draw the shift.
        dy = np.int64(noise_bits(key, V) % span) - shift
        dx = np.int64(noise_bits(key, V + 1) % span) - shift
        for y in range(height):
            sy = y - dy
            for x in range(width):
                sx = x - dx
                j = y * width + x
                v = X[r, sy * width + sx] if 0 <= sy < height and 0 <= sx < width else zero
                out[i, j] = v if p == 0.0 or noise_bits(key, j) >= threshold else zero


@njit(**_pjit)
def gather_augment(out, X, rows, p, shift, height, seed, stream, n_blocks):
    """``gather_corrupt`` after moving each image by up to ``shift`` pixels in y and in x.

    Rows of ``X`` are ``height x (n_columns / height)`` images. The shift of a pattern,
    uniform in ``-shift..shift`` on each axis, is drawn from the same hash as its mask
    (so it is redrawn every epoch and does not depend on the batch or the thread);
    pixels moved in from outside the image are 0. ``shift == 0`` is ``gather_corrupt``.
    """
    n = rows.shape[0]
    if shift == 0:
        gather_corrupt(out, X, rows, p, seed, stream, n_blocks)
    elif n_blocks <= 1:
        _gather_shift_corrupt_rows(0, n, out, X, rows, p, shift, height, seed, stream)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _gather_shift_corrupt_rows(lo, hi, out, X, rows, p, shift, height, seed, stream)


# ---------------------------------------------------------------- forward kernels


@njit(**_jit)
def _bias_sigmoid_rows(lo, hi, Z, bias):
    for i in range(lo, hi):
        for j in range(Z.shape[1]):
            Z[i, j] = sigmoid(Z[i, j] + bias[j])


@njit(**_pjit)
def bias_sigmoid(Z, bias, n_blocks):
    """In place: ``Z = sigmoid(Z + bias)``; ``Z`` holds a product such as ``X W``."""
    n = Z.shape[0]
    if n_blocks <= 1:
        _bias_sigmoid_rows(0, n, Z, bias)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _bias_sigmoid_rows(lo, hi, Z, bias)


@njit(inline="always", **_jit)
def row_sum(a):
    """``sum(a)`` as 16 interleaved partial sums, added up in float64 at the end.

    A plain running sum is one long dependency chain, and it keeps the compiler from
    vectorising the loop it sits in; the kernels store per-element terms instead and add
    them up here. The partial sums are 16 local variables, which the compiler keeps in
    one vector register (an array of 16 stayed in memory: three times slower).
    """
    z = a.dtype.type(0.0)
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = s9 = s10 = s11 = s12 = s13 = s14 = s15 = z
    n = a.shape[0] - a.shape[0] % 16
    for j in range(0, n, 16):
        s0 += a[j]
        s1 += a[j + 1]
        s2 += a[j + 2]
        s3 += a[j + 3]
        s4 += a[j + 4]
        s5 += a[j + 5]
        s6 += a[j + 6]
        s7 += a[j + 7]
        s8 += a[j + 8]
        s9 += a[j + 9]
        s10 += a[j + 10]
        s11 += a[j + 11]
        s12 += a[j + 12]
        s13 += a[j + 13]
        s14 += a[j + 14]
        s15 += a[j + 15]
    total = 0.0
    for j in range(n, a.shape[0]):
        total += a[j]
    for s in (s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15):
        total += s
    return total


@njit(**_jit)
def sum64(a):
    """The sum of a short 1-D array, accumulated in float64."""
    total = 0.0
    for v in a:
        total += v
    return total


@njit(**_jit)
def _output_delta_rows(lo, hi, D, loss_rows, c, X, rows, loss_kind, scale):
    s = D.dtype.type(scale)
    one, two = D.dtype.type(1.0), D.dtype.type(2.0)
    terms = np.empty(D.shape[1], D.dtype)
    for i in range(lo, hi):
        r = rows[i]
        if loss_kind == CROSS_ENTROPY:
            for j in range(D.shape[1]):
                y, terms[j] = sigmoid_ce(D[i, j] + c[j], X[r, j])
                D[i, j] = (y - X[r, j]) * s
        else:
            for j in range(D.shape[1]):
                y = sigmoid(D[i, j] + c[j])
                terms[j] = (y - X[r, j]) * (y - X[r, j])
                D[i, j] = two * (y - X[r, j]) * y * (one - y) * s
        loss_rows[i] = row_sum(terms)


@njit(**_pjit)
def output_delta(D, loss_rows, c, X, rows, loss_kind, scale, n_blocks):
    """Reconstruction loss per pattern and its delta at the output pre-activation.

    On entry ``D`` (P x n_visible) holds ``H W^T``; the target of row ``i`` is the clean
    ``X[rows[i]]``. On exit ``D`` holds ``scale * dJ/dz`` with ``z = H W^T + c`` and
    ``loss_rows[i]`` the loss of pattern ``i`` summed over visible units:

    * cross-entropy, from ``z`` (stable when outputs saturate): ``dJ/dz = y - x``;
    * squared error ``sum (y - x)^2``: ``dJ/dz = 2 (y - x) y (1 - y)``.
    """
    n = D.shape[0]
    if n_blocks <= 1:
        _output_delta_rows(0, n, D, loss_rows, c, X, rows, loss_kind, scale)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _output_delta_rows(lo, hi, D, loss_rows, c, X, rows, loss_kind, scale)


# ------------------------------------------------------------ batch reductions


@njit(**_jit)
def _col_sum_cols(lo, hi, out, A, scale):
    out[lo:hi] = 0.0
    for i in range(A.shape[0]):
        for j in range(lo, hi):
            out[j] += A[i, j]
    for j in range(lo, hi):
        out[j] *= scale


@njit(**_pjit)
def col_sum(out, A, scale, n_blocks):
    """``out[j] = scale * sum_i A[i, j]`` (columns split across threads)."""
    n = A.shape[1]
    if n_blocks <= 1:
        _col_sum_cols(0, n, out, A, scale)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _col_sum_cols(lo, hi, out, A, scale)


@njit(**_jit)
def kl_penalty(grad, rho_hat, rho, scale):
    """Sparsity term ``sum_j KL(rho || rho_hat_j)``; fills ``grad``.

    ``grad[j] = scale * dKL/d rho_hat_j``; the caller passes ``scale = beta / P`` so
    that ``grad`` is the penalty's contribution to dJ/dH for every pattern of the batch.
    """
    total = 0.0
    for j in range(rho_hat.shape[0]):
        total += kl_divergence(rho, rho_hat[j])
        grad[j] = scale * kl_divergence_grad(rho, rho_hat[j])
    return total


# --------------------------------------------------------------- backward kernels


@njit(**_jit)
def _hidden_delta_rows(lo, hi, D, H, g):
    one = D.dtype.type(1.0)
    for i in range(lo, hi):
        for j in range(D.shape[1]):
            h = H[i, j]
            D[i, j] = (D[i, j] + g[j]) * h * (one - h)


@njit(**_pjit)
def hidden_delta(D, H, g, n_blocks):
    """In place: ``D = (D + g) * H * (1 - H)``: back through a sigmoid layer.

    ``D`` holds dJ/dH from the layer above (such as ``dY W``), ``g`` a per-unit term
    added to every row (the sparsity gradient, or zeros).
    """
    n = D.shape[0]
    if n_blocks <= 1:
        _hidden_delta_rows(0, n, D, H, g)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _hidden_delta_rows(lo, hi, D, H, g)


@njit(**_jit)
def _softmax_xent_rows(lo, hi, D, loss_rows, hits, d, labels, rows, scale):
    for i in range(lo, hi):
        label = labels[rows[i]]
        top = 0
        for k in range(D.shape[1]):
            D[i, k] += d[k]
            if D[i, k] > D[i, top]:
                top = k
        total = 0.0
        for k in range(D.shape[1]):
            total += np.exp(D[i, k] - D[i, top])
        log_norm = D[i, top] + np.log(total)
        loss_rows[i] = log_norm - D[i, label]
        for k in range(D.shape[1]):
            target = 1.0 if k == label else 0.0
            D[i, k] = (np.exp(D[i, k] - log_norm) - target) * scale
        hits[i] = 1.0 if top == label else 0.0


@njit(**_pjit)
def softmax_xent(D, loss_rows, hits, d, labels, rows, scale, n_blocks):
    """Softmax cross-entropy per pattern and its delta at the logits.

    On entry ``D`` (P x K) holds ``H V`` without the bias ``d``; the label of row ``i``
    is ``labels[rows[i]]``. On exit ``D = scale * (softmax(z) - onehot)``,
    ``loss_rows[i] = -log softmax(z)[label]`` and ``hits[i]`` is 1 where the arg-max
    is the label.
    """
    n = D.shape[0]
    if n_blocks <= 1:
        _softmax_xent_rows(0, n, D, loss_rows, hits, d, labels, rows, scale)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _softmax_xent_rows(lo, hi, D, loss_rows, hits, d, labels, rows, scale)


# ---------------------------------------------------------------------- updates


@njit(**_jit)
def _sgd_span(lo, hi, p, g, lr):
    for i in range(lo, hi):
        p[i] -= lr * g[i]


@njit(**_pjit)
def sgd(param, grad, lr, n_blocks):
    """In place: ``param -= lr * grad`` (any shape, both C-contiguous)."""
    p = param.reshape(param.size)
    g = grad.reshape(grad.size)
    n = p.shape[0]
    if n_blocks <= 1:
        _sgd_span(0, n, p, g, lr)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _sgd_span(lo, hi, p, g, lr)


@njit(**_jit)
def _adam_span(lo, hi, p, g, m, v, lr_t, beta1, beta2, eps):
    t = p.dtype.type
    lr_t, b1, b2, eps = t(lr_t), t(beta1), t(beta2), t(eps)
    c1, c2 = t(1.0) - b1, t(1.0) - b2
    for i in range(lo, hi):
        m[i] = b1 * m[i] + c1 * g[i]
        v[i] = b2 * v[i] + c2 * g[i] * g[i]
        p[i] -= lr_t * m[i] / (np.sqrt(v[i]) + eps)


@njit(**_pjit)
def adam(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks):
    """In place Adam step ``t`` (1-based), bias correction folded into the rate."""
    lr_t = lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    p = param.reshape(param.size)
    g = grad.reshape(grad.size)
    mm = m.reshape(m.size)
    vv = v.reshape(v.size)
    n = p.shape[0]
    if n_blocks <= 1:
        _adam_span(0, n, p, g, mm, vv, lr_t, beta1, beta2, eps)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            _adam_span(lo, hi, p, g, mm, vv, lr_t, beta1, beta2, eps)


# ------------------------------------------------------------ tied autoencoder


@njit(**_jit)
def ae_work(n_visible, n_hidden, batch_size, dtype, with_dW):
    """Buffers for ``ae_step`` on batches of up to ``batch_size`` patterns (``dW`` is
    empty unless ``with_dW``: training updates W in place, see ``tied_weight_step``)."""
    B = batch_size
    n_dW = n_visible if with_dW else 0
    return AEWork(
        np.empty((2 * B, n_visible), dtype),  # xd: [X~ ; dY]
        np.empty((2 * B, n_hidden), dtype),  # hg: [dH ; H]
        np.empty((n_dW, n_hidden), dtype),  # dW
        np.empty(n_hidden, dtype),  # db
        np.empty(n_visible, dtype),  # dc
        np.empty(n_hidden, dtype),  # rho_hat
        np.zeros(n_hidden, dtype),  # kl_grad
        np.empty(B, dtype),  # loss_rows
    )


@njit(**_jit)
def ae_step(W, b, c, X, rows, hp, ws, n_blocks):
    """Loss of a tied autoencoder on one batch and its deltas; returns the loss.

    On entry ``ws.xd[:P]`` holds the (corrupted) input ``X~`` of the batch, whose clean
    targets are ``X[rows]`` (P = ``len(rows)``). On exit ``ws.db``, ``ws.dc`` hold the
    bias gradients, ``ws.xd[:2P]`` and ``ws.hg[:2P]`` the factors of the weight gradient
    (see ``tied_weight_step``), ``ws.hg[P:2P]`` the hidden activations ``H`` and
    ``ws.rho_hat`` their batch mean (when the sparsity term is on). The loss is the reconstruction
    term summed over visible units and averaged over the batch, plus
    ``beta * sum_j KL(rho || rho_hat_j)``.
    """
    P = rows.shape[0]
    Xt = ws.xd[:P]  # P x V   corrupted input
    D_out = ws.xd[P : 2 * P]  # P x V   H W^T, then dY
    D_hid = ws.hg[:P]  # P x Hn  dY W, then dH
    H = ws.hg[P : 2 * P]  # P x Hn  hidden activations

    np.dot(Xt, W, H)
    bias_sigmoid(H, b, n_blocks)
    np.dot(H, W.T, D_out)
    output_delta(D_out, ws.loss_rows[:P], c, X, rows, hp.loss_kind, 1.0 / P, n_blocks)
    loss = sum64(ws.loss_rows[:P]) / P
    if hp.beta > 0.0:
        col_sum(ws.rho_hat, H, 1.0 / P, n_blocks)
        loss += hp.beta * kl_penalty(ws.kl_grad, ws.rho_hat, hp.rho, hp.beta / P)

    np.dot(D_out, W, D_hid)
    hidden_delta(D_hid, H, ws.kl_grad, n_blocks)
    col_sum(ws.db, D_hid, 1.0, n_blocks)
    col_sum(ws.dc, D_out, 1.0, n_blocks)
    return loss


@njit(**_jit)
def tied_weight_step(out, alpha, beta, ws, P):
    """``out = alpha * dW + beta * out`` with ``dW = X~^T dH + dY^T H = xd^T hg``.

    One product with K = 2P covers both uses of the tied weight. With ``out = dW``,
    ``alpha = 1``, ``beta = 0`` it is the gradient; with ``out = W``, ``alpha = -lr``,
    ``beta = 1`` it is the SGD update itself, with no gradient buffer.
    """
    gemm(alpha, ws.xd[: 2 * P], True, ws.hg[: 2 * P], False, beta, out)


@njit(nogil=True, **_jit)
def train_autoencoder(W, b, c, X, orders, first_epoch, batch_size, lr, hp, n_blocks, epoch_loss, at, partial, stop):
    """Run ``len(orders)`` epochs of mini-batch SGD on a tied autoencoder, in place.

    ``orders[e]`` is the order in which epoch ``e`` visits the rows of ``X``; batches
    are consecutive slices of it (the last one may be smaller). Masking noise of epoch
    ``e`` uses stream ``first_epoch + e``. ``epoch_loss[e]`` receives the mean over the
    epoch's patterns of the batch losses, each taken before its update.

    Stopping and resuming (see ``fastae.stopping``): the first epoch starts at row
    ``at[1]`` of its order with ``partial[0]`` as the loss summed so far. Before each
    batch the loop stops if ``stop[0]`` is set or ``stop[1]`` batches have run, leaving
    in ``at`` the epoch (index into ``orders``) and row it stopped at, and in
    ``partial[0]`` that epoch's loss sum. A loop that finishes leaves
    ``at = (len(orders), 0)``. Runs without the GIL, so a caller's thread can set ``stop``.
    """
    n = X.shape[0]
    ws = ae_work(X.shape[1], W.shape[1], min(batch_size, n), W.dtype, False)
    first_row = at[1]
    for e in range(orders.shape[0]):
        total = partial[0] if e == 0 else 0.0
        for start in range(first_row if e == 0 else 0, n, batch_size):
            if stop[0] != 0 or stop[1] <= 0:
                at[0], at[1], partial[0] = e, start, total
                return
            stop[1] -= 1
            rows = orders[e, start : min(start + batch_size, n)]
            P = rows.shape[0]
            gather_corrupt(ws.xd[:P], X, rows, hp.corruption, hp.seed, first_epoch + e, n_blocks)
            total += P * ae_step(W, b, c, X, rows, hp, ws, n_blocks)
            tied_weight_step(W, -lr, 1.0, ws, P)
            sgd(b, ws.db, lr, 1)
            sgd(c, ws.dc, lr, 1)
        epoch_loss[e] = total / n
    at[0], at[1], partial[0] = orders.shape[0], 0, 0.0


@njit(**_jit)
def encode(out, X, W, b, n_blocks):
    """``out = sigmoid(X W + b)``."""
    np.dot(X, W, out)
    bias_sigmoid(out, b, n_blocks)


@njit(**_jit)
def decode(out, H, W, c, n_blocks):
    """``out = sigmoid(H W^T + c)`` (the tied decoder)."""
    np.dot(H, W.T, out)
    bias_sigmoid(out, c, n_blocks)


@njit(**_jit)
def ae_loss(W, b, c, Xt, X, hp, chunk, n_blocks):
    """The ``ae_step`` loss over all rows of ``Xt`` (targets ``X``), without gradients.

    Works through ``chunk`` rows at a time; ``rho_hat`` is the mean over all rows.
    Returns ``(loss, reconstruction term, rho_hat)``.
    """
    n, V = X.shape
    Hn = W.shape[1]
    H = np.empty((min(chunk, n), Hn), W.dtype)
    D = np.empty((min(chunk, n), V), W.dtype)
    loss_rows = np.empty(min(chunk, n), W.dtype)
    col = np.empty(Hn, W.dtype)
    rho_hat = np.zeros(Hn, W.dtype)
    rows = np.arange(n)
    recon = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        P = stop - start
        encode(H[:P], Xt[start:stop], W, b, n_blocks)
        np.dot(H[:P], W.T, D[:P])
        output_delta(D[:P], loss_rows[:P], c, X, rows[start:stop], hp.loss_kind, 1.0, n_blocks)
        recon += sum64(loss_rows[:P])
        col_sum(col, H[:P], 1.0 / n, n_blocks)
        rho_hat += col
    recon /= n
    loss = recon
    if hp.beta > 0.0:
        loss += hp.beta * kl_penalty(col, rho_hat, hp.rho, 0.0)
    return loss, recon, rho_hat


# ----------------------------------------------------- stacked softmax classifier
#
# The network is a list of layers: sigmoid layers ``H_l = sigmoid(H_{l-1} W_l + b_l)``
# (``H_0`` = the input), then a softmax layer on the last one. ``weights`` and ``biases``
# are numba typed lists of the parameter arrays (shared with the model, not copied).

#: Buffers of one classifier step for batches of up to B patterns: ``xin`` (B x n_0) the
#: input, ``acts[l]`` (B x n_{l+1}) layer outputs (the last: logits, then their delta),
#: ``deltas[l]`` (B x n_{l+1}) dJ/d(pre-activation) of hidden layers, gradients ``dWs``,
#: ``dbs`` shaped like the parameters, ``zeros[l]`` a zero per-unit term.
ClassifierWork = namedtuple("ClassifierWork", "xin acts deltas zeros dWs dbs loss_rows hits")


@njit(**_jit)
def classifier_work(weights, batch_size):
    B = batch_size
    dtype = weights[0].dtype
    acts = [np.empty((B, W.shape[1]), dtype) for W in weights]
    deltas = [np.empty((B, W.shape[1]), dtype) for W in weights]
    zeros = [np.zeros(W.shape[1], dtype) for W in weights]
    dWs = [np.empty_like(W) for W in weights]
    dbs = [np.empty(W.shape[1], dtype) for W in weights]
    xin = np.empty((B, weights[0].shape[0]), dtype)
    return ClassifierWork(xin, acts, deltas, zeros, dWs, dbs, np.empty(B, dtype), np.empty(B, dtype))


@njit(**_jit)
def classifier_forward(weights, biases, X, acts, n_blocks):
    """Layer outputs for the rows of ``X`` into ``acts[l][:P]``; the last holds the
    logits without their bias (``softmax_xent`` adds it)."""
    P = X.shape[0]
    top = len(weights) - 1
    np.dot(X, weights[0], acts[0][:P])
    for l in range(1, top + 1):
        bias_sigmoid(acts[l - 1][:P], biases[l - 1], n_blocks)
        np.dot(acts[l - 1][:P], weights[l], acts[l][:P])


@njit(**_jit)
def classifier_step(weights, biases, labels, rows, ws, n_blocks):
    """Softmax cross-entropy of one batch and its gradients; returns ``(loss, hits)``.

    On entry ``ws.xin[:P]`` holds the batch's input, whose labels are ``labels[rows]``.
    On exit ``ws.dWs``, ``ws.dbs`` hold the gradients of the mean loss over the batch.
    """
    P = rows.shape[0]
    top = len(weights) - 1
    xin = ws.xin[:P]
    classifier_forward(weights, biases, xin, ws.acts, n_blocks)
    D = ws.acts[top][:P]  # logits, then dJ/dlogits
    softmax_xent(D, ws.loss_rows[:P], ws.hits[:P], biases[top], labels, rows, 1.0 / P, n_blocks)
    for l in range(top, -1, -1):
        if l == 0:
            np.dot(xin.T, D, ws.dWs[0])
        else:
            np.dot(ws.acts[l - 1][:P].T, D, ws.dWs[l])
        col_sum(ws.dbs[l], D, 1.0, n_blocks)
        if l > 0:
            below = ws.deltas[l - 1][:P]
            np.dot(D, weights[l].T, below)
            hidden_delta(below, ws.acts[l - 1][:P], ws.zeros[l - 1], n_blocks)
            D = below
    return sum64(ws.loss_rows[:P]) / P, sum64(ws.hits[:P])


@njit(**_jit)
def update(param, grad, m, v, opt, t, n_blocks):
    """One optimiser step on one parameter: ``opt.kind`` 0 is SGD, 1 is Adam (step ``t``)."""
    if opt.kind == SGD:
        sgd(param, grad, param.dtype.type(opt.lr), n_blocks)
    else:
        adam(param, grad, m, v, opt.lr, opt.beta1, opt.beta2, opt.eps, t, n_blocks)


@njit(nogil=True, **_jit)
def train_classifier(weights, biases, X, labels, orders, first_epoch, batch_size, opt, state, corruption, shift,
                     height, seed, n_blocks, epoch_loss, epoch_hits, at, partial, stop):
    """Run ``len(orders)`` epochs of mini-batch training of the whole network, in place.

    ``state`` holds the optimiser's moments (``mW``, ``vW``, ``mb``, ``vb``, lists like
    the parameters) and its step count ``t`` (a 1-element array). ``corruption`` > 0
    masks the input as the autoencoders' training does; ``shift`` > 0 first moves each
    image (``height`` rows) by up to that many pixels (``gather_augment``). ``at``,
    ``partial`` (loss sum, hits) and ``stop`` work as in ``train_autoencoder``.
    """
    n = X.shape[0]
    ws = classifier_work(weights, min(batch_size, n))
    first_row = at[1]
    for e in range(orders.shape[0]):
        total, hits = (partial[0], partial[1]) if e == 0 else (0.0, 0.0)
        for start in range(first_row if e == 0 else 0, n, batch_size):
            if stop[0] != 0 or stop[1] <= 0:
                at[0], at[1], partial[0], partial[1] = e, start, total, hits
                return
            stop[1] -= 1
            rows = orders[e, start : min(start + batch_size, n)]
            P = rows.shape[0]
            gather_augment(ws.xin[:P], X, rows, corruption, shift, height, seed, first_epoch + e, n_blocks)
            loss, h = classifier_step(weights, biases, labels, rows, ws, n_blocks)
            total += P * loss
            hits += h
            state.t[0] += 1
            for l in range(len(weights)):
                update(weights[l], ws.dWs[l], state.mW[l], state.vW[l], opt, state.t[0], n_blocks)
                update(biases[l], ws.dbs[l], state.mb[l], state.vb[l], opt, state.t[0], 1)
        epoch_loss[e] = total / n
        epoch_hits[e] = hits
    at[0], at[1], partial[0], partial[1] = orders.shape[0], 0, 0.0, 0.0


@njit(**_jit)
def classifier_loss_and_grads(weights, biases, X, labels, n_blocks):
    """Mean softmax cross-entropy over all rows of ``X`` and its gradients."""
    P = X.shape[0]
    ws = classifier_work(weights, P)
    ws.xin[:] = X
    loss, _ = classifier_step(weights, biases, labels, np.arange(P), ws, n_blocks)
    return loss, ws.dWs, ws.dbs


@njit(**_jit)
def classifier_layers(weights, biases, X, chunk, n_blocks):
    """Every layer's output for all rows of ``X``: sigmoid layers, then the logits."""
    n = X.shape[0]
    outs = [np.empty((n, W.shape[1]), X.dtype) for W in weights]
    acts = classifier_work(weights, min(chunk, n)).acts
    top = len(weights) - 1
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        P = stop - start
        classifier_forward(weights, biases, X[start:stop], acts, n_blocks)
        for l in range(top + 1):
            outs[l][start:stop] = acts[l][:P]
        outs[top][start:stop] += biases[top]
    return outs


class CPUBackend:
    """Host-side launchers of the CPU kernels: allocate, then call the compiled code.

    Arrays stay NumPy arrays; ``n_blocks`` picks how many threads a kernel splits its
    rows across (``config.KERNEL_THREADS``, 1 by default).
    """

    name = "cpu"

    def asarray(self, x, dtype):
        return np.ascontiguousarray(x, dtype=dtype)

    def to_host(self, x):
        return x

    def n_blocks(self, n_elements):
        """How many row blocks (threads) a kernel on ``n_elements`` elements uses."""
        if config.KERNEL_THREADS <= 1 or n_elements < config.PARALLEL_MIN_ELEMENTS:
            return 1
        return config.KERNEL_THREADS

    def corrupt(self, X, p, seed, stream):
        out = np.empty_like(X)
        rows = np.arange(X.shape[0])
        gather_corrupt(out, X, rows, p, seed, stream, self.n_blocks(X.size))
        return out

    def train_autoencoder(self, W, b, c, X, orders, first_epoch, batch_size, lr, hp, at, partial, stop):
        """Epochs of training; ``at``, ``partial`` and ``stop`` as in the compiled loop
        (the main thread waits meanwhile, so that Ctrl-C can set ``stop``)."""
        losses = np.empty(orders.shape[0])
        nb = self.n_blocks(min(batch_size, X.shape[0]) * X.shape[1])
        run_in_worker(train_autoencoder, W, b, c, X, orders, first_epoch, batch_size, W.dtype.type(lr), hp, nb,
                      losses, at, partial, stop)
        return losses

    def ae_loss_and_grads(self, W, b, c, Xt, X, hp):
        P = X.shape[0]
        ws = ae_work(X.shape[1], W.shape[1], P, W.dtype, True)
        ws.xd[:P] = Xt
        loss = ae_step(W, b, c, X, np.arange(P), hp, ws, self.n_blocks(X.size))
        tied_weight_step(ws.dW, 1.0, 0.0, ws, P)
        return loss, {"W": ws.dW, "b": ws.db, "c": ws.dc}

    def ae_loss(self, W, b, c, Xt, X, hp, chunk=4096):
        return ae_loss(W, b, c, Xt, X, hp, chunk, self.n_blocks(min(chunk, X.shape[0]) * X.shape[1]))

    def encode(self, X, W, b):
        out = np.empty((X.shape[0], W.shape[1]), W.dtype)
        encode(out, X, W, b, self.n_blocks(out.size))
        return out

    def decode(self, H, W, c):
        out = np.empty((H.shape[0], W.shape[0]), W.dtype)
        decode(out, H, W, c, self.n_blocks(out.size))
        return out

    def param_list(self, arrays):
        """A typed list sharing the given arrays (the compiled code updates them in place)."""
        out = List()
        for a in arrays:
            out.append(a)
        return out

    def optimizer_state(self, weights, biases):
        zeros = lambda arrays: self.param_list([np.zeros_like(a) for a in arrays])  # noqa: E731
        return OptState(zeros(weights), zeros(weights), zeros(biases), zeros(biases), np.zeros(1, np.int64))

    def train_classifier(self, weights, biases, X, labels, orders, first_epoch, batch_size, opt, state,
                         corruption, shift, height, seed, at, partial, stop):
        losses = np.empty(orders.shape[0])
        hits = np.empty(orders.shape[0])
        nb = self.n_blocks(min(batch_size, X.shape[0]) * X.shape[1])
        run_in_worker(train_classifier, weights, biases, X, labels, orders, first_epoch, batch_size, opt, state,
                      corruption, shift, height, seed, nb, losses, hits, at, partial, stop)
        return losses, hits

    def classifier_loss_and_grads(self, weights, biases, X, labels):
        loss, dWs, dbs = classifier_loss_and_grads(weights, biases, X, labels, self.n_blocks(X.size))
        return loss, list(dWs), list(dbs)

    def classifier_layers(self, weights, biases, X, chunk=4096):
        nb = self.n_blocks(min(chunk, X.shape[0]) * X.shape[1])
        return list(classifier_layers(weights, biases, X, chunk, nb))
