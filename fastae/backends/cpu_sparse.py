"""The CPU's coarse kernels (one call of ``steps.py`` each), and the sparse-input split
they hide.

Most of MNIST's pixels are zero in most images (83 % of all pixels; the border ones in
nearly every image). The training loops put the input columns that are often nonzero
first (``input_split``): they go through BLAS as a dense prefix, and the nonzeros of the
rest, about a thousand a batch, are added one row of the weight at a time. That takes
the two products with the input (of the autoencoder's five, and of the classifier's
two large ones) from 784 columns to about 340 (README, "Sparse inputs"). A loop over an
input without a split gets ``split = None``, and every kernel here is then the plain
dense one: numba drops the split's branch as it compiles, and its kernels with it.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from ..config import SPLIT_MIN_TAIL, SPLIT_SAMPLE_RUN
from .blas import gemm
from .cpu_elementwise import JIT, bias_sigmoid
from .cpu_gathers import gather_augment, gather_corrupt, pixel
from .records import AEWork, ClassifierWork, SparseTail


def input_split(X, tail_density, sample_rows):
    """``(cols, n_dense)``: the columns of ``X`` reordered, dense ones first, and how many
    are dense. A column is dense when it is nonzero in at least ``tail_density`` of the
    rows (counted on about ``sample_rows`` rows: all of a small ``X``, else runs of up
    to ``SPLIT_SAMPLE_RUN`` consecutive rows, as many runs as rows in each, spread evenly
    over it: they map few pages of a memory-mapped file); the others form the sparse
    tail. Each part keeps the columns' own order. A tail of fewer than
    ``SPLIT_MIN_TAIL`` of the columns, or ``tail_density <= 0``, gives no split:
    ``(arange(n_columns), n_columns)``.

    NumPy, run before a loop (``Backend.tuning``): whether the loop gets a split is
    decided as it compiles, so a loop over an input without one compiles none of the
    split's kernels.
    """
    n, V = X.shape
    cols = np.arange(V)
    if tail_density <= 0.0 or n == 0:
        return cols, V
    run, n_runs, step = n, 1, 0
    if n > sample_rows:
        run = max(1, min(SPLIT_SAMPLE_RUN, sample_rows // SPLIT_SAMPLE_RUN))
        n_runs = max(1, sample_rows // run)
        step = (n - run) // max(1, n_runs - 1)
    counts = np.zeros(V, np.int64)
    for k in range(n_runs):
        for start in range(k * step, k * step + run, SPLIT_SAMPLE_RUN):  # a few rows at a time
            counts += np.count_nonzero(X[start : min(start + SPLIT_SAMPLE_RUN, k * step + run)], axis=0)
    dense = counts >= tail_density * (n_runs * run)
    n_dense = int(np.count_nonzero(dense))
    if V - n_dense < SPLIT_MIN_TAIL * V:
        return cols, V
    return np.concatenate([cols[dense], cols[~dense]]), n_dense


def sparse_tail(batch_size, n_columns, dtype):
    """An empty ``SparseTail`` for batches of up to ``batch_size`` rows."""
    B, V = batch_size, n_columns
    return SparseTail(_zeros(B, np.int64), _empty((B, V), np.int32), _empty((B, V), dtype), _empty((B, V), dtype))


@njit(**JIT)
def inverse(order):
    """The permutation that undoes ``order``: ``inverse(order)[order[j]] = j``."""
    out = np.empty_like(order)
    for j in range(order.shape[0]):
        out[order[j]] = j
    return out


@njit(**JIT)
def reorder_rows(A, order):
    """In place: ``A = A[order]`` (``A`` 1-D or 2-D); ``order = inverse(cols)`` undoes
    ``order = cols``."""
    rows = A.reshape(A.shape[0], -1)
    old = rows.copy()
    for j in range(order.shape[0]):
        for k in range(rows.shape[1]):
            rows[j, k] = old[order[j], k]


@njit(**JIT)
def split_batch(out, clean, tail, X, rows, cols, n_dense):
    """Reorder the columns of a batch drawn into ``tail.drawn[:P]`` for a split input.

    The caller draws the batch ``rows`` (``gather_corrupt`` or ``gather_augment``); then
    pattern ``i``'s first ``n_dense`` columns in the order ``cols`` go to
    ``out[i, :n_dense]`` (the rest of ``out[i]`` is left as it was), and the nonzeros of
    the others, numbered from ``n_dense`` on, to ``tail``. When ``clean`` has rows,
    ``clean[i]`` receives the pattern's target ``X[rows[i]][cols]`` (bytes scaled, as in
    ``pixel``).
    """
    zero = out.dtype.type(0.0)
    V = X.shape[1]
    # The targets in a loop of their own: with them copied inside the loop below, this
    # kernel took 1.3 ms a batch of 128 MNIST images instead of 0.13 ms.
    if clean.shape[0] > 0:
        for i in range(rows.shape[0]):
            target = clean[i]
            for j in range(V):
                target[j] = pixel(X, rows[i], cols[j], clean)
    for i in range(rows.shape[0]):
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


@njit(**JIT)
def gather_targets(clean, X, rows, split):
    """``clean[i] = X[rows[i]]`` in the split's column order (bytes scaled, as in
    ``pixel``): the targets of a loss whose input is split. Nothing without a split (the
    loss then reads its targets from ``X`` itself)."""
    if split is not None:
        cols = split[0]
        for i in range(rows.shape[0]):
            for j in range(X.shape[1]):
                clean[i, j] = pixel(X, rows[i], cols[j], clean)


@njit(**JIT)
def tail_forward(H, tail, W):
    """``H[i] += sum_t tail.val[i, t] * W[tail.col[i, t]]``: the sparse tail's ``X~ W``."""
    for i in range(H.shape[0]):
        h = H[i]
        for t in range(tail.length[i]):
            v = tail.val[i, t]
            w = W[tail.col[i, t]]
            for k in range(h.shape[0]):
                h[k] += v * w[k]


