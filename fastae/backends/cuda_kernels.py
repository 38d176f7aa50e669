"""The CUDA kernel namespace: ``cpu_kernels``' names and arguments, as numba.cuda kernels
and their host launchers. ``steps.py`` runs over it as plain Python.

The kernels share the CPU's KL term and counter-based masking noise (``mathfn``), so one
seed gives one mask on both devices. The sigmoid and its cross-entropy are device
functions here, computed in float64 and rounded where they are stored: numba-cuda cannot
compile mathfn's float32 versions (``np.floor`` is not among its ufuncs) nor inline its
overloads. Arguments the GPU does not need (``n_blocks``, the CPU's sparse ``tail`` and
``n_dense``) are taken and ignored: the GPU never splits its input.

Loss sums are accumulated in float64 with atomics (one per block), so they are not
bitwise reproducible from run to run; everything else is.
"""
import math

import numpy as np
from numba import cuda

from .. import config
from .cuda_gemm import gemm, sigmoid
from .mathfn import (
    keep_threshold,
    kl_divergence,
    kl_divergence_grad,
    noise_bits,
    noise_row_key,
)
from .records import CROSS_ENTROPY, AEWork, ClassifierWork

#: The most threads a block may have (CUDA's limit); sizes the block-sum scratch.
_MAX_THREADS_PER_BLOCK = 1024

#: ``input_split``'s sample size on the CPU; the GPU does not split.
SPLIT_SAMPLE_ROWS = 0


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


# ------------------------------------------------------------------ buffers, copies


def empty(shape, dtype):
    return cuda.device_array(shape, dtype)


def zeros(shape, dtype):
    return cuda.to_device(np.zeros(shape, dtype))


def arange(n):
    return cuda.to_device(np.arange(n))


def copy(dst, src):
    dst.copy_to_device(src)


def sums():
    return zeros(2, np.float64)


def set_sums(acc, a, b):
    acc.copy_to_device(np.array([a, b], np.float64))


def get_sums(acc):
    a, b = acc.copy_to_host()
    return float(a), float(b)


def ae_work(n_visible, n_hidden, batch_size, dtype, with_dW, with_tail):
    """``cpu_sparse.ae_work`` on the device (no sparse tail; ``clean``, the batch's
    targets, for a byte input)."""
    B = batch_size
    clean = empty((B if with_tail else 0, n_visible), dtype)
    return AEWork(empty((2 * B, n_visible), dtype), empty((2 * B, n_hidden), dtype),
                  empty((n_visible if with_dW else 0, n_hidden), dtype), empty(n_hidden, dtype),
                  empty(n_visible, dtype), empty(n_hidden, dtype), zeros(n_hidden, dtype), empty(B, dtype), sums(),
                  clean, None)


def classifier_work(weights, batch_size, with_tail):
    """``cpu_sparse.classifier_work`` on the device (no sparse tail)."""
    B, dtype = batch_size, weights[0].dtype
    return ClassifierWork(empty((B, weights[0].shape[0]), dtype), [empty((B, W.shape[1]), dtype) for W in weights],
                          [empty((B, W.shape[1]), dtype) for W in weights], [zeros(W.shape[1], dtype) for W in weights],
                          [empty(W.shape, dtype) for W in weights], [empty(W.shape[1], dtype) for W in weights],
                          empty(B, dtype), empty(B, dtype), sums(), None)


def input_split(X, tail_density, sample_rows):
    """No split: ``(arange(n_columns), n_columns)``."""
    return np.arange(X.shape[1]), X.shape[1]


# ---------------------------------------------------------------------- products


def encode(out, X, W, b, n_blocks):
    gemm(1.0, X, False, W, False, 0.0, out, bias=b)


def decode(out, H, W, c, n_blocks):
    gemm(1.0, H, False, W, True, 0.0, out, bias=c)


def encode_input(out, X, W, b, tail, n_dense, n_blocks):
    gemm(1.0, X, False, W, False, 0.0, out, bias=b)


def input_product(out, X, W, tail, n_dense):
    gemm(1.0, X, False, W, False, 0.0, out)


def input_gradient(out, X, G, tail, n_dense):
    gemm(1.0, X, True, G, False, 0.0, out)


def tied_weight_step(out, alpha, beta, ws, P, n_dense):
    gemm(alpha, ws.xd[: 2 * P], True, ws.hg[: 2 * P], False, beta, out)


# --------------------------------------------------------------------------- noise


@cuda.jit
def _gather_augment(out, X, rows, p, shift, height, seed, stream, divisor):
    P, V = out.shape
    width = V // height
    span = np.uint64(2 * shift + 1)
    threshold = keep_threshold(p)
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, P * V, step):
        i, j = idx // V, idx % V
        r = rows[i]
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


