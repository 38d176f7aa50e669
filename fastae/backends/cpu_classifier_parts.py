"""The stacked classifier's training step in parts, one thread each (CPU).

A fine-tuning step of Q3 (784-625-100-10, batches of 128, Adam) is eight products and,
between them, work that runs on one core while BLAS's second thread waits: the batch's
gather and split, the sigmoids, the softmax, the hidden deltas, the column sums and
Adam's pass over 554,000 parameters and their moments. Here that work is cut in two
parallel regions, with BLAS on one thread (``blas.single_threaded``, as for
``cpu_parts``):

0. the batch's rows, one part a thread: each part draws its rows (noise, shifts, the
   input's split), runs them forward through every layer, takes the softmax delta and
   backpropagates it to every layer's delta;
1. the parameters, one part a thread: each part takes its rows of every weight's
   gradient (its columns of the layer's input times the layer's delta) and its columns
   of every bias's, then the optimiser's step on those rows and columns.

Only the loss and hit sums are serial, between the two. Each gradient element is the
same sum as in ``steps_classifier.classifier_step``, over the batch's rows in order, so
the step gives that step's result except where BLAS rounds a product cut into other
blocks differently. Chosen before the loop by ``CPUBackend.classifier_parts``.
"""
import numpy as np
from numba import njit, prange

from .blas import gemm
from .cpu_elementwise import (JIT, _bias_sigmoid_rows, _col_sum_cols, _hidden_delta_rows, _softmax_xent_rows, _span,
                              sum64)
from .cpu_sparse import draw_augmented, input_product, tail_rows, tail_update_rows
from .cpu_updates import optimize
from .records import ClassifierWork
from .steps_classifier import layer_delta

#: ``steps_classifier.layer_delta``: the first rows of layer ``l``'s dJ/d(pre-activation).
_delta = njit(inline="always", **JIT)(layer_delta)


@njit(**JIT)
def _rows_part(lo, hi, weights, biases, X, labels, rows, aug, stream, split, ws, tail):
    """Rows ``lo:hi`` of the batch ``X[rows]``: drawn into ``ws.xin`` (and ``tail``),
    forward through every layer, the softmax delta and the loss of each row, and every
    layer's delta."""
    P, top = rows.shape[0], len(weights) - 1
    part_tail = tail_rows(tail, lo, hi)
    xin = ws.xin[lo:hi]
    draw_augmented(xin, xin[:0], part_tail, X, rows[lo:hi], aug, stream, split, np.int64(1))
    input_product(ws.acts[0][lo:hi], xin, weights[0], part_tail, split)
    for l in range(top):
        if l > 0:
            gemm(1.0, ws.acts[l - 1][lo:hi], False, weights[l], False, 0.0, ws.acts[l][lo:hi])
        _bias_sigmoid_rows(0, hi - lo, ws.acts[l][lo:hi], biases[l])
    if top > 0:
        gemm(1.0, ws.acts[top - 1][lo:hi], False, weights[top], False, 0.0, ws.acts[top][lo:hi])
    _softmax_xent_rows(lo, hi, ws.acts[top], ws.loss_rows, ws.hits, biases[top], labels, rows, 1.0 / P)
    for l in range(top, 0, -1):
        below = ws.deltas[l - 1][lo:hi]
        gemm(1.0, _delta(ws, l, hi)[lo:], False, weights[l], True, 0.0, below)
        _hidden_delta_rows(0, hi - lo, below, ws.acts[l - 1][lo:hi], ws.zeros[l - 1])


@njit(inline="always", **JIT)
def _step_span(param, grad, m, v, lo, hi, opt, t):
    """The optimiser's step on the elements ``lo:hi`` of ``param`` flattened."""
    n = param.size
    optimize(param.reshape(n)[lo:hi], grad.reshape(n)[lo:hi], m.reshape(n)[lo:hi], v.reshape(n)[lo:hi], opt.sgd_lr,
             opt.lr, opt.beta1, opt.beta2, opt.eps, t, np.int64(1))


