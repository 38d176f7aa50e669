"""The tied autoencoder's training step in row parts, one thread each (CPU).

A layer-2 step of Q3 (625 -> 100, batches of 128) is four products (8 million
multiply-adds each, the tied update 16 million), with elementwise kernels between them.
BLAS splits each product across its threads and joins them at the end, and between two
products one thread runs the kernels while the other waits: 2-thread BLAS ran those
small products at about 75 % of the machine's peak, and the kernels on one core. Here the
batch's rows are cut into ``parts`` (one per core), and each part's gather, products (one
BLAS thread each) and kernels run on its own numba thread, from the gather to the hidden
delta; the tied weight's update is cut across the weight's rows. Three parallel regions a
step, with the few serial lines between them that need every part (the sparsity term,
the biases).
The loop calls it with BLAS on one thread (``blas.single_threaded``).

The result is ``ae_step`` then ``tied_step``'s, except for the order in which the column
sums (the biases' gradients, ``rho_hat``) add up the rows: per part, then the parts.
It is reproducible for a fixed ``parts``. Dense float inputs only (no split, no bytes):
``CPUBackend.step_parts`` decides, before the loop.
"""
import numpy as np
from numba import njit, prange

from .blas import gemm
from .cpu_elementwise import (JIT, _bias_sigmoid_rows, _hidden_delta_rows, _output_delta_rows, _span,
                              cross_entropy, kl_penalty, span, sum64)
from .cpu_gathers import gather_corrupt
from .cpu_updates import sgd


@njit(inline="always", **JIT)
def _add_rows(out, A):
    """``out[j] += sum_i A[i, j]``."""
    for i in range(A.shape[0]):
        for j in span(0, A.shape[1]):
            out[j] += A[i, j]


@njit(inline="always", **JIT)
def _add_parts(out, partial, scale):
    """``out[j] = scale * sum_p partial[p, j]``."""
    for j in span(0, out.shape[0]):
        out[j] = 0.0
    _add_rows(out, partial)
    for j in span(0, out.shape[0]):
        out[j] *= scale


@njit(**JIT)
def _forward_part(lo, hi, W, b, c, X, rows, stream, hp, ws, hidden_sum, visible_sum):
    """Rows ``lo:hi`` of the batch: gathered, through the tied autoencoder, their output
    delta and losses; adds their columns of ``H`` to ``hidden_sum`` and of ``dY`` to
    ``visible_sum``."""
    P = rows.shape[0]
    X_part, H, D = ws.xd[lo:hi], ws.hg[P + lo : P + hi], ws.xd[P + lo : P + hi]
    gather_corrupt(X_part, X, rows[lo:hi], hp.corruption, hp.seed, stream, 1)
    gemm(1.0, X_part, False, W, False, 0.0, H)
    _bias_sigmoid_rows(0, hi - lo, H, b)
    gemm(1.0, H, False, W, True, 0.0, D)
    _output_delta_rows(0, hi - lo, D, ws.loss_rows[lo:hi], c, X, rows[lo:hi], hp.loss_kind,
                       cross_entropy(hp.loss_kind), 1.0 / P)
    _add_rows(hidden_sum, H)
    _add_rows(visible_sum, D)


@njit(**JIT)
def _backward_part(lo, hi, W, ws, P, delta_sum):
    """Rows ``lo:hi``: ``dH = (dY W + kl_grad) * H * (1 - H)``, its columns added to
    ``delta_sum``."""
    D_hid = ws.hg[lo:hi]
    gemm(1.0, ws.xd[P + lo : P + hi], False, W, False, 0.0, D_hid)
    _hidden_delta_rows(0, hi - lo, D_hid, ws.hg[P + lo : P + hi], ws.kl_grad)
    _add_rows(delta_sum, D_hid)


@njit(**JIT)
def _update_part(lo, hi, W, ws, P, lr):
    """Rows ``lo:hi`` of ``W``: ``W -= lr (X~^T dH + dY^T H)``."""
    gemm(-lr, ws.xd[: 2 * P, lo:hi], True, ws.hg[: 2 * P], False, 1.0, W[lo:hi])


@njit(**JIT)
def _part(region, p, parts, W, b, c, X, rows, stream, hp, ws, lr, sums):
    """Part ``p`` of ``parts`` of a step's parallel ``region``: 0 forward (the batch's
    rows), 1 backward (its rows), 2 the weight's update (the weight's rows). ``sums[0]``,
    ``sums[1]`` and ``sums[2]`` receive each part's column sums of ``H``, ``dY`` and ``dH``."""
    P, V, n_hidden = rows.shape[0], W.shape[0], W.shape[1]
    lo, hi = _span(p, parts, V if region == 2 else P)
    if region == 0:
        _forward_part(lo, hi, W, b, c, X, rows, stream, hp, ws, sums[0, p, :n_hidden], sums[1, p, :V])
    elif region == 1:
        _backward_part(lo, hi, W, ws, P, sums[2, p, :n_hidden])
    else:
        _update_part(lo, hi, W, ws, P, lr)


@njit(parallel=True, **JIT)
def parts_step(W, b, c, X, rows, stream, hp, ws, lr, parts):
    """One SGD step of a tied autoencoder on the batch ``X[rows]`` (masking noise of
    ``stream``), in ``parts`` row parts: ``steps.ae_step`` and ``steps.tied_step`` in one."""
    P, V, n_hidden = rows.shape[0], W.shape[0], W.shape[1]
    sums = np.zeros((3, parts, max(n_hidden, V)), W.dtype)
    for region in range(3):
        if region == 1:
            ws.sums[0] += sum64(ws.loss_rows[:P])
            _add_parts(ws.dc, sums[1, :, :V], 1.0)
            if hp.beta > 0.0:
                _add_parts(ws.rho_hat, sums[0, :, :n_hidden], 1.0 / P)
                kl_penalty(ws.kl_grad, ws.rho_hat, hp.rho, hp.beta, 1.0 / P, float(P), ws.sums)
        elif region == 2:
            _add_parts(ws.db, sums[2, :, :n_hidden], 1.0)
        for p in prange(parts):  # (an int64 p: the prange's own unsigned index would compile _part again)
            _part(region, np.int64(p), parts, W, b, c, X, rows, stream, hp, ws, lr, sums)
    sgd(b, ws.db, lr, 1)
    sgd(c, ws.dc, lr, 1)
