"""Reading the user's own data: NumPy ``.npy`` / ``.npz``, CSV text and IDX files.

:func:`load_array` returns a 2-D float array with one pattern per row. Whatever is wrong
with a file (missing, empty, truncated, random bytes, ragged or non-numeric rows, 1-D
data, NaN or infinite values) raises :class:`DataError`, a ValueError whose message names
the file and says what is wrong; nothing else escapes.

Formats (recognised by the name's suffix, else by the first bytes):

* ``.npy``: one array (no pickles);
* ``.npz``: the single array it holds, or the one named by ``key``;
* CSV text (``.csv``, ``.txt``, ``.tsv``, ``.dat``, or anything that reads as text):
  numbers separated by commas or by whitespace, one pattern per line; blank lines are
  skipped, and so is a first line made only of non-numbers (a header);
* IDX (``.idx*``, ``*-ubyte``, ``.gz``, or a file starting with two zero bytes), gzipped
  or raw, read by :func:`fastae.datasets.read_idx`: unsigned bytes, divided by 255.

Arrays of three or more dimensions (images) are flattened to rows: the first axis counts
the patterns. Integer and boolean data become float32, float64 stays float64.

With ``mmap=True`` a ``.npy`` file of uint8, float32 or float64 (C order) is not read
into memory: it is memory-mapped (``np.load(mmap_mode="r")``) and checked for NaN and
infinite values a chunk at a time; uint8 stays uint8 (the models scale bytes by 1/255
as they read them).
"""
from __future__ import annotations

import ast
import os
import zipfile
from pathlib import Path

import numpy as np

from .datasets import DatasetError, read_idx

__all__ = ["FORMATS", "DataError", "detect_format", "load_array"]

#: The formats :func:`load_array` reads.
FORMATS = ("npy", "npz", "csv", "idx")

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_GZIP_MAGIC = b"\x1f\x8b"
_IDX_TYPE_CODES = (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".dat")


class DataError(ValueError):
    """A data file cannot be used; the message names the file and says why."""


# ------------------------------------------------------------------ detection


def detect_format(path, head: bytes) -> str:
    """``npy``, ``npz``, ``csv`` or ``idx`` for the file ``path`` that starts with ``head``.

    The suffix decides when it names a format; otherwise the first bytes do.
    """
    name = Path(path).name.lower()
    suffix = Path(name).suffix
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    if suffix in _TEXT_SUFFIXES:
        return "csv"
    if suffix == ".gz" or suffix.startswith(".idx") or name.endswith("-ubyte"):
        return "idx"
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        return "npz"
    if head.startswith(_GZIP_MAGIC):
        return "idx"
    if len(head) >= 4 and head[:2] == b"\x00\x00" and head[2] in _IDX_TYPE_CODES:
        return "idx"
    return "csv"


# ------------------------------------------------------------------------ npy


def _npy_header(f, path, size):
    """Parse the header of the ``.npy`` stream ``f`` (``size`` bytes from its current
    position); returns ``(shape, fortran_order, dtype)`` after checking that the data
    the header announces is all there."""
    head = f.read(10)
    if len(head) < 10 or not head.startswith(_NPY_MAGIC):
        raise DataError(f"{path}: not a NumPy .npy array (the file does not start with the .npy magic bytes)")
    major = head[6]
    if major == 1:
        hlen = int.from_bytes(head[8:10], "little")
        start = 10
    elif major in (2, 3):
        rest = f.read(2)
        if len(rest) < 2:
            raise DataError(f"{path}: truncated .npy header")
        hlen = int.from_bytes(head[8:10] + rest, "little")
        start = 12
    else:
        raise DataError(f"{path}: unsupported .npy format version {major}.{head[7]}")
    if hlen > 100_000 or start + hlen > size:
        raise DataError(f"{path}: truncated or damaged .npy header (it claims {hlen} bytes)")
    text = f.read(hlen)
    try:
        header = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin1"))
        shape = tuple(int(n) for n in header["shape"])
        fortran = bool(header["fortran_order"])
        descr = header["descr"]
        dtype = np.lib.format.descr_to_dtype(descr)
    except Exception as e:  # noqa: BLE001  (untrusted text: any failure means a bad file)
        raise DataError(f"{path}: damaged .npy header ({type(e).__name__}: {e})") from None
    if any(n < 0 for n in shape):
        raise DataError(f"{path}: damaged .npy header (negative size in shape {shape})")
    if dtype.hasobject:
        raise DataError(f"{path}: holds Python objects (dtype {dtype}); save an array of numbers instead")
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = size - start - hlen
    if needed > available:
        raise DataError(
            f"{path}: truncated .npy file: shape {shape} of {dtype} needs {needed} bytes of data, "
            f"found {available}"
        )
    return shape, fortran, dtype


