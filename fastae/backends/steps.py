"""One training step, one epoch loop, one chunked loss: written once, for every device.

The functions below call a kernel namespace ``k`` (``cpu_kernels`` or ``cuda_kernels``:
the same names, the same arguments) and never test which device they run on.
:func:`build` binds them to one namespace: the CPU compiles the result with numba (an
epoch is one compiled, cached, ``nogil`` call), the GPU runs the same source as Python
over its kernel launchers. The step's few composites (``COMPOSITES``: the forward pass,
the output delta, backpropagation, the update) are written here over the finer kernels; a
namespace that defines one of their names supplies it instead (the GPU's fused kernels).

Conventions: one pattern per row; the tied autoencoder's ``W`` is ``n_visible x
n_hidden``; a batch's loss sums (over patterns) accumulate in ``ws.sums`` on the device,
read once an epoch; ``n_blocks`` is the CPU's thread count for elementwise kernels (the
GPU takes it and ignores it).
"""
import types

import numpy as np  # noqa: F401  (numba resolves np in the compiled source)

from ..config import EVAL_CHUNK as CHUNK
from ..config import STOP_CHECK_BATCHES
from .records import GRADIENT, SGD, Augment, Optim

# --------------------------------------------------------------- tied autoencoder


def ae_step(W, b, c, X, rows, hp, ws, n_dense, n_blocks):
    """Forward and backward pass of a tied autoencoder on one batch.

    On entry ``ws.xd[:P]`` holds the (corrupted) input ``X~`` of the batch, whose clean
    targets are ``X[rows]`` (P = ``len(rows)``). On exit ``ws.sums[0]`` has grown by the
    batch's loss summed over its patterns (the reconstruction term summed over visible
    units, plus P times ``beta * sum_j KL(rho || rho_hat_j)``); ``ws.xd[:2P]`` and
    ``ws.hg[:2P]`` hold the factors of the weight gradient (``k.tied_weight_step``) and
    of the biases' gradients (``tied_step``), ``ws.hg[P:2P]`` the hidden activations and
    ``ws.rho_hat`` their batch mean (with the sparsity term on).

    With ``n_dense < n_visible`` the input is split (CPU, ``cpu_sparse.input_split``):
    ``X~ W`` is ``X~[:, :n_dense] W[:n_dense]`` plus the sparse tail held in ``ws``.
    """
    P = rows.shape[0]
    ae_forward(W, b, ws, P, n_dense, n_blocks)
    ae_output_delta(c, X, rows, hp, ws, P, n_blocks)
    ae_backprop(W, ws, P, n_blocks)


def ae_forward(W, b, ws, P, n_dense, n_blocks):
    """``H = sigmoid(X~ W + b)`` into ``ws.hg[P:2P]``, then ``H W^T`` into ``ws.xd[P:2P]``."""
    H = ws.hg[P : 2 * P]
    k.encode_input(H, ws.xd[:P], W, b, ws.tail, n_dense, n_blocks)  # noqa: F821  (k: bound by build)
    k.gemm(1.0, H, False, W, True, 0.0, ws.xd[P : 2 * P])  # noqa: F821


def ae_output_delta(c, X, rows, hp, ws, P, n_blocks):
    """``dY`` in place of ``H W^T`` and the batch's reconstruction loss; with the sparsity
    term on, ``rho_hat``, the KL term's gradient ``ws.kl_grad`` and its loss."""
    D_out = ws.xd[P : 2 * P]
    k.output_delta(D_out, ws.loss_rows[:P], c, X, rows, hp.loss_kind, 1.0 / P, ws.sums, n_blocks)  # noqa: F821
    if hp.beta > 0.0:
        k.col_sum(ws.rho_hat, ws.hg[P : 2 * P], 1.0 / P, n_blocks)  # noqa: F821
        k.kl_penalty(ws.kl_grad, ws.rho_hat, hp.rho, hp.beta, 1.0 / P, float(P), ws.sums)  # noqa: F821


