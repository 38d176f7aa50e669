"""CPU kernels of the optimisers' updates, SGD and Adam (and ``optimize``, either of them),
over any parameter array: row kernels over spans of its elements, run ``in_blocks`` as
the kernels of ``cpu_elementwise.py`` are (each public one listed for a parallel twin),
each with a twin of the same name and arguments in ``cuda_kernels.py``.
"""
import numpy as np
from numba import njit

from .cpu_elementwise import JIT, blocked, in_blocks, span


@njit(**JIT)
def _sgd_span(lo, hi, p, g, lr):
    for i in span(lo, hi):
        p[i] -= lr * g[i]


_sgd_blocks = in_blocks(_sgd_span)


@njit(inline="always", **JIT)
def _sgd_step(param, grad, lr, n_blocks):
    p = param.reshape(param.size)
    _sgd_blocks(p.shape[0], n_blocks, (p, grad.reshape(grad.size), p.dtype.type(lr)))


@blocked
def sgd(param, grad, lr, n_blocks):
    """In place: ``param -= lr * grad`` (any shape, both C-contiguous)."""
    _sgd_step(param, grad, lr, n_blocks)


@njit(**JIT)
def _adam_span(lo, hi, p, g, m, v, lr_t, beta1, beta2, eps):
    t = p.dtype.type
    lr_t, b1, b2, eps = t(lr_t), t(beta1), t(beta2), t(eps)
    c1, c2 = t(1.0) - b1, t(1.0) - b2
    for i in span(lo, hi):
        m[i] = b1 * m[i] + c1 * g[i]
        v[i] = b2 * v[i] + c2 * g[i] * g[i]
        p[i] -= lr_t * m[i] / (np.sqrt(v[i]) + eps)


_adam_blocks = in_blocks(_adam_span)


@njit(inline="always", **JIT)
def _adam_step(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks):
    lr_t = lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    p = param.reshape(param.size)
    args = (p, grad.reshape(grad.size), m.reshape(m.size), v.reshape(v.size), lr_t, beta1, beta2, eps)
    _adam_blocks(p.shape[0], n_blocks, args)


@blocked
def adam(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks):
    """In place Adam step ``t`` (1-based), bias correction folded into the rate."""
    _adam_step(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks)


@blocked
def optimize(param, grad, m, v, sgd_lr, lr, beta1, beta2, eps, t, n_blocks):
    """One optimiser step on one parameter: ``sgd`` at ``sgd_lr`` where that is not None
    (SGD's ``records.Optim``), else ``adam`` step ``t`` at ``lr`` where ``beta1`` is not
    None. Each branch is guarded by an argument that is None when it is not taken, so a
    loop compiles one of the two steps."""
    if sgd_lr is not None:
        _sgd_step(param, grad, sgd_lr, n_blocks)
    elif beta1 is not None:
        _adam_step(param, grad, m, v, lr, beta1, beta2, eps, t, n_blocks)