#: dtypes of a ``.npy`` file that ``load_array(mmap=True)`` maps as they are.
MAPPED_DTYPES = (np.uint8, np.float32, np.float64)


def _read_npy(path, mmap=False):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        shape, fortran, dtype = _npy_header(f, path, size)
    mapped = mmap and not fortran and dtype in MAPPED_DTYPES and dtype.isnative and len(shape) >= 2
    try:
        return np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)
    except Exception as e:  # noqa: BLE001  (a checked header, but untrusted data)
        raise DataError(f"{path}: not a readable .npy array ({type(e).__name__}: {e})") from None


# ------------------------------------------------------------------------ npz


def _read_npz(path, key):
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            names = {n.removesuffix(".npy"): n for n in members}
            listing = ", ".join(sorted(names)) or "none"
            if key is None:
                if len(names) != 1:
                    what = "no arrays" if not names else f"{len(names)} arrays ({listing})"
                    raise DataError(f"{path}: holds {what}; pick one with --key NAME (key= in Python)")
                key = next(iter(names))
            elif key not in names:
                raise DataError(f"{path}: has no array named {key!r}; its arrays: {listing}")
            where = f"{path}[{key}]"
            info = members[names[key]]
            with zf.open(info) as f:
                _npy_header(f, where, info.file_size)
            with zf.open(info) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001  (zip and npy parsers fail in many ways on damaged bytes)
        raise DataError(f"{path}: not a readable .npz archive ({type(e).__name__}: {e})") from None


# ------------------------------------------------------------------------ csv


def _fields(line, delimiter):
    if delimiter == ",":
        return [f.strip() for f in line.split(",")]
    return line.split()


def _number(field):
    try:
        return float(field)
    except ValueError:
        return None


def _bad_row(path, lineno, fields, width):
    """The error for the first bad row, found by parsing it field by field."""
    if width is not None and len(fields) != width:
        return DataError(f"{path}: line {lineno} has {len(fields)} values, the rows before it {width}")
    for i, field in enumerate(fields, 1):
        if _number(field) is None:
            shown = field if len(field) <= 20 else field[:20] + "..."
            what = "is empty" if not field else f"is not a number: {shown!r}"
            return DataError(f"{path}: line {lineno}, value {i} {what}")
    return None


