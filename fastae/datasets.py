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

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import check_positive_int
from .download import (
    _MNIST_NAMES,
    DEFAULT_MIRRORS,
    _fetch_into_cache,
    _Progress,
    _resolve_mirrors,
    _where_to_put_files,
)
from .idx import DatasetError, read_idx

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

#: Published MD5 checksums of the gzipped MNIST files served by the mirrors.
#: Only downloads are verified against them: a local copy that was
#: re-compressed has different gzip bytes but the same (validated) contents.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

_TRUE_STRINGS = ("1", "true", "yes")


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
    check_positive_int(n_images, "n_images")
    check_positive_int(side, "side")
    rng = np.random.default_rng(seed)
    return rng.random((n_images, side * side)).astype(dtype)


# ---------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST digits, flattened and scaled to [0, 1] (or kept as bytes: ``load_mnist(dtype=np.uint8)``).

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


def _split(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path, as_bytes=False):
    """Validate one images/labels pair and convert it for training.

    Returns
    -------
    images : numpy.ndarray, shape (n, rows * cols), float32 in [0, 1] (``as_bytes``:
        the uint8 pixels as they are)
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
    flat = images.reshape(len(images), -1)
    if as_bytes:
        return np.ascontiguousarray(flat, dtype=np.uint8), labels.astype(np.int64)
    flat = flat.astype(np.float32)
    flat /= np.float32(255)
    return np.ascontiguousarray(flat), labels.astype(np.int64)


def _load_dir(files: dict[str, Path], directory: Path, as_bytes=False) -> MNIST:
    """Read and validate the four MNIST files found in ``directory``."""
    paths = [files[name] for name in _MNIST_NAMES]
    arrays = [read_idx(path) for path in paths]
    train_images, train_labels = _split(arrays[0], arrays[1], paths[0], paths[1], as_bytes)
    test_images, test_labels = _split(arrays[2], arrays[3], paths[2], paths[3], as_bytes)
    return MNIST(train_images, train_labels, test_images, test_labels, str(directory))


def load_mnist(
    data_dir=None,
    *,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    cache_dir=None,
    md5: Mapping[str, str] | None = None,
    progress: _Progress | None = None,
    dtype=np.float32,
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
    dtype : numpy.float32 (default) or numpy.uint8
        ``uint8`` keeps the pixels as the files hold them (47 MB instead of
        188 MB): fastae's models scale bytes by 1/255 as they read them, and
        train on them exactly as on the float32 images.

    Returns
    -------
    MNIST
        Images as C-contiguous float32 in [0, 1] (or uint8, see ``dtype``), labels as int64.

    Raises
    ------
    DatasetError
        If the files cannot be found or downloaded, or are corrupt or
        inconsistent (different image and label counts, labels beyond 9).
    ValueError
        If ``mirrors`` is empty or ``md5`` lacks one of the four names.
    """
    if np.dtype(dtype) not in (np.float32, np.uint8):
        raise ValueError(f"dtype: expected numpy.float32 or numpy.uint8, got {dtype!r}")
    as_bytes = np.dtype(dtype) == np.uint8
    if data_dir is not None or os.environ.get("FASTAE_DATA"):
        if data_dir is not None:
            directory, origin = Path(data_dir), "data_dir / --data-dir"
        else:
            directory, origin = Path(os.environ["FASTAE_DATA"]), "FASTAE_DATA"
        found, missing = _find_files(directory)
        if missing:
            raise _incomplete_dir_error(directory, missing, origin)
        return _load_dir(found, directory, as_bytes)

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
    return _load_dir(found, cache, as_bytes)