def ae_backprop(W, ws, P, n_blocks):
    """``dH = (dY W + kl_grad) * H * (1 - H)`` into ``ws.hg[:P]``."""
    D_hid = ws.hg[:P]
    k.gemm(1.0, ws.xd[P : 2 * P], False, W, False, 0.0, D_hid)  # noqa: F821
    k.hidden_delta(D_hid, ws.hg[P : 2 * P], ws.kl_grad, n_blocks)  # noqa: F821


def ae_bias_grads(ws, P, n_blocks):
    """The gradients of the mean loss for the biases into ``ws.db``, ``ws.dc``."""
    k.col_sum(ws.db, ws.hg[:P], 1.0, n_blocks)  # noqa: F821
    k.col_sum(ws.dc, ws.xd[P : 2 * P], 1.0, n_blocks)  # noqa: F821


def tied_step(W, b, c, lr, ws, P, n_dense, n_blocks):
    """SGD on the step's gradients: the biases' gradients, ``W -= lr dW`` in one product
    (no dW buffer), then the biases."""
    ae_bias_grads(ws, P, n_blocks)
    k.tied_weight_step(W, -lr, 1.0, ws, P, n_dense)  # noqa: F821
    k.sgd(b, ws.db, lr, 1)  # noqa: F821
    k.sgd(c, ws.dc, lr, 1)  # noqa: F821


def ae_epochs(W, b, c, X, sched, lr, hp, cursor, history, tuning):
    """Run ``len(sched.orders)`` epochs of mini-batch SGD on a tied autoencoder, in place.

    Batches are consecutive slices of each epoch's order (the last may be smaller);
    ``history[e, 0]`` receives the mean over the epoch's patterns of the batch losses,
    each taken before its update. Inputs whose columns are mostly zeros are split on the
    CPU (``tuning.tail_density``): ``W`` and ``c`` then have their visible units in the
    split's order while the loop runs, and are put back when it returns.

    Stopping and resuming (``fastae.stopping``): the first epoch starts at row
    ``cursor.at[1]`` of its order with ``cursor.partial`` as its sums so far. Before each
    batch the loop stops if ``cursor.stop[1]`` batches have run or, before its first
    batch and every ``config.STOP_CHECK_BATCHES`` batches, if ``cursor.stop[0]`` is set,
    leaving in ``cursor`` the epoch (index into the orders), the row and the sums it
    stopped at; a loop that finishes leaves ``at = (len(orders), 0)``.
    """
    split = k.input_split(X, tuning.tail_density, k.SPLIT_SAMPLE_ROWS)  # noqa: F821
    cols, n_dense = split
    if n_dense < X.shape[1]:
        k.reorder_rows(W, cols)  # noqa: F821
        k.reorder_rows(c, cols)  # noqa: F821
    _ae_batches(W, b, c, X, sched, lr, hp, cursor, history, (split, tuning.n_blocks))
    if n_dense < X.shape[1]:
        back = k.inverse(cols)  # noqa: F821
        k.reorder_rows(W, back)  # noqa: F821
        k.reorder_rows(c, back)  # noqa: F821


def _ae_batches(W, b, c, X, sched, lr, hp, cursor, history, split_blocks):
    """``ae_epochs``' loop, over the input's ``split`` (``W`` and ``c`` reordered)."""
    split, n_blocks = split_blocks
    n_dense = split[1]
    n = X.shape[0]
    B = min(sched.batch_size, n)
    direct = n_dense == X.shape[1] and not k.is_bytes(X)  # targets read from X itself  # noqa: F821
    ws = k.ae_work(X.shape[1], W.shape[1], B, W.dtype, False, not direct)  # noqa: F821
    targets = k.arange(B)  # rows of the gathered targets ws.clean  # noqa: F821
    aug = Augment(hp.corruption, 0, 1, hp.seed)
    run = 0  # batches this call has run
    for e in range(sched.orders.shape[0]):
        for start in _epoch_rows(ws.sums, cursor, e, n, sched.batch_size):
            if _stop_before(cursor, e, start, ws.sums, run):
                return
            run += 1
            rows = batch_rows(sched.orders, e, start, min(start + sched.batch_size, n))
            P = rows.shape[0]
            k.draw(ws.xd, ws.clean, ws.tail, X, rows, aug, sched.first_epoch + e, split, n_blocks)  # noqa: F821
            if direct:
                ae_step(W, b, c, k.float_data(X, ws.clean), rows, hp, ws, n_dense, n_blocks)  # noqa: F821
            else:
                ae_step(W, b, c, ws.clean, targets[:P], hp, ws, n_dense, n_blocks)
            tied_step(W, b, c, W.dtype.type(lr), ws, P, n_dense, n_blocks)
        history[e, 0] = k.get_sums(ws.sums)[0] / n  # noqa: F821
    _stopped(cursor, sched.orders.shape[0], 0, (0.0, 0.0))


