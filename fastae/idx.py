"""Reading IDX files (MNIST's format: a big-endian header, then unsigned bytes), gzipped
or raw, checked against their header without trusting it."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UINT8 = 0x08
_CHUNK = 1 << 20
#: Deflate expands data at most about 1032-fold (RFC 1951's longest match per code): a
#: gzip file cannot inflate to more than this many times its size.
_MAX_GZIP_RATIO = 1100


class DatasetError(ValueError):
    """A data file is missing, corrupt or inconsistent.

    The message names the file or directory concerned, says what is wrong
    and how to fix it.
    """


def _corrupt(path, problem: str) -> DatasetError:
    """Build the error for a damaged IDX file, with the usual remedy."""
    return DatasetError(
        f"{path}: {problem}. The file is damaged or is not an MNIST IDX "
        "file; delete it and copy or download it again."
    )


def _read_exactly(stream, path, n_bytes: int, what: str) -> bytes:
    """Read exactly ``n_bytes`` from ``stream`` or raise a DatasetError."""
    data = stream.read(n_bytes)
    if len(data) != n_bytes:
        raise _corrupt(
            path,
            f"file ends inside the {what}: expected {n_bytes} bytes, "
            f"found {len(data)}",
        )
    return data


def _read_idx_stream(stream, path, capacity=None) -> np.ndarray:
    """Parse an IDX file from a binary stream; see :func:`read_idx`. ``capacity``: the
    most bytes the stream can hold (checked against the header before any payload is read)."""
    zero, type_code, ndim = struct.unpack(
        ">HBB", _read_exactly(stream, path, 4, "header")
    )
    if zero != 0:
        raise _corrupt(
            path, f"bad magic number: the first two bytes are {zero:#06x}, not 0x0000"
        )
    if type_code != _IDX_UINT8:
        raise _corrupt(
            path,
            f"unsupported IDX type code {type_code:#04x}; "
            f"only unsigned bytes ({_IDX_UINT8:#04x}) are supported",
        )
    if not 1 <= ndim <= 4:
        raise _corrupt(
            path, f"unsupported number of dimensions {ndim}; expected 1 to 4"
        )
    shape = struct.unpack(
        f">{ndim}I", _read_exactly(stream, path, 4 * ndim, "dimension sizes")
    )
    if 0 in shape:
        raise _corrupt(path, f"the header declares an empty shape {shape}")

    expected = math.prod(shape)  # Python ints: no overflow for absurd headers
    if capacity is not None and expected > capacity:
        raise _corrupt(
            path,
            f"the header shape {shape} needs {expected} bytes, more than the file can hold "
            f"(at most {capacity})",
        )
    # Read in chunks so that a corrupt header announcing an enormous shape
    # fails on the data actually present instead of on a huge allocation.
    payload = bytearray()
    while len(payload) <= expected:
        chunk = stream.read(min(_CHUNK, expected + 1 - len(payload)))
        if not chunk:
            break
        payload += chunk
    if len(payload) < expected:
        raise _corrupt(
            path,
            f"truncated payload: the header shape {shape} needs {expected} "
            f"bytes, found {len(payload)}",
        )
    if len(payload) > expected:
        # Count what follows up to a limit, never all of it: gigabytes of trailing zeros
        # inflate from a few megabytes of gzip.
        extra = len(payload) - expected + len(stream.read(_CHUNK))
        more = "more than " if stream.read(1) else ""
        raise _corrupt(
            path,
            f"{more}{extra} unexpected trailing bytes after the {expected} payload "
            f"bytes of shape {shape}",
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def read_idx(path) -> np.ndarray:
    """Read one unsigned-byte IDX file, gzipped or raw.

    Gzip compression is detected from the magic bytes ``1f 8b``, not from
    the file name.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.

    Returns
    -------
    numpy.ndarray of uint8
        Writable array with the shape given by the IDX header.

    Raises
    ------
    DatasetError
        If the gzip stream is corrupt, the magic number is wrong, the type
        code is not ``0x08`` (unsigned byte), the number of dimensions is not
        1 to 4, or the payload is shorter or longer than the header's shape.
    OSError
        If the file cannot be opened.
    """
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == _GZIP_MAGIC
        size = os.fstat(raw.fileno()).st_size
        raw.seek(0)
        if not is_gzip:
            return _read_idx_stream(raw, path)  # reads at most the file, whatever its header says
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_idx_stream(stream, path, _MAX_GZIP_RATIO * size)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _corrupt(path, f"corrupt gzip data ({exc})") from exc
