"""The CUDA backend's row kernels and their host launchers, under the CPU kernels' names
and arguments: a batch's gather with masking noise and shifts, the output delta and its
loss, column sums, the KL term, bias and sigmoid, the hidden delta, softmax
cross-entropy, SGD and Adam. ``cuda_kernels`` (the namespace) takes them in.

The kernels share the CPU's KL term and counter-based masking noise (``mathfn``), so one
seed gives one mask on both devices. The sigmoid and its cross-entropy are device
functions here, computed in float64 and rounded where they are stored: numba-cuda cannot
compile mathfn's float32 versions (``np.floor`` is not among its ufuncs) nor inline its
overloads.

Loss sums are accumulated in float64 with atomics (one per block), so they are not
bitwise reproducible from run to run; everything else is. A batch's rows reach a kernel
as ``Rows`` (the orders, the epoch and an offset), never as a view.
"""
import math

import numpy as np
from numba import cuda

from .. import config
from . import cuda_device as dev
from .cuda_gemm import sigmoid
from .mathfn import keep_threshold, kl_divergence, kl_divergence_grad, noise_bits, noise_row_key
from .records import MSE

#: The most threads a block may have (CUDA's limit); sizes the block-sum scratch.
_MAX_THREADS_PER_BLOCK = 1024


@cuda.jit(device=True)
def sigmoid_ce(z, x):
    """``mathfn.sigmoid_ce`` in float64: ``(sigmoid(z), binary cross-entropy against x)``."""
    z, x = float(z), float(x)
    e = math.exp(-abs(z))
    y = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
    return y, max(z, 0.0) - x * z + math.log1p(e)


def _launch(n):
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    return min(max(1, math.ceil(n / tpb)), config.CUDA_MAX_BLOCKS), tpb


def _flat(a):
    return a.reshape(a.size)


class Rows:
    """The rows ``start .. start + P`` of ``order[e]`` (``order``: a 2-D device array of
    row indices), which kernels read as ``order[e, start + i]``: a batch's patterns
    without a view of the orders. ``shape`` is ``(P,)``, as for the array it stands for."""

    __slots__ = ("order", "e", "start", "shape")

    def __init__(self, order, e, start, P):
        self.order, self.e, self.start, self.shape = order, e, start, (P,)

    def __getitem__(self, span):
        first, stop, _ = span.indices(self.shape[0])
        return Rows(self.order, self.e, self.start + first, max(0, stop - first))


def _rows(rows):
    """``(order, e, start, P)`` of ``Rows`` or of a 1-D device array of row indices."""
    if isinstance(rows, Rows):
        return rows.order, rows.e, rows.start, rows.shape[0]
    return rows.reshape(1, rows.shape[0]), 0, 0, rows.shape[0]


# --------------------------------------------------------------------------- noise


@cuda.jit
def _gather_augment(out, P, X, order, e, r0, p, shift, height, seed, stream, divisor):
    V = out.shape[1]
    width = V // height
    span = np.uint64(2 * shift + 1)
    threshold = keep_threshold(p)
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, P * V, step):
        i, j = idx // V, idx % V
        r = order[e, r0 + i]
        key = noise_row_key(seed, stream, r)
        sy, sx = j // width, j % width
        if shift > 0:
            sy -= np.int64(noise_bits(key, V) % span) - shift
            sx -= np.int64(noise_bits(key, V + 1) % span) - shift
        v = 0.0
        if 0 <= sy < height and 0 <= sx < width:
            v = X[r, sy * width + sx] / divisor  # bytes / 255 in float64, then rounded: the CPU's float32 quotient
        if p == 0.0 or noise_bits(key, j) >= threshold:
            out[i, j] = v
        else:
            out[i, j] = 0.0


def _augment_launch(out, X, rows, p, shift, height, seed, stream):
    """The gathers' launch; ``p`` and ``shift`` None (the CPU's "none compiled") are 0."""
    p, shift = p or 0.0, shift or 0
    order, e, r0, P = _rows(rows)
    divisor = 255.0 if is_bytes(X) else 1.0
    dev.launch(_gather_augment, *_launch(P * out.shape[1]), out, P, X, order, e, r0, p, shift, height, seed, stream,
               divisor)


def gather_augment(out, X, rows, p, shift, height, seed, stream, n_blocks):
    """The CPU's ``gather_augment`` (random shifts, then masking noise, bytes scaled by
    1/255), bit for bit, into ``out[:len(rows)]``."""
    _augment_launch(out, X, rows, p, shift, height, seed, stream)


def gather_corrupt(out, X, rows, p, seed, stream, n_blocks):
    """``out[i] = X[rows[i]] * mask``: the CPU kernel's masking noise, bit for bit."""
    _augment_launch(out, X, rows, p, 0, 1, seed, stream)


def draw(out, clean, tail, X, rows, aug, stream, split, n_blocks):
    _augment_launch(out, X, rows, aug.corruption, 0, 1, aug.seed, stream)
    if clean.shape[0] > 0:  # bytes: the clean targets as floats too
        _augment_launch(clean, X, rows, 0.0, 0, 1, aug.seed, stream)