@njit(inline="always", **JIT)
def _weight_rows(l, lo, hi, A, D, ws, weights, moments, opt, t):
    """Rows ``lo:hi`` of layer ``l``'s weight gradient, ``A^T D`` (``A`` the layer's input),
    and the optimiser's step on them."""
    if hi > lo:
        mW, vW = moments[0], moments[1]
        N = weights[l].shape[1]
        gemm(1.0, A[:, lo:hi], True, D, False, 0.0, ws.dWs[l][lo:hi])
        _step_span(weights[l], ws.dWs[l], mW[l], vW[l], lo * N, hi * N, opt, t)


@njit(**JIT)
def _params_part(p, parts, weights, biases, P, split, ws, tail, opt, moments, t):
    """Part ``p`` of ``parts`` of every parameter: its rows of each weight's gradient and
    its columns of each bias's (over the batch's ``P`` rows), and the optimiser's step on
    them. A split input's first weight is cut in its dense rows and its tail's rows apart."""
    mW, vW, mb, vb = moments
    for l in range(len(weights)):
        D = _delta(ws, l, P)
        V, N = weights[l].shape[0], weights[l].shape[1]
        if l == 0:
            n_dense = V if split is None else split[1]
            lo, hi = _span(p, parts, n_dense)
            _weight_rows(0, lo, hi, ws.xin[:P], D, ws, weights, moments, opt, t)
            if split is not None:
                lo, hi = _span(p, parts, V - n_dense)
                ws.dWs[0][n_dense + lo : n_dense + hi] = 0.0
                tail_update_rows(ws.dWs[0], n_dense + lo, n_dense + hi, 1.0, tail, D)
                _step_span(weights[0], ws.dWs[0], mW[0], vW[0], (n_dense + lo) * N, (n_dense + hi) * N, opt, t)
        else:
            lo, hi = _span(p, parts, V)
            _weight_rows(l, lo, hi, ws.acts[l - 1][:P], D, ws, weights, moments, opt, t)
        lo, hi = _span(p, parts, N)
        _col_sum_cols(lo, hi, ws.dbs[l], D, 1.0)
        _step_span(biases[l], ws.dbs[l], mb[l], vb[l], lo, hi, opt, t)


@njit(**JIT)
def _classifier_part(region, p, parts, weights, biases, X, labels, rows, aug, stream, split, ws, tail, opt,
                     moments, t):
    """Part ``p`` of ``parts`` of region 0 (the batch's rows) or 1 (the parameters)."""
    if region == 0:
        lo, hi = _span(p, parts, rows.shape[0])
        _rows_part(lo, hi, weights, biases, X, labels, rows, aug, stream, split, ws, tail)
    else:
        _params_part(p, parts, weights, biases, rows.shape[0], split, ws, tail, opt, moments, t)


@njit(parallel=True, **JIT)
def classifier_parts_step(weights, biases, X, labels, rows, aug, stream, split, ws, tail, opt, moments, t, parts):
    """``draw_augmented`` of the batch ``X[rows]`` (noise stream ``stream``), then
    ``steps_classifier.classifier_step`` with the optimiser ``opt`` (step ``t``, Adam's
    ``moments``), in ``parts`` parts a region; adds the batch's summed loss and hits to
    ``ws.sums``."""
    P = rows.shape[0]
    # A parallel region takes no tuple of tuples (numba's parfors): the records holding
    # the tuples of arrays are taken apart here and made again in each part.
    xin, acts, deltas, zeros, dWs, dbs, loss_rows, hits, sums, no_tail = ws
    mW, vW, mb, vb = moments
    for region in range(2):
        if region == 1:
            sums[0] += sum64(loss_rows[:P])
            sums[1] += sum64(hits[:P])
        for p in prange(parts):  # (an int64 p, as in cpu_parts.parts_step)
            _classifier_part(region, np.int64(p), parts, weights, biases, X, labels, rows, aug, stream, split,
                             ClassifierWork(xin, acts, deltas, zeros, dWs, dbs, loss_rows, hits, sums, no_tail), tail,
                             opt, (mW, vW, mb, vb), t)
