"""The stacked softmax classifier's steps: the forward pass, the softmax delta,
backpropagation, the optimisers' update of each layer, the epoch loop, and the gradients
and layer outputs of a whole data set. Bound to a kernel namespace ``k`` by
``steps.build``.

Sigmoid layers ``H_l = sigmoid(H_{l-1} W_l + b_l)`` (``H_0`` = the input), then a
softmax layer on the last one. ``weights`` and ``biases`` are lists of the parameter
arrays (tuples on the CPU), shared with the model, updated in place.
"""
import numpy as np  # noqa: F401  (numba resolves np in the compiled source)

from .records import GRADIENT, Augment, Optim
from .steps_batches import batch_rows, epoch_rows, stop_before, stopped


def forward(weights, biases, X, P, acts, tail, split, n_blocks):
    """Layer outputs for the first ``P`` rows of ``X`` into ``acts[l][:P]``; the last
    holds the logits without their bias (``softmax_delta`` adds it). ``tail`` and
    ``split``: the input's split, as in ``k.input_product``."""
    top = len(weights) - 1
    if top == 0:
        k.input_product(acts[0][:P], X[:P], weights[0], tail, split)  # noqa: F821
        return
    k.encode_input(acts[0][:P], X[:P], weights[0], biases[0], tail, split, n_blocks)  # noqa: F821
    for l in range(1, top):
        k.encode(acts[l][:P], acts[l - 1][:P], weights[l], biases[l], n_blocks)  # noqa: F821
    k.gemm(1.0, acts[top - 1][:P], False, weights[top], False, 0.0, acts[top][:P])  # noqa: F821


def classifier_step(weights, biases, labels, rows, ws, split, n_blocks, opt, moments, t):
    """Softmax cross-entropy of one batch, its gradients and the optimiser's step.

    On entry ``ws.xin[:P]`` holds the batch's input, whose labels are ``labels[rows]``
    (with a ``split = (cols, n_dense)``, its first ``n_dense`` columns, the rest in
    ``ws.tail``). On exit ``ws.sums`` has grown by the batch's summed loss and hits,
    ``ws.dWs``, ``ws.dbs`` hold the gradients of the mean loss over the batch, and the
    optimiser ``opt`` (step ``t``, Adam's ``moments`` ``(mW, vW, mb, vb)``) has updated
    every parameter; ``opt.kind == GRADIENT`` leaves them.
    """
    P = rows.shape[0]
    top = len(weights) - 1
    forward(weights, biases, ws.xin, P, ws.acts, ws.tail, split, n_blocks)
    softmax_delta(ws, P, biases[top], labels, rows, n_blocks)
    for l in range(top, -1, -1):
        if l > 0:
            backprop(ws, l, P, weights[l], n_blocks)
        layer_step(weights, biases, l, ws, P, split, n_blocks, opt, moments, t)


def layer_delta(ws, l, P):
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
    k.gemm(1.0, layer_delta(ws, l, P), False, W, True, 0.0, below)  # noqa: F821
    k.hidden_delta(below, ws.acts[l - 1][:P], ws.zeros[l - 1], n_blocks)  # noqa: F821


def layer_step(weights, biases, l, ws, P, split, n_blocks, opt, moments, t):
    """Layer ``l``'s gradients into ``ws.dWs[l]``, ``ws.dbs[l]`` (its input's rows times its
    delta), then the optimiser's step on its parameters (none for ``GRADIENT``)."""
    D = layer_delta(ws, l, P)
    if l == 0:
        k.input_gradient(ws.dWs[0], ws.xin[:P], D, ws.tail, split)  # noqa: F821
    else:
        k.gemm(1.0, ws.acts[l - 1][:P], True, D, False, 0.0, ws.dWs[l])  # noqa: F821
    k.col_sum(ws.dbs[l], D, 1.0, n_blocks)  # noqa: F821
    if opt.kind != GRADIENT:
        mW, vW, mb, vb = moments
        update(weights[l], ws.dWs[l], mW[l], vW[l], opt, t, n_blocks)
        update(biases[l], ws.dbs[l], mb[l], vb[l], opt, t, np.int64(1))  # (a literal 1 would compile another step)


def update(param, grad, m, v, opt, t, n_blocks):
    """One optimiser step on one parameter: SGD (Adam's constants None), or Adam step ``t``
    (``opt.sgd_lr`` None), each compiled alone (``records.Optim``).
    Over the arrays flattened, so that a weight and a bias share one compiled step."""
    k.optimize(param.reshape(param.size), grad.reshape(grad.size), m.reshape(m.size), v.reshape(v.size),  # noqa: F821
               opt.sgd_lr, opt.lr, opt.beta1, opt.beta2, opt.eps, t, n_blocks)