def is_bytes(X):
    """True for uint8 data, which the gathers scale by 1/255."""
    return X.dtype == np.uint8


def step_targets(X, rows, clean, targets, split):
    """The CPU's ``step_targets``: ``X`` and ``rows``, or for bytes the gathered ``clean``
    batch and its rows (the GPU never splits)."""
    return (X, rows) if split is None and not is_bytes(X) else (clean, targets[: rows.shape[0]])


def draw_augmented(out, clean, tail, X, rows, aug, stream, split, n_blocks):
    _augment_launch(out, X, rows, aug.corruption, aug.shift, aug.height, aug.seed, stream)


# -------------------------------------------------------------------- elementwise


@cuda.jit(device=True)
def _block_sum(partial, value):
    """The sum of ``value`` over the block's threads (valid in thread 0)."""
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    width = cuda.blockDim.x // 2
    while width > 0:
        if t < width:
            partial[t] += partial[t + width]
        cuda.syncthreads()
        width //= 2
    return partial[0]


@cuda.jit
def _output_delta(D, d0, P, loss_rows, c, X, order, e, r0, loss_kind, scale, acc, row_blocks, H, h0, rho_hat, kl_grad,
                  kl):
    """Blocks below ``row_blocks``: a block per pattern, the output delta into
    ``D[d0 + i]`` and its loss. The others, with ``kl = (rho, beta)``: a thread per hidden
    unit, ``rho_hat`` (the mean of ``H[h0 : h0 + P]``), the KL term's gradient and loss."""
    V = D.shape[1]
    if cuda.blockIdx.x >= row_blocks:
        j = (cuda.blockIdx.x - row_blocks) * cuda.blockDim.x + cuda.threadIdx.x
        if j < rho_hat.shape[0]:
            total = 0.0
            for i in range(P):
                total += H[h0 + i, j]
            rho_hat[j] = total * (1.0 / P)
            rho, beta = kl
            kl_grad[j] = beta * (1.0 / P) * kl_divergence_grad(rho, rho_hat[j])
            cuda.atomic.add(acc, 0, float(P) * beta * kl_divergence(rho, rho_hat[j]))
        return
    partial = cuda.shared.array(_MAX_THREADS_PER_BLOCK, np.float64)
    for i in range(cuda.blockIdx.x, P, row_blocks):  # a block per pattern
        total = 0.0
        r = order[e, r0 + i]
        for j in range(cuda.threadIdx.x, V, cuda.blockDim.x):
            x = X[r, j]
            z = D[d0 + i, j] + c[j]
            if loss_kind == MSE:
                y = sigmoid(z)
                term = (y - x) * (y - x)
                D[d0 + i, j] = 2.0 * (y - x) * y * (1.0 - y) * scale
            else:
                y, term = sigmoid_ce(z, x)
                D[d0 + i, j] = (y - x) * scale
            total += term
        total = _block_sum(partial, total)
        if cuda.threadIdx.x == 0:
            loss_rows[i] = total
            cuda.atomic.add(acc, 0, total)
        cuda.syncthreads()


def output_delta_launch(D, d0, P, loss_rows, c, X, rows, loss_kind, scale, sums, kl=None):
    order, e, r0, _ = _rows(rows)
    tpb = config.CUDA_THREADS_PER_BLOCK
    row_blocks = min(P, config.CUDA_MAX_BLOCKS)
    H, rho_hat, kl_grad, rho_beta = kl if kl is not None else (D, c, c, (0.0, 0.0))
    kl_blocks = 0 if kl is None else math.ceil(rho_hat.shape[0] / tpb)
    loss_code = MSE if loss_kind == MSE else MSE + 1  # an integer for the kernel (CROSS_ENTROPY is None)
    dev.launch(_output_delta, row_blocks + kl_blocks, tpb, D, d0, P, loss_rows, c, X, order, e, r0, loss_code,
               scale, sums, row_blocks, H, P, rho_hat, kl_grad, rho_beta)


def output_delta(D, loss_rows, c, X, rows, loss_kind, scale, sums, n_blocks):
    """As the CPU kernel: ``loss_rows`` per pattern, their sum added to ``sums[0]``."""
    output_delta_launch(D, 0, D.shape[0], loss_rows, c, X, rows, loss_kind, scale, sums)


@cuda.jit
def _col_sum(out, A, scale):
    j = cuda.grid(1)
    if j < A.shape[1]:
        total = 0.0
        for i in range(A.shape[0]):
            total += A[i, j]
        out[j] = total * scale


