"""What every exercise shares: the run directory, progress reports, text tables."""
import math
import os
import platform
import time
import zlib
from pathlib import Path

import numpy as np

from .. import config


class RunDirError(ValueError):
    """The output directory cannot be used."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a run after it saved a checkpoint; the message says how to
    continue, ``signum`` is the signal."""

    def __init__(self, message, signum=2):
        super().__init__(message)
        self.signum = int(signum)


def prepare_run_dir(out):
    """Create ``out`` (and parents) and check that files can be written there."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise RunDirError(f"--out: give a directory name (got {str(out)!r}; '.' is the current directory)")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"--out: cannot create {out}: {e.strerror or e}") from None
    if not out.is_dir():
        raise RunDirError(f"--out: {out} exists and is not a directory")
    if not os.access(out, os.W_OK | os.X_OK):
        raise RunDirError(f"--out: {out} is not writable; choose another directory")
    return out


def as_floats(X):
    """``X`` as fastae's models read it: bytes (uint8) scaled to float32 by 1/255, other
    arrays as they are."""
    X = np.asarray(X)
    return X.astype(np.float32) / np.float32(255) if X.dtype == np.uint8 else X


def crc32_of(*arrays, bytes_as_floats=False):
    """One CRC-32 over the bytes, dtypes and shapes of ``arrays`` (a data fingerprint).
    ``bytes_as_floats``: a uint8 array counts as the float32 array that it stands for
    (``X / 255``, as fastae's models read bytes), taken a chunk at a time."""
    crc = 0
    for a in arrays:
        a = np.ascontiguousarray(a)
        scaled = bytes_as_floats and a.dtype == np.uint8
        dtype = np.dtype(np.float32) if scaled else a.dtype
        crc = zlib.crc32(f"{dtype.str}{a.shape}".encode(), crc)
        if not a.size:
            continue
        if not scaled:
            crc = zlib.crc32(memoryview(a).cast("B"), crc)
            continue
        rows = a.reshape(len(a), -1)
        for start in range(0, len(rows), config.EVAL_CHUNK):
            crc = zlib.crc32(memoryview(as_floats(rows[start : start + config.EVAL_CHUNK])).cast("B"), crc)
    return crc


def environment():
    """Machine and library versions, for metrics files."""
    from importlib.metadata import version  # matplotlib's without importing it (the painter draws)

    import numba
    import scipy

    from ..backends.blas import own_threads

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "blas_threads": own_threads(),
        "scipy": scipy.__version__,
        "matplotlib": version("matplotlib"),
    }


def silent(message):
    """A progress sink that drops everything."""


def fit_seconds(model, history):
    """``{"train_seconds", "compile_seconds"}`` of a model's fits: the training time of
    ``history``'s epochs (no compilation, no evaluation), and what compiling the training
    loops took (0 when numba's cache had them)."""
    return {"train_seconds": float(sum(history["seconds"])), "compile_seconds": float(model.compile_seconds)}


def compiled_note(seconds):
    """``" (+ N s compiling)"`` after a training time, or nothing when nothing compiled."""
    return f" (+ {seconds:.1f} s compiling)" if seconds >= 0.05 else ""


def epoch_line(name, epoch, epochs, measures, seconds, n_images, remaining):
    """The progress line of one epoch, the same in every command:
    ``  NAME epoch E/N: MEASURES, S s, R images/s[, ETA T]``; ``seconds`` is the epoch's
    training time, ``remaining`` the estimated seconds of the epochs still to run."""
    width = len(str(epochs))
    line = f"  {name} epoch {epoch:>{width}}/{epochs}: {measures}, {seconds:.2f} s, {n_images / seconds:,.0f} images/s"
    if remaining >= 1.0:
        line += f", ETA {_duration(remaining)}"
    return line


def _duration(seconds):
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class Stopwatch:
    """Seconds since creation, or since the last :meth:`lap`."""

    def __init__(self):
        self.start = self.last = time.perf_counter()

    def lap(self):
        now = time.perf_counter()
        dt, self.last = now - self.last, now
        return dt

    def total(self):
        return time.perf_counter() - self.start


def map_shape(k):
    """A near-square ``(rows, cols)`` with ``rows * cols == k``: (7, 7) for 49, (25, 25) for 625."""
    rows = int(math.isqrt(k))
    while k % rows:
        rows -= 1
    return rows, k // rows


def fmt_vector(v, digits=2):
    return "[" + " ".join(f"{x:.{digits}f}" for x in np.asarray(v).ravel()) + "]"


def table(header, rows):
    """A plain-text table with columns padded to their widest cell."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