def batch_rows(orders, e, start, stop):
    """The rows ``start .. stop`` of epoch ``e``'s order: a batch's patterns."""
    return orders[e, start:stop]


def _epoch_rows(sums, cursor, e, n, batch_size):
    """The first rows of epoch ``e``'s batches; its sums start from the interrupted
    epoch's (``e == 0``) or from zero."""
    if e == 0:
        k.set_sums(sums, cursor.partial[0], cursor.partial[1])  # noqa: F821
        return range(cursor.at[1], n, batch_size)
    k.set_sums(sums, 0.0, 0.0)  # noqa: F821
    return range(0, n, batch_size)


def _stop_before(cursor, e, row, sums, run):
    """True, with ``cursor`` at epoch ``e``, ``row`` and the epoch's ``sums`` so far, once
    the batch limit is reached, or on Ctrl-C when the loop has run a multiple of
    ``STOP_CHECK_BATCHES`` batches (``run``; a device may then queue that many batches
    at once); otherwise counts one more batch."""
    if (run % STOP_CHECK_BATCHES == 0 and cursor.stop[0] != 0) or cursor.stop[1] <= 0:
        _stopped(cursor, e, row, k.get_sums(sums))  # noqa: F821
        return True
    cursor.stop[1] -= 1
    return False


def _stopped(cursor, e, row, sums):
    cursor.at[0], cursor.at[1] = e, row
    cursor.partial[0], cursor.partial[1] = sums[0], sums[1]


def ae_grads(W, b, c, Xt, X, hp, n_blocks):
    """Mean loss of ``ae_step`` on all rows of ``X`` as one batch (input ``Xt``), and the
    gradients ``(dW, db, dc)``."""
    P, V = X.shape
    ws = k.ae_work(V, W.shape[1], P, W.dtype, True, False)  # noqa: F821
    k.copy(ws.xd[:P], Xt)  # noqa: F821
    ae_step(W, b, c, X, k.arange(P), hp, ws, V, n_blocks)  # noqa: F821
    ae_bias_grads(ws, P, n_blocks)
    k.tied_weight_step(ws.dW, 1.0, 0.0, ws, P, V)  # noqa: F821
    return k.get_sums(ws.sums)[0] / P, ws.dW, ws.db, ws.dc  # noqa: F821


def ae_loss(W, b, c, Xt, X, hp, n_blocks):
    """The ``ae_step`` loss over all rows of ``Xt`` (targets ``X``), without gradients,
    ``CHUNK`` rows at a time; ``rho_hat`` is the mean over all rows.
    Returns ``(loss, reconstruction term, rho_hat)``."""
    n, V = X.shape
    Hn = W.shape[1]
    m = min(CHUNK, n)
    H, D = k.empty((m, Hn), W.dtype), k.empty((m, V), W.dtype)  # noqa: F821
    loss_rows, col, rho_hat = k.empty(m, W.dtype), k.empty(Hn, W.dtype), k.zeros(Hn, W.dtype)  # noqa: F821
    sums, rows = k.sums(), k.arange(n)  # noqa: F821
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        P = stop - start
        k.encode(H[:P], Xt[start:stop], W, b, n_blocks)  # noqa: F821
        k.gemm(1.0, H[:P], False, W, True, 0.0, D[:P])  # noqa: F821
        k.output_delta(D[:P], loss_rows[:P], c, X, rows[start:stop], hp.loss_kind, 1.0, sums, n_blocks)  # noqa: F821
        k.col_sum(col, H[:P], 1.0 / n, n_blocks)  # noqa: F821
        k.sgd(rho_hat, col, -1.0, 1)  # rho_hat += col  # noqa: F821
    recon = k.get_sums(sums)[0] / n  # noqa: F821
    loss = recon
    if hp.beta > 0.0:
        k.set_sums(sums, 0.0, 0.0)  # noqa: F821
        k.kl_penalty(col, rho_hat, hp.rho, hp.beta, 0.0, 1.0, sums)  # noqa: F821
        loss += k.get_sums(sums)[0]  # noqa: F821
    return loss, recon, rho_hat


