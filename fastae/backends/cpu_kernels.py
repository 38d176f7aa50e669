"""The CPU's kernel namespace: every name ``steps.py`` calls as ``k.NAME``, compiled
with numba (``cpu_elementwise.py``, ``cpu_gathers.py``, ``cpu_updates.py``,
``cpu_sparse.py``, ``blas.py``), plus the buffers and copies the steps need (inlined
where they are called: a separate compiled function each would cost compile time for a
line of code).
``cuda_kernels.py`` has the same names with the same arguments; the backend interface
(``fastae.backends.base``) lists them.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from .blas import gemm  # noqa: F401
from .cpu_elementwise import (  # noqa: F401
    JIT,
    add_bias,
    bias_sigmoid,
    col_sum,
    decode,
    encode,
    hidden_delta,
    kl_penalty,
    output_delta,
    row_sum,
    softmax_xent,
    sum64,
)
from .cpu_classifier_parts import classifier_parts_step  # noqa: F401
from .cpu_gathers import gather_augment, gather_corrupt  # noqa: F401
from .cpu_parts import parts_step  # noqa: F401
from .cpu_sparse import (  # noqa: F401
    ae_work,
    classifier_work,
    draw,
    draw_augmented,
    encode_input,
    from_split_order,
    gather_targets,
    input_gradient,
    input_product,
    input_split,
    inverse,
    reorder_rows,
    sparse_tail,
    split_batch,
    tail_forward,
    tail_update,
    tied_weight_step,
    to_split_order,
    without_tail,
)
from .cpu_updates import adam, optimize, sgd  # noqa: F401


@njit(inline="always", **JIT)
def empty(shape, dtype):
    return np.empty(shape, dtype)


@njit(inline="always", **JIT)
def zeros(shape, dtype):
    return np.zeros(shape, dtype)


@njit(inline="always", **JIT)
def arange(n):
    return np.arange(n)


@njit(inline="always", **JIT)
def copy(dst, src):
    """``dst[:] = src`` for 2-D arrays of the same shape (a loop: a slice assignment
    would compile numba's shape-mismatch error formatting, seconds of compile time)."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]


@njit(inline="always", **JIT)
def sums():
    """A zeroed float64[2] accumulator of loss (and hit) sums."""
    return np.zeros(2)


@njit(inline="always", **JIT)
def set_sums(acc, a, b):
    acc[0], acc[1] = a, b


@njit(inline="always", **JIT)
def get_sums(acc):
    """``(acc[0], acc[1])`` as floats on the host."""
    return acc[0], acc[1]


def step_targets(X, rows, clean, targets, split):
    """The targets of a training step and their rows: ``X`` itself and the batch's
    ``rows`` for floats without a split, else the gathered ``clean`` batch and its first
    ``len(rows)`` rows ``targets`` (bytes, which the step cannot read, or a split input,
    whose columns the gather reorders; the gathers scale bytes by 1/255). Decided as the
    loop compiles: it compiles one step, not one for each (a step for both cost 0.6 s of
    a first fit's compiling)."""
    if split is None and X.dtype != np.uint8:
        return X, rows
    return clean, targets[: rows.shape[0]]


@overload(step_targets)
def _step_targets(X, rows, clean, targets, split):
    if isinstance(split, types.NoneType) and X.dtype != types.uint8:
        return lambda X, rows, clean, targets, split: (X, rows)
    return lambda X, rows, clean, targets, split: (clean, targets[: rows.shape[0]])