def gather_augment(out, X, rows, p, shift, height, seed, stream, n_blocks):
    """The CPU's ``gather_augment`` (random shifts, then masking noise, bytes scaled by
    1/255), bit for bit."""
    divisor = 255.0 if is_bytes(X) else 1.0
    _gather_augment[_launch(out.size)](out, X, rows, p, shift, height, seed, stream, divisor)


def gather_corrupt(out, X, rows, p, seed, stream, n_blocks):
    """``out[i] = X[rows[i]] * mask``: the CPU kernel's masking noise, bit for bit."""
    gather_augment(out, X, rows, p, 0, 1, seed, stream, n_blocks)


def draw(out, clean, tail, X, rows, aug, stream, split, n_blocks):
    gather_corrupt(out[: rows.shape[0]], X, rows, aug.corruption, aug.seed, stream, n_blocks)
    if clean.shape[0] > 0:
        gather_corrupt(clean[: rows.shape[0]], X, rows, 0.0, aug.seed, stream, n_blocks)


def is_bytes(X):
    """The CPU's ``is_bytes``: True for uint8 data."""
    return X.dtype == np.uint8


def float_data(X, batch):
    """The CPU's ``float_data``: ``X``, or ``batch`` for bytes."""
    return batch if is_bytes(X) else X


def draw_augmented(out, clean, tail, X, rows, aug, stream, split, n_blocks):
    gather_augment(out[: rows.shape[0]], X, rows, aug.corruption, aug.shift, aug.height, aug.seed, stream, n_blocks)


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
def _output_delta(D, loss_rows, c, X, rows, loss_kind, scale, acc):
    P, V = D.shape
    partial = cuda.shared.array(_MAX_THREADS_PER_BLOCK, np.float64)
    for i in range(cuda.blockIdx.x, P, cuda.gridDim.x):  # a block per pattern
        total = 0.0
        for j in range(cuda.threadIdx.x, V, cuda.blockDim.x):
            x = X[rows[i], j]
            z = D[i, j] + c[j]
            if loss_kind == CROSS_ENTROPY:
                y, term = sigmoid_ce(z, x)
                D[i, j] = (y - x) * scale
            else:
                y = sigmoid(z)
                term = (y - x) * (y - x)
                D[i, j] = 2.0 * (y - x) * y * (1.0 - y) * scale
            total += term
        total = _block_sum(partial, total)
        if cuda.threadIdx.x == 0:
            loss_rows[i] = total
            cuda.atomic.add(acc, 0, total)
        cuda.syncthreads()


def output_delta(D, loss_rows, c, X, rows, loss_kind, scale, sums, n_blocks):
    """As the CPU kernel: ``loss_rows`` per pattern, their sum added to ``sums[0]``."""
    blocks = min(D.shape[0], config.CUDA_MAX_BLOCKS)
    _output_delta[blocks, config.CUDA_THREADS_PER_BLOCK](D, loss_rows, c, X, rows, loss_kind, scale, sums)


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
    _col_sum[math.ceil(A.shape[1] / tpb), tpb](out, A, scale)


@cuda.jit
def _kl_penalty(grad, rho_hat, rho, beta, scale, weight, acc):
    j = cuda.grid(1)
    if j < rho_hat.shape[0]:
        grad[j] = beta * scale * kl_divergence_grad(rho, rho_hat[j])
        cuda.atomic.add(acc, 0, weight * beta * kl_divergence(rho, rho_hat[j]))


def kl_penalty(grad, rho_hat, rho, beta, scale, weight, sums):
    """``grad = beta * scale * dKL/drho_hat``; adds ``weight * beta * sum_j KL`` to ``sums[0]``."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    _kl_penalty[math.ceil(rho_hat.shape[0] / tpb), tpb](grad, rho_hat, rho, beta, scale, weight, sums)


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
    _bias_act[_by_rows(Z)](Z, bias, True)


def add_bias(Z, bias, n_blocks):
    """In place: ``Z += bias`` on every row."""
    _bias_act[_by_rows(Z)](Z, bias, False)


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
    _hidden_delta[_launch(D.size)](D, H, g)


@cuda.jit
def _softmax_xent(D, loss_rows, hits, d, labels, rows, scale, acc):
    i = cuda.grid(1)
    if i < D.shape[0]:
        K = D.shape[1]
        label = labels[rows[i]]
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


def softmax_xent(D, loss_rows, hits, d, labels, rows, scale, sums, n_blocks):
    """As the CPU kernel; adds the summed loss to ``sums[0]`` and the hits to ``sums[1]``."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    _softmax_xent[math.ceil(D.shape[0] / tpb), tpb](D, loss_rows, hits, d, labels, rows, scale, sums)


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
    _sgd[_launch(param.size)](_flat(param), _flat(grad), lr)


def adam(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks):
    """In place Adam step ``t``, as the CPU kernel."""
    lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    _adam[_launch(param.size)](_flat(param), _flat(grad), _flat(m), _flat(v), lr_t, beta1, beta2, eps)
