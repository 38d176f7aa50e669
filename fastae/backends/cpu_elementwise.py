"""CPU elementwise kernels, compiled with numba (``cpu_kernels`` gathers them with the rest).

Layout, from the bottom up:

* Row kernels ``_name_rows(lo, hi, out, ...)``: serial, no checks, outputs first, no
  allocation beyond a row of scratch; they work on rows ``lo:hi`` (or columns, where said).
* Public kernels ``name(out, ..., n_blocks)``: run their row kernel over ``n_blocks``
  spans of the rows, in a ``prange`` (``in_blocks``; ``n_blocks == 1`` stays on the
  calling thread, so the small exercises pay no thread wake-ups). They compile serial;
  their parallel twins compile only when ``config.KERNEL_THREADS > 1`` asks for them.
* The batch gathers (bytes scaled, masking noise, random shifts) are in ``cpu_gathers.py``,
  the optimisers' updates (SGD, Adam) in ``cpu_updates.py``.
* The coarse kernels the steps call (``encode_input``, ``draw``, ``tied_weight_step``,
  the work buffers) are in ``cpu_sparse.py``, with the sparse-input split they hide.

Every public kernel has a twin of the same name and arguments in ``cuda_kernels.py``.
Matrices are row-major, one pattern per row. The tied autoencoder's ``W`` is
``n_visible x n_hidden``; the decoder uses ``W.T``, never a copy.

Kernels compile with numba's ``error_model="numpy"``: a float division by zero gives
inf (as in NumPy) instead of raising, which lets the compiler vectorise the loops.
Parallel results are bitwise reproducible for a fixed ``n_blocks``: every row and every
column sum is computed by one thread, in order. BLAS products may round differently
with a different BLAS thread count.
"""
import types

import numpy as np
from numba import njit, prange
from numba import types as nbtypes
from numba.extending import overload

from ..config import FASTMATH
from .mathfn import kl_divergence, kl_divergence_grad, sigmoid, sigmoid_ce

JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy")

#: The kernels that can split their rows across threads. They compile serial here
#: (``prange`` is then ``range``), which is what runs with ``config.KERNEL_THREADS = 1``:
#: a parallel compile costs seconds per kernel that would never be used. More threads
#: run twins compiled with ``parallel=True`` (``cpu.parallel_build``).
PARALLEL = []


def blocked(fn):
    """``njit`` for a kernel that runs its row kernel ``in_blocks``: compiled serial, and
    listed in ``PARALLEL`` for its parallel twin."""
    kernel = njit(**JIT)(fn)
    PARALLEL.append(kernel)
    return kernel


@njit(inline="always", **JIT)
def _span(k, n_blocks, n):
    """Bounds of block ``k`` of ``n_blocks`` nearly equal blocks of ``range(n)``."""
    return k * n // n_blocks, (k + 1) * n // n_blocks


@njit(inline="always", **JIT)
def span(lo, hi):
    """``range(lo, hi)`` over unsigned integers, for a row kernel's innermost loop.

    numba wraps a negative signed index around (``a[i]`` is ``a[i + len(a)]``), so over
    ``range(lo, hi)``, whose ``lo`` the compiler cannot prove non-negative, a loop tests
    every index and does not vectorise: Adam's pass over 490,000 parameters took 0.95 ms
    instead of 0.27 ms, a 128 x 625 column sum 43 us instead of 5. Unsigned: no wrapping.
    """
    return range(np.uint64(lo), np.uint64(hi))


def _in_blocks(n, n_blocks, args):
    if n_blocks <= 1:
        rows(0, n, *args)  # noqa: F821  (bound by in_blocks)
    else:
        for k in prange(n_blocks):
            lo, hi = _span(k, n_blocks, n)
            rows(lo, hi, *args)  # noqa: F821