def _read_csv(path):
    with open(path, "rb") as f:
        raw = f.read()
    if b"\x00" in raw:
        raise DataError(f"{path}: not a text file of numbers (it holds NUL bytes); expected CSV, .npy, .npz or IDX")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        lineno = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}: not a text file of numbers (byte {raw[e.start]:#04x} on line {lineno} is not UTF-8); "
            "expected CSV, .npy, .npz or IDX"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    rows = [(i, line.strip()) for i, line in enumerate(text.split("\n"), 1)]
    rows = [(i, line) for i, line in rows if line]
    if not rows:
        raise DataError(f"{path}: holds no numbers (only blank lines)")
    delimiter = "," if "," in rows[0][1] else None
    first = _fields(rows[0][1], delimiter)
    if all(_number(f) is None for f in first):  # a header line: skip it
        rows = rows[1:]
        if not rows:
            raise DataError(f"{path}: has a header line but no rows of numbers")
        delimiter = "," if "," in rows[0][1] else None
    linenos = [i for i, _ in rows]
    try:
        X = np.loadtxt([line for _, line in rows], dtype=np.float64, delimiter=delimiter, comments=None, ndmin=2)
    except ValueError:
        X = None
    if X is None or X.shape[0] != len(rows):
        # numpy's fast reader refused: parse row by row to name the first bad line (and
        # to read what Python's float() accepts and numpy does not).
        parsed, width = [], None
        for lineno, line in rows:
            fields = _fields(line, delimiter)
            error = _bad_row(path, lineno, fields, width)
            if error is not None:
                raise error
            width = len(fields)
            parsed.append([float(f) for f in fields])
        X = np.array(parsed, dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: line {linenos[r]}, value {c + 1} is {X[r, c]} (NaN or infinite values are not allowed)"
        )
    return X


# ------------------------------------------------------------------------ idx


def _read_idx(path):
    try:
        images = read_idx(path)
    except (DatasetError, OSError, ValueError) as e:
        raise DataError(str(e) if str(path) in str(e) else f"{path}: {e}") from None
    return images.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------- public


def _as_rows(arr, path):
    """``arr`` as a finite 2-D float array with one pattern per row, or a DataError (a
    memory-mapped array stays mapped, checked a chunk at a time)."""
    kept = isinstance(arr, np.memmap)
    arr = np.asarray(arr)
    if arr.dtype.names is not None or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{path}: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim < 2:
        what = "a single number" if arr.ndim == 0 else f"1-D data ({arr.shape[0]} values)"
        raise DataError(
            f"{path}: holds {what}; expected a 2-D array with one pattern per row "
            "(reshape it, e.g. x.reshape(-1, 1) for one value per pattern, x.reshape(1, -1) for one pattern)"
        )
    if arr.shape[0] == 0 or int(np.prod(arr.shape[1:])) == 0:
        raise DataError(f"{path}: holds no data (shape {arr.shape})")
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    if kept:
        return _checked_mapped(arr, path)
    dtype = np.float64 if arr.dtype.itemsize >= 8 and np.issubdtype(arr.dtype, np.floating) else np.float32
    with np.errstate(over="ignore", invalid="ignore"):
        X = np.ascontiguousarray(arr, dtype=dtype)
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: {int(bad.sum())} NaN or infinite values (the first in row {r + 1}, column {c + 1}); "
            "remove or replace them"
        )
    return X


def _checked_mapped(X, path):
    """A mapped 2-D array, checked for NaN and infinite values a chunk at a time."""
    from . import mapped

    if X.dtype == np.uint8:
        return X
    step = max(1, (1 << 24) // (X.shape[1] * X.itemsize))
    with mapped.reading(X):
        for start in range(0, X.shape[0], step):
            bad = ~np.isfinite(X[start : start + step])
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise DataError(
                    f"{path}: NaN or infinite values (the first in row {start + r + 1}, column {c + 1}); "
                    "remove or replace them"
                )
    return X


def load_array(path, key=None, mmap=False):
    """Read a data file as a 2-D float array, one pattern per row.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy``, ``.npz``, CSV or IDX file (see the module docstring).
    key : str or None
        The array to take from an ``.npz`` holding several; only for ``.npz`` files.
    mmap : bool
        Memory-map a ``.npy`` file of uint8, float32 or float64 instead of reading it
        (bytes then stay bytes; see the module docstring).

    Returns
    -------
    ndarray (n_patterns, n_features), float32 (float64 when the file holds float64)

    Raises
    ------
    DataError
        Naming the file and what is wrong with it.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"path: expected a file name, got {path!r}")
    path = Path(path)
    try:
        if not path.exists():
            raise DataError(f"{path}: no such file")
        if path.is_dir():
            raise DataError(f"{path}: is a directory, not a data file")
        if not path.is_file():
            raise DataError(f"{path}: not a regular file (a device or a pipe?); give a data file")
        with open(path, "rb") as f:
            head = f.read(16)
        if not head:
            raise DataError(f"{path}: the file is empty")
        fmt = detect_format(path, head)
        if key is not None and fmt != "npz":
            raise DataError(f"{path}: --key (key=) picks an array of an .npz file; this is a {fmt} file")
        if fmt == "npy":
            arr = _read_npy(path, mmap)
        elif fmt == "npz":
            arr = _read_npz(path, key)
            if key is not None:
                path = f"{path}[{key}]"
        elif fmt == "idx":
            arr = _read_idx(path)
        else:
            arr = _read_csv(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from None
    except MemoryError:
        raise DataError(f"{path}: too large to read into memory") from None
    return _as_rows(arr, path)
