"""CUDA kernels (numba.cuda) with the CPU backend's operations, and their host launchers.

This is the only module that imports ``numba.cuda``. The kernels mirror
``backends/cpu.py`` name for name and share its KL term and counter-based masking noise
(``mathfn``), so one seed gives one mask on both devices. The sigmoid and its
cross-entropy are device functions here, computed in float64 and rounded where they are
stored: numba-cuda cannot compile mathfn's float32 versions (``np.floor`` is not among its
ufuncs) nor inline its overloads. Matrix products are a shared-memory, register-tiled GEMM whose
epilogue can add a bias and apply the sigmoid (the encoder and the decoder in one
kernel). Parameters and data stay on the device for a whole run; only ``asarray`` and
``to_host`` copy, and each epoch copies its order of the patterns and reads back its loss.

Loss sums are accumulated in float64 with atomics (one per block), so they are not
bitwise reproducible from run to run; everything else is.

Under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) the kernels run in
numba's CUDA simulator, which the tests use on machines without a GPU.
"""
import math

import numpy as np
from numba import config as numba_config
from numba import cuda

from .. import config
from .cpu import CROSS_ENTROPY, SGD, OptState
from .mathfn import (
    keep_threshold,
    kl_divergence,
    kl_divergence_grad,
    noise_bits,
    noise_row_key,
)

#: The most threads a block may have (CUDA's limit); sizes the block-sum scratch.
_MAX_THREADS_PER_BLOCK = 1024

#: Epilogues of ``gemm``: plain ``alpha * AB + beta * C``, or ``sigmoid(AB + bias)``.
PLAIN = 0
BIAS_SIGMOID = 1


def cuda_unavailable_reason():
    """None when a CUDA device can be used, else why not (one line)."""
    try:
        if not cuda.is_available():
            return "no usable CUDA device was found"
    except Exception as e:  # the driver or the toolkit is missing or broken
        return f"no usable CUDA device ({e})"
    if not hasattr(np, "row_stack") and not numba_config.ENABLE_CUDASIM:
        # numba-cuda up to 0.30.4 registers np.row_stack, which numpy 2.5 removed: every
        # kernel then fails to compile with "module 'numpy' has no attribute 'row_stack'".
        from importlib.metadata import version

        nc = version("numba-cuda")
        if tuple(int(p) for p in nc.split(".")[:3] if p.isdigit()) <= (0, 30, 4):
            return (f"numba-cuda {nc} cannot compile kernels with numpy {np.__version__}; "
                    "install numpy < 2.5 (pip install 'numpy<2.5')")
    return None


# ----------------------------------------------------------------- scalar math


@cuda.jit(device=True)
def sigmoid(z):
    """``mathfn.sigmoid`` in float64, without overflow for large ``|z|``."""
    z = float(z)
    e = math.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


@cuda.jit(device=True)
def sigmoid_ce(z, x):
    """``mathfn.sigmoid_ce`` in float64: ``(sigmoid(z), binary cross-entropy against x)``."""
    z, x = float(z), float(x)
    e = math.exp(-abs(z))
    y = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
    return y, max(z, 0.0) - x * z + math.log1p(e)


# ---------------------------------------------------------------------------- GEMM

_gemm_kernels = {}