def in_blocks(row_kernel):
    """``f(n, n_blocks, args)``: ``row_kernel(lo, hi, *args)`` over ``n_blocks`` spans of
    ``range(n)``, in parallel; inlined into the kernel that calls it (whose parallel twin
    numba compiles with ``parallel=True``), so that it costs no compilation of its own."""
    fn = types.FunctionType(_in_blocks.__code__, {"rows": row_kernel, "prange": prange, "_span": _span},
                            f"in_blocks_{row_kernel.__name__}")
    fn.__qualname__ = fn.__name__
    fn.__module__ = __name__
    return njit(inline="always", **JIT)(fn)


# ---------------------------------------------------------------- forward kernels


@njit(**JIT)
def _bias_sigmoid_rows(lo, hi, Z, bias):
    for i in range(lo, hi):
        for j in range(Z.shape[1]):
            Z[i, j] = sigmoid(Z[i, j] + bias[j])


_bias_sigmoid_blocks = in_blocks(_bias_sigmoid_rows)


@blocked
def bias_sigmoid(Z, bias, n_blocks):
    """In place: ``Z = sigmoid(Z + bias)``; ``Z`` holds a product such as ``X W``."""
    _bias_sigmoid_blocks(Z.shape[0], n_blocks, (Z, bias))


@njit(inline="always", **JIT)
def add_bias(Z, bias, n_blocks):
    """In place: ``Z += bias`` on every row (the logits' bias)."""
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            Z[i, j] += bias[j]


@njit(inline="always", **JIT)
def encode(out, X, W, b, n_blocks):
    """``out = sigmoid(X W + b)``."""
    np.dot(X, W, out)
    bias_sigmoid(out, b, n_blocks)


@njit(inline="always", **JIT)
def decode(out, H, W, c, n_blocks):
    """``out = sigmoid(H W^T + c)`` (the tied decoder)."""
    np.dot(H, W.T, out)
    bias_sigmoid(out, c, n_blocks)


@njit(inline="always", **JIT)
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


@njit(**JIT)
def sum64(a):
    """The sum of a short 1-D array, accumulated in float64."""
    total = 0.0
    for v in a:
        total += v
    return total


def cross_entropy(loss_kind):
    """1 for cross-entropy (``loss_kind`` is ``records.CROSS_ENTROPY``, None), None for
    squared error: decided by ``loss_kind``'s type as a loop compiles. numba drops a
    branch on an argument that is None, and only on one, so ``_output_delta_rows`` guards
    each loss's branch with an argument that is None when that loss is not trained, and
    compiles one of them (a squared-error fit compiled both: about 0.7 s more)."""
    return 1 if loss_kind is None else None


@overload(cross_entropy)
def _cross_entropy(loss_kind):
    if isinstance(loss_kind, nbtypes.NoneType):
        return lambda loss_kind: 1
    return lambda loss_kind: None


@njit(**JIT)
def _output_delta_rows(lo, hi, D, loss_rows, c, X, rows, loss_kind, ce, scale):
    """``ce``: ``cross_entropy(loss_kind)``."""
    s = D.dtype.type(scale)
    one, two = D.dtype.type(1.0), D.dtype.type(2.0)
    terms = np.empty(D.shape[1], D.dtype)
    for i in range(lo, hi):
        r = rows[i]
        if ce is not None:  # CROSS_ENTROPY: numba compiles this branch alone
            for j in range(D.shape[1]):
                y, terms[j] = sigmoid_ce(D[i, j] + c[j], X[r, j])
                D[i, j] = (y - X[r, j]) * s
        elif loss_kind is not None:  # MSE: likewise
            for j in range(D.shape[1]):
                y = sigmoid(D[i, j] + c[j])
                terms[j] = (y - X[r, j]) * (y - X[r, j])
                D[i, j] = two * (y - X[r, j]) * y * (one - y) * s
        loss_rows[i] = row_sum(terms)


_output_delta_blocks = in_blocks(_output_delta_rows)


