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
#: dW = X~^T dH + dY^T H = xd^T hg. When the input is split into a dense prefix and a
#: sparse tail (see ``input_split``), ``clean`` (B x n_visible) holds the batch's targets
#: and ``tail`` the tail of ``X~``.
AEWork = namedtuple("AEWork", "xd hg dW db dc rho_hat kl_grad loss_rows clean tail")

#: The sparse tail of a batch of up to B patterns: pattern ``i`` has ``length[i]``
#: nonzeros, in the columns ``col[i, :length[i]]`` with the values ``val[i, :length[i]]``;
#: ``drawn`` (B x n_columns) holds the batch as drawn, before its columns are reordered.
SparseTail = namedtuple("SparseTail", "length col val drawn")

#: Rows ``input_split`` counts nonzeros on (spread over the data set).
SPLIT_SAMPLE_ROWS = 4096
#: ``input_split`` splits an input only when its sparse tail holds at least this share
#: of the columns (fewer would save less than the split costs).
SPLIT_MIN_TAIL = 0.125

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


# ------------------------------------------------- sparse inputs: dense prefix, sparse tail
#
# Most of MNIST's pixels are zero in most images (83 % of all pixels; the border ones in
# nearly every image). The training loops put the input columns that are often nonzero
# first (``input_split``): they go through BLAS as a dense prefix, and the nonzeros of the
# rest, about a thousand a batch, are added one row of the weight at a time. That takes
# the two products with the input (of the autoencoder's five, and of the classifier's
# two large ones) from 784 columns to about 330 (README, "Sparse inputs").


