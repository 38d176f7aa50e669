"""The CUDA backend's matrix product: a shared-memory, register-tiled GEMM whose epilogue
finishes the step's elementwise work where the product is stored, and whose prologue can
sum and update biases, so that a training step is a few launches.

numba's CUDA kernels have no cuBLAS binding; this is the product every step calls.

Epilogues (what is stored at ``C[c0 + r, n]``, ``acc`` being ``op(A) op(B)`` there):

* ``PLAIN``: ``alpha acc + beta C`` (``beta == 0`` does not read C);
* ``BIAS_SIGMOID``: ``sigmoid(acc + vec[n])`` (an encoder or decoder layer);
* ``HIDDEN_DELTA``: ``(acc + vec[n]) h (1 - h)`` with ``h = H[h0 + r, n]`` (backpropagation
  through a sigmoid layer, ``vec`` the KL term's gradient or zeros);
* ``ADAM``: an Adam step of the parameter ``C`` with the gradient ``acc`` and the moments
  ``m``, ``v`` (C's shape).

The prologue (``biases``: up to two ``BiasStep``) sums the rows ``d0 .. d0 + P`` of
``D`` into ``grad`` and applies the optimiser to ``bias`` (``records.SGD``, ``ADAM``, or
``GRADIENT``: only the sum). It reads nothing the product writes, so both run in one
launch, on all of the grid's threads.
"""
import math
from collections import namedtuple

import numpy as np
from numba import cuda

from .. import config
from . import cuda_device as dev
from .records import ADAM, SGD

PLAIN = 0
BIAS_SIGMOID = 1
HIDDEN_DELTA = 2
ADAM_STEP = 3

#: A bias update done by a product's prologue: ``grad[j] = sum_{i < P} D[d0 + i, j]``,
#: then ``bias`` stepped by the optimiser (Adam's moments ``m``, ``v``; SGD and GRADIENT
#: take any arrays there).
BiasStep = namedtuple("BiasStep", "D d0 bias grad m v")

#: Positions in the float coefficients handed to the kernel.
_ALPHA, _BETA, _LR, _LR_T, _BETA1, _BETA2, _EPS = range(7)


@cuda.jit(device=True)
def sigmoid(z):
    """``mathfn.sigmoid`` in float64, without overflow for large ``|z|``."""
    z = float(z)
    e = math.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


@cuda.jit(device=True)
def adam_update(p, m, v, i, j, g, co):
    """One Adam step of ``p[i, j]`` with gradient ``g`` (``co``: the coefficients)."""
    m[i, j] = co[_BETA1] * m[i, j] + (1.0 - co[_BETA1]) * g
    v[i, j] = co[_BETA2] * v[i, j] + (1.0 - co[_BETA2]) * g * g
    p[i, j] -= co[_LR_T] * m[i, j] / (math.sqrt(v[i, j]) + co[_EPS])


@cuda.jit(device=True)
def _bias_pass(D, d0, P, bias, grad, m, v, kind, co, start, step):
    """``grad[j]`` = the sum of rows ``d0 .. d0 + P`` of ``D``, then the optimiser's step
    of ``bias[j]``, for the columns ``j`` from ``start`` by ``step``."""
    for j in range(start, bias.shape[0], step):
        total = 0.0
        for i in range(P):
            total += D[d0 + i, j]
        grad[j] = total
        if kind == SGD:
            bias[j] -= co[_LR] * grad[j]
        elif kind == ADAM:
            m[j] = co[_BETA1] * m[j] + (1.0 - co[_BETA1]) * grad[j]
            v[j] = co[_BETA2] * v[j] + (1.0 - co[_BETA2]) * grad[j] * grad[j]
            bias[j] -= co[_LR_T] * m[j] / (math.sqrt(v[j]) + co[_EPS])


_gemm_kernels = {}


@cuda.jit(device=True)
def _stage(s, A, trans, a0, r0, R, k0, K, tid, n_threads):
    """``s[k, r] = op(A)[r0 + r, k0 + k]`` for the ``R x K`` matrix ``op(A)`` (``A^T`` when
    ``trans``) stored from row ``a0`` of ``A``, 0 past its edges: one slice of a tile,
    loaded by ``n_threads`` threads."""
    depth, width = s.shape
    for idx in range(tid, width * depth, n_threads):
        r, kk = idx // depth, idx % depth
        gr, gk = r0 + r, k0 + kk
        v = 0.0
        if gr < R and gk < K:
            v = A[a0 + gk, gr] if trans else A[a0 + gr, gk]
        s[kk, r] = v


