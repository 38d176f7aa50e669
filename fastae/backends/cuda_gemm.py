"""The CUDA backend's matrix product: a shared-memory, register-tiled GEMM whose epilogue
can add a bias and apply the sigmoid (the encoder and the decoder in one kernel).

numba's CUDA kernels have no cuBLAS binding; this is the product every step calls.
"""
import math

import numpy as np
from numba import cuda

from .. import config

#: Epilogues of the product: plain ``alpha * AB + beta * C``, or ``sigmoid(AB + bias)``.
PLAIN = 0
BIAS_SIGMOID = 1


@cuda.jit(device=True)
def sigmoid(z):
    """``mathfn.sigmoid`` in float64, without overflow for large ``|z|``."""
    z = float(z)
    e = math.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


_gemm_kernels = {}


@cuda.jit(device=True)
def _stage(s, A, trans, r0, R, k0, K, tid, n_threads):
    """``s[k, r] = op(A)[r0 + r, k0 + k]`` for the ``R x K`` matrix ``op(A)`` (``A^T`` when
    ``trans``), 0 past its edges: one slice of a tile, loaded by ``n_threads`` threads."""
    depth, width = s.shape
    for idx in range(tid, width * depth, n_threads):
        r, kk = idx // depth, idx % depth
        gr, gk = r0 + r, k0 + kk
        v = 0.0
        if gr < R and gk < K:
            v = A[gk, gr] if trans else A[gr, gk]
        s[kk, r] = v


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
        sA = cuda.shared.array((BK, BM), sdtype)  # sA[k, m] = op(A)[row0 + m, k0 + k]
        sB = cuda.shared.array((BK, BN), sdtype)  # sB[k, n] = op(B)[k0 + k, col0 + n]
        acc = cuda.local.array((RM, RN), sdtype)
        a_reg = cuda.local.array(RM, sdtype)
        b_reg = cuda.local.array(RN, sdtype)
        for i in range(RM):
            for j in range(RN):
                acc[i, j] = 0.0
        for k0 in range(0, K, BK):
            _stage(sA, A, trans_a, row0, M, k0, K, tid, TY * TX)
            _stage(sB, B, not trans_b, col0, N, k0, K, tid, TY * TX)  # op(B)^T, as op(A)
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
    ``bias`` is given; the same contract as ``backends.blas.gemm``. One launch."""
    TY, TX, RM, RN, _ = config.CUDA_GEMM_TILE
    M, N = C.shape
    grid = (math.ceil(N / (TX * RN)), math.ceil(M / (TY * RM)))
    kernel = _gemm_kernel(trans_a, trans_b, C.dtype)
    epilogue = PLAIN if bias is None else BIAS_SIGMOID
    kernel[grid, (TX, TY)](alpha, A, B, beta, C, C[0] if bias is None else bias, epilogue)