def _gemm_kernel(trans_a, trans_b, dtype):
    """The tiled GEMM kernel for these transposes and this dtype (compiled once).

    A block of ``TY x TX`` threads computes a ``TY*RM x TX*RN`` tile of C; each thread
    keeps an ``RM x RN`` tile of accumulators in registers. Slices of A and B, ``BK``
    deep, are staged through shared memory.
    """
    key = (trans_a, trans_b, np.dtype(dtype).name, config.CUDA_GEMM_TILE)
    if key in _gemm_kernels:
        return _gemm_kernels[key]
    TY, TX, RM, RN, BK = config.CUDA_GEMM_TILE
    BM, BN = TY * RM, TX * RN
    sdtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64

    @cuda.jit
    def kernel(alpha, A, B, beta, C, bias, epilogue):
        M, N = C.shape
        K = A.shape[0] if trans_a else A.shape[1]
        ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
        tid = ty * TX + tx
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        sA = cuda.shared.array((BK, BM), sdtype)  # sA[k, m] = A[row0 + m, k0 + k]
        sB = cuda.shared.array((BK, BN), sdtype)  # sB[k, n] = B[k0 + k, col0 + n]
        acc = cuda.local.array((RM, RN), sdtype)
        a_reg = cuda.local.array(RM, sdtype)
        b_reg = cuda.local.array(RN, sdtype)
        for i in range(RM):
            for j in range(RN):
                acc[i, j] = 0.0
        for k0 in range(0, K, BK):
            for idx in range(tid, BM * BK, TY * TX):
                m, kk = idx // BK, idx % BK
                gm, gk = row0 + m, k0 + kk
                v = 0.0
                if gm < M and gk < K:
                    v = A[gk, gm] if trans_a else A[gm, gk]
                sA[kk, m] = v
            for idx in range(tid, BK * BN, TY * TX):
                kk, n = idx // BN, idx % BN
                gk, gn = k0 + kk, col0 + n
                v = 0.0
                if gk < K and gn < N:
                    v = B[gn, gk] if trans_b else B[gk, gn]
                sB[kk, n] = v
            cuda.syncthreads()
            for kk in range(BK):
                for i in range(RM):
                    a_reg[i] = sA[kk, ty + i * TY]
                for j in range(RN):
                    b_reg[j] = sB[kk, tx + j * TX]
                for i in range(RM):
                    for j in range(RN):
                        acc[i, j] += a_reg[i] * b_reg[j]
            cuda.syncthreads()
        for i in range(RM):
            gm = row0 + ty + i * TY
            for j in range(RN):
                gn = col0 + tx + j * TX
                if gm < M and gn < N:
                    if epilogue == BIAS_SIGMOID:
                        C[gm, gn] = sigmoid(acc[i, j] + bias[gn])
                    elif beta == 0.0:
                        C[gm, gn] = alpha * acc[i, j]
                    else:
                        C[gm, gn] = alpha * acc[i, j] + beta * C[gm, gn]

    _gemm_kernels[key] = kernel
    return kernel


def gemm(alpha, A, trans_a, B, trans_b, beta, C, bias=None):
    """``C = alpha op(A) op(B) + beta C``, or ``C = sigmoid(op(A) op(B) + bias)`` when
    ``bias`` is given; the same contract as ``backends.blas.gemm``."""
    TY, TX, RM, RN, _ = config.CUDA_GEMM_TILE
    M, N = C.shape
    grid = (math.ceil(N / (TX * RN)), math.ceil(M / (TY * RM)))
    kernel = _gemm_kernel(trans_a, trans_b, C.dtype)
    epilogue = PLAIN if bias is None else BIAS_SIGMOID
    kernel[grid, (TX, TY)](alpha, A, B, beta, C, C[0] if bias is None else bias, epilogue)


# --------------------------------------------------------------- elementwise kernels


def _launch(n):
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    return min(max(1, math.ceil(n / tpb)), config.CUDA_MAX_BLOCKS), tpb


@cuda.jit
def _gather_corrupt(out, X, rows, p, seed, stream):
    P, V = out.shape
    threshold = keep_threshold(p)
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, P * V, step):
        i, j = idx // V, idx % V
        r = rows[i]
        if p == 0.0 or noise_bits(noise_row_key(seed, stream, r), j) >= threshold:
            out[i, j] = X[r, j]
        else:
            out[i, j] = 0.0


def gather_corrupt(out, X, rows, p, seed, stream):
    """``out[i] = X[rows[i]] * mask``: the CPU kernel's masking noise, bit for bit."""
    _gather_corrupt[_launch(out.size)](out, X, rows, p, seed, stream)


@cuda.jit
def _gather_augment(out, X, rows, p, shift, height, seed, stream):
    P, V = out.shape
    width = V // height
    span = np.uint64(2 * shift + 1)
    threshold = keep_threshold(p)
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, P * V, step):
        i, j = idx // V, idx % V
        r = rows[i]
        key = noise_row_key(seed, stream, r)
        dy = np.int64(noise_bits(key, V) % span) - shift
        dx = np.int64(noise_bits(key, V + 1) % span) - shift
        sy, sx = j // width - dy, j % width - dx
        v = 0.0
        if 0 <= sy < height and 0 <= sx < width:
            v = X[r, sy * width + sx]
        if p == 0.0 or noise_bits(key, j) >= threshold:
            out[i, j] = v
        else:
            out[i, j] = 0.0