@njit(**_jit)
def input_split(X, tail_density, sample_rows):
    """``(cols, n_dense)``: the columns of ``X`` reordered, dense ones first, and how many
    are dense. A column is dense when it is nonzero in at least ``tail_density`` of the
    rows (counted on about ``sample_rows`` rows spread over ``X``); the others form the
    sparse tail. Each part keeps the columns' own order. A tail of fewer than
    ``SPLIT_MIN_TAIL`` of the columns, or ``tail_density <= 0``, gives no split:
    ``(arange(n_columns), n_columns)``.
    """
    n, V = X.shape
    cols = np.arange(V)
    if tail_density <= 0.0 or n == 0:
        return cols, V
    counts = np.zeros(V, np.int64)
    m = 0
    for r in range(0, n, max(1, n // sample_rows)):
        m += 1
        for j in range(V):
            if X[r, j] != 0:
                counts[j] += 1
    n_dense = 0
    for j in range(V):
        n_dense += counts[j] >= tail_density * m
    if V - n_dense < SPLIT_MIN_TAIL * V:
        return cols, V
    dense, tail = 0, n_dense
    for j in range(V):
        if counts[j] >= tail_density * m:
            cols[dense] = j
            dense += 1
        else:
            cols[tail] = j
            tail += 1
    return cols, n_dense


@njit(**_jit)
def sparse_tail(batch_size, n_columns, dtype):
    """An empty ``SparseTail`` for batches of up to ``batch_size`` rows."""
    B, V = batch_size, n_columns
    return SparseTail(np.zeros(B, np.int64), np.empty((B, V), np.int32), np.empty((B, V), dtype),
                      np.empty((B, V), dtype))


@njit(**_jit)
def inverse(order):
    """The permutation that undoes ``order``: ``inverse(order)[order[j]] = j``."""
    out = np.empty_like(order)
    for j in range(order.shape[0]):
        out[order[j]] = j
    return out


@njit(**_jit)
def reorder_rows(A, order):
    """In place: ``A = A[order]`` (``A`` 1-D or 2-D); ``order = inverse(cols)`` undoes
    ``order = cols``."""
    rows = A.reshape(A.shape[0], -1)
    old = rows.copy()
    for j in range(order.shape[0]):
        for k in range(rows.shape[1]):
            rows[j, k] = old[order[j], k]


@njit(**_jit)
def split_batch(out, clean, tail, X, rows, cols, n_dense):
    """Reorder the columns of a batch drawn into ``tail.drawn[:P]`` for a split input.

    The caller draws the batch ``rows`` (``gather_corrupt`` or ``gather_augment``); then
    pattern ``i``'s first ``n_dense`` columns in the order ``cols`` go to
    ``out[i, :n_dense]`` (the rest of ``out[i]`` is left as it was), and the nonzeros of
    the others, numbered from ``n_dense`` on, to ``tail``. When ``clean`` has rows,
    ``clean[i]`` receives the pattern's target ``X[rows[i]][cols]``.
    """
    zero = X.dtype.type(0.0)
    V = X.shape[1]
    for i in range(rows.shape[0]):
        if clean.shape[0] > 0:
            target, source = clean[i], X[rows[i]]
            for j in range(V):
                target[j] = source[cols[j]]
        x, dense = tail.drawn[i], out[i]
        for j in range(n_dense):
            dense[j] = x[cols[j]]
        t = 0
        for j in range(n_dense, V):
            v = x[cols[j]]
            if v != zero:
                tail.col[i, t] = j
                tail.val[i, t] = v
                t += 1
        tail.length[i] = t


@njit(**_jit)
def tail_forward(H, tail, W):
    """``H[i] += sum_t tail.val[i, t] * W[tail.col[i, t]]``: the sparse tail's ``X~ W``."""
    for i in range(H.shape[0]):
        h = H[i]
        for t in range(tail.length[i]):
            v = tail.val[i, t]
            w = W[tail.col[i, t]]
            for k in range(h.shape[0]):
                h[k] += v * w[k]


@njit(**_jit)
def tail_update(out, alpha, tail, G):
    """``out[tail.col[i, t]] += alpha * tail.val[i, t] * G[i]`` for the rows ``i`` of ``G``:
    adds ``alpha`` times the sparse tail's ``X~^T G`` to the rows of ``out`` it touches."""
    for i in range(G.shape[0]):
        g = G[i]
        for t in range(tail.length[i]):
            a = out.dtype.type(alpha * tail.val[i, t])
            o = out[tail.col[i, t]]
            for k in range(g.shape[0]):
                o[k] += a * g[k]


@njit(**_jit)
def input_product(out, X, W, tail, n_dense):
    """``out = X W`` for a batch ``X`` whose columns from ``n_dense`` on are in ``tail``
    (``n_dense == len(W)``: no split, a plain product)."""
    if n_dense == W.shape[0]:
        np.dot(X, W, out)
    else:
        gemm(1.0, X[:, :n_dense], False, W[:n_dense], False, 0.0, out)
        tail_forward(out, tail, W)


@njit(**_jit)
def input_gradient(out, X, G, tail, n_dense):
    """``out = X^T G`` for a batch ``X`` as in ``input_product``."""
    if n_dense == out.shape[0]:
        np.dot(X.T, G, out)
    else:
        gemm(1.0, X[:, :n_dense], True, G, False, 0.0, out[:n_dense])
        out[n_dense:] = 0.0
        tail_update(out, 1.0, tail, G)


# ------------------------------------------------------------ tied autoencoder


@njit(**_jit)
def ae_work(n_visible, n_hidden, batch_size, dtype, with_dW, with_tail):
    """Buffers for ``ae_step`` on batches of up to ``batch_size`` patterns (``dW`` is
    empty unless ``with_dW``: training updates W in place, see ``tied_weight_step``;
    the sparse tail's buffers are empty unless ``with_tail``)."""
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
        np.empty((B if with_tail else 0, n_visible), dtype),  # clean
        sparse_tail(B if with_tail else 0, n_visible, dtype),
    )


@njit(**_jit)
def ae_step(W, b, c, X, rows, hp, ws, n_dense, n_blocks):
    """Loss of a tied autoencoder on one batch and its deltas; returns the loss.

    On entry ``ws.xd[:P]`` holds the (corrupted) input ``X~`` of the batch, whose clean
    targets are ``X[rows]`` (P = ``len(rows)``). On exit ``ws.db``, ``ws.dc`` hold the
    bias gradients, ``ws.xd[:2P]`` and ``ws.hg[:2P]`` the factors of the weight gradient
    (see ``tied_weight_step``), ``ws.hg[P:2P]`` the hidden activations ``H`` and
    ``ws.rho_hat`` their batch mean (when the sparsity term is on). The loss is the reconstruction
    term summed over visible units and averaged over the batch, plus
    ``beta * sum_j KL(rho || rho_hat_j)``.

    With ``n_dense < n_visible`` the input is split (see ``input_split``): ``X~ W`` is
    ``X~[:, :n_dense] W[:n_dense]`` plus the sparse tail held in ``ws``.
    """
    P = rows.shape[0]
    Xt = ws.xd[:P]  # P x V   corrupted input
    D_out = ws.xd[P : 2 * P]  # P x V   H W^T, then dY
    D_hid = ws.hg[:P]  # P x Hn  dY W, then dH
    H = ws.hg[P : 2 * P]  # P x Hn  hidden activations

    input_product(H, Xt, W, ws.tail, n_dense)
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
def tied_weight_step(out, alpha, beta, ws, P, n_dense):
    """``out = alpha * dW + beta * out`` with ``dW = X~^T dH + dY^T H = xd^T hg``.

    One product with K = 2P covers both uses of the tied weight. With ``out = dW``,
    ``alpha = 1``, ``beta = 0`` it is the gradient; with ``out = W``, ``alpha = -lr``,
    ``beta = 1`` it is the SGD update itself, with no gradient buffer.

    With a split input (``n_dense < n_visible``, see ``input_split``) the first
    ``n_dense`` rows still take one K = 2P product; the others take ``dY^T H`` (K = P)
    and then the sparse tail's ``X~^T dH``.
    """
    n = n_dense
    if n == out.shape[0]:
        gemm(alpha, ws.xd[: 2 * P], True, ws.hg[: 2 * P], False, beta, out)
    else:
        gemm(alpha, ws.xd[: 2 * P, :n], True, ws.hg[: 2 * P], False, beta, out[:n])
        gemm(alpha, ws.xd[P : 2 * P, n:], True, ws.hg[P : 2 * P], False, beta, out[n:])
        tail_update(out, alpha, ws.tail, ws.hg[:P])


@njit(nogil=True, **_jit)
def train_autoencoder(W, b, c, X, orders, first_epoch, batch_size, lr, hp, tail_density, n_blocks, epoch_loss, at,
                      partial, stop):
    """Run ``len(orders)`` epochs of mini-batch SGD on a tied autoencoder, in place.

    ``orders[e]`` is the order in which epoch ``e`` visits the rows of ``X``; batches
    are consecutive slices of it (the last one may be smaller). Masking noise of epoch
    ``e`` uses stream ``first_epoch + e``. ``epoch_loss[e]`` receives the mean over the
    epoch's patterns of the batch losses, each taken before its update.

    Inputs whose columns are mostly zeros (MNIST's pixels) are split into a dense prefix
    and a sparse tail, as ``input_split(X, tail_density)`` decides: the loop then trains
    ``W`` and ``c`` with their visible units in that order, and puts them back in order
    when it returns. ``tail_density = 0`` never splits.

    Stopping and resuming (see ``fastae.stopping``): the first epoch starts at row
    ``at[1]`` of its order with ``partial[0]`` as the loss summed so far. Before each
    batch the loop stops if ``stop[0]`` is set or ``stop[1]`` batches have run, leaving
    in ``at`` the epoch (index into ``orders``) and row it stopped at, and in
    ``partial[0]`` that epoch's loss sum. A loop that finishes leaves
    ``at = (len(orders), 0)``. Runs without the GIL, so a caller's thread can set ``stop``.
    """
    cols, n_dense = input_split(X, tail_density, SPLIT_SAMPLE_ROWS)
    split = n_dense < X.shape[1]
    if split:
        reorder_rows(W, cols)
        reorder_rows(c, cols)
    _sgd_epochs(W, b, c, X, cols, n_dense, orders, first_epoch, batch_size, lr, hp, n_blocks, epoch_loss, at,
                partial, stop)
    if split:
        back = inverse(cols)
        reorder_rows(W, back)
        reorder_rows(c, back)


@njit(**_jit)
def _sgd_epochs(W, b, c, X, cols, n_dense, orders, first_epoch, batch_size, lr, hp, n_blocks, epoch_loss, at,
                partial, stop):
    """``train_autoencoder``'s loop; ``W`` and ``c`` have their visible units in the order
    ``cols`` when ``n_dense < n_visible`` (the targets are then gathered in that order)."""
    n, V = X.shape
    split = n_dense < V
    B = min(batch_size, n)
    ws = ae_work(V, W.shape[1], B, W.dtype, False, split)
    identity = np.arange(B)  # rows of the gathered targets ws.clean
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
            if split:
                gather_corrupt(ws.tail.drawn[:P], X, rows, hp.corruption, hp.seed, first_epoch + e, n_blocks)
                split_batch(ws.xd, ws.clean, ws.tail, X, rows, cols, n_dense)
                loss = ae_step(W, b, c, ws.clean, identity[:P], hp, ws, n_dense, n_blocks)
            else:
                gather_corrupt(ws.xd[:P], X, rows, hp.corruption, hp.seed, first_epoch + e, n_blocks)
                loss = ae_step(W, b, c, X, rows, hp, ws, n_dense, n_blocks)
            total += P * loss
            tied_weight_step(W, -lr, 1.0, ws, P, n_dense)
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
#: ``tail``: the input's sparse tail, when it is split (see ``input_split``).
ClassifierWork = namedtuple("ClassifierWork", "xin acts deltas zeros dWs dbs loss_rows hits tail")


@njit(**_jit)
def classifier_work(weights, batch_size, with_tail):
    B = batch_size
    dtype = weights[0].dtype
    acts = [np.empty((B, W.shape[1]), dtype) for W in weights]
    deltas = [np.empty((B, W.shape[1]), dtype) for W in weights]
    zeros = [np.zeros(W.shape[1], dtype) for W in weights]
    dWs = [np.empty_like(W) for W in weights]
    dbs = [np.empty(W.shape[1], dtype) for W in weights]
    xin = np.empty((B, weights[0].shape[0]), dtype)
    tail = sparse_tail(B if with_tail else 0, weights[0].shape[0], dtype)
    return ClassifierWork(xin, acts, deltas, zeros, dWs, dbs, np.empty(B, dtype), np.empty(B, dtype), tail)


@njit(**_jit)
def classifier_forward(weights, biases, X, acts, tail, n_dense, n_blocks):
    """Layer outputs for the rows of ``X`` into ``acts[l][:P]``; the last holds the
    logits without their bias (``softmax_xent`` adds it). ``tail`` and ``n_dense``: the
    input's split, as in ``input_product``."""
    P = X.shape[0]
    top = len(weights) - 1
    input_product(acts[0][:P], X, weights[0], tail, n_dense)
    for l in range(1, top + 1):
        bias_sigmoid(acts[l - 1][:P], biases[l - 1], n_blocks)
        np.dot(acts[l - 1][:P], weights[l], acts[l][:P])


@njit(**_jit)
def classifier_step(weights, biases, labels, rows, ws, n_dense, n_blocks):
    """Softmax cross-entropy of one batch and its gradients; returns ``(loss, hits)``.

    On entry ``ws.xin[:P]`` holds the batch's input, whose labels are ``labels[rows]``
    (with ``n_dense`` below the input's width, its first ``n_dense`` columns, the rest in
    ``ws.tail``: see ``input_split``). On exit ``ws.dWs``, ``ws.dbs`` hold the gradients
    of the mean loss over the batch.
    """
    P = rows.shape[0]
    top = len(weights) - 1
    xin = ws.xin[:P]
    classifier_forward(weights, biases, xin, ws.acts, ws.tail, n_dense, n_blocks)
    D = ws.acts[top][:P]  # logits, then dJ/dlogits
    softmax_xent(D, ws.loss_rows[:P], ws.hits[:P], biases[top], labels, rows, 1.0 / P, n_blocks)
    for l in range(top, -1, -1):
        if l == 0:
            input_gradient(ws.dWs[0], xin, D, ws.tail, n_dense)
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
                     height, seed, tail_density, n_blocks, epoch_loss, epoch_hits, at, partial, stop):
    """Run ``len(orders)`` epochs of mini-batch training of the whole network, in place.

    ``state`` holds the optimiser's moments (``mW``, ``vW``, ``mb``, ``vb``, lists like
    the parameters) and its step count ``t`` (a 1-element array). ``corruption`` > 0
    masks the input as the autoencoders' training does; ``shift`` > 0 first moves each
    image (``height`` rows) by up to that many pixels (``gather_augment``). A sparse
    input is split as in ``train_autoencoder`` (the rows of the first weight and of its
    moments reordered while the loop runs). ``at``, ``partial`` (loss sum, hits) and
    ``stop`` work as in ``train_autoencoder``.
    """
    cols, n_dense = input_split(X, tail_density, SPLIT_SAMPLE_ROWS)
    split = n_dense < X.shape[1]
    if split:
        for A in (weights[0], state.mW[0], state.vW[0]):
            reorder_rows(A, cols)
    _classifier_epochs(weights, biases, X, labels, cols, n_dense, orders, first_epoch, batch_size, opt, state,
                       corruption, shift, height, seed, n_blocks, epoch_loss, epoch_hits, at, partial, stop)
    if split:
        back = inverse(cols)
        for A in (weights[0], state.mW[0], state.vW[0]):
            reorder_rows(A, back)