@njit(**JIT)
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


@njit(**JIT)
def tail_update_rows(out, lo, hi, alpha, tail, G):
    """``tail_update`` restricted to the rows ``lo:hi`` of ``out``: each row still sums
    over the batch in order (the steps in parts cut a weight's rows across threads)."""
    for i in range(G.shape[0]):
        g = G[i]
        for t in range(tail.length[i]):
            r = tail.col[i, t]
            if lo <= r < hi:
                a = out.dtype.type(alpha * tail.val[i, t])
                o = out[r]
                for k in range(g.shape[0]):
                    o[k] += a * g[k]


def without_tail(ws):
    """The workspace ``ws`` with None for its sparse tail (``ws`` itself when it has none):
    a parallel region is handed the tail apart, as an argument of its own, since numba
    passes a record's fields to the region's threads but not a record within a record."""
    return ws if ws.tail is None else ws._replace(tail=None)


@overload(without_tail)
def _without_tail(ws):
    if isinstance(ws.types[-1], types.NoneType):
        return lambda ws: ws
    record = ws.instance_class
    return lambda ws: record(*ws[:-1], None)


def tail_rows(tail, lo, hi):
    """The sparse tail of a batch's rows ``lo:hi`` (views), or None without one."""
    return None if tail is None else SparseTail(tail.length[lo:hi], tail.col[lo:hi], tail.val[lo:hi],
                                                tail.drawn[lo:hi])


@overload(tail_rows)
def _tail_rows(tail, lo, hi):
    if isinstance(tail, types.NoneType):
        return lambda tail, lo, hi: None
    return lambda tail, lo, hi: SparseTail(tail.length[lo:hi], tail.col[lo:hi], tail.val[lo:hi], tail.drawn[lo:hi])


# ------------------------------------------------------------ the coarse kernels


