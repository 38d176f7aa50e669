"""BLAS matrix products callable from numba code, through scipy's ``cython_blas``.

``gemm`` takes row-major 2-D views (unit stride along a row, any row stride), so a
product can read or write a block of a larger buffer in place, and it exposes BLAS's
``alpha`` and ``beta``: ``W -= lr * A^T G`` is one call, with no gradient buffer and no
separate update pass. numba's own ``np.dot`` calls the same library.
"""
import ctypes
import glob
import os

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address

# The compiled code calls BLAS by symbol name, bound here at import to scipy's functions;
# numba can then cache that code on disk (a raw function pointer would stop it).
for _name in ("sgemm", "dgemm"):
    llvm.add_symbol(f"fastae_{_name}", get_cython_function_address("scipy.linalg.cython_blas", _name))
_GEMM_SIG = types.void(*([types.voidptr] * 13))
_sgemm = types.ExternalFunction("fastae_sgemm", _GEMM_SIG)
_dgemm = types.ExternalFunction("fastae_dgemm", _GEMM_SIG)

_N, _T = 78, 84  # ASCII 'N' and 'T'


@njit(cache=True)
def gemm(alpha, A, trans_a, B, trans_b, beta, C):
    """``C = alpha op(A) op(B) + beta C`` on row-major views; op transposes when asked.

    ``C`` is ``m x n``; ``op(A)`` is ``m x k`` and ``op(B)`` is ``k x n``. Every array
    needs unit stride along its rows; float32 calls ``sgemm``, float64 ``dgemm``.
    A row-major ``C = op(A) op(B)`` is the column-major ``C^T = op(B)^T op(A)^T``, so
    BLAS sees the operands swapped, each with its row stride as leading dimension.
    """
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    size = C.itemsize
    ints = np.empty(6, np.int32)  # n, m, k, ldb, lda, ldc
    ints[0], ints[1], ints[2] = n, m, k
    ints[3] = max(B.strides[0] // size, B.shape[1])
    ints[4] = max(A.strides[0] // size, A.shape[1])
    ints[5] = max(C.strides[0] // size, n)
    flags = np.empty(2, np.uint8)
    flags[0] = _T if trans_b else _N
    flags[1] = _T if trans_a else _N
    scalars = np.empty(2, C.dtype)
    scalars[0], scalars[1] = alpha, beta
    args = (
        flags[0:].ctypes, flags[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes,
        scalars[0:].ctypes, B.ctypes, ints[3:].ctypes, A.ctypes, ints[4:].ctypes,
        scalars[1:].ctypes, C.ctypes, ints[5:].ctypes,
    )
    if size == 4:
        _sgemm(*args)
    else:
        _dgemm(*args)


def blas_threads():
    """Threads of scipy's OpenBLAS (the library ``gemm`` calls), or None where unknown."""
    import scipy

    pattern = os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*.so")
    for path in glob.glob(pattern):
        get = getattr(ctypes.CDLL(path), "scipy_openblas_get_num_threads", None)
        if get is not None:
            return int(get())
    return None