def _gemm_kernel(trans_a, trans_b, dtype):
    """The tiled GEMM kernel for these transposes and this dtype (compiled once).

    A block of ``TY x TX`` threads computes a ``TY*RM x TX*RN`` tile of C; each thread
    keeps an ``RM x RN`` tile of accumulators in registers. Slices of A and B, ``BK``
    deep, are staged through shared memory. ``dims``: (M, K, a0, b0, c0, h0, epilogue,
    number of bias steps, their kind, P, d0 of each); ``co``: the float coefficients.
    """
    key = (trans_a, trans_b, np.dtype(dtype).name, config.CUDA_GEMM_TILE)
    if key in _gemm_kernels:
        return _gemm_kernels[key]
    TY, TX, RM, RN, BK = config.CUDA_GEMM_TILE
    BM, BN = TY * RM, TX * RN
    sdtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64

    @cuda.jit
    def kernel(dims, co, A, B, C, vec, H, m, v, D1, bias1, grad1, m1, v1, D2, bias2, grad2):
        M, K, a0, b0, c0, h0, epilogue, n_bias, kind, P, d1, d2 = dims
        N = C.shape[1]
        ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
        tid = ty * TX + tx
        if n_bias > 0:
            n_threads = TY * TX * cuda.gridDim.x * cuda.gridDim.y
            first = (cuda.blockIdx.y * cuda.gridDim.x + cuda.blockIdx.x) * TY * TX + tid
            _bias_pass(D1, d1, P, bias1, grad1, m1, v1, kind, co, first, n_threads)
            if n_bias > 1:
                _bias_pass(D2, d2, P, bias2, grad2, m1, v1, kind, co, first, n_threads)
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        sA = cuda.shared.array((BK, BM), sdtype)  # sA[k, m] = op(A)[row0 + m, k0 + k]
        sB = cuda.shared.array((BK, BN), sdtype)  # sB[k, n] = op(B)[k0 + k, col0 + n]
        acc = cuda.local.array((RM, RN), sdtype)
        a_reg = cuda.local.array(RM, sdtype)
        b_reg = cuda.local.array(RN, sdtype)
        for i in range(RM):
            for j in range(RN):
                acc[i, j] = 0.0
        for k0 in range(0, K, BK):
            _stage(sA, A, trans_a, a0, row0, M, k0, K, tid, TY * TX)
            _stage(sB, B, not trans_b, b0, col0, N, k0, K, tid, TY * TX)  # op(B)^T, as op(A)
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
                    r = c0 + gm
                    if epilogue == BIAS_SIGMOID:
                        C[r, gn] = sigmoid(acc[i, j] + vec[gn])
                    elif epilogue == HIDDEN_DELTA:
                        h = H[h0 + gm, gn]
                        C[r, gn] = (acc[i, j] + vec[gn]) * h * (1.0 - h)
                    elif epilogue == ADAM_STEP:
                        adam_update(C, m, v, r, gn, acc[i, j], co)
                    elif co[_BETA] == 0.0:
                        C[r, gn] = co[_ALPHA] * acc[i, j]
                    else:
                        C[r, gn] = co[_ALPHA] * acc[i, j] + co[_BETA] * C[r, gn]

    _gemm_kernels[key] = kernel
    return kernel


_vectors = {}


def _vector(dtype):
    """A one-element device vector of ``dtype``, for the kernel's unused vector arguments."""
    key = np.dtype(dtype).name
    if key not in _vectors:
        _vectors[key] = dev.device_array(1, dtype)
    return _vectors[key]


def product(A, trans_a, B, trans_b, C, M=None, K=None, a0=0, b0=0, c0=0, alpha=1.0, beta=0.0, epilogue=PLAIN,
            vec=None, H=None, h0=0, moments=None, opt=None, biases=(), bias_rows=0):
    """``op(A) op(B)`` for the rows ``c0 .. c0 + M`` of ``C`` (all of C by default), with
    ``op(A)`` read from row ``a0`` of ``A`` and ``op(B)`` from row ``b0`` of ``B`` (offsets
    count stored rows; ``K``: the inner size, by default A's), finished by ``epilogue``
    (see the module docstring) and preceded by the bias steps ``biases``, each summing
    ``bias_rows`` rows. ``opt``, ``(kind, lr, lr_t, beta1, beta2, eps)`` (a
    ``records.Optim`` with Adam's bias-corrected rate ``lr_t``), comes with ``ADAM_STEP``
    and with bias steps; ``moments`` ``(m, v)`` with ``ADAM_STEP``. One launch."""
    TY, TX, RM, RN, _ = config.CUDA_GEMM_TILE
    if M is None:
        M = C.shape[0] - c0
    if K is None:
        K = (A.shape[0] - a0) if trans_a else A.shape[1]
    N = C.shape[1]
    kind, lr, lr_t, beta1, beta2, eps = opt if opt is not None else (SGD, 0.0, 0.0, 0.0, 0.0, 0.0)
    one = _vector(C.dtype)
    first = biases[0] if biases else BiasStep(C, 0, one, one, one, one)
    second = biases[1] if len(biases) > 1 else first
    m, v = moments if moments is not None else (C, C)
    dims = (M, K, a0, b0, c0, h0, epilogue, len(biases), kind, bias_rows, first.d0, second.d0)
    co = (float(alpha), float(beta), float(lr), float(lr_t), float(beta1), float(beta2), float(eps))
    grid = (max(1, math.ceil(N / (TX * RN))), max(1, math.ceil(M / (TY * RM))))
    dev.launch(_gemm_kernel(trans_a, trans_b, C.dtype), grid, (TX, TY), dims, co, A, B, C,
               one if vec is None else vec, C if H is None else H, m, v,
               first.D, first.bias, first.grad, first.m, first.v, second.D, second.bias, second.grad)


def gemm(alpha, A, trans_a, B, trans_b, beta, C, bias=None):
    """``C = alpha op(A) op(B) + beta C``, or ``C = sigmoid(op(A) op(B) + bias)`` when
    ``bias`` is given; the same contract as ``backends.blas.gemm``. One launch."""
    if bias is None:
        product(A, trans_a, B, trans_b, C, alpha=alpha, beta=beta)
    else:
        product(A, trans_a, B, trans_b, C, epilogue=BIAS_SIGMOID, vec=bias)
