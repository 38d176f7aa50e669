"""Downloading the MNIST files into the cache, from mirrors, checked by MD5."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .idx import DatasetError

#: Base URLs from which the gzipped MNIST files are downloaded, in order.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# The four MNIST files, without the ``.gz`` suffix, in the order
# train images, train labels, test images, test labels.
_MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 30

_Progress = Callable[[str, int, "int | None"], None]


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


def _where_to_put_files(cache_dir: Path) -> str:
    """Instructions for supplying the MNIST files by hand."""
    names = ", ".join(f"{name}.gz" for name in _MNIST_NAMES)
    return (
        f"Get the four MNIST files ({names}; gzipped or not) and either pass "
        "their directory with --data-dir DIR (data_dir= in Python), set "
        f"FASTAE_DATA=DIR, or copy them into the cache directory {cache_dir}."
    )