def classifier_epochs(weights, biases, X, labels, sched, opt, state, aug, cursor, history, tuning, parts, whole,
                      ws):
    """Run ``len(sched.orders)`` epochs of mini-batch training of the whole network.

    ``state`` holds the optimiser's moments (lists like the parameters) and its step
    count ``t``; ``aug`` the input's masking noise and shifts. ``history[e]`` receives
    epoch ``e``'s mean loss and its hit count. A sparse input is split as in
    ``ae_epochs`` (the rows of the first weight and of its moments reordered while the
    loop runs); ``cursor`` works as there. Of ``parts`` and ``whole`` one is None, as in
    ``ae_epochs``: each step runs in ``parts`` parts, a thread each (the CPU's
    ``cpu_classifier_parts.classifier_parts_step``), or whole. ``ws``: the step's work
    buffers (``k.classifier_work`` for batches of ``min(sched.batch_size, n)``).
    """
    split = tuning.split
    for A in (weights[0], state.mW[0], state.vW[0]):
        k.to_split_order(A, split)  # noqa: F821
    classifier_batches(weights, biases, X, labels, sched, (opt, state), aug, cursor, history, tuning, parts, whole,
                       ws)
    for A in (weights[0], state.mW[0], state.vW[0]):
        k.from_split_order(A, split)  # noqa: F821


def classifier_batches(weights, biases, X, labels, sched, optimizer, aug, cursor, history, tuning, parts, whole,
                       ws):
    """``classifier_epochs``' loop, over the input's ``split`` (``parts`` and ``whole``
    arguments of their own: numba drops the branch of an argument that is None)."""
    opt, state = optimizer
    split, n_blocks = tuning.split, tuning.n_blocks
    n = X.shape[0]
    no_clean = ws.xin[:0]
    moments = (state.mW, state.vW, state.mb, state.vb)
    run = 0  # batches this call has run
    for e in range(sched.orders.shape[0]):
        for start in epoch_rows(ws.sums, cursor, e, n, sched.batch_size):
            if stop_before(cursor, e, start, ws.sums, run):
                return
            run += 1
            rows = batch_rows(sched.orders, e, start, min(start + sched.batch_size, n))
            state.t[0] += 1
            if parts is not None:
                k.classifier_parts_step(weights, biases, X, labels, rows, aug, sched.first_epoch + e, split,  # noqa: F821
                                        k.without_tail(ws), ws.tail, opt, moments, state.t[0], parts)  # noqa: F821
            if whole is not None:
                k.draw_augmented(ws.xin, no_clean, ws.tail, X, rows, aug, sched.first_epoch + e, split,  # noqa: F821
                                 n_blocks)
                classifier_step(weights, biases, labels, rows, ws, split, n_blocks, opt, moments, state.t[0])
        total, hits = k.get_sums(ws.sums)  # noqa: F821
        history[e, 0], history[e, 1] = total / n, hits
    stopped(cursor, sched.orders.shape[0], 0, (0.0, 0.0))


def classifier_grads(weights, biases, X, labels, n_blocks, ws):
    """Mean softmax cross-entropy over all rows of ``X``; its gradients are left in
    ``ws.dWs`` and ``ws.dbs`` (``ws``: ``k.classifier_work`` for all the rows, no split)."""
    P = X.shape[0]
    k.copy(ws.xin, X)  # noqa: F821
    moments = (ws.dWs, ws.dWs, ws.dbs, ws.dbs)  # not read: GRADIENT updates nothing
    classifier_step(weights, biases, labels, k.arange(P), ws, None, n_blocks,  # noqa: F821
                    Optim(GRADIENT, 0.0, None, None, None, 0.0), moments, np.int64(0))
    return k.get_sums(ws.sums)[0] / P  # noqa: F821


def layers(weights, biases, X, n_blocks, split, ws, outs):
    """Every layer's output for all rows of ``X``, as many rows at a time as ``ws``
    holds: the sigmoid layers, then the logits. A sparse input is split as in training
    (``split``, an argument of its own as in ``steps_ae.ae_loss``; the rows of the first
    weight reordered while the loop runs): MNIST's first product then takes 344 of its
    784 columns. ``ws``: ``k.classifier_work`` for ``min(EVAL_BLOCK, n)`` rows (its block,
    as in ``ae_loss``); ``outs[l]``: layer ``l``'s ``n`` outputs, filled."""
    k.to_split_order(weights[0], split)  # noqa: F821
    block_layers(weights, biases, X, split, n_blocks, ws, outs)
    k.from_split_order(weights[0], split)  # noqa: F821


def block_layers(weights, biases, X, split, n_blocks, ws, outs):
    """``layers``' loop, over the input's ``split`` (the first weight's rows reordered)."""
    n = X.shape[0]
    rows = k.arange(n)  # noqa: F821
    plain = Augment(None, 0, 1, 0)  # no noise (not compiled); draw never looks at the shift
    top = len(weights) - 1
    block = max(ws.loss_rows.shape[0], 1)  # the rows its buffers hold
    for start in range(0, n, block):
        stop = min(start + block, n)
        P = stop - start
        if split is None:
            forward(weights, biases, X[start:stop], P, ws.acts, ws.tail, split, n_blocks)
        else:
            k.draw(ws.xin, ws.xin[:0], ws.tail, X, rows[start:stop], plain, np.int64(0), split,  # noqa: F821
                   n_blocks)
            forward(weights, biases, ws.xin, P, ws.acts, ws.tail, split, n_blocks)
        for l in range(top + 1):
            k.copy(outs[l][start:stop], ws.acts[l][:P])  # noqa: F821
        k.add_bias(outs[top][start:stop], biases[top], n_blocks)  # noqa: F821
