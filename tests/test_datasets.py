"""Tests for fastae.datasets: toy data, IDX reading, MNIST search and download.

No test touches the internet: downloads go to a local HTTP server on
127.0.0.1, and every other test runs with ``FASTAE_OFFLINE=1``.
"""

import functools
import gzip
import hashlib
import http.server
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from fastae.datasets import (
    DEFAULT_MIRRORS,
    MNIST,
    MNIST_MD5,
    DatasetError,
    load_mnist,
    q1_patterns,
    random_images,
    read_idx,
)

# Captured before the autouse fixture below clears the environment.
REAL_DATA = os.environ.get("FASTAE_DATA")

NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# MD5 of the *decompressed* official files. A re-compressed copy of MNIST
# keeps these while its gzip bytes (and so MNIST_MD5) change.
RAW_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Isolate every test from the user's data, cache, proxies and network."""
    for var in ("FASTAE_DATA", "FASTAE_MNIST_MIRRORS", "http_proxy", "https_proxy",
                "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FASTAE_OFFLINE", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def idx_bytes(array, *, magic=b"\x00\x00", type_code=0x08, ndim=None):
    """Serialise ``array`` as IDX; keyword arguments allow broken headers."""
    array = np.asarray(array, dtype=np.uint8)
    ndim = array.ndim if ndim is None else ndim
    header = magic + bytes([type_code, ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path, data, *, gz=False):
    """Write ``data`` to ``path``, gzip-compressed if ``gz``; return the path."""
    path = Path(path)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_mnist(n_train=7, n_test=3, side=(4, 5), seed=0):
    """Arrays for a tiny MNIST: {name: uint8 array}."""
    rng = np.random.default_rng(seed)
    return {
        NAMES[0]: rng.integers(0, 256, (n_train, *side), dtype=np.uint8),
        NAMES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        NAMES[2]: rng.integers(0, 256, (n_test, *side), dtype=np.uint8),
        NAMES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_mnist(directory, arrays=None, *, gz=True, skip=()):
    """Write the four IDX files (``NAME.gz`` if ``gz`` else ``NAME``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = tiny_mnist() if arrays is None else arrays
    for name, array in arrays.items():
        if name not in skip:
            write(directory / (f"{name}.gz" if gz else name), idx_bytes(array), gz=gz)
    return arrays


def assert_matches(mnist, arrays, source):
    """Check that ``mnist`` is the conversion of the raw ``arrays``."""
    train_images, train_labels, test_images, test_labels = (arrays[n] for n in NAMES)
    assert isinstance(mnist, MNIST)
    assert mnist.source == str(source)
    pairs = ((mnist.train_images, train_images), (mnist.test_images, test_images))
    for got, raw in pairs:
        assert got.dtype == np.float32
        assert got.flags.c_contiguous
        assert got.shape == (raw.shape[0], raw.shape[1] * raw.shape[2])
        np.testing.assert_array_equal(got, raw.reshape(len(raw), -1) / np.float32(255))
    pairs = ((mnist.train_labels, train_labels), (mnist.test_labels, test_labels))
    for got, raw in pairs:
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, raw)


# ---------------------------------------------------------------------------
# Toy data
# ---------------------------------------------------------------------------


def test_q1_patterns_exact():
    expected = np.array(
        [
            [1, 1, 1, 0, 0, 0, 0, 0, 0],
            [1, 0, 0, 1, 0, 0, 1, 0, 0],
            [0, 0, 1, 0, 1, 0, 1, 0, 0],
            [1, 0, 0, 0, 1, 0, 0, 0, 1],
            [1, 0, 0, 1, 0, 0, 1, 1, 1],
        ]
    )
    patterns = q1_patterns()
    assert patterns.shape == (5, 9)
    assert patterns.dtype == np.float32
    np.testing.assert_array_equal(patterns, expected)
    assert q1_patterns(np.float64).dtype == np.float64


def test_random_images_deterministic_and_in_range():
    a = random_images(12, 6, seed=3)
    assert a.shape == (12, 36)
    assert a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() < 1.0
    np.testing.assert_array_equal(a, random_images(12, 6, seed=3))
    np.testing.assert_array_equal(
        a, np.random.default_rng(3).random((12, 36)).astype(np.float32)
    )
    assert not np.array_equal(a, random_images(12, 6, seed=4))
    assert random_images().shape == (100, 100)
    assert random_images(2, 2, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_images": 0}, "n_images"),
        ({"n_images": -3}, "n_images"),
        ({"n_images": 2.0}, "n_images"),
        ({"n_images": True}, "n_images"),
        ({"side": 0}, "side"),
        ({"side": "10"}, "side"),
    ],
)
def test_random_images_rejects_bad_sizes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        random_images(**kwargs)


# ---------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(7,), (7, 4, 5), (2, 3), (2, 1, 3, 2)])
def test_read_idx_round_trip(tmp_path, gz, shape):
    array = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    got = read_idx(write(tmp_path / "data.idx", idx_bytes(array), gz=gz))
    assert got.dtype == np.uint8
    assert got.shape == shape
    np.testing.assert_array_equal(got, array)
    got[...] = 0  # the result is an ordinary writable array


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    array = np.arange(20, dtype=np.uint8).reshape(4, 5)
    gz_unnamed = write(tmp_path / "plain-name", idx_bytes(array), gz=True)
    raw_named_gz = write(tmp_path / "looks.gz", idx_bytes(array), gz=False)
    np.testing.assert_array_equal(read_idx(gz_unnamed), array)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)


IMAGES = np.arange(140, dtype=np.uint8).reshape(7, 4, 5)
GOOD = idx_bytes(IMAGES)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "data, needle",
    [
        (idx_bytes(IMAGES, magic=b"\x01\x00"), "magic"),
        (idx_bytes(IMAGES, type_code=0x0D), "type code 0x0d"),
        (idx_bytes(IMAGES, ndim=0), "dimensions 0"),
        (idx_bytes(np.zeros((1, 1, 1, 1, 1))), "dimensions 5"),
        (GOOD[:10], "dimension sizes"),
        (GOOD[:2], "header"),
        (GOOD[:-1], "needs 140 bytes, found 139"),
        (GOOD[:16], "needs 140 bytes, found 0"),
        (GOOD + b"\x00\x01\x02", "3 unexpected trailing bytes"),
        (idx_bytes(np.zeros((0, 3))), "empty shape"),
    ],
    ids=["magic", "type", "ndim0", "ndim5", "short-dims", "short-header",
         "truncated", "no-payload", "trailing", "empty"],
)
def test_read_idx_rejects_bad_files(tmp_path, gz, data, needle):
    path = write(tmp_path / "bad-file", data, gz=gz)
    with pytest.raises(DatasetError, match=needle) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda gz: gz[:10] + b"garbage that is not deflate" * 3,  # bad stream
        lambda gz: gz[: len(gz) // 2],  # cut short
        lambda gz: gz[:-8] + bytes([gz[-8] ^ 0xFF]) + gz[-7:],  # CRC mismatch
    ],
    ids=["garbage", "cut", "crc"],
)
def test_read_idx_rejects_corrupt_gzip(tmp_path, corrupt):
    path = tmp_path / "images.gz"
    path.write_bytes(corrupt(gzip.compress(GOOD)))
    with pytest.raises(DatasetError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------
# load_mnist: reading and validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_dir(tmp_path, gz):
    arrays = write_mnist(tmp_path / "d", gz=gz)
    assert_matches(load_mnist(tmp_path / "d"), arrays, tmp_path / "d")


def test_load_mnist_accepts_mixed_gz_and_raw(tmp_path):
    arrays = write_mnist(tmp_path, gz=True, skip=NAMES[2:])
    write_mnist(tmp_path, arrays, gz=False, skip=NAMES[:2])
    assert_matches(load_mnist(str(tmp_path)), arrays, tmp_path)


@pytest.mark.parametrize("split", [(0, 1), (2, 3)], ids=["train", "test"])
def test_load_mnist_count_mismatch_names_both_files(tmp_path, split):
    arrays = tiny_mnist()
    labels = NAMES[split[1]]
    arrays[labels] = arrays[labels][:-1]
    write_mnist(tmp_path, arrays)
    with pytest.raises(DatasetError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert f"{NAMES[split[0]]}.gz" in message and f"{labels}.gz" in message


def test_load_mnist_rejects_labels_out_of_range(tmp_path):
    arrays = tiny_mnist()
    arrays[NAMES[3]][1] = 10
    write_mnist(tmp_path, arrays)
    with pytest.raises(DatasetError, match="0-9") as info:
        load_mnist(tmp_path)
    assert str(tmp_path / f"{NAMES[3]}.gz") in str(info.value)


def test_load_mnist_rejects_swapped_files(tmp_path):
    arrays = tiny_mnist()
    arrays[NAMES[0]], arrays[NAMES[1]] = arrays[NAMES[1]], arrays[NAMES[0]]
    write_mnist(tmp_path, arrays)
    with pytest.raises(DatasetError, match="swapped") as info:
        load_mnist(tmp_path)
    assert NAMES[0] in str(info.value)


def test_load_mnist_propagates_corrupt_file_error(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / f"{NAMES[1]}.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DatasetError, match=NAMES[1]):
        load_mnist(tmp_path)


# ---------------------------------------------------------------------------
# load_mnist: search order
# ---------------------------------------------------------------------------


def test_explicit_dir_beats_env(tmp_path, monkeypatch):
    explicit = write_mnist(tmp_path / "explicit", tiny_mnist(seed=1))
    write_mnist(tmp_path / "env", tiny_mnist(seed=2))
    monkeypatch.setenv("FASTAE_DATA", str(tmp_path / "env"))
    assert_matches(load_mnist(tmp_path / "explicit"), explicit, tmp_path / "explicit")


def test_env_dir_used_without_argument(tmp_path, monkeypatch):
    env = write_mnist(tmp_path / "env")
    write_mnist(tmp_path / "cache", tiny_mnist(seed=5))
    monkeypatch.setenv("FASTAE_DATA", str(tmp_path / "env"))
    assert_matches(load_mnist(cache_dir=tmp_path / "cache"), env, tmp_path / "env")


def test_incomplete_explicit_dir_does_not_fall_through(tmp_path, monkeypatch):
    write_mnist(tmp_path / "explicit", skip=(NAMES[3],))
    write_mnist(tmp_path / "env")
    monkeypatch.setenv("FASTAE_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as info:
        load_mnist(tmp_path / "explicit")
    message = str(info.value)
    assert str(tmp_path / "explicit") in message
    assert NAMES[3] in message and NAMES[0] not in message


def test_incomplete_env_dir_does_not_fall_through(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    write_mnist(tmp_path / "cache")
    monkeypatch.setenv("FASTAE_DATA", str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="FASTAE_DATA") as info:
        load_mnist(cache_dir=tmp_path / "cache")
    assert str(tmp_path / "empty") in str(info.value)


def test_cache_dir_used_offline(tmp_path):
    arrays = write_mnist(tmp_path / "cache", gz=False)
    assert_matches(load_mnist(cache_dir=tmp_path / "cache"), arrays, tmp_path / "cache")


def test_default_cache_dir_follows_xdg(tmp_path):
    cache = tmp_path / "xdg-cache" / "fastae" / "mnist"
    arrays = write_mnist(cache)
    assert_matches(load_mnist(), arrays, cache)


@pytest.mark.parametrize("how", ["argument", "env"])
def test_offline_without_data_explains_where_to_put_files(tmp_path, monkeypatch, how):
    if how == "argument":
        monkeypatch.delenv("FASTAE_OFFLINE")
        call = functools.partial(load_mnist, offline=True)
    else:
        monkeypatch.setenv("FASTAE_OFFLINE", "Yes")
        call = load_mnist
    with pytest.raises(DatasetError) as info:
        call()
    message = str(info.value)
    assert "FASTAE_DATA" in message and "--data-dir" in message
    assert str(tmp_path / "xdg-cache" / "fastae" / "mnist") in message
    assert all(name in message for name in NAMES)
    assert not (tmp_path / "xdg-cache").exists()  # nothing created offline


def test_bad_download_arguments_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="mirrors"):
        load_mnist(cache_dir=tmp_path, offline=False, mirrors=[])
    with pytest.raises(ValueError, match=NAMES[0]):
        load_mnist(cache_dir=tmp_path, offline=False, md5={})


def test_default_mirrors():
    assert DEFAULT_MIRRORS == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    assert set(MNIST_MD5) == {f"{name}.gz" for name in NAMES}


# ---------------------------------------------------------------------------
# Downloader (local HTTP server only)
# ---------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serve ``good/`` (tiny MNIST) and ``bad/`` (wrong contents) on 127.0.0.1.

    Yields ``(base_url, arrays, md5)`` where ``md5`` holds the checksums of
    the good files.
    """
    root = tmp_path / "www"
    arrays = write_mnist(root / "good")
    write_mnist(root / "bad", tiny_mnist(seed=99))
    md5 = {
        f"{n}.gz": hashlib.md5((root / "good" / f"{n}.gz").read_bytes()).hexdigest()
        for n in NAMES
    }
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", arrays, md5
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_skips_bad_checksum_and_uses_next_mirror(tmp_path, server):
    base, arrays, md5 = server
    cache = tmp_path / "cache"
    calls = []
    mnist = load_mnist(
        cache_dir=cache,
        mirrors=[f"{base}/bad/", f"{base}/good"],
        md5=md5,
        offline=False,
        progress=lambda *args: calls.append(args),
    )
    assert_matches(mnist, arrays, cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    last = {name: (done, total) for name, done, total in calls}
    sizes = {f"{n}.gz": (cache / f"{n}.gz").stat().st_size for n in NAMES}
    assert last == {name: (size, size) for name, size in sizes.items()}


def test_download_all_mirrors_bad_checksum(tmp_path, server):
    base, _, md5 = server
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="checksum") as info:
        load_mnist(cache_dir=cache, mirrors=[f"{base}/bad/"], md5=md5, offline=False)
    message = str(info.value)
    assert f"{base}/bad/" in message and "FASTAE_DATA" in message
    assert list(cache.iterdir()) == []  # temporary file removed


def test_download_skips_404_mirror(tmp_path, server):
    base, arrays, md5 = server
    cache = tmp_path / "cache"
    mnist = load_mnist(
        cache_dir=cache,
        mirrors=[f"{base}/missing/", f"{base}/good/"],
        md5=md5,
        offline=False,
    )
    assert_matches(mnist, arrays, cache)
    assert len(list(cache.iterdir())) == 4


def test_download_failure_lists_every_mirror(tmp_path, server):
    base, _, md5 = server
    mirrors = [f"{base}/missing/", f"{base}/bad/"]
    with pytest.raises(DatasetError) as info:
        load_mnist(cache_dir=tmp_path / "c", mirrors=mirrors, md5=md5, offline=False)
    message = str(info.value)
    assert "404" in message and "checksum" in message
    assert "--data-dir" in message


def test_download_mirrors_from_env_and_only_missing_files(
    tmp_path, server, monkeypatch
):
    base, arrays, md5 = server
    cache = tmp_path / "cache"
    write_mnist(cache, arrays, gz=False, skip=NAMES[2:])
    monkeypatch.setenv("FASTAE_MNIST_MIRRORS", f" {base}/missing/ ,{base}/good/")
    monkeypatch.setenv("FASTAE_OFFLINE", "0")
    assert_matches(load_mnist(cache_dir=cache, md5=md5), arrays, cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [NAMES[0], NAMES[1], f"{NAMES[2]}.gz", f"{NAMES[3]}.gz"]
    )


# ---------------------------------------------------------------------------
# Real MNIST (only where FASTAE_DATA points at it)
# ---------------------------------------------------------------------------


@pytest.mark.skipif(REAL_DATA is None, reason="set FASTAE_DATA to the real MNIST dir")
def test_real_mnist(monkeypatch):
    monkeypatch.setenv("FASTAE_DATA", REAL_DATA)
    mnist = load_mnist()
    assert mnist.source == REAL_DATA
    assert mnist.train_images.shape == (60000, 784)
    assert mnist.test_images.shape == (10000, 784)
    assert mnist.train_labels.shape == (60000,)
    assert mnist.test_labels.shape == (10000,)
    for images in (mnist.train_images, mnist.test_images):
        assert images.dtype == np.float32 and images.flags.c_contiguous
        assert images.min() == 0.0 and images.max() == 1.0
    for labels in (mnist.train_labels, mnist.test_labels):
        assert labels.dtype == np.int64
        assert set(np.unique(labels)) == set(range(10))
    for name in NAMES:
        path = Path(REAL_DATA) / f"{name}.gz"
        if not path.exists():
            path = Path(REAL_DATA) / name
        data = path.read_bytes()
        if hashlib.md5(data).hexdigest() == MNIST_MD5[f"{name}.gz"]:
            continue  # the published .gz file, byte for byte
        # Otherwise a raw or re-compressed copy: compare the IDX contents.
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        assert hashlib.md5(data).hexdigest() == RAW_MD5[name], path
