"""The CUDA kernel namespace: ``cpu_kernels``' names and arguments, as numba.cuda kernels
and their host launchers. ``steps.py`` runs over it as plain Python.

Here: the buffers, the products and the fused composites; the row kernels (noise,
deltas, sums, the optimisers) are in ``cuda_elementwise.py``. Arguments the GPU does not
need (``n_blocks``, the CPU's sparse ``tail`` and ``split``) are taken and ignored: the
GPU never splits its input (``input_split`` finds no split, and ``split`` is None).

A training step is a few fused launches: the composites of ``steps.COMPOSITES``
(``ae_forward``, ``ae_output_delta``, ``ae_backprop``, ``tied_step``, ``forward``,
``softmax_delta``, ``backprop``, ``layer_step``, ``batch_rows``) are defined here, with
the steps' names and arguments: products whose epilogues finish the elementwise work and
whose prologues sum and update the biases (``cuda_gemm.product``). They take whole work
buffers, the batch size and row offsets as scalars, and a batch's rows as ``Rows``, so
that an epoch makes no device array, no view of one and no copy per batch. Every launch,
allocation and copy goes through ``cuda_device``, which counts them.
"""
import math

import numpy as np

from . import cuda_device as dev
from .cuda_elementwise import (  # noqa: F401  (the namespace's row kernels)
    Rows,
    adam,
    add_bias,
    bias_sigmoid,
    col_sum,
    draw,
    draw_augmented,
    gather_augment,
    gather_corrupt,
    hidden_delta,
    optimize,
    kl_penalty,
    output_delta,
    output_delta_launch,
    sgd,
    softmax_launch,
    softmax_xent,
    step_targets,
)
from .cuda_gemm import ADAM_STEP, BIAS_SIGMOID, HIDDEN_DELTA, BiasStep, gemm, product
from .records import ADAM, GRADIENT, SGD, AEWork, ClassifierWork

# ------------------------------------------------------------------ buffers, copies


def empty(shape, dtype):
    return dev.device_array(shape, dtype)


def zeros(shape, dtype):
    return dev.to_device(np.zeros(shape, dtype))


_aranges = {}


def arange(n):
    """The rows ``0 .. n`` (one device array per ``n``, made once)."""
    if n not in _aranges:
        _aranges[n] = dev.to_device(np.arange(n)[None, :])
    return Rows(_aranges[n], 0, 0, n)


def copy(dst, src):
    dev.copy_in(dst, src)


def sums():
    return zeros(2, np.float64)


def set_sums(acc, a, b):
    dev.copy_in(acc, np.array([a, b], np.float64))


def get_sums(acc):
    a, b = dev.to_host(acc)
    return float(a), float(b)


def ae_work(n_visible, n_hidden, batch_size, dtype, with_dW, with_clean, split):
    """``cpu_sparse.ae_work`` on the device (no sparse tail; ``clean``, the batch's
    targets, for a byte input)."""
    B = batch_size
    clean = empty((B if with_clean else 0, n_visible), dtype)
    return AEWork(empty((2 * B, n_visible), dtype), empty((2 * B, n_hidden), dtype),
                  empty((n_visible if with_dW else 0, n_hidden), dtype), empty(n_hidden, dtype),
                  empty(n_visible, dtype), empty(n_hidden, dtype), zeros(n_hidden, dtype), empty(B, dtype), sums(),
                  clean, None)


def classifier_work(weights, batch_size, split):
    """``cpu_sparse.classifier_work`` on the device (no sparse tail)."""
    B, dtype = batch_size, weights[0].dtype
    return ClassifierWork(empty((B, weights[0].shape[0]), dtype), [empty((B, W.shape[1]), dtype) for W in weights],
                          [empty((B, W.shape[1]), dtype) for W in weights], [zeros(W.shape[1], dtype) for W in weights],
                          [empty(W.shape, dtype) for W in weights], [empty(W.shape[1], dtype) for W in weights],
                          empty(B, dtype), empty(B, dtype), sums(), None)


def input_split(X, tail_density, sample_rows):
    """No split: ``(arange(n_columns), n_columns)``."""
    return np.arange(X.shape[1]), X.shape[1]


def to_split_order(A, split):
    """Nothing to reorder: the GPU's ``split`` is None."""


def from_split_order(A, split):
    """Nothing to reorder: the GPU's ``split`` is None."""


def gather_targets(clean, X, rows, split):
    """Nothing to gather: the GPU's ``split`` is None."""


# ---------------------------------------------------------------------- products


def encode(out, X, W, b, n_blocks):
    gemm(1.0, X, False, W, False, 0.0, out, bias=b)


def decode(out, H, W, c, n_blocks):
    gemm(1.0, H, False, W, True, 0.0, out, bias=c)


def encode_input(out, X, W, b, tail, split, n_blocks):
    gemm(1.0, X, False, W, False, 0.0, out, bias=b)


def input_product(out, X, W, tail, split):
    gemm(1.0, X, False, W, False, 0.0, out)


def input_gradient(out, X, G, tail, split):
    gemm(1.0, X, True, G, False, 0.0, out)


