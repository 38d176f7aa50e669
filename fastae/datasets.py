"""Datasets for the autoencoder tutorial: toy patterns, random images and MNIST.

The module depends only on the standard library and NumPy.

MNIST is read from the four classic IDX files (gzipped or not). They are
searched for, in this order, in

1. the directory passed to :func:`load_mnist` (``--data-dir`` on the command
   line),
2. the directory named by the environment variable ``FASTAE_DATA``,
3. the cache directory (``$XDG_CACHE_HOME/fastae/mnist``, by default
   ``~/.cache/fastae/mnist``),

and, unless running offline (``FASTAE_OFFLINE=1``), missing files are then
downloaded into the cache directory from a list of mirrors and verified
against their published MD5 checksums.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST",
    "MNIST_MD5",
    "DatasetError",
    "load_mnist",
    "q1_patterns",
    "random_images",
    "read_idx",
]

#: Base URLs from which the gzipped MNIST files are downloaded, in order.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Published MD5 checksums of the gzipped MNIST files served by the mirrors.
#: Only downloads are verified against them: a local copy that was
#: re-compressed has different gzip bytes but the same (validated) contents.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

# The four MNIST files, without the ``.gz`` suffix, in the order
# train images, train labels, test images, test labels.
_MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UINT8 = 0x08
_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 30
_TRUE_STRINGS = ("1", "true", "yes")

_Progress = Callable[[str, int, "int | None"], None]


class DatasetError(ValueError):
    """A data file is missing, corrupt or inconsistent.

    The message names the file or directory concerned, says what is wrong
    and how to fix it.
    """


# ---------------------------------------------------------------------------
# Toy data
# ---------------------------------------------------------------------------


def q1_patterns(dtype=np.float32) -> np.ndarray:
    """Return the five 3x3 binary patterns of the tutorial.

    Parameters
    ----------
    dtype : numpy dtype, optional
        Element type of the result (default ``float32``).

    Returns
    -------
    numpy.ndarray, shape (5, 9)
        Row ``k`` is pattern ``x{k+1}`` flattened in row-major order:
        a top bar, a left bar, the anti-diagonal, the diagonal and an "L".
    """
    patterns = [
        [[1, 1, 1], [0, 0, 0], [0, 0, 0]],
        [[1, 0, 0], [1, 0, 0], [1, 0, 0]],
        [[0, 0, 1], [0, 1, 0], [1, 0, 0]],
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        [[1, 0, 0], [1, 0, 0], [1, 1, 1]],
    ]
    return np.array(patterns, dtype=dtype).reshape(5, 9)


def _check_positive_int(name: str, value) -> None:
    """Raise ValueError unless ``value`` is a positive integer (not a bool)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def random_images(n_images=100, side=10, seed=0, dtype=np.float32) -> np.ndarray:
    """Return reproducible uniform random images.

    Parameters
    ----------
    n_images : int, optional
        Number of images (default 100).
    side : int, optional
        Images are ``side x side`` pixels (default 10).
    seed : int or None, optional
        Seed for :func:`numpy.random.default_rng` (default 0).
    dtype : numpy dtype, optional
        Element type of the result (default ``float32``).

    Returns
    -------
    numpy.ndarray, shape (n_images, side * side)
        ``default_rng(seed).random((n_images, side * side))`` cast to
        ``dtype``; values lie in [0, 1).

    Raises
    ------
    ValueError
        If ``n_images`` or ``side`` is not a positive integer.
    """
    _check_positive_int("n_images", n_images)
    _check_positive_int("side", side)
    rng = np.random.default_rng(seed)
    return rng.random((n_images, side * side)).astype(dtype)


# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------


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