# ----------------------------------------------------- stacked softmax classifier
#
# Sigmoid layers ``H_l = sigmoid(H_{l-1} W_l + b_l)`` (``H_0`` = the input), then a
# softmax layer on the last one. ``weights`` and ``biases`` are lists of the parameter
# arrays (numba typed lists on the CPU), shared with the model, updated in place.


def forward(weights, biases, X, P, acts, tail, n_dense, n_blocks):
    """Layer outputs for the first ``P`` rows of ``X`` into ``acts[l][:P]``; the last
    holds the logits without their bias (``softmax_delta`` adds it). ``tail`` and
    ``n_dense``: the input's split, as in ``k.input_product``."""
    top = len(weights) - 1
    if top == 0:
        k.input_product(acts[0][:P], X[:P], weights[0], tail, n_dense)  # noqa: F821
        return
    k.encode_input(acts[0][:P], X[:P], weights[0], biases[0], tail, n_dense, n_blocks)  # noqa: F821
    for l in range(1, top):
        k.encode(acts[l][:P], acts[l - 1][:P], weights[l], biases[l], n_blocks)  # noqa: F821
    k.gemm(1.0, acts[top - 1][:P], False, weights[top], False, 0.0, acts[top][:P])  # noqa: F821


def classifier_step(weights, biases, labels, rows, ws, n_dense, n_blocks, opt, moments, t):
    """Softmax cross-entropy of one batch, its gradients and the optimiser's step.

    On entry ``ws.xin[:P]`` holds the batch's input, whose labels are ``labels[rows]``
    (with ``n_dense`` below the input's width, its first ``n_dense`` columns, the rest in
    ``ws.tail``). On exit ``ws.sums`` has grown by the batch's summed loss and hits,
    ``ws.dWs``, ``ws.dbs`` hold the gradients of the mean loss over the batch, and the
    optimiser ``opt`` (step ``t``, Adam's ``moments`` ``(mW, vW, mb, vb)``) has updated
    every parameter; ``opt.kind == GRADIENT`` leaves them.
    """
    P = rows.shape[0]
    top = len(weights) - 1
    forward(weights, biases, ws.xin, P, ws.acts, ws.tail, n_dense, n_blocks)
    softmax_delta(ws, P, biases[top], labels, rows, n_blocks)
    for l in range(top, -1, -1):
        if l > 0:
            backprop(ws, l, P, weights[l], n_blocks)
        layer_step(weights, biases, l, ws, P, n_dense, n_blocks, opt, moments, t)


def _delta(ws, l, P):
    """dJ/d(pre-activation) of layer ``l`` (the logits' for the top one)."""
    return ws.acts[l][:P] if l == len(ws.acts) - 1 else ws.deltas[l][:P]


def softmax_delta(ws, P, d, labels, rows, n_blocks):
    """The logits (plus the bias ``d``) replaced by their delta; the loss and hits summed."""
    top = len(ws.acts) - 1
    k.softmax_xent(ws.acts[top][:P], ws.loss_rows[:P], ws.hits[:P], d, labels, rows, 1.0 / P, ws.sums,  # noqa: F821
                   n_blocks)


