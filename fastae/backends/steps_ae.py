"""The tied autoencoder's steps: the forward and backward pass of a batch, the tied
update, the epoch loop (with the CPU's sparse split), and the loss and gradients of a
whole data set. Bound to a kernel namespace ``k`` by ``steps.build``."""
import numpy as np  # noqa: F401  (numba resolves np in the compiled source)

from .records import Augment
from .steps_batches import batch_rows, epoch_rows, stop_before, stopped


def ae_step(W, b, c, X, rows, hp, ws, split, n_blocks):
    """Forward and backward pass of a tied autoencoder on one batch.

    On entry ``ws.xd[:P]`` holds the (corrupted) input ``X~`` of the batch, whose clean
    targets are ``X[rows]`` (P = ``len(rows)``). On exit ``ws.sums[0]`` has grown by the
    batch's loss summed over its patterns (the reconstruction term summed over visible
    units, plus P times ``beta * sum_j KL(rho || rho_hat_j)``); ``ws.xd[:2P]`` and
    ``ws.hg[:2P]`` hold the factors of the weight gradient (``k.tied_weight_step``) and
    of the biases' gradients (``tied_step``), ``ws.hg[P:2P]`` the hidden activations and
    ``ws.rho_hat`` their batch mean (with the sparsity term on).

    With a ``split = (cols, n_dense)`` the input is split (CPU, ``cpu_sparse.input_split``):
    ``X~ W`` is ``X~[:, :n_dense] W[:n_dense]`` plus the sparse tail held in ``ws``.
    """
    P = rows.shape[0]
    ae_forward(W, b, ws, P, split, n_blocks)
    ae_output_delta(c, X, rows, hp, ws, P, n_blocks)
    ae_backprop(W, ws, P, n_blocks)


def ae_forward(W, b, ws, P, split, n_blocks):
    """``H = sigmoid(X~ W + b)`` into ``ws.hg[P:2P]``, then ``H W^T`` into ``ws.xd[P:2P]``."""
    H = ws.hg[P : 2 * P]
    k.encode_input(H, ws.xd[:P], W, b, ws.tail, split, n_blocks)  # noqa: F821  (k: bound by build)
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


def tied_step(W, b, c, lr, ws, P, split, n_blocks):
    """SGD on the step's gradients: the biases' gradients, ``W -= lr dW`` in one product
    (no dW buffer), then the biases."""
    ae_bias_grads(ws, P, n_blocks)
    k.tied_weight_step(W, -lr, 1.0, ws, P, split)  # noqa: F821
    k.sgd(b, ws.db, lr, 1)  # noqa: F821
    k.sgd(c, ws.dc, lr, 1)  # noqa: F821


def ae_epochs(W, b, c, X, sched, lr, hp, cursor, history, tuning, parts, whole, ws):
    """Run ``len(sched.orders)`` epochs of mini-batch SGD on a tied autoencoder, in place.

    Batches are consecutive slices of each epoch's order (the last may be smaller);
    ``history[e, 0]`` receives the mean over the epoch's patterns of the batch losses,
    each taken before its update. Inputs whose columns are mostly zeros are split on the
    CPU (``tuning.split``, not None): ``W`` and ``c`` then have their visible units in the
    split's order while the loop runs, and are put back when it returns.

    Of ``parts`` and ``whole`` one is None: each step runs in ``parts`` row parts, a
    thread each (the CPU's ``cpu_parts.parts_step``, for a dense input), or whole
    (``whole`` True). Two arguments, so that numba compiles only the step a loop runs: it
    drops the branch of an argument that is None, and only that. ``ws``: the step's work
    buffers (``k.ae_work`` for batches of ``min(sched.batch_size, n)``, with ``clean``
    unless ``X`` holds floats and is not split).

    Stopping and resuming (``fastae.stopping``): the first epoch starts at row
    ``cursor.at[1]`` of its order with ``cursor.partial`` as its sums so far. Before each
    batch the loop stops if ``cursor.stop[1]`` batches have run or, before its first
    batch and every ``config.STOP_CHECK_BATCHES`` batches, if ``cursor.stop[0]`` is set,
    leaving in ``cursor`` the epoch (index into the orders), the row and the sums it
    stopped at; a loop that finishes leaves ``at = (len(orders), 0)``.
    """
    split = tuning.split
    k.to_split_order(W, split)  # noqa: F821
    k.to_split_order(c, split)  # noqa: F821
    ae_batches(W, b, c, X, sched, lr, hp, cursor, history, tuning, parts, whole, ws)
    k.from_split_order(W, split)  # noqa: F821
    k.from_split_order(c, split)  # noqa: F821


def ae_batches(W, b, c, X, sched, lr, hp, cursor, history, tuning, parts, whole, ws):
    """``ae_epochs``' loop, over the input's ``split`` (``W`` and ``c`` reordered)."""
    split, n_blocks = tuning.split, tuning.n_blocks
    n = X.shape[0]
    B = min(sched.batch_size, n)
    targets = k.arange(B)  # rows of the gathered targets ws.clean  # noqa: F821
    aug = Augment(hp.corruption, 0, 1, hp.seed)
    run = 0  # batches this call has run
    for e in range(sched.orders.shape[0]):
        for start in epoch_rows(ws.sums, cursor, e, n, sched.batch_size):
            if stop_before(cursor, e, start, ws.sums, run):
                return
            run += 1
            rows = batch_rows(sched.orders, e, start, min(start + sched.batch_size, n))
            P = rows.shape[0]
            if parts is not None:
                k.parts_step(W, b, c, X, rows, sched.first_epoch + e, hp, ws, W.dtype.type(lr), parts)  # noqa: F821
            if whole is not None:
                k.draw(ws.xd, ws.clean, ws.tail, X, rows, aug, sched.first_epoch + e, split, n_blocks)  # noqa: F821
                Y, target_rows = k.step_targets(X, rows, ws.clean, targets, split)  # noqa: F821
                ae_step(W, b, c, Y, target_rows, hp, ws, split, n_blocks)
                tied_step(W, b, c, W.dtype.type(lr), ws, P, split, n_blocks)
        history[e, 0] = k.get_sums(ws.sums)[0] / n  # noqa: F821
    stopped(cursor, sched.orders.shape[0], 0, (0.0, 0.0))


