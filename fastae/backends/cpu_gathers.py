"""CPU kernels that gather a training batch: rows of the data, bytes scaled by 1/255 on
the way, with masking noise and random shifts. Row kernels run ``in_blocks`` as those of
``cpu_elementwise.py`` do (each public one listed for a parallel twin); each public
kernel has a twin of the same name and arguments in ``cuda_kernels.py``.

A ``p`` or ``shift`` of None is known as a loop compiles: the noise or the shifts are then
not compiled at all (a classifier fit without them, an autoencoder without noise).
"""
import numpy as np
from numba import njit

from .cpu_elementwise import JIT, blocked, in_blocks
from .mathfn import keep_threshold, noise_bits, noise_row_key


@njit(inline="always", **JIT)
def pixel(X, r, j, out):
    """``X[r, j]`` in ``out``'s type: bytes (uint8) divided by 255, as NumPy's
    ``X.astype(t) / t(255)`` divides them (so that bytes and the same data scaled to
    floats train alike), floats as they are. Only the gathers read the input itself:
    the rest of a step works on the float batch they fill."""
    v = out.dtype.type(X[r, j])
    if X.itemsize == 1:
        v = v / out.dtype.type(255.0)
    return v


@njit(**JIT)
def _gather_rows(lo, hi, out, X, rows):
    for i in range(lo, hi):
        r = rows[i]
        if X.itemsize == 1:
            for j in range(X.shape[1]):
                out[i, j] = pixel(X, r, j, out)
        else:  # a loop: a slice assignment compiles numba's shape-error formatting
            for j in range(X.shape[1]):
                out[i, j] = X[r, j]


@njit(**JIT)
def _gather_corrupt_rows(lo, hi, out, X, rows, p, seed, stream):
    threshold = keep_threshold(p)
    zero = out.dtype.type(0.0)
    for i in range(lo, hi):
        r = rows[i]
        key = noise_row_key(seed, stream, r)
        for j in range(X.shape[1]):
            out[i, j] = pixel(X, r, j, out) if noise_bits(key, j) >= threshold else zero


_gather_blocks = in_blocks(_gather_rows)
_gather_corrupt_blocks = in_blocks(_gather_corrupt_rows)


@blocked
def gather_corrupt(out, X, rows, p, seed, stream, n_blocks):
    """``out[i] = X[rows[i]] * m`` with a masking-noise draw ``m`` (keep prob ``1 - p``);
    uint8 ``X`` is scaled by 1/255 on the way (``pixel``). ``p`` 0 or None: no noise; with
    None, known as a loop compiles, the noise is not compiled.

    The mask of a pixel is a hash of ``(seed, stream, rows[i], column)``: the same seed
    gives the same mask whatever the batch order or the thread count.
    """
    if p is None or p == 0.0:
        _gather_blocks(rows.shape[0], n_blocks, (out, X, rows))
    else:
        _gather_corrupt_blocks(rows.shape[0], n_blocks, (out, X, rows, p, seed, stream))


@njit(**JIT)
def _gather_shift_corrupt_rows(lo, hi, out, X, rows, p, shift, height, seed, stream):
    threshold = keep_threshold(p)
    zero = out.dtype.type(0.0)
    V = X.shape[1]
    width = V // height
    span = np.uint64(2 * shift + 1)
    for i in range(lo, hi):
        r = rows[i]
        key = noise_row_key(seed, stream, r)
        # Columns V and V + 1 of the pattern's hash (past its pixels) draw the shift.
        dy = np.int64(noise_bits(key, V) % span) - shift
        dx = np.int64(noise_bits(key, V + 1) % span) - shift
        for y in range(height):
            sy = y - dy
            for x in range(width):
                sx = x - dx
                j = y * width + x
                v = pixel(X, r, sy * width + sx, out) if 0 <= sy < height and 0 <= sx < width else zero
                out[i, j] = v if p == 0.0 or noise_bits(key, j) >= threshold else zero


_gather_shift_blocks = in_blocks(_gather_shift_corrupt_rows)


@blocked
def gather_augment(out, X, rows, p, shift, height, seed, stream, n_blocks):
    """``gather_corrupt`` after moving each image by up to ``shift`` pixels in y and in x.

    Rows of ``X`` are ``height x (n_columns / height)`` images; each pattern's shift, uniform
    in ``-shift..shift`` on each axis, comes from its mask's hash (redrawn every epoch, the
    same for any batch or thread); pixels moved in from outside are 0. ``shift`` 0 or None
    is ``gather_corrupt``; with None, known as a loop compiles, no shifts are compiled.
    """
    if shift is None or shift == 0:
        gather_corrupt(out, X, rows, p, seed, stream, n_blocks)
    elif p is None:
        _gather_shift_blocks(rows.shape[0], n_blocks, (out, X, rows, 0.0, shift, height, seed, stream))
    else:
        _gather_shift_blocks(rows.shape[0], n_blocks, (out, X, rows, p, shift, height, seed, stream))