def backprop(ws, l, P, W, n_blocks):
    """Layer ``l - 1``'s delta from layer ``l``'s through ``W`` (layer ``l``'s weights)."""
    below = ws.deltas[l - 1][:P]
    k.gemm(1.0, _delta(ws, l, P), False, W, True, 0.0, below)  # noqa: F821
    k.hidden_delta(below, ws.acts[l - 1][:P], ws.zeros[l - 1], n_blocks)  # noqa: F821


def layer_step(weights, biases, l, ws, P, n_dense, n_blocks, opt, moments, t):
    """Layer ``l``'s gradients into ``ws.dWs[l]``, ``ws.dbs[l]`` (its input's rows times its
    delta), then the optimiser's step on its parameters (none for ``GRADIENT``)."""
    D = _delta(ws, l, P)
    if l == 0:
        k.input_gradient(ws.dWs[0], ws.xin[:P], D, ws.tail, n_dense)  # noqa: F821
    else:
        k.gemm(1.0, ws.acts[l - 1][:P], True, D, False, 0.0, ws.dWs[l])  # noqa: F821
    k.col_sum(ws.dbs[l], D, 1.0, n_blocks)  # noqa: F821
    if opt.kind != GRADIENT:
        mW, vW, mb, vb = moments
        update(weights[l], ws.dWs[l], mW[l], vW[l], opt, t, n_blocks)
        update(biases[l], ws.dbs[l], mb[l], vb[l], opt, t, 1)


def update(param, grad, m, v, opt, t, n_blocks):
    """One optimiser step on one parameter: SGD, or Adam step ``t``."""
    if opt.kind == SGD:
        k.sgd(param, grad, opt.lr, n_blocks)  # noqa: F821
    else:
        k.adam(param, grad, m, v, opt.lr, opt.beta1, opt.beta2, opt.eps, t, n_blocks)  # noqa: F821


def classifier_epochs(weights, biases, X, labels, sched, opt, state, aug, cursor, history, tuning):
    """Run ``len(sched.orders)`` epochs of mini-batch training of the whole network.

    ``state`` holds the optimiser's moments (lists like the parameters) and its step
    count ``t``; ``aug`` the input's masking noise and shifts. ``history[e]`` receives
    epoch ``e``'s mean loss and its hit count. A sparse input is split as in
    ``ae_epochs`` (the rows of the first weight and of its moments reordered while the
    loop runs); ``cursor`` works as there.
    """
    split = k.input_split(X, tuning.tail_density, k.SPLIT_SAMPLE_ROWS)  # noqa: F821
    cols, n_dense = split
    if n_dense < X.shape[1]:
        for A in (weights[0], state.mW[0], state.vW[0]):
            k.reorder_rows(A, cols)  # noqa: F821
    _classifier_batches(weights, biases, X, labels, sched, (opt, state), aug, cursor, history, (split, tuning.n_blocks))
    if n_dense < X.shape[1]:
        back = k.inverse(cols)  # noqa: F821
        for A in (weights[0], state.mW[0], state.vW[0]):
            k.reorder_rows(A, back)  # noqa: F821


def _classifier_batches(weights, biases, X, labels, sched, optimizer, aug, cursor, history, split_blocks):
    """``classifier_epochs``' loop, over the input's ``split``."""
    opt, state = optimizer
    split, n_blocks = split_blocks
    n_dense = split[1]
    n = X.shape[0]
    ws = k.classifier_work(weights, min(sched.batch_size, n), n_dense < X.shape[1])  # noqa: F821
    no_clean = ws.xin[:0]
    moments = (state.mW, state.vW, state.mb, state.vb)
    run = 0  # batches this call has run
    for e in range(sched.orders.shape[0]):
        for start in _epoch_rows(ws.sums, cursor, e, n, sched.batch_size):
            if _stop_before(cursor, e, start, ws.sums, run):
                return
            run += 1
            rows = batch_rows(sched.orders, e, start, min(start + sched.batch_size, n))
            k.draw_augmented(ws.xin, no_clean, ws.tail, X, rows, aug, sched.first_epoch + e, split,  # noqa: F821
                             n_blocks)
            state.t[0] += 1
            classifier_step(weights, biases, labels, rows, ws, n_dense, n_blocks, opt, moments, state.t[0])
        total, hits = k.get_sums(ws.sums)  # noqa: F821
        history[e, 0], history[e, 1] = total / n, hits
    _stopped(cursor, sched.orders.shape[0], 0, (0.0, 0.0))