@njit(**JIT)
def to_split_order(A, split):
    """In place: the rows of ``A`` (1-D or 2-D) in the split's column order (nothing
    without a split)."""
    if split is not None:
        reorder_rows(A, split[0])


@njit(**JIT)
def from_split_order(A, split):
    """In place: the rows of ``A`` back in their own order (undoes ``to_split_order``)."""
    if split is not None:
        reorder_rows(A, inverse(split[0]))


@njit(**JIT)
def draw(out, clean, tail, X, rows, aug, stream, split, n_blocks):
    """Draw the batch ``X[rows]`` into ``out[:P]`` with masking noise ``aug.corruption``
    (``gather_corrupt``, noise stream ``stream``; ``aug.shift`` is not looked at: see
    ``draw_augmented``). For a split input (``split`` not None) it is drawn into
    ``tail.drawn``, then split (``split_batch``); when ``clean`` has rows they receive the
    batch's clean targets in the split's column order; without a split (bytes, whose
    targets the step cannot read from ``X``), the clean batch itself."""
    P = rows.shape[0]
    if split is None:
        gather_corrupt(out[:P], X, rows, aug.corruption, aug.seed, stream, n_blocks)
        if clean.shape[0] > 0:
            gather_corrupt(clean[:P], X, rows, None, aug.seed, stream, n_blocks)
    else:
        gather_corrupt(tail.drawn[:P], X, rows, aug.corruption, aug.seed, stream, n_blocks)
        split_batch(out, clean, tail, X, rows, split[0], split[1])


@njit(**JIT)
def draw_augmented(out, clean, tail, X, rows, aug, stream, split, n_blocks):
    """``draw``, with each image first moved by up to ``aug.shift`` pixels
    (``gather_augment``; kept apart from ``draw`` so that code which never shifts does
    not compile the shifts)."""
    P = rows.shape[0]
    if split is None:
        gather_augment(out[:P], X, rows, aug.corruption, aug.shift, aug.height, aug.seed, stream, n_blocks)
    else:
        gather_augment(tail.drawn[:P], X, rows, aug.corruption, aug.shift, aug.height, aug.seed, stream, n_blocks)
        split_batch(out, clean, tail, X, rows, split[0], split[1])


@njit(**JIT)
def input_product(out, X, W, tail, split):
    """``out = X W`` for a batch ``X`` whose columns from ``n_dense`` on are in ``tail``
    (``split = (cols, n_dense)``; None: a plain product)."""
    if split is None:
        np.dot(X, W, out)
    else:
        n_dense = split[1]
        gemm(1.0, X[:, :n_dense], False, W[:n_dense], False, 0.0, out)
        tail_forward(out, tail, W)


@njit(inline="always", **JIT)
def encode_input(out, X, W, b, tail, split, n_blocks):
    """``out = sigmoid(X W + b)`` for a batch as in ``input_product``."""
    input_product(out, X, W, tail, split)
    bias_sigmoid(out, b, n_blocks)


@njit(**JIT)
def input_gradient(out, X, G, tail, split):
    """``out = X^T G`` for a batch ``X`` as in ``input_product``."""
    if split is None:
        np.dot(X.T, G, out)
    else:
        n_dense = split[1]
        gemm(1.0, X[:, :n_dense], True, G, False, 0.0, out[:n_dense])
        out[n_dense:] = 0.0
        tail_update(out, 1.0, tail, G)


