"""The small named records that travel between the models, the steps and the kernels.

Plain namedtuples: numba compiles them as tuples, the CUDA backend passes them as Python
objects, and no step or kernel needs more than about ten arguments.
"""
from collections import namedtuple

#: Reconstruction losses, as the compiled code tells them apart. Cross-entropy is None: a
#: CPU loop compiled for it leaves the squared error's code out (numba prunes a branch on
#: a None argument as it compiles), about 0.4 s of a first fit's compiling.
CROSS_ENTROPY = None
MSE = 1

#: Optimisers, as the integers the compiled code switches on. ``GRADIENT`` updates
#: nothing: a step with it leaves the gradients in its work buffers (``loss_and_grads``).
SGD = 0
ADAM = 1
GRADIENT = 2

#: Hyper-parameters of one autoencoder training step: the loss (CROSS_ENTROPY or MSE),
#: the masking-noise level (None: no noise, and the loop compiles none), the sparsity
#: target and weight, the noise seed.
AEHyper = namedtuple("AEHyper", "loss_kind corruption rho beta seed")

#: An optimiser: ``kind`` (SGD or ADAM), learning rate, Adam's constants (None for SGD),
#: and ``sgd_lr``, SGD's rate (the learning rate again; None for Adam). numba drops a
#: branch on an argument that is None as a loop compiles, and only on such an argument, so
#: each branch of ``optimize`` is guarded by one: a loop compiles its optimiser's step
#: alone (an Adam fit compiled SGD's step too while ``beta1`` alone chose).
Optim = namedtuple("Optim", "kind lr beta1 beta2 eps sgd_lr")


def optim(kind, lr, adam=None):
    """The ``Optim`` of ``kind`` at rate ``lr``; ``adam``: Adam's ``(beta1, beta2, eps)``
    (None for SGD and GRADIENT)."""
    beta1, beta2, eps = (None, None, None) if adam is None else adam
    return Optim(kind, lr, beta1, beta2, eps, lr if adam is None else None)

#: Optimiser state of a classifier: Adam's moments per parameter (lists shaped like the
#: weights and the biases) and the step count ``t`` (a 1-element int64 host array).
OptState = namedtuple("OptState", "mW vW mb vb t")

#: How the epochs of one call visit the data: ``orders[e]`` is epoch ``e``'s order of the
#: rows; its masking noise uses stream ``first_epoch + e``; batches of ``batch_size``.
Schedule = namedtuple("Schedule", "orders first_epoch batch_size")

#: Where a loop starts and stops (see ``fastae.stopping``): ``at`` (epoch, row), int64[2];
#: ``partial``, float64[2], the interrupted epoch's loss (and hit) sums so far;
#: ``stop``, int64[2], Ctrl-C's flag and the batches the loop may still run.
Cursor = namedtuple("Cursor", "at partial stop")

#: Augmentation of a training batch: masking noise ``corruption``, random shifts of up to
#: ``shift`` pixels of images ``height`` rows high, drawn from ``seed`` (``corruption`` or
#: ``shift`` None: none of it, and the loop compiles none).
Augment = namedtuple("Augment", "corruption shift height seed")

#: How a device runs a loop: threads of the CPU's elementwise kernels (``n_blocks``) and
#: the input's ``split``: None, or ``(cols, n_dense)`` with ``n_dense`` below its width
#: (``cpu_sparse.input_split``; the GPU never splits). Which of the two it is, is decided
#: as the loop compiles: a loop over an input without a split compiles none of the
#: split's kernels.
Tuning = namedtuple("Tuning", "n_blocks split")

#: Buffers of one autoencoder step, for batches of up to ``B`` patterns. ``xd`` stacks
#: [X~ ; dY] (2B x n_visible) and ``hg`` stacks [dH ; H] (2B x n_hidden), so that both
#: paths of the tied weight gradient are one product: dW = X~^T dH + dY^T H = xd^T hg.
#: ``dW`` is empty unless a gradient is asked for; ``sums`` (float64[2]) accumulates the
#: loss summed over patterns; ``loss_rows`` (B) the last batch's loss per pattern. When
#: the input is split into a dense prefix and a sparse tail (CPU), ``clean``
#: (B x n_visible) holds the batch's targets and ``tail`` the tail of ``X~``.
AEWork = namedtuple("AEWork", "xd hg dW db dc rho_hat kl_grad loss_rows sums clean tail")

#: Buffers of one classifier step for batches of up to B patterns: ``xin`` (B x n_0) the
#: input, ``acts[l]`` (B x n_{l+1}) layer outputs (the last: logits, then their delta),
#: ``deltas[l]`` (B x n_{l+1}) dJ/d(pre-activation) of hidden layers, gradients ``dWs``,
#: ``dbs`` shaped like the parameters, ``zeros[l]`` a zero per-unit term, ``loss_rows``
#: and ``hits`` (B) per pattern, ``sums`` (float64[2]) the loss and hits summed over
#: patterns, ``tail`` the input's sparse tail (CPU, when it is split).
ClassifierWork = namedtuple("ClassifierWork", "xin acts deltas zeros dWs dbs loss_rows hits sums tail")

#: The sparse tail of a batch of up to B patterns (CPU): pattern ``i`` has ``length[i]``
#: nonzeros, in the columns ``col[i, :length[i]]`` with the values ``val[i, :length[i]]``;
#: ``drawn`` (B x n_columns) holds the batch as drawn, before its columns are reordered.
SparseTail = namedtuple("SparseTail", "length col val drawn")