def gather_augment(out, X, rows, p, shift, height, seed, stream):
    """The CPU's ``gather_augment`` (random shifts, then masking noise), bit for bit."""
    if shift == 0:
        gather_corrupt(out, X, rows, p, seed, stream)
    else:
        _gather_augment[_launch(out.size)](out, X, rows, p, shift, height, seed, stream)


@cuda.jit
def _output_delta(D, c, X, rows, loss_kind, scale, acc):
    P, V = D.shape
    partial = cuda.shared.array(_MAX_THREADS_PER_BLOCK, np.float64)
    start, step = cuda.grid(1), cuda.gridsize(1)
    total = 0.0
    for idx in range(start, P * V, step):
        i, j = idx // V, idx % V
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
    _block_sum_into(partial, total, acc, 0)


@cuda.jit(device=True)
def _block_sum_into(partial, value, acc, slot):
    """Add ``value`` of every thread of the block to ``acc[slot]`` (one atomic a block)."""
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    width = cuda.blockDim.x // 2
    while width > 0:
        if t < width:
            partial[t] += partial[t + width]
        cuda.syncthreads()
        width //= 2
    if t == 0:
        cuda.atomic.add(acc, slot, partial[0])


def output_delta(D, c, X, rows, loss_kind, scale, acc):
    """As the CPU kernel; the summed loss of all patterns is added to ``acc[0]``."""
    blocks, tpb = _launch(D.size)
    _output_delta[blocks, tpb](D, c, X, rows, loss_kind, scale, acc)


@cuda.jit
def _col_sum(out, A, scale):
    j = cuda.grid(1)
    if j < A.shape[1]:
        total = 0.0
        for i in range(A.shape[0]):
            total += A[i, j]
        out[j] = total * scale


def col_sum(out, A, scale):
    """``out[j] = scale * sum_i A[i, j]``, one thread a column."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    _col_sum[math.ceil(A.shape[1] / tpb), tpb](out, A, scale)


@cuda.jit
def _kl_penalty(grad, rho_hat, rho, beta, scale, weight, acc):
    j = cuda.grid(1)
    if j < rho_hat.shape[0]:
        grad[j] = beta * scale * kl_divergence_grad(rho, rho_hat[j])
        cuda.atomic.add(acc, 0, weight * beta * kl_divergence(rho, rho_hat[j]))


def kl_penalty(grad, rho_hat, rho, beta, scale, weight, acc):
    """``grad = beta * scale * dKL/drho_hat``; adds ``weight * beta * sum_j KL`` to ``acc[0]``."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    _kl_penalty[math.ceil(rho_hat.shape[0] / tpb), tpb](grad, rho_hat, rho, beta, scale, weight, acc)


@cuda.jit
def _hidden_delta(D, H, g):
    P, n = D.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, P * n, step):
        i, j = idx // n, idx % n
        h = H[i, j]
        D[i, j] = (D[i, j] + g[j]) * h * (1.0 - h)


def hidden_delta(D, H, g):
    """In place: ``D = (D + g) * H * (1 - H)``."""
    _hidden_delta[_launch(D.size)](D, H, g)


@cuda.jit
def _softmax_xent(D, d, labels, rows, scale, acc):
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
        cuda.atomic.add(acc, 0, log_norm - D[i, label])
        cuda.atomic.add(acc, 1, 1.0 if top == label else 0.0)
        for k in range(K):
            target = 1.0 if k == label else 0.0
            D[i, k] = (math.exp(D[i, k] - log_norm) - target) * scale


def softmax_xent(D, d, labels, rows, scale, acc):
    """As the CPU kernel; adds the summed loss to ``acc[0]`` and the hits to ``acc[1]``."""
    tpb = config.CUDA_THREADS_PER_BLOCK
    _softmax_xent[math.ceil(D.shape[0] / tpb), tpb](D, d, labels, rows, scale, acc)


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