@njit(**JIT)
def tied_weight_step(out, alpha, beta, ws, P, split):
    """``out = alpha * dW + beta * out`` with ``dW = X~^T dH + dY^T H = xd^T hg``.

    One product with K = 2P covers both uses of the tied weight. With ``out = dW``,
    ``alpha = 1``, ``beta = 0`` it is the gradient; with ``out = W``, ``alpha = -lr``,
    ``beta = 1`` it is the SGD update itself, with no gradient buffer.

    With a split input (``split = (cols, n_dense)``, see ``input_split``) the first
    ``n_dense`` rows still take one K = 2P product; the others take ``dY^T H`` (K = P)
    and then the sparse tail's ``X~^T dH``.
    """
    if split is None:
        gemm(alpha, ws.xd[: 2 * P], True, ws.hg[: 2 * P], False, beta, out)
    else:
        n = split[1]
        gemm(alpha, ws.xd[: 2 * P, :n], True, ws.hg[: 2 * P], False, beta, out[:n])
        gemm(alpha, ws.xd[P : 2 * P, n:], True, ws.hg[P : 2 * P], False, beta, out[n:])
        tail_update(out, alpha, ws.tail, ws.hg[:P])


# ------------------------------------------------------------ the work buffers
#
# Made with NumPy before a loop runs, and handed to it: made in compiled code, they cost
# a first fit about a second of compiling (numba's list comprehensions, and an
# allocation routine for each shape and dtype). Each starts on a 64-byte boundary, as a
# cache line and an AVX-512 vector do (NumPy's arrays start on 16 or 32, numba's on 32).

#: The start of every work buffer is a multiple of this many bytes.
WORK_ALIGN = 64


def _empty(shape, dtype):
    """``np.empty(shape, dtype)`` starting on a ``WORK_ALIGN``-byte boundary."""
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(n_bytes + WORK_ALIGN, np.uint8)
    start = -raw.ctypes.data % WORK_ALIGN
    return raw[start : start + n_bytes].view(dtype).reshape(shape)


def _zeros(shape, dtype):
    """``np.zeros(shape, dtype)`` starting on a ``WORK_ALIGN``-byte boundary."""
    out = _empty(shape, dtype)
    out[...] = 0
    return out


def ae_work(n_visible, n_hidden, batch_size, dtype, with_dW, with_clean, split):
    """Buffers for ``steps.ae_step`` on batches of up to ``batch_size`` patterns (``dW``
    is empty unless ``with_dW``: training updates W in place, see ``tied_weight_step``;
    ``clean``, the batch's targets, is empty unless ``with_clean``: a split input, or
    bytes, whose targets are gathered as floats; ``tail``, the sparse tail's buffers,
    None without a ``split``)."""
    B = batch_size
    return AEWork(
        _empty((2 * B, n_visible), dtype),  # xd: [X~ ; dY]
        _empty((2 * B, n_hidden), dtype),  # hg: [dH ; H]
        _empty((n_visible if with_dW else 0, n_hidden), dtype),  # dW
        _empty(n_hidden, dtype),  # db
        _empty(n_visible, dtype),  # dc
        _empty(n_hidden, dtype),  # rho_hat
        _zeros(n_hidden, dtype),  # kl_grad
        _empty(B, dtype),  # loss_rows
        _zeros(2, np.float64),  # sums
        _empty((B if with_clean else 0, n_visible), dtype),  # clean
        None if split is None else sparse_tail(B, n_visible, dtype),
    )


def classifier_work(weights, batch_size, split):
    """Buffers for ``steps.classifier_step`` on batches of up to ``batch_size`` patterns
    (the sparse tail's: None without a ``split``). Its lists are Python lists: the
    backend hands the steps its ``step_list`` of each (``Backend.step_work``)."""
    B, dtype, V = batch_size, weights[0].dtype, weights[0].shape[0]
    return ClassifierWork(
        _empty((B, V), dtype),  # xin
        [_empty((B, W.shape[1]), dtype) for W in weights],  # acts
        [_empty((B, W.shape[1]), dtype) for W in weights],  # deltas
        [_zeros(W.shape[1], dtype) for W in weights],  # zeros
        [_empty(W.shape, dtype) for W in weights],  # dWs
        [_empty(W.shape[1], dtype) for W in weights],  # dbs
        _empty(B, dtype),  # loss_rows
        _empty(B, dtype),  # hits
        _zeros(2, np.float64),  # sums
        None if split is None else sparse_tail(B, V, dtype),
    )