@blocked
def output_delta(D, loss_rows, c, X, rows, loss_kind, scale, sums, n_blocks):
    """Reconstruction loss per pattern and its delta at the output pre-activation.

    On entry ``D`` (P x n_visible) holds ``H W^T``; the target of row ``i`` is the clean
    ``X[rows[i]]``. On exit ``D`` holds ``scale * dJ/dz`` with ``z = H W^T + c``,
    ``loss_rows[i]`` the loss of pattern ``i`` summed over visible units, and their sum
    is added to ``sums[0]``:

    * cross-entropy, from ``z`` (stable when outputs saturate): ``dJ/dz = y - x``;
    * squared error ``sum (y - x)^2``: ``dJ/dz = 2 (y - x) y (1 - y)``.
    """
    P = D.shape[0]
    _output_delta_blocks(P, n_blocks, (D, loss_rows, c, X, rows, loss_kind, cross_entropy(loss_kind), scale))
    sums[0] += sum64(loss_rows[:P])


# ------------------------------------------------------------ batch reductions


@njit(**JIT)
def _col_sum_cols(lo, hi, out, A, scale):
    for j in span(lo, hi):
        out[j] = 0.0
    for i in range(A.shape[0]):
        for j in span(lo, hi):
            out[j] += A[i, j]
    for j in span(lo, hi):
        out[j] *= scale


_col_sum_blocks = in_blocks(_col_sum_cols)


@blocked
def col_sum(out, A, scale, n_blocks):
    """``out[j] = scale * sum_i A[i, j]`` (columns split across threads)."""
    _col_sum_blocks(A.shape[1], n_blocks, (out, A, scale))


@njit(**JIT)
def kl_penalty(grad, rho_hat, rho, beta, scale, weight, sums):
    """Sparsity term ``beta * sum_j KL(rho || rho_hat_j)``: adds ``weight`` times it to
    ``sums[0]`` and fills ``grad[j] = beta * scale * dKL/d rho_hat_j``; a batch of P
    patterns passes ``scale = 1 / P`` (the term's share of dJ/dH for each pattern) and
    ``weight = P`` (the loss sums count patterns)."""
    total = 0.0
    g = beta * scale
    for j in range(rho_hat.shape[0]):
        total += kl_divergence(rho, rho_hat[j])
        grad[j] = g * kl_divergence_grad(rho, rho_hat[j])
    sums[0] += weight * (beta * total)


# --------------------------------------------------------------- backward kernels


@njit(**JIT)
def _hidden_delta_rows(lo, hi, D, H, g):
    one = D.dtype.type(1.0)
    for i in range(lo, hi):
        for j in range(D.shape[1]):
            h = H[i, j]
            D[i, j] = (D[i, j] + g[j]) * h * (one - h)


_hidden_delta_blocks = in_blocks(_hidden_delta_rows)


@blocked
def hidden_delta(D, H, g, n_blocks):
    """In place: ``D = (D + g) * H * (1 - H)``: back through a sigmoid layer.

    ``D`` holds dJ/dH from the layer above (such as ``dY W``), ``g`` a per-unit term
    added to every row (the sparsity gradient, or zeros).
    """
    _hidden_delta_blocks(D.shape[0], n_blocks, (D, H, g))


@njit(**JIT)
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


_softmax_xent_blocks = in_blocks(_softmax_xent_rows)


@blocked
def softmax_xent(D, loss_rows, hits, d, labels, rows, scale, sums, n_blocks):
    """Softmax cross-entropy per pattern and its delta at the logits.

    On entry ``D`` (P x K) holds ``H V`` without the bias ``d``; the label of row ``i``
    is ``labels[rows[i]]``. On exit ``D = scale * (softmax(z) - onehot)``,
    ``loss_rows[i] = -log softmax(z)[label]``, ``hits[i]`` is 1 where the arg-max is the
    label, and their sums are added to ``sums[0]`` and ``sums[1]``.
    """
    P = D.shape[0]
    _softmax_xent_blocks(P, n_blocks, (D, loss_rows, hits, d, labels, rows, scale))
    sums[0] += sum64(loss_rows[:P])
    sums[1] += sum64(hits[:P])