def _flat(a):
    return a.reshape(a.size)


def sgd(param, grad, lr):
    """In place: ``param -= lr * grad``."""
    _sgd[_launch(param.size)](_flat(param), _flat(grad), lr)


def adam(param, grad, m, v, lr, beta1, beta2, eps, t):
    """In place Adam step ``t``, as the CPU kernel."""
    lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    _adam[_launch(param.size)](_flat(param), _flat(grad), _flat(m), _flat(v), lr_t, beta1, beta2, eps)


@cuda.jit
def _fill(a, value):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, a.shape[0], step):
        a[i] = value


def fill(a, value):
    _fill[_launch(a.size)](_flat(a), value)


# ------------------------------------------------------------------- the backend


class CUDABackend:
    """The CPU backend's methods, on an NVIDIA GPU. Arrays are numba device arrays."""

    name = "cuda"

    def __init__(self):
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise ValueError(
                f"device: {reason}; device='cuda' needs an NVIDIA GPU and the CUDA extra "
                "(pip install 'fastae[cuda]'); use device='cpu' meanwhile"
            )

    # ---------------------------------------------------------------- transfers

    def asarray(self, x, dtype):
        if hasattr(x, "copy_to_host"):  # already on the device
            return x
        return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))

    def to_host(self, x):
        return x.copy_to_host() if hasattr(x, "copy_to_host") else x

    def _empty(self, shape, dtype):
        return cuda.device_array(shape, dtype)

    def _zeros(self, shape, dtype):
        return cuda.to_device(np.zeros(shape, dtype))

    # --------------------------------------------------------- tied autoencoder

    def corrupt(self, X, p, seed, stream):
        out = self._empty(X.shape, X.dtype)
        gather_corrupt(out, X, cuda.to_device(np.arange(X.shape[0])), p, seed, stream)
        return out

    def _ae_work(self, V, Hn, B, dtype):
        return {
            "xd": self._empty((2 * B, V), dtype),  # [X~ ; dY]
            "hg": self._empty((2 * B, Hn), dtype),  # [dH ; H]
            "db": self._empty(Hn, dtype),
            "dc": self._empty(V, dtype),
            "rho_hat": self._empty(Hn, dtype),
            "kl_grad": self._zeros(Hn, dtype),
            "acc": self._zeros(2, np.float64),
        }

    def _ae_step(self, W, b, c, X, rows, P, hp, ws):
        """As ``cpu.ae_step``: on entry ``xd[:P]`` holds X~; adds P x the batch loss to
        ``acc[0]``; leaves db, dc and the factors of dW (``xd``, ``hg``)."""
        Xt, D_out = ws["xd"][:P], ws["xd"][P : 2 * P]
        D_hid, H = ws["hg"][:P], ws["hg"][P : 2 * P]
        gemm(1.0, Xt, False, W, False, 0.0, H, bias=b)
        gemm(1.0, H, False, W, True, 0.0, D_out)
        output_delta(D_out, c, X, rows, hp.loss_kind, 1.0 / P, ws["acc"])
        if hp.beta > 0.0:
            col_sum(ws["rho_hat"], H, 1.0 / P)
            kl_penalty(ws["kl_grad"], ws["rho_hat"], hp.rho, hp.beta, 1.0 / P, float(P), ws["acc"])
        gemm(1.0, D_out, False, W, False, 0.0, D_hid)
        hidden_delta(D_hid, H, ws["kl_grad"])
        col_sum(ws["db"], D_hid, 1.0)
        col_sum(ws["dc"], D_out, 1.0)

    def train_autoencoder(self, W, b, c, X, orders, first_epoch, batch_size, lr, hp, at, partial, stop):
        """As the CPU backend's; ``at``, ``partial`` and ``stop`` as in ``cpu.train_autoencoder``."""
        n = X.shape[0]
        B = min(batch_size, n)
        ws = self._ae_work(X.shape[1], W.shape[1], B, W.dtype)
        losses = np.empty(len(orders))
        first_row = int(at[1])
        for e, order in enumerate(orders):
            order = cuda.to_device(np.ascontiguousarray(order))
            ws["acc"].copy_to_device(partial[:2] if e == 0 else np.zeros(2))
            for start in range(first_row if e == 0 else 0, n, batch_size):
                if stop[0] != 0 or stop[1] <= 0:
                    at[:] = e, start
                    partial[:2] = ws["acc"].copy_to_host()
                    return losses
                stop[1] -= 1
                P = min(batch_size, n - start)
                rows = order[start : start + P]
                gather_corrupt(ws["xd"][:P], X, rows, hp.corruption, hp.seed, first_epoch + e)
                self._ae_step(W, b, c, X, rows, P, hp, ws)
                gemm(-lr, ws["xd"][: 2 * P], True, ws["hg"][: 2 * P], False, 1.0, W)  # W -= lr dW
                sgd(b, ws["db"], lr)
                sgd(c, ws["dc"], lr)
            losses[e] = ws["acc"].copy_to_host()[0] / n
        at[:] = len(orders), 0
        partial[:] = 0.0
        return losses

    def ae_loss_and_grads(self, W, b, c, Xt, X, hp):
        P = X.shape[0]
        ws = self._ae_work(X.shape[1], W.shape[1], P, W.dtype)
        ws["xd"][:P].copy_to_device(Xt)
        self._ae_step(W, b, c, X, cuda.to_device(np.arange(P)), P, hp, ws)
        dW = self._empty(W.shape, W.dtype)
        gemm(1.0, ws["xd"], True, ws["hg"], False, 0.0, dW)
        return ws["acc"].copy_to_host()[0] / P, {"W": dW, "b": ws["db"], "c": ws["dc"]}

    def ae_loss(self, W, b, c, Xt, X, hp, chunk=4096):
        n, V = X.shape
        Hn = W.shape[1]
        H = self._empty((min(chunk, n), Hn), W.dtype)
        D = self._empty((min(chunk, n), V), W.dtype)
        col = self._empty(Hn, W.dtype)
        rho_sum = np.zeros(Hn)
        acc = self._zeros(2, np.float64)
        rows = cuda.to_device(np.arange(n))
        for start in range(0, n, chunk):
            P = min(chunk, n - start)
            gemm(1.0, Xt[start : start + P], False, W, False, 0.0, H[:P], bias=b)
            gemm(1.0, H[:P], False, W, True, 0.0, D[:P])
            output_delta(D[:P], c, X, rows[start : start + P], hp.loss_kind, 1.0, acc)
            col_sum(col, H[:P], 1.0)
            rho_sum += col.copy_to_host()
        recon = acc.copy_to_host()[0] / n
        rho_hat = (rho_sum / n).astype(W.dtype)
        loss = recon
        if hp.beta > 0.0:
            fill(acc, 0.0)
            kl_penalty(self._empty(Hn, W.dtype), cuda.to_device(rho_hat), hp.rho, hp.beta, 0.0, 1.0, acc)
            loss += acc.copy_to_host()[0]
        return loss, recon, rho_hat

    def encode(self, X, W, b):
        out = self._empty((X.shape[0], W.shape[1]), W.dtype)
        gemm(1.0, X, False, W, False, 0.0, out, bias=b)
        return out

    def decode(self, H, W, c):
        out = self._empty((H.shape[0], W.shape[0]), W.dtype)
        gemm(1.0, H, False, W, True, 0.0, out, bias=c)
        return out

    # ------------------------------------------------------- stacked classifier

    def param_list(self, arrays):
        return list(arrays)

    def optimizer_state(self, weights, biases):
        def zeros(arrays):
            return [self._zeros(a.shape, a.dtype) for a in arrays]

        return OptState(zeros(weights), zeros(weights), zeros(biases), zeros(biases), np.zeros(1, np.int64))

    def _classifier_work(self, weights, B):
        dtype = weights[0].dtype
        return {
            "xin": self._empty((B, weights[0].shape[0]), dtype),
            "acts": [self._empty((B, W.shape[1]), dtype) for W in weights],
            "deltas": [self._empty((B, W.shape[1]), dtype) for W in weights],
            "zeros": [self._zeros(W.shape[1], dtype) for W in weights],
            "dWs": [self._empty(W.shape, dtype) for W in weights],
            "dbs": [self._empty(W.shape[1], dtype) for W in weights],
            "acc": self._zeros(2, np.float64),
        }

    def _forward(self, weights, biases, X, acts, P):
        top = len(weights) - 1
        below = X
        for l in range(top + 1):
            bias = biases[l] if l < top else None  # the logits' bias is added by softmax_xent
            gemm(1.0, below, False, weights[l], False, 0.0, acts[l][:P], bias=bias)
            below = acts[l][:P]

    def _classifier_step(self, weights, biases, labels, rows, P, ws):
        """As ``cpu.classifier_step``; adds the summed loss and hits to ``acc``."""
        top = len(weights) - 1
        xin = ws["xin"][:P]
        self._forward(weights, biases, xin, ws["acts"], P)
        D = ws["acts"][top][:P]
        softmax_xent(D, biases[top], labels, rows, 1.0 / P, ws["acc"])
        for l in range(top, -1, -1):
            below = xin if l == 0 else ws["acts"][l - 1][:P]
            gemm(1.0, below, True, D, False, 0.0, ws["dWs"][l])
            col_sum(ws["dbs"][l], D, 1.0)
            if l > 0:
                nxt = ws["deltas"][l - 1][:P]
                gemm(1.0, D, False, weights[l], True, 0.0, nxt)
                hidden_delta(nxt, ws["acts"][l - 1][:P], ws["zeros"][l - 1])
                D = nxt

    def train_classifier(self, weights, biases, X, labels, orders, first_epoch, batch_size, opt, state,
                         corruption, shift, height, seed, at, partial, stop):
        n = X.shape[0]
        ws = self._classifier_work(weights, min(batch_size, n))
        losses, hits = np.empty(len(orders)), np.empty(len(orders))
        first_row = int(at[1])
        for e, order in enumerate(orders):
            order = cuda.to_device(np.ascontiguousarray(order))
            ws["acc"].copy_to_device(partial[:2] if e == 0 else np.zeros(2))
            for start in range(first_row if e == 0 else 0, n, batch_size):
                if stop[0] != 0 or stop[1] <= 0:
                    at[:] = e, start
                    partial[:2] = ws["acc"].copy_to_host()
                    return losses, hits
                stop[1] -= 1
                P = min(batch_size, n - start)
                rows = order[start : start + P]
                gather_augment(ws["xin"][:P], X, rows, corruption, shift, height, seed, first_epoch + e)
                self._classifier_step(weights, biases, labels, rows, P, ws)
                state.t[0] += 1
                for l in range(len(weights)):
                    for p, g, m, v in ((weights[l], ws["dWs"][l], state.mW[l], state.vW[l]),
                                       (biases[l], ws["dbs"][l], state.mb[l], state.vb[l])):
                        if opt.kind == SGD:
                            sgd(p, g, opt.lr)
                        else:
                            adam(p, g, m, v, opt.lr, opt.beta1, opt.beta2, opt.eps, int(state.t[0]))
            total, n_hits = ws["acc"].copy_to_host()
            losses[e], hits[e] = total / n, n_hits
        at[:] = len(orders), 0
        partial[:] = 0.0
        return losses, hits

    def classifier_loss_and_grads(self, weights, biases, X, labels):
        P = X.shape[0]
        ws = self._classifier_work(weights, P)
        ws["xin"].copy_to_device(X)
        self._classifier_step(weights, biases, labels, cuda.to_device(np.arange(P)), P, ws)
        return ws["acc"].copy_to_host()[0] / P, ws["dWs"], ws["dbs"]

    def classifier_layers(self, weights, biases, X, chunk=4096):
        n = X.shape[0]
        outs = [self._empty((n, W.shape[1]), W.dtype) for W in weights]
        acts = [self._empty((min(chunk, n), W.shape[1]), W.dtype) for W in weights]
        top = len(weights) - 1
        for start in range(0, n, chunk):
            P = min(chunk, n - start)
            self._forward(weights, biases, X[start : start + P], acts, P)
            for l in range(top + 1):
                outs[l][start : start + P].copy_to_device(acts[l][:P])
        logits = outs[top].copy_to_host() + biases[top].copy_to_host()
        outs[top] = cuda.to_device(logits)
        return outs
