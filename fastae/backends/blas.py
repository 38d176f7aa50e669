"""BLAS matrix products callable from numba code, through scipy's ``cython_blas``.

``gemm`` takes row-major 2-D views (unit stride along a row, any row stride), so a
product can read or write a block of a larger buffer in place, and it exposes BLAS's
``alpha`` and ``beta``: ``W -= lr * A^T G`` is one call, with no gradient buffer and no
separate update pass. numba's own ``np.dot`` calls the same library.
"""
import contextlib
import ctypes
import functools
import glob
import importlib.machinery
import importlib.util
import os
import sys
import threading

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic

from .. import cores

_CYTHON_BLAS = "scipy.linalg.cython_blas"


def _load_cython_blas():
    """Load scipy's ``cython_blas`` extension by itself, without the ``scipy.linalg``
    package around it, whose import (about 0.15 s) every process would otherwise pay
    for two function addresses. A later ``import scipy.linalg`` finds the module
    already loaded. Where the file is not found, the package is imported as usual."""
    if _CYTHON_BLAS in sys.modules:
        return
    import scipy

    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    finder = importlib.machinery.FileFinder(os.path.join(os.path.dirname(scipy.__file__), "linalg"), loader)
    spec = finder.find_spec(_CYTHON_BLAS)
    if spec is None:
        importlib.import_module(_CYTHON_BLAS)
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[_CYTHON_BLAS] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_CYTHON_BLAS]
        raise


# The compiled code calls BLAS by symbol name, bound here at import to scipy's functions;
# numba can then cache that code on disk (a raw function pointer would stop it).
_load_cython_blas()
for _name in ("sgemm", "dgemm"):
    llvm.add_symbol(f"fastae_{_name}", get_cython_function_address(_CYTHON_BLAS, _name))
_GEMM_SIG = types.void(*([types.voidptr] * 13))
_sgemm = types.ExternalFunction("fastae_sgemm", _GEMM_SIG)
_dgemm = types.ExternalFunction("fastae_dgemm", _GEMM_SIG)

_N, _T = 78, 84  # ASCII 'N' and 'T'


@intrinsic
def _address(typingctx, addr):
    """An integer address as the ``void*`` that BLAS takes."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(types.uintp), codegen


@intrinsic
def _alive(typingctx, a, b, c):
    """Does nothing, after the product: the views ``a``, ``b``, ``c`` (whose addresses
    BLAS has used) are released no earlier than here."""

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.none(a, b, c), codegen


@njit(inline="always", cache=True)
def gemm(alpha, A, trans_a, B, trans_b, beta, C):
    """``C = alpha op(A) op(B) + beta C`` on row-major views; op transposes when asked.

    ``C`` is ``m x n``; ``op(A)`` is ``m x k`` and ``op(B)`` is ``k x n``. Every array
    needs unit stride along its rows; float32 calls ``sgemm``, float64 ``dgemm``.
    Inlined where it is called; the call itself goes through ``_gemm``, which takes only
    integers and addresses, so that numba compiles it once, whatever the views' layouts,
    the flags and the scalars' types at each call.
    """
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    size = C.itemsize
    _gemm(np.int64(trans_a), np.int64(trans_b), m, n, k, np.float64(alpha), A.ctypes.data,
          max(A.strides[0] // size, A.shape[1]), B.ctypes.data, max(B.strides[0] // size, B.shape[1]),
          np.float64(beta), C.ctypes.data, max(C.strides[0] // size, n), size)
    _alive(A, B, C)


@njit(cache=True)
def _gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, size):
    """``gemm`` on addresses. A row-major ``C = op(A) op(B)`` is the column-major
    ``C^T = op(B)^T op(A)^T``, so BLAS sees the operands swapped, each with its row
    stride as leading dimension."""
    ints = np.empty(6, np.int32)  # n, m, k, ldb, lda, ldc
    ints[0], ints[1], ints[2], ints[3], ints[4], ints[5] = n, m, k, ldb, lda, ldc
    flags = np.empty(2, np.uint8)
    flags[0] = _T if trans_b else _N
    flags[1] = _T if trans_a else _N
    singles, doubles = np.empty(2, np.float32), np.empty(2, np.float64)
    singles[0], singles[1] = alpha, beta
    doubles[0], doubles[1] = alpha, beta
    scalars = singles.ctypes.data if size == 4 else doubles.ctypes.data
    args = (
        flags[0:].ctypes, flags[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes,
        _address(scalars), _address(b), ints[3:].ctypes, _address(a), ints[4:].ctypes,
        _address(scalars + size), _address(c), ints[5:].ctypes,
    )
    if size == 4:
        _sgemm(*args)
    else:
        _dgemm(*args)


@functools.cache
def _openblas():
    """scipy's OpenBLAS (the library ``gemm`` calls) as a ``ctypes`` library, or None."""
    import scipy

    pattern = os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*.so")
    for path in glob.glob(pattern):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "scipy_openblas_get_num_threads") and hasattr(lib, "scipy_openblas_set_num_threads"):
            return lib
    return None


def blas_threads():
    """Threads of scipy's OpenBLAS (the library ``gemm`` calls) now, or None where unknown."""
    lib = _openblas()
    return None if lib is None else int(lib.scipy_openblas_get_num_threads())


def own_threads():
    """Threads of scipy's OpenBLAS when fastae does not limit them (its own count), or
    None where unknown."""
    with _limits_lock:
        return blas_threads() if _limits["own"] is None else _limits["own"]


#: What limits OpenBLAS's threads: ``single_threaded`` blocks open, cores held beside the
#: compiled calls (``fastae.cores``), and OpenBLAS's own count while either limits it.
_limits = {"single": 0, "held": 0, "own": None}
_limits_lock = threading.Lock()


def _limit():
    """OpenBLAS on one thread within a ``single_threaded`` block, else on its own count
    less the cores held (at least one); its own count again when nothing limits it."""
    if not _limits["single"] and not _limits["held"] and _limits["own"] is None:
        return
    lib, now = _openblas(), blas_threads()
    if lib is None or now is None:
        return
    if not _limits["single"] and not _limits["held"]:
        want, _limits["own"] = _limits["own"], None
    else:
        if _limits["own"] is None:
            _limits["own"] = now
        want = 1 if _limits["single"] else max(1, _limits["own"] - _limits["held"])
    if want != now:
        lib.scipy_openblas_set_num_threads(want)


def _cores_held(held):
    with _limits_lock:
        _limits["held"] = held
        _limit()


cores.watch(_cores_held)


def _forked():
    """In a forked child, nothing holds a core (``fastae.cores``): OpenBLAS on its count."""
    global _limits_lock
    _limits_lock = threading.Lock()
    _limits["single"], _limits["held"] = 0, 0
    _limit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


@contextlib.contextmanager
def single_threaded():
    """Within it, ``gemm`` runs on the calling thread: scipy's OpenBLAS is set to one
    thread, and back to its count on the way out (whatever stops the block). Blocks may
    overlap, on any threads: the count comes back when the last one ends."""
    with _limits_lock:
        _limits["single"] += 1
        _limit()
    try:
        yield
    finally:
        with _limits_lock:
            _limits["single"] -= 1
            _limit()
