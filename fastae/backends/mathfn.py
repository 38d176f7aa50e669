"""Scalar math shared by every backend.

These are plain ``numba.njit`` functions: the CPU kernels inline them and CUDA kernels
call them as device functions, so both backends compute the same formulas.
"""
import math

import numpy as np
from numba import njit

from ..config import KL_EPS

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_M24 = 1.0 / 16777216.0


@njit(inline="always", cache=True)
def sigmoid(z):
    """Logistic function, without overflow for large ``|z|``."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(inline="always", cache=True)
def sigmoid_ce(z, x):
    """Sigmoid output and its binary cross-entropy, from the pre-activation ``z``.

    Returns ``(y, loss)`` with ``y = sigmoid(z)`` and
    ``loss = -(x log y + (1 - x) log(1 - y)) = max(z, 0) - x z + log1p(exp(-|z|))``,
    finite for every finite ``z`` (no ``log(0)`` when the output saturates).
    """
    e = math.exp(-abs(z))
    if z >= 0:
        y = 1.0 / (1.0 + e)
    else:
        y = e / (1.0 + e)
    return y, max(z, 0.0) - x * z + math.log1p(e)


@njit(inline="always", cache=True)
def clip_rate(rho_hat):
    """Keep a mean activation away from 0 and 1, where the KL term is infinite."""
    return min(max(rho_hat, KL_EPS), 1.0 - KL_EPS)


@njit(inline="always", cache=True)
def kl_divergence(rho, rho_hat):
    """KL(rho || rho_hat) between Bernoulli distributions (``rho_hat`` clipped)."""
    q = clip_rate(rho_hat)
    return rho * math.log(rho / q) + (1.0 - rho) * math.log((1.0 - rho) / (1.0 - q))


@njit(inline="always", cache=True)
def kl_divergence_grad(rho, rho_hat):
    """d KL(rho || rho_hat) / d rho_hat, at the clipped ``rho_hat``."""
    q = clip_rate(rho_hat)
    return -rho / q + (1.0 - rho) / (1.0 - q)


@njit(inline="always", cache=True)
def _mix64(z):
    """splitmix64 finaliser: a bijective scramble of a 64-bit word."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(inline="always", cache=True)
def noise_row_key(seed, stream, row):
    """Key of one pattern's noise: a hash of (seed, stream, row).

    ``stream`` is the epoch (or any other counter the caller advances), ``row`` the
    pattern's index in the data set, so a pattern's mask does not depend on the batch
    it lands in or on the thread that draws it.
    """
    k = _mix64(np.uint64(seed) + _GOLDEN * np.uint64(stream + 1))
    return _mix64(k ^ (np.uint64(row) * _MIX2))


@njit(inline="always", cache=True)
def noise_uniform(row_key, col):
    """A uniform number in [0, 1) for one pixel, from its row key and column."""
    h = _mix64(row_key + _GOLDEN * np.uint64(col + 1))
    return float(h >> np.uint64(40)) * _TWO_POW_M24
