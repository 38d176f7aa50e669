"""Every check of an argument or of data, in one place.

Each returns the value in its canonical form or raises a ValueError whose message names
the argument and says what was expected.
"""
import math
import os

import numpy as np

#: Every seed the API accepts is valid for every stage: stages derive theirs with
#: :func:`stage_seed`, which stays in ``0..MAX_SEED``.
from .config import MAX_SEED


def stage_seed(seed, stage):
    """The seed of stage ``stage`` (0, 1, ...) of a recipe seeded with ``seed``:
    ``seed + stage``, wrapped into ``0..MAX_SEED``."""
    return (seed + stage) % (MAX_SEED + 1)


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_count(value, name):
    """A whole number from 0 to 2^63 - 1 (a count of epochs or of steps)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name}: expected a whole number from 0 to {MAX_SEED}, got {value!r}")
    return int(value)


def memory_bytes():
    """The machine's physical memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_sizes(counts):
    """Refuse a model whose parameters could not be allocated: ``counts`` maps what is
    sized (``"n_visible x n_hidden"``) to its number of values, each drawn in float64."""
    total = sum(counts.values()) * 8
    memory = memory_bytes()
    if memory is not None and total > memory:
        what = ", ".join(f"{k} = {v:,}" for k, v in counts.items())
        raise ValueError(
            f"{' and '.join(counts)}: {what} values need {total / 2**30:,.1f} GiB, more than this machine's "
            f"{memory / 2**30:,.1f} GiB of memory; choose smaller layers"
        )


def check_rate(value, name, dtype=np.float64):
    """A positive, finite number that stays finite in ``dtype`` (a learning rate)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    with np.errstate(over="ignore"):
        overflows = not np.isfinite(np.asarray(value, dtype=dtype))
    if overflows:
        raise ValueError(f"{name}: {value!r} overflows {np.dtype(dtype).name}; choose a smaller value")
    return value


def check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed: expected an integer from 0 to {MAX_SEED}, got {seed!r}")
    return int(seed)


def check_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
    return dtype


def check_choice(value, choices, name):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def check_probability(value, name):
    """A masking-noise level in [0, 1)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return value


def check_sparsity(sparsity):
    """None, or the pair ``(rho, beta)``: a target activation in (0, 1), a weight >= 0."""
    if sparsity is None:
        return None
    try:
        rho, beta = (float(v) for v in sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"sparsity: expected None or a pair (rho, beta), got {sparsity!r}") from None
    if not 0.0 < rho < 1.0:
        raise ValueError(f"sparsity: rho must lie in (0, 1), got {rho!r}")
    if not (math.isfinite(beta) and beta >= 0.0):
        raise ValueError(f"sparsity: beta must be a number >= 0, got {beta!r}")
    return rho, beta


def check_shift(shift, image_shape, n):
    """Rows of the images of ``n`` pixels that a ``shift`` > 0 moves (both checked), else 1."""
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
        raise ValueError(f"shift: expected an integer >= 0, got {shift!r}")
    if shift == 0:
        return 1
    if image_shape is None:
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"shift: the {n} inputs are not a square image; give image_shape=(rows, columns)")
        image_shape = (side, side)
    rows, cols = (int(v) for v in image_shape)
    if rows < 1 or cols < 1 or rows * cols != n:
        raise ValueError(f"image_shape: {image_shape!r} does not hold the {n} inputs")
    if shift >= min(rows, cols):
        raise ValueError(f"shift: {shift} pixels would move the {rows}x{cols} images out of sight")
    return rows


def check_unit_interval(X, name="X", bounds=None):
    """Raise the ValueError that says how to rescale when ``X`` leaves [0, 1]
    (``bounds``: its ``(min, max)``, when known)."""
    if X.dtype == np.uint8:
        return  # bytes are scaled by 1/255 where they are read
    lo, hi = chunked_range(X) if bounds is None else bounds
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name}: values must lie in [0, 1] for the cross-entropy loss (found {lo:g} .. {hi:g}); "
            "rescale them (divide by the maximum if they are >= 0, or map min..max to 0..1: "
            "(x - min) / (max - min)), or train with the squared error: --loss mse (loss='mse' in Python)"
        )


def check_not_masked(X, name):
    """Refuse a NumPy masked array: its mask would be dropped without a word."""
    if isinstance(X, np.ma.MaskedArray):
        raise ValueError(
            f"{name}: a masked array; fastae would ignore its mask. Pass {name}.filled(value) to choose what "
            f"the masked entries become, or {name}.data to use them as they are"
        )


#: Bytes of data the checks read at a time (a memory-mapped file is never read whole).
CHECK_CHUNK_BYTES = 1 << 24


def chunked_range(X):
    """``(min, max)`` of a 2-D array (a mapped file, too), read ``CHECK_CHUNK_BYTES`` at a time (NaN
    propagates into both)."""
    step = max(1, CHECK_CHUNK_BYTES // max(1, X.shape[1] * X.itemsize))
    lo, hi = np.inf, -np.inf
    for start in range(0, X.shape[0], step):
        part = X[start : start + step]
        lo, hi = np.minimum(lo, part.min()), np.maximum(hi, part.max())
        if np.isnan(lo) or np.isnan(hi):
            break
    return float(lo), float(hi)


def check_data(X, n_features, *, name="X", unit_interval=False, dtype=np.float32, keep_bytes=False):
    """``X`` as a C-contiguous 2-D array of ``dtype``, or a ValueError naming ``name``.

    With ``keep_bytes``, uint8 data stay uint8 (the kernels that read them scale them by
    1/255), and an array already of ``dtype`` (or of bytes) is not copied: a
    memory-mapped file stays mapped. The checks read the data in chunks.
    """
    from . import mapped

    check_not_masked(X, name)
    with mapped.reading(X):
        return _check_data(X, n_features, name, unit_interval, dtype, keep_bytes)


def _check_data(X, n_features, name, unit_interval, dtype, keep_bytes):
    from . import mapped

    X = np.asarray(X)
    if X.ndim == 1 and n_features is not None and X.shape[0] == n_features:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (patterns x features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name}: expected {n_features} features per row, got {X.shape[1]}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got dtype {X.dtype}")
    if keep_bytes and X.dtype == np.uint8:
        return mapped.writable(np.ascontiguousarray(X))  # bytes are finite and, scaled, in [0, 1]
    X = np.ascontiguousarray(X, dtype=dtype)
    if keep_bytes:
        X = mapped.writable(X)
    lo, hi = chunked_range(X)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if unit_interval:
        check_unit_interval(X, name, (lo, hi))
    return X