def _read_idx_stream(stream, path) -> np.ndarray:
    """Parse an IDX file from a binary stream; see :func:`read_idx`."""
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
        extra = len(payload) - expected
        while chunk := stream.read(_CHUNK):
            extra += len(chunk)
        raise _corrupt(
            path,
            f"{extra} unexpected trailing bytes after the {expected} payload "
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
        raw.seek(0)
        if not is_gzip:
            return _read_idx_stream(raw, path)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_idx_stream(stream, path)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _corrupt(path, f"corrupt gzip data ({exc})") from exc


# ---------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST digits, flattened and scaled to [0, 1].

    Attributes
    ----------
    train_images : numpy.ndarray, shape (n_train, rows * cols), float32
        Training images, pixel values divided by 255, C-contiguous.
    train_labels : numpy.ndarray, shape (n_train,), int64
        Training digits 0-9.
    test_images : numpy.ndarray, shape (n_test, rows * cols), float32
        Test images, pixel values divided by 255, C-contiguous.
    test_labels : numpy.ndarray, shape (n_test,), int64
        Test digits 0-9.
    source : str
        Directory the files were read from.

    Notes
    -----
    Instances compare by identity (``eq=False``): array fields have no single
    truth value, so a field-wise ``==`` would be ambiguous.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def _find_files(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Locate the MNIST files in ``directory``.

    Returns
    -------
    found : dict
        Base name (without ``.gz``) to the existing path, preferring ``NAME.gz``
        over ``NAME``.
    missing : list of str
        Base names for which neither ``NAME.gz`` nor ``NAME`` exists.
    """
    found, missing = {}, []
    for name in _MNIST_NAMES:
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            missing.append(name)
    return found, missing


def _incomplete_dir_error(
    directory: Path, missing: list[str], origin: str
) -> DatasetError:
    """Error for a directory that was named explicitly but lacks files."""
    names = ", ".join(f"{name}[.gz]" for name in missing)
    return DatasetError(
        f"MNIST directory {directory} ({origin}) is missing {names}. "
        "Put the four MNIST files there (gzipped or not) or point "
        f"{origin} at the directory that holds them."
    )


def _default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fastae/mnist``, else ``~/.cache/fastae/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fastae" / "mnist"


def _where_to_put_files(cache_dir: Path) -> str:
    """Instructions for supplying the MNIST files by hand."""
    names = ", ".join(f"{name}.gz" for name in _MNIST_NAMES)
    return (
        f"Get the four MNIST files ({names}; gzipped or not) and either pass "
        "their directory with --data-dir DIR (data_dir= in Python), set "
        f"FASTAE_DATA=DIR, or copy them into the cache directory {cache_dir}."
    )


def _download(
    name: str,
    mirrors: Sequence[str],
    md5: str,
    cache_dir: Path,
    progress: _Progress | None,
) -> list[str]:
    """Download ``name`` into ``cache_dir`` from the first mirror that works.

    The file is streamed into a temporary file in ``cache_dir`` and moved to
    its final name only if its MD5 equals ``md5``.

    Returns
    -------
    list of str
        One failure reason per mirror tried; empty if the download succeeded.
    """
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        tmp = tempfile.NamedTemporaryFile(
            dir=cache_dir, prefix=f".{name}.", suffix=".part", delete=False
        )
        try:
            digest = hashlib.md5()
            with tmp, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                while chunk := resp.read(_CHUNK):
                    tmp.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(name, done, total)
            if digest.hexdigest() != md5.lower():
                failures.append(
                    f"{url}: MD5 checksum mismatch "
                    f"(expected {md5}, got {digest.hexdigest()})"
                )
                continue
            os.replace(tmp.name, cache_dir / name)
            return []
        except (OSError, http.client.HTTPException) as exc:
            # OSError covers URLError, HTTPError (e.g. 404) and timeouts.
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        finally:
            if os.path.exists(tmp.name):
                os.unlink(tmp.name)
    return failures


def _resolve_mirrors(mirrors: Sequence[str] | None) -> tuple[str, ...]:
    """Mirrors from the argument, else ``$FASTAE_MNIST_MIRRORS``, else defaults."""
    if mirrors is None:
        env = os.environ.get("FASTAE_MNIST_MIRRORS", "")
        mirrors = [m.strip() for m in env.split(",") if m.strip()] or DEFAULT_MIRRORS
    if isinstance(mirrors, str) or not mirrors:
        raise ValueError(
            f"mirrors must be a non-empty sequence of URLs, got {mirrors!r}"
        )
    return tuple(mirrors)


def _fetch_into_cache(
    cache_dir: Path,
    missing: list[str],
    mirrors: tuple[str, ...],
    md5: Mapping[str, str],
    progress: _Progress | None,
) -> None:
    """Download the ``missing`` MNIST files into ``cache_dir``."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(
            f"Cannot create the MNIST cache directory {cache_dir} ({exc}). "
            "Pass another cache_dir, or " + _where_to_put_files(cache_dir)
        ) from exc
    for name in missing:
        gz_name = f"{name}.gz"
        failures = _download(gz_name, mirrors, md5[gz_name], cache_dir, progress)
        if failures:
            reasons = "\n".join(f"  - {reason}" for reason in failures)
            raise DatasetError(
                f"Could not download {gz_name} into {cache_dir}; every mirror "
                f"failed:\n{reasons}\n" + _where_to_put_files(cache_dir)
            )


def _split(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path):
    """Validate one images/labels pair and convert it for training.

    Returns
    -------
    images : numpy.ndarray, shape (n, rows * cols), float32 in [0, 1]
    labels : numpy.ndarray, shape (n,), int64
    """
    if images.ndim != 3:
        raise DatasetError(
            f"{image_path}: expected images of shape (n, rows, cols), found "
            f"shape {images.shape}. Check that the image and label files are "
            "not swapped."
        )
    if labels.ndim != 1:
        raise DatasetError(
            f"{label_path}: expected labels of shape (n,), found shape "
            f"{labels.shape}. Check that the image and label files are not swapped."
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"{image_path} holds {len(images)} images but {label_path} holds "
            f"{len(labels)} labels; the two files must come from the same "
            "MNIST split. Replace them with a matching pair."
        )
    if labels.max() > 9:
        raise DatasetError(
            f"{label_path}: labels must be digits 0-9, found {int(labels.max())}. "
            "Replace the file with the original MNIST labels."
        )
    flat = images.reshape(len(images), -1).astype(np.float32)
    flat /= np.float32(255)
    return np.ascontiguousarray(flat), labels.astype(np.int64)


def _load_dir(files: dict[str, Path], directory: Path) -> MNIST:
    """Read and validate the four MNIST files found in ``directory``."""
    paths = [files[name] for name in _MNIST_NAMES]
    arrays = [read_idx(path) for path in paths]
    train_images, train_labels = _split(arrays[0], arrays[1], paths[0], paths[1])
    test_images, test_labels = _split(arrays[2], arrays[3], paths[2], paths[3])
    return MNIST(train_images, train_labels, test_images, test_labels, str(directory))


def load_mnist(
    data_dir=None,
    *,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    cache_dir=None,
    md5: Mapping[str, str] | None = None,
    progress: _Progress | None = None,
) -> MNIST:
    """Find, download if needed, read and validate MNIST.

    Each of the four files may be ``NAME.gz`` or the un-gzipped ``NAME``.
    They are looked for in ``data_dir``, else in ``$FASTAE_DATA``, else in
    the cache directory; whatever the cache lacks is then downloaded into
    it unless offline. A directory given by ``data_dir`` or ``FASTAE_DATA``
    must hold all four files: the search does not go on past it.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Directory holding the four MNIST files.
    offline : bool, optional
        Never download. ``None`` (default) reads ``$FASTAE_OFFLINE``, where
        ``1``, ``true`` or ``yes`` mean offline.
    mirrors : sequence of str, optional
        Base URLs to download from, tried in order. Default: the
        comma-separated ``$FASTAE_MNIST_MIRRORS``, else
        :data:`DEFAULT_MIRRORS`.
    cache_dir : str or os.PathLike, optional
        Download cache. Default ``$XDG_CACHE_HOME/fastae/mnist``, else
        ``~/.cache/fastae/mnist``.
    md5 : mapping, optional
        MD5 hex digest of each ``NAME.gz`` to check downloads against
        (default :data:`MNIST_MD5`). Files found locally are not checksummed
        but their structure is validated.
    progress : callable, optional
        Called as ``progress(name, bytes_done, bytes_total_or_None)`` while
        downloading.

    Returns
    -------
    MNIST
        Images as C-contiguous float32 in [0, 1], labels as int64.

    Raises
    ------
    DatasetError
        If the files cannot be found or downloaded, or are corrupt or
        inconsistent (different image and label counts, labels beyond 9).
    ValueError
        If ``mirrors`` is empty or ``md5`` lacks one of the four names.
    """
    if data_dir is not None or os.environ.get("FASTAE_DATA"):
        if data_dir is not None:
            directory, origin = Path(data_dir), "data_dir / --data-dir"
        else:
            directory, origin = Path(os.environ["FASTAE_DATA"]), "FASTAE_DATA"
        found, missing = _find_files(directory)
        if missing:
            raise _incomplete_dir_error(directory, missing, origin)
        return _load_dir(found, directory)

    cache = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    found, missing = _find_files(cache)
    if missing:
        if offline is None:
            env = os.environ.get("FASTAE_OFFLINE", "")
            offline = env.strip().lower() in _TRUE_STRINGS
        if offline:
            names = ", ".join(missing)
            raise DatasetError(
                f"MNIST not found ({names} missing from the cache directory "
                f"{cache}) and downloading is disabled (offline=True or "
                "FASTAE_OFFLINE). " + _where_to_put_files(cache)
            )
        checksums = MNIST_MD5 if md5 is None else md5
        lacking = [f"{n}.gz" for n in missing if f"{n}.gz" not in checksums]
        if lacking:
            raise ValueError(f"md5 has no checksum for {', '.join(lacking)}")
        _fetch_into_cache(
            cache, missing, _resolve_mirrors(mirrors), checksums, progress
        )
        found, missing = _find_files(cache)
    return _load_dir(found, cache)