@njit(**_jit)
def _classifier_epochs(weights, biases, X, labels, cols, n_dense, orders, first_epoch, batch_size, opt, state,
                       corruption, shift, height, seed, n_blocks, epoch_loss, epoch_hits, at, partial, stop):
    """``train_classifier``'s loop; ``weights[0]`` and its moments have their rows in the
    order ``cols`` when ``n_dense`` is below the input's width."""
    n = X.shape[0]
    split = n_dense < X.shape[1]
    ws = classifier_work(weights, min(batch_size, n), split)
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
            if split:
                gather_augment(ws.tail.drawn[:P], X, rows, corruption, shift, height, seed, first_epoch + e,
                               n_blocks)
                split_batch(ws.xin, ws.xin[:0], ws.tail, X, rows, cols, n_dense)
            else:
                gather_augment(ws.xin[:P], X, rows, corruption, shift, height, seed, first_epoch + e, n_blocks)
            loss, h = classifier_step(weights, biases, labels, rows, ws, n_dense, n_blocks)
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
    ws = classifier_work(weights, P, False)
    ws.xin[:] = X
    loss, _ = classifier_step(weights, biases, labels, np.arange(P), ws, X.shape[1], n_blocks)
    return loss, ws.dWs, ws.dbs


@njit(**_jit)
def classifier_layers(weights, biases, X, chunk, n_blocks):
    """Every layer's output for all rows of ``X``: sigmoid layers, then the logits."""
    n = X.shape[0]
    outs = [np.empty((n, W.shape[1]), X.dtype) for W in weights]
    ws = classifier_work(weights, min(chunk, n), False)
    top = len(weights) - 1
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        P = stop - start
        classifier_forward(weights, biases, X[start:stop], ws.acts, ws.tail, X.shape[1], n_blocks)
        for l in range(top + 1):
            outs[l][start:stop] = ws.acts[l][:P]
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
        run_in_worker(train_autoencoder, W, b, c, X, orders, first_epoch, batch_size, W.dtype.type(lr), hp,
                      config.SPLIT_TAIL_DENSITY, nb, losses, at, partial, stop)
        return losses

    def ae_loss_and_grads(self, W, b, c, Xt, X, hp):
        P = X.shape[0]
        V = X.shape[1]
        ws = ae_work(V, W.shape[1], P, W.dtype, True, False)
        ws.xd[:P] = Xt
        loss = ae_step(W, b, c, X, np.arange(P), hp, ws, V, self.n_blocks(X.size))
        tied_weight_step(ws.dW, 1.0, 0.0, ws, P, V)
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
                      corruption, shift, height, seed, config.SPLIT_TAIL_DENSITY, nb, losses, hits, at, partial, stop)
        return losses, hits

    def classifier_loss_and_grads(self, weights, biases, X, labels):
        loss, dWs, dbs = classifier_loss_and_grads(weights, biases, X, labels, self.n_blocks(X.size))
        return loss, list(dWs), list(dbs)

    def classifier_layers(self, weights, biases, X, chunk=4096):
        nb = self.n_blocks(min(chunk, X.shape[0]) * X.shape[1])
        return list(classifier_layers(weights, biases, X, chunk, nb))