def classifier_grads(weights, biases, X, labels, n_blocks):
    """Mean softmax cross-entropy over all rows of ``X`` and its gradients."""
    P = X.shape[0]
    ws = k.classifier_work(weights, P, False)  # noqa: F821
    k.copy(ws.xin, X)  # noqa: F821
    moments = (ws.dWs, ws.dWs, ws.dbs, ws.dbs)  # not read: GRADIENT updates nothing
    classifier_step(weights, biases, labels, k.arange(P), ws, X.shape[1], n_blocks,  # noqa: F821
                    Optim(GRADIENT, 0.0, 0.0, 0.0, 0.0), moments, 0)
    return k.get_sums(ws.sums)[0] / P, ws.dWs, ws.dbs  # noqa: F821


def layers(weights, biases, X, n_blocks):
    """Every layer's output for all rows of ``X``, ``CHUNK`` rows at a time: the sigmoid
    layers, then the logits."""
    n = X.shape[0]
    outs = [k.empty((n, W.shape[1]), W.dtype) for W in weights]  # noqa: F821
    ws = k.classifier_work(weights, min(CHUNK, n), False)  # noqa: F821
    top = len(weights) - 1
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        P = stop - start
        forward(weights, biases, X[start:stop], P, ws.acts, ws.tail, X.shape[1], n_blocks)
        for l in range(top + 1):
            k.copy(outs[l][start:stop], ws.acts[l][:P])  # noqa: F821
        k.add_bias(outs[top][start:stop], biases[top], n_blocks)  # noqa: F821
    return outs


STEPS = (ae_step, ae_forward, ae_output_delta, ae_backprop, ae_bias_grads, tied_step, _epoch_rows, _stop_before,
         _stopped, batch_rows, _ae_batches, ae_epochs, ae_grads, ae_loss, forward, classifier_step, _delta,
         softmax_delta, backprop, layer_step, update, _classifier_batches, classifier_epochs, classifier_grads, layers)

#: Compositions of finer kernels that a kernel namespace may supply itself, under the same
#: name and with the same arguments (the CUDA backend's are fused kernels: fewer
#: launches, no views of its buffers); where it does not, these are used.
COMPOSITES = (ae_forward, ae_output_delta, ae_backprop, tied_step, batch_rows, forward, softmax_delta, backprop,
              layer_step)

#: What a compiling build inlines where it is called: the helpers of a few lines, and the
#: steps and batch loops under each entry point. numba re-optimises a called function's
#: code inside every compiled caller, so each level of calls between an entry point and
#: its kernels costs seconds of compile time (about 1 s less for a first fit).
INLINE = (ae_forward, ae_output_delta, ae_backprop, ae_bias_grads, tied_step, _epoch_rows, _stop_before, _stopped,
          batch_rows, _delta, softmax_delta, backprop, layer_step, _ae_batches, _classifier_batches, ae_step,
          classifier_step, forward, update)


def build(kernels, jit=None):
    """The functions above bound to the kernel namespace ``kernels`` (as ``k``), each
    wrapped by ``jit(fn, inline)`` when given (the CPU's compiles it with numba, inlining
    the helpers in ``INLINE``); a function of ``COMPOSITES`` that ``kernels`` defines is
    taken from it instead. Returns a namespace of them by name. Each function calls the
    others of the same build."""
    scope = dict(globals(), k=kernels)
    built = {}
    for f in STEPS:
        if f in COMPOSITES and hasattr(kernels, f.__name__):
            scope[f.__name__] = built[f.__name__] = getattr(kernels, f.__name__)
            continue
        fn = types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__)
        fn.__qualname__, fn.__doc__, fn.__module__ = f.__qualname__, f.__doc__, f.__module__
        scope[f.__name__] = built[f.__name__] = fn if jit is None else jit(fn, f in INLINE)
    return types.SimpleNamespace(**built)