def tied_weight_step(out, alpha, beta, ws, P, split):
    product(ws.xd, True, ws.hg, False, out, K=2 * P, alpha=alpha, beta=beta)


# ------------------------------------------------------- the steps' composites, fused


def batch_rows(orders, e, start, stop):
    return Rows(orders, e, start, stop - start)


def ae_forward(W, b, ws, P, split, n_blocks):
    """``steps.ae_forward``: the encoder (bias and sigmoid in its epilogue), then ``H W^T``.
    Two launches."""
    product(ws.xd, False, W, False, ws.hg, M=P, c0=P, epilogue=BIAS_SIGMOID, vec=b)
    product(ws.hg, False, W, True, ws.xd, M=P, a0=P, c0=P)


def ae_output_delta(c, X, rows, hp, ws, P, n_blocks):
    """``steps.ae_output_delta``: the output delta, and the KL term (``rho_hat`` and its
    gradient, on blocks of their own) in one launch."""
    kl = (ws.hg, ws.rho_hat, ws.kl_grad, (float(hp.rho), float(hp.beta))) if hp.beta > 0.0 else None
    output_delta_launch(ws.xd, P, P, ws.loss_rows, c, X, rows, hp.loss_kind, 1.0 / P, ws.sums, kl)


def ae_backprop(W, ws, P, n_blocks):
    """``steps.ae_backprop``: ``dY W``, the KL gradient and the sigmoid's derivative in
    one product."""
    product(ws.xd, False, W, False, ws.hg, M=P, a0=P, epilogue=HIDDEN_DELTA, vec=ws.kl_grad, H=ws.hg, h0=P)


def tied_step(W, b, c, lr, ws, P, split, n_blocks):
    """``steps.tied_step``: ``W -= lr xd^T hg`` in one product whose prologue sums the
    biases' gradients into ``ws.db``, ``ws.dc`` and steps ``b`` and ``c``. One launch."""
    biases = (BiasStep(ws.hg, 0, b, ws.db, b, b), BiasStep(ws.xd, P, c, ws.dc, c, c))
    product(ws.xd, True, ws.hg, False, W, K=2 * P, alpha=-lr, beta=1.0, opt=(SGD, lr, 0.0, 0.0, 0.0, 0.0),
            biases=biases, bias_rows=P)


def forward(weights, biases, X, P, acts, tail, split, n_blocks):
    """``steps.forward``: one product a layer, the hidden layers' bias and sigmoid in their
    epilogues."""
    top = len(weights) - 1
    below = X
    for l in range(top):
        product(below, False, weights[l], False, acts[l], M=P, epilogue=BIAS_SIGMOID, vec=biases[l])
        below = acts[l]
    product(below, False, weights[top], False, acts[top], M=P)


def _delta(ws, l):
    return ws.acts[l] if l == len(ws.acts) - 1 else ws.deltas[l]


def softmax_delta(ws, P, d, labels, rows, n_blocks):
    """``steps.softmax_delta``: one launch."""
    top = len(ws.acts) - 1
    softmax_launch(ws.acts[top], P, ws.loss_rows, ws.hits, d, labels, rows, 1.0 / P, ws.sums)


def backprop(ws, l, P, W, n_blocks):
    """``steps.backprop``: ``D W^T`` and the sigmoid's derivative in one product."""
    product(_delta(ws, l), False, W, True, ws.deltas[l - 1], M=P, epilogue=HIDDEN_DELTA, vec=ws.zeros[l - 1],
            H=ws.acts[l - 1])


def layer_step(weights, biases, l, ws, P, split, n_blocks, opt, moments, t):
    """``steps.layer_step`` in one product: the weights' gradient goes straight into the
    optimiser's step in its epilogue (for ``GRADIENT``, into ``ws.dWs[l]``), and its
    prologue sums the bias's gradient into ``ws.dbs[l]`` and steps the bias."""
    D = _delta(ws, l)
    A = ws.xin if l == 0 else ws.acts[l - 1]
    mW, vW, mb, vb = moments
    lr_t, b1, b2, eps = 0.0, 0.0, 0.0, 0.0  # SGD's Adam constants are None
    if opt.kind == ADAM:
        b1, b2, eps = opt.beta1, opt.beta2, opt.eps
        lr_t = opt.lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    coefficients = (opt.kind, opt.lr, lr_t, b1, b2, eps)
    bias = (BiasStep(D, 0, biases[l], ws.dbs[l], mb[l], vb[l]),)
    if opt.kind == GRADIENT:
        product(A, True, D, False, ws.dWs[l], K=P, opt=coefficients, biases=bias, bias_rows=P)
    elif opt.kind == SGD:
        product(A, True, D, False, weights[l], K=P, alpha=-opt.lr, beta=1.0, opt=coefficients, biases=bias,
                bias_rows=P)
    else:
        product(A, True, D, False, weights[l], K=P, epilogue=ADAM_STEP, moments=(mW[l], vW[l]), opt=coefficients,
                biases=bias, bias_rows=P)