def ae_grads(W, b, c, Xt, X, hp, n_blocks, ws):
    """Mean loss of ``ae_step`` on all rows of ``X`` as one batch (input ``Xt``), and the
    gradients ``(dW, db, dc)``; ``ws``: ``k.ae_work`` for that batch, with ``dW``."""
    P = X.shape[0]
    k.copy(ws.xd[:P], Xt)  # noqa: F821
    ae_step(W, b, c, X, k.arange(P), hp, ws, None, n_blocks)  # noqa: F821
    ae_bias_grads(ws, P, n_blocks)
    k.tied_weight_step(ws.dW, 1.0, 0.0, ws, P, None)  # noqa: F821
    return k.get_sums(ws.sums)[0] / P, ws.dW, ws.db, ws.dc  # noqa: F821


def ae_loss(W, b, c, Xt, X, hp, n_blocks, split, ws):
    """The ``ae_step`` loss over all rows of ``Xt`` (targets ``X``), without gradients,
    as many rows at a time as ``ws`` holds; ``rho_hat`` is the mean over all rows. A
    sparse input is split as in training (``split``, a ``Tuning``'s: ``W`` and ``c`` in
    its column order while the loop runs; ``ws``: ``k.ae_work`` for ``min(EVAL_BLOCK,
    n)`` rows, with ``clean`` for a split input; the loop reads its block from ``ws``, so
    that it follows ``config.EVAL_BLOCK`` set at run time). ``split`` is an argument of
    its own, not a ``Tuning``'s field, so that numba drops the branch a loss over an
    input without a split never takes (an argument that is None, and only that).
    Returns ``(loss, reconstruction term, rho_hat)``."""
    k.to_split_order(W, split)  # noqa: F821
    k.to_split_order(c, split)  # noqa: F821
    loss, recon, rho_hat = block_loss(W, b, c, Xt, X, hp, split, n_blocks, ws)
    k.from_split_order(W, split)  # noqa: F821
    k.from_split_order(c, split)  # noqa: F821
    return loss, recon, rho_hat


def block_loss(W, b, c, Xt, X, hp, split, n_blocks, ws):
    """``ae_loss``' loop, over the input's ``split`` (``W`` and ``c`` reordered): the
    block's input split into ``ws.xd[:P]`` and the tail, its targets gathered in the same
    column order into ``ws.clean``."""
    n = X.shape[0]
    Hn = W.shape[1]
    col, rho_hat, rows = k.empty(Hn, W.dtype), k.zeros(Hn, W.dtype), k.arange(n)  # noqa: F821
    # The input as it is, no noise, drawn with the types of training without noise: its
    # compiled draw serves both.
    plain, stream = Augment(None, 0, 1, 0), np.int64(0)
    block = max(ws.loss_rows.shape[0], 1)  # the rows its buffers hold
    for start in range(0, n, block):
        stop = min(start + block, n)
        P = stop - start
        H, D = ws.hg[:P], ws.xd[P : 2 * P]
        if split is None:
            k.encode(H, Xt[start:stop], W, b, n_blocks)  # noqa: F821
            k.gemm(1.0, H, False, W, True, 0.0, D)  # noqa: F821
            k.output_delta(D, ws.loss_rows[:P], c, X, rows[start:stop], hp.loss_kind, 1.0, ws.sums,  # noqa: F821
                           n_blocks)
        else:
            k.draw(ws.xd, ws.xd[:0], ws.tail, Xt, rows[start:stop], plain, stream, split, n_blocks)  # noqa: F821
            k.gather_targets(ws.clean, X, rows[start:stop], split)  # noqa: F821
            k.encode_input(H, ws.xd[:P], W, b, ws.tail, split, n_blocks)  # noqa: F821
            k.gemm(1.0, H, False, W, True, 0.0, D)  # noqa: F821
            k.output_delta(D, ws.loss_rows[:P], c, ws.clean, rows[:P], hp.loss_kind, 1.0, ws.sums,  # noqa: F821
                           n_blocks)
        k.col_sum(col, H, 1.0 / n, n_blocks)  # noqa: F821
        k.sgd(rho_hat, col, W.dtype.type(-1.0), 1)  # rho_hat += col (the training's sgd)  # noqa: F821
    recon = k.get_sums(ws.sums)[0] / n  # noqa: F821
    loss = recon
    if hp.beta > 0.0:
        k.set_sums(ws.sums, 0.0, 0.0)  # noqa: F821
        k.kl_penalty(col, rho_hat, hp.rho, hp.beta, 0.0, 1.0, ws.sums)  # noqa: F821
        loss += k.get_sums(ws.sums)[0]  # noqa: F821
    return loss, recon, rho_hat