def col_sum(out, A, scale, n_blocks):
    """``out[j] = scale * sum_i A[i, j]``, one thread a column."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    dev.launch(_col_sum, math.ceil(A.shape[1] / tpb), tpb, out, A, scale)


@cuda.jit
def _kl_penalty(grad, rho_hat, rho, beta, scale, weight, acc):
    j = cuda.grid(1)
    if j < rho_hat.shape[0]:
        grad[j] = beta * scale * kl_divergence_grad(rho, rho_hat[j])
        cuda.atomic.add(acc, 0, weight * beta * kl_divergence(rho, rho_hat[j]))


def kl_penalty(grad, rho_hat, rho, beta, scale, weight, sums):
    """``grad = beta * scale * dKL/drho_hat``; adds ``weight * beta * sum_j KL`` to ``sums[0]``."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    dev.launch(_kl_penalty, math.ceil(rho_hat.shape[0] / tpb), tpb, grad, rho_hat, rho, beta, scale, weight, sums)


@cuda.jit
def _bias_act(Z, bias, act):
    tpb = cuda.blockDim.x
    for j in range(cuda.threadIdx.x + cuda.blockIdx.y * tpb, Z.shape[1], tpb * cuda.gridDim.y):
        for i in range(cuda.blockIdx.x, Z.shape[0], cuda.gridDim.x):
            z = Z[i, j] + bias[j]
            Z[i, j] = sigmoid(z) if act else z


def _by_rows(Z):
    """A grid of blocks over (rows, column spans) for ``_bias_act``."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    return (min(Z.shape[0], config.CUDA_MAX_BLOCKS), math.ceil(Z.shape[1] / tpb)), tpb


def bias_sigmoid(Z, bias, n_blocks):
    """In place: ``Z = sigmoid(Z + bias)``."""
    dev.launch(_bias_act, *_by_rows(Z), Z, bias, True)


def add_bias(Z, bias, n_blocks):
    """In place: ``Z += bias`` on every row."""
    dev.launch(_bias_act, *_by_rows(Z), Z, bias, False)


@cuda.jit
def _hidden_delta(D, H, g):
    P, n = D.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, P * n, step):
        i, j = idx // n, idx % n
        h = H[i, j]
        D[i, j] = (D[i, j] + g[j]) * h * (1.0 - h)


def hidden_delta(D, H, g, n_blocks):
    """In place: ``D = (D + g) * H * (1 - H)``."""
    dev.launch(_hidden_delta, *_launch(D.size), D, H, g)


@cuda.jit
def _softmax_xent(D, P, loss_rows, hits, d, labels, order, e, r0, scale, acc):
    i = cuda.grid(1)
    if i < P:
        K = D.shape[1]
        label = labels[order[e, r0 + i]]
        top = 0
        for k in range(K):
            D[i, k] += d[k]
            if D[i, k] > D[i, top]:
                top = k
        total = 0.0
        for k in range(K):
            total += math.exp(D[i, k] - D[i, top])
        log_norm = D[i, top] + math.log(total)
        loss_rows[i] = log_norm - D[i, label]
        hits[i] = 1.0 if top == label else 0.0
        cuda.atomic.add(acc, 0, log_norm - D[i, label])
        cuda.atomic.add(acc, 1, 1.0 if top == label else 0.0)
        for k in range(K):
            target = 1.0 if k == label else 0.0
            D[i, k] = (math.exp(D[i, k] - log_norm) - target) * scale


def softmax_launch(D, P, loss_rows, hits, d, labels, rows, scale, sums):
    order, e, r0, _ = _rows(rows)
    tpb = config.CUDA_THREADS_PER_BLOCK
    dev.launch(_softmax_xent, max(1, math.ceil(P / tpb)), tpb, D, P, loss_rows, hits, d, labels, order, e, r0, scale,
               sums)


def softmax_xent(D, loss_rows, hits, d, labels, rows, scale, sums, n_blocks):
    """As the CPU kernel; adds the summed loss to ``sums[0]`` and the hits to ``sums[1]``."""
    softmax_launch(D, D.shape[0], loss_rows, hits, d, labels, rows, scale, sums)


@cuda.jit
def _sgd(p, g, lr):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, p.shape[0], step):
        p[i] -= lr * g[i]


@cuda.jit
def _adam(p, g, m, v, lr_t, beta1, beta2, eps):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, p.shape[0], step):
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i]
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i]
        p[i] -= lr_t * m[i] / (math.sqrt(v[i]) + eps)


def sgd(param, grad, lr, n_blocks):
    """In place: ``param -= lr * grad``."""
    dev.launch(_sgd, *_launch(param.size), _flat(param), _flat(grad), lr)


def adam(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks):
    """In place Adam step ``t``, as the CPU kernel."""
    lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    dev.launch(_adam, *_launch(param.size), _flat(param), _flat(grad), _flat(m), _flat(v), lr_t, beta1, beta2, eps)


def optimize(param, grad, m, v, sgd_lr, lr, beta1, beta2, eps, t, n_blocks):
    """The CPU's ``optimize``: ``sgd`` at ``sgd_lr`` where that is not None, else ``adam``."""
    if sgd_lr is not None:
        sgd(param, grad, sgd_lr, n_blocks)
    elif beta1 is not None:
        adam(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks)
