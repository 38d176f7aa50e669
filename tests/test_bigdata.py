"""Data bigger than memory: bytes kept as bytes (scaled by 1/255 where the kernels gather
them), memory-mapped files read in place a batch or a chunk at a time, the pages read
handed back, and models that pickle to their arrays and config.

Sizes are tiny; the byte input adds one compiled variant of each loop.
"""
import mmap
import os
import pickle
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import skewed_sparse
from fastae_cli.main import cli

from fastae import Autoencoder, StackedClassifier, checks, config, mapped
from fastae.backends import cpu_kernels as cpu
from fastae.backends.records import SparseTail


def as_bytes(X):
    """``X`` in [0, 1] as bytes, and those bytes scaled back the way NumPy divides them."""
    B = np.rint(np.asarray(X) * 255).astype(np.uint8)
    return B, B.astype(np.float32) / np.float32(255)


def mapped_copy(tmp_path, name, X):
    path = tmp_path / f"{name}.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r")


# ------------------------------------------------------------------- the gathers


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_gathers_scale_bytes_as_numpy_divides_them(rng, p):
    B, F = as_bytes(rng.random((9, 16)))
    rows = rng.permutation(9)[:6]
    got, expected = np.empty((6, 16), np.float32), np.empty((6, 16), np.float32)
    cpu.gather_corrupt(got, B, rows, p, 7, 3, 1)
    cpu.gather_corrupt(expected, F, rows, p, 7, 3, 1)
    np.testing.assert_array_equal(got, expected)
    cpu.gather_augment(got, B, rows, p, 1, 4, 7, 3, 1)
    cpu.gather_augment(expected, F, rows, p, 1, 4, 7, 3, 1)
    np.testing.assert_array_equal(got, expected)
    assert got.max() <= 1.0 and expected.max() > 0.0


def test_split_batch_scales_the_clean_targets(rng):
    B, F = as_bytes(skewed_sparse(rng, 12, 16))
    rows = np.arange(5)
    cols, n_dense = cpu.input_split(F, 0.1, 4096)
    assert n_dense < 16
    out = []
    for X in (B, F):
        tail = cpu.sparse_tail(5, 16, np.float32)
        cpu.gather_corrupt(tail.drawn[:5], X, rows, 0.2, 1, 2, 1)
        dense, clean = np.zeros((5, 16), np.float32), np.empty((5, 16), np.float32)
        cpu.split_batch(dense, clean, tail, X, rows, cols, n_dense)
        values = [tail.val[i, : tail.length[i]].copy() for i in range(5)]
        out.append((dense, clean, tail.length.copy(), *values))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)
    assert isinstance(tail, SparseTail) and out[0][2].sum() > 0


# -------------------------------------------------------- bytes train like floats


@pytest.mark.parametrize("split", [True, False], ids=["split", "dense"])
def test_autoencoder_on_bytes_matches_the_same_data_as_floats(rng, monkeypatch, split):
    monkeypatch.setattr(config, "SPLIT_TAIL_DENSITY", 0.1 if split else 0.0)
    B, F = as_bytes(skewed_sparse(rng, 70, 16))
    runs = []
    for X in (B, F):
        model = Autoencoder(16, 6, corruption=0.2, sparsity=(0.1, 0.5), seed=4)
        history = model.fit(X, 3, 0.1, batch_size=16)
        runs.append((np.asarray(history), model.W, model.b, model.c, model.encode(X), model.reconstruct(X),
                     model.loss_and_grads(X[:9])[1]["W"], model.corrupt(X, 5)))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_classifier_on_bytes_matches_the_same_data_as_floats(rng):
    B, F = as_bytes(rng.random((40, 16)))
    y = rng.integers(0, 3, 40)
    runs = []
    for X in (B, F):
        clf = StackedClassifier([16, 5], 3, seed=2)
        history = clf.fit(X, y, 2, 0.01, 8, optimizer="adam", corruption=0.1, shift=1, eval_sets={"all": (X, y)})
        runs.append((np.asarray(history), history["accuracy_all"], clf.predict_proba(X), clf.loss(X, y),
                     clf.layers(X)[0], clf.loss_and_grads(X, y)[1]["W1"]))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------- memory-mapped files


def test_a_mapped_file_trains_and_encodes_as_the_array_in_memory(rng, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "EVAL_CHUNK", 32)  # several chunks of 100 rows
    B, F = as_bytes(skewed_sparse(rng, 100, 16))
    for X in (B, F):
        M = mapped_copy(tmp_path, X.dtype.name, X)
        assert not M.flags.writeable
        a, b = (Autoencoder(16, 6, corruption=0.2, sparsity=(0.1, 0.5), seed=1) for _ in range(2))
        np.testing.assert_array_equal(a.fit(M, 2, 0.1, batch_size=16), b.fit(X, 2, 0.1, batch_size=16))
        np.testing.assert_array_equal(a.W, b.W)
        codes = np.lib.format.open_memmap(tmp_path / "codes.npy", mode="w+", dtype=np.float32, shape=(100, 6))
        assert a.encode(M, out=codes) is codes
        np.testing.assert_allclose(codes, b.encode(F), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a.reconstruct(M), b.reconstruct(F), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a.decode(codes), b.decode(b.encode(F)), rtol=1e-6, atol=1e-7)
        # Chunked: the reconstruction term summed over chunks, the KL term on the mean of all.
        assert a.loss(M) == pytest.approx(b.loss(F), rel=1e-6)
        del codes


def test_slices_of_a_mapped_file_are_read_where_they_start(rng, tmp_path):
    """A slice of a memmap keeps the offset of the whole: the rows it starts at, not the
    file's first ones, are mapped again, read ahead, trained on and encoded."""
    B, F = as_bytes(skewed_sparse(rng, 100, 16))
    path = tmp_path / "rows.npy"
    np.save(path, B)
    for rows in (slice(10, None), slice(37, 90), slice(0, 50)):
        M = np.load(path, mmap_mode="r")[rows]
        np.testing.assert_array_equal(mapped.writable(M), B[rows])
        name, offset = mapped._file_of(M, mapped.mapping(M))
        with open(name, "rb") as f:
            f.seek(offset)
            assert f.read(16) == B[rows][0].tobytes()
        a, b = (Autoencoder(16, 6, corruption=0.2, seed=1) for _ in range(2))
        np.testing.assert_array_equal(a.fit(M, 2, 0.1, batch_size=16), b.fit(B[rows], 2, 0.1, batch_size=16))
        np.testing.assert_array_equal(a.encode(M), b.encode(F[rows]))
    header = int(np.load(path, mmap_mode="r").offset)
    M = np.memmap(path, np.uint8, mode="r", offset=header + 16 * 5, shape=(95, 16))[3:]  # an offset of its own
    np.testing.assert_array_equal(mapped.writable(M), B[8:])


def test_encode_out_is_checked(rng):
    model = Autoencoder(4, 3)
    X = rng.random((5, 4))
    with pytest.raises(ValueError, match=r"out: expected a writable float32 array of shape \(5, 3\)"):
        model.encode(X, out=np.empty((5, 4), np.float32))
    frozen = np.empty((5, 3), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out: the array is read-only"):
        model.encode(X, out=frozen)


def test_a_mapped_file_classifies_as_the_array_in_memory(rng, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "EVAL_CHUNK", 16)
    B, F = as_bytes(rng.random((50, 16)))
    M = mapped_copy(tmp_path, "x", B)
    y = rng.integers(0, 3, 50)
    a, b = StackedClassifier([16, 5], 3, seed=2), StackedClassifier([16, 5], 3, seed=2)
    np.testing.assert_array_equal(a.fit(M, y, 1, 0.01, 8, optimizer="adam"), b.fit(F, y, 1, 0.01, 8, optimizer="adam"))
    np.testing.assert_allclose(a.predict_proba(M), b.predict_proba(F), rtol=1e-6)
    assert a.accuracy(M, y) == b.accuracy(F, y)
    assert a.loss(M, y) == pytest.approx(b.loss(F, y), rel=1e-9)


def _peak_traced(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_no_whole_copy_of_a_mapped_file(rng, tmp_path, monkeypatch, dtype):
    """Peak traced allocation well below the data's size in every entry point (the
    same calls on a copy in memory of another dtype allocate the whole data again)."""
    monkeypatch.setattr(config, "EVAL_CHUNK", 256)
    monkeypatch.setattr(checks, "CHECK_CHUNK_BYTES", 1 << 16)
    B, F = as_bytes(rng.random((20000, 200)) * (rng.random((20000, 200)) < 0.3))
    M = mapped_copy(tmp_path, "big", B if dtype == np.uint8 else F)
    y = rng.integers(0, 3, 20000)
    ae = Autoencoder(200, 8, corruption=0.1, sparsity=(0.1, 0.5))
    clf = StackedClassifier([200, 8], 3)
    codes = np.lib.format.open_memmap(tmp_path / "codes.npy", mode="w+", dtype=np.float32, shape=(20000, 8))
    ae.fit(M[:300], 1, 0.1, batch_size=100)  # compiled before anything is traced
    clf.fit(M[:300], y[:300], 1, 0.1, 100)
    ae.loss(M[:300])
    ae.encode(M[:300])
    clf.accuracy(M[:300], y[:300])
    budget = M.nbytes / 4
    for name, call in [
        ("fit", lambda: ae.fit(M, 1, 0.1, batch_size=100)),
        ("encode", lambda: ae.encode(M, out=codes)),
        ("loss", lambda: ae.loss(M)),
        ("classifier fit", lambda: clf.fit(M, y, 1, 0.1, 100)),
        ("accuracy", lambda: clf.accuracy(M, y)),
    ]:
        peak = _peak_traced(call)
        assert peak < budget, f"{name}: peak traced allocation {peak} bytes for {M.nbytes} bytes of data"
    # The measurement can tell: a float64 file is converted to float32 whole.
    wide = mapped_copy(tmp_path, "wide", F[:5000].astype(np.float64))
    assert _peak_traced(lambda: ae.encode(wide, out=codes[:5000])) > budget


def _mapping_rss_kb(path):
    """Resident kB of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if "-" in line.split(" ")[0] and len(line.split()) >= 5:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's /proc/self/smaps")
def test_pages_read_from_a_mapped_file_are_released(tmp_path):
    path = tmp_path / "pages.npy"
    np.save(path, np.ones((4096, 1024), np.uint8))  # 4 MiB
    X = np.load(path, mmap_mode="r")
    assert int(X.sum(dtype=np.int64)) == X.size
    kept = _mapping_rss_kb(path)
    assert kept >= 3000  # an ordinary read keeps the pages it touched
    X = mapped.writable(np.load(path, mmap_mode="r"))
    with mapped.reading(X, interval=0.01):
        assert int(X.sum(dtype=np.int64)) == X.size
    assert _mapping_rss_kb(path) < 1000


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux's /proc/self/statm")
def test_pages_read_faster_than_the_interval_are_released_by_their_size(tmp_path, monkeypatch):
    """A fault can map 2 MiB of a cached file: the pages go back once they pass
    RELEASE_BYTES, not only every RELEASE_INTERVAL."""
    monkeypatch.setattr(mapped, "RELEASE_INTERVAL", 1000.0)
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1 << 20)
    path = tmp_path / "pages.npy"
    np.save(path, np.ones((8192, 1024), np.uint8))  # 8 MiB
    X = mapped.writable(np.load(path, mmap_mode="r"))
    with mapped.reading(X):
        assert int(X.sum(dtype=np.int64)) == X.size
        deadline = time.monotonic() + 10
        while _mapping_rss_kb(path) >= 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _mapping_rss_kb(path) < 1000


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux's /proc/self/statm")
def test_pages_mapped_while_a_release_runs_are_released_too(tmp_path, monkeypatch):
    """The loop goes on reading while the thread releases: a block it maps then is counted
    in the count taken after the release, and must go back all the same."""
    monkeypatch.setattr(mapped, "RELEASE_INTERVAL", 1000.0)
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1 << 20)
    path = tmp_path / "pages.npy"
    np.save(path, np.ones((8192, 1024), np.uint8))  # 8 MiB
    X = mapped.writable(np.load(path, mmap_mode="r"))
    advise, raced = mapped._advise, []

    def advise_then_read(m, option):
        advise(m, option)
        if option == mmap.MADV_DONTNEED and not raced:  # the block reads on meanwhile
            raced.append(int(X[-2048:].sum(dtype=np.int64)))

    monkeypatch.setattr(mapped, "_advise", advise_then_read)
    with mapped.reading(X):
        # 2.25 MiB: one release by size, and nothing read after it but the raced block.
        assert int(X[:2304].sum(dtype=np.int64)) == 2304 * 1024
        deadline = time.monotonic() + 10
        while (not raced or _mapping_rss_kb(path) >= 1000) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert raced == [2048 * 1024]
        assert _mapping_rss_kb(path) < 1000


def test_read_ahead_follows_the_batches_the_loop_has_started():
    """Rows of the next batches, in the loop's order, from where the batch count says the
    loop is: the first epoch from its first row, the later ones whole."""
    orders = np.arange(20)[::-1].reshape(2, 10).copy()  # 2 epochs of 10 rows
    flat = orders.ravel()
    ahead = mapped.ReadAhead(np.zeros((10, 4), np.uint8), batch_size=3, batches=2)
    assert ahead.next_rows() is None  # not following a loop yet
    stop = np.array([0, 100], np.int64)
    ahead.follow(orders, 4, stop)  # resumed at row 4: batches 4-6, 7-9, then epoch 2
    assert ahead.next_rows().tolist() == flat[4:10].tolist()
    assert ahead.next_rows() is None  # asked for already
    stop[1] = 99  # the first batch started: the two after it
    assert ahead.next_rows().tolist() == flat[10:13].tolist()
    stop[1] = 98  # epoch 2's first batch comes next
    assert ahead.next_rows().tolist() == flat[13:16].tolist()
    stop[1] = 96  # 2 batches into epoch 2: its last batch, cut at the end of the orders
    assert ahead.next_rows().tolist() == flat[16:20].tolist()
    stop[1] = 90
    assert ahead.next_rows() is None


def _resident_pages(X):
    """Which pages under the mapped array ``X`` are in the page cache (``mincore``)."""
    ctypes = pytest.importorskip("ctypes")
    libc = ctypes.CDLL(None, use_errno=True)
    page = mapped.mmap.PAGESIZE
    m = mapped.mapping(X)
    base = np.frombuffer(m, np.uint8).ctypes.data
    vec = np.zeros(-(-len(m) // page), np.uint8)
    if libc.mincore(ctypes.c_void_p(base), ctypes.c_size_t(len(m)), vec.ctypes.data_as(ctypes.c_void_p)) != 0:
        pytest.skip("mincore is not available")
    return vec & 1, base, page


@pytest.mark.skipif(not hasattr(mapped.mmap, "MADV_WILLNEED") or not hasattr(os, "posix_fadvise"),
                    reason="needs madvise(MADV_WILLNEED) and posix_fadvise")
@pytest.mark.parametrize("through", ["posix_fadvise", "madvise"])
def test_the_rows_of_the_next_batches_are_read_ahead_of_the_loop(tmp_path, monkeypatch, through):
    """From a file out of the page cache, the pages of the rows the loop reads next come
    in while the loop has not reached them; rows further on stay on disk. Where there is
    no ``posix_fadvise`` (macOS), through the mapping."""
    rows, d = 4096, 4096  # a row a page: 16 MiB
    path = tmp_path / "ahead.npy"
    np.save(path, np.ones((rows, d), np.uint8))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    X = mapped.writable(np.load(path, mmap_mode="r"))
    resident, base, page = _resident_pages(X)
    if resident.mean() > 0.5:
        pytest.skip("this file system keeps the file in memory (the page cache cannot drop it)")
    order = np.random.default_rng(0).permutation(rows)[None, :]
    ahead = mapped.ReadAhead(X, batch_size=64, batches=4)
    stop = np.array([0, 1000], np.int64)
    ahead.follow(order, 0, stop)
    stop[1] = 1000 - 10  # the loop has started 10 batches: rows 640 .. 896 come next

    def page_of(r):
        return (X.ctypes.data - base + int(r) * d) // page

    wanted, later = order[0, 640:896], order[0, 2048:]
    if through == "madvise":
        monkeypatch.delattr(os, "posix_fadvise")
    with mapped.reading(X, random=True, ahead=ahead):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            resident, _, _ = _resident_pages(X)
            if all(resident[page_of(r)] for r in wanted):
                break
            time.sleep(0.01)
    assert all(resident[page_of(r)] for r in wanted)
    assert np.mean([resident[page_of(r)] for r in later]) < 0.1


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux's /proc/self/statm")
def test_a_read_ahead_that_waits_does_not_hold_back_the_release(tmp_path, monkeypatch):
    """Asking for pages that are not in memory can wait (the kernel frees memory first):
    the pages already read are released meanwhile all the same."""
    monkeypatch.setattr(mapped, "RELEASE_INTERVAL", 1000.0)
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1 << 20)
    path = tmp_path / "pages.npy"
    np.save(path, np.ones((8192, 1024), np.uint8))  # 8 MiB
    X = mapped.writable(np.load(path, mmap_mode="r"))
    ahead = mapped.ReadAhead(X, batch_size=64)
    asked, go_on = threading.Event(), threading.Event()

    def waiting():
        asked.set()
        go_on.wait(30)

    ahead.next_rows = waiting
    with mapped.reading(X, random=True, ahead=ahead):
        try:
            assert asked.wait(10)  # the read-ahead waits from here on
            assert int(X.sum(dtype=np.int64)) == X.size
            deadline = time.monotonic() + 10
            while _mapping_rss_kb(path) >= 1000 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _mapping_rss_kb(path) < 1000
        finally:
            go_on.set()  # before leaving the block, which waits for the read-ahead


def test_a_release_asked_for_by_other_file_pages_is_not_repeated(tmp_path, monkeypatch):
    """File pages that a release cannot drop (another file, shared memory) ask for one
    release and one follow-up, not for a release at every look."""
    monkeypatch.setattr(mapped, "RELEASE_INTERVAL", 1000.0)
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1 << 20)
    path = tmp_path / "pages.npy"
    np.save(path, np.ones((1024, 1024), np.uint8))
    X = mapped.writable(np.load(path, mmap_mode="r"))
    other = [0]

    class Pages(mapped._FilePages):
        def count(self):
            return other[0]

    advise, releases = mapped._advise, []

    def counting(m, option):
        releases.append(option == mmap.MADV_DONTNEED)
        advise(m, option)

    monkeypatch.setattr(mapped, "_FilePages", Pages)
    monkeypatch.setattr(mapped, "_advise", counting)
    with mapped.reading(X):
        other[0] = 2 * (1 << 20) // mmap.PAGESIZE  # 2 MiB of pages that stay
        time.sleep(1.0)  # 200 looks
        during = sum(releases)
    assert during == 2


def test_a_mapped_file_bigger_than_memory_is_read_writable(tmp_path):
    """The copy-on-write mapping that makes a read-only file writable for numba reserves
    no memory: a file of twice the machine's memory maps too (a sparse file, no disk used)."""
    rows = 2 * checks.memory_bytes() // 784 + 1
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (rows, 784)})
        f.seek(rows * 784 - 1, 1)
        f.write(b"\1")
    X = mapped.writable(np.load(path, mmap_mode="r"))
    assert X.flags.writeable and X.shape == (rows, 784) and mapped.is_mapped(X)
    assert X[0].sum() == 0 and X[-1, -1] == 1
    with mapped.reading(X):
        assert Autoencoder(784, 3).encode(X[-2:]).shape == (2, 3)


def test_checks_read_a_mapped_file_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "CHECK_CHUNK_BYTES", 256)
    X = np.full((64, 8), 0.5, np.float32)
    X[-1, 3] = np.nan
    with pytest.raises(ValueError, match="X: contains NaN or infinite values"):
        Autoencoder(8, 2).fit(mapped_copy(tmp_path, "nan", X), 1, 0.1)
    X[-1, 3] = 2.0
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\] for the cross-entropy loss \(found 0.5 .. 2\)"):
        Autoencoder(8, 2).encode(mapped_copy(tmp_path, "big", X))
    Autoencoder(8, 2, loss="mse").encode(mapped_copy(tmp_path, "big2", X))
    B = np.full((64, 8), 255, np.uint8)  # bytes: always in [0, 1] once scaled
    assert Autoencoder(8, 2).loss(mapped_copy(tmp_path, "bytes", B)) > 0


# ----------------------------------------------------------------------- pickling


def test_models_pickle_to_their_arrays_and_config(rng):
    X = rng.random((30, 8)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    ae = Autoencoder(8, 5, corruption=0.1, seed=2)
    ae.fit(X, 2, 0.1, batch_size=8)
    clf = StackedClassifier.from_autoencoders([ae], n_classes=3)
    clf.fit(X, y, 1, 0.01, 8, optimizer="adam")
    for model in (ae, clf):
        payload = pickle.dumps(model)
        assert len(payload) < sum(a.nbytes for a in model.params().values()) * 3 + 4096
        assert b"numba" not in payload and b"Dispatcher" not in payload
        back = pickle.loads(payload)
        assert type(back) is type(model) and back.epochs_trained == model.epochs_trained
    back = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(back.encode(X), ae.encode(X))
    np.testing.assert_array_equal(back.fit(X, 1, 0.1, batch_size=8), ae.fit(X, 1, 0.1, batch_size=8))
    np.testing.assert_array_equal(back.W, ae.W)
    back = pickle.loads(pickle.dumps(clf))  # with Adam's moments: trains on alike
    np.testing.assert_array_equal(back.fit(X, y, 1, 0.01, 8, optimizer="adam"),
                                  clf.fit(X, y, 1, 0.01, 8, optimizer="adam"))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


# ---------------------------------------------------------------------------- CLI


def test_cli_trains_on_a_byte_file_and_writes_mapped_outputs(rng, tmp_path):
    B, F = as_bytes(skewed_sparse(rng, 60, 16))
    np.save(tmp_path / "bytes.npy", B)
    np.save(tmp_path / "floats.npy", F)
    run = CliRunner()
    for name in ("bytes", "floats"):
        result = run.invoke(cli, ["train", str(tmp_path / f"{name}.npy"), "--hidden", "6", "--epochs", "2",
                                  "--batch-size", "16", "--out", str(tmp_path / name), "--quiet"],
                            catch_exceptions=False)
        assert result.exit_code == 0, result.output
        result = run.invoke(cli, ["encode", str(tmp_path / name), str(tmp_path / f"{name}.npy"), "--out",
                                  str(tmp_path / f"codes_{name}.npy"), "--quiet"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    a, b = (Autoencoder.load(tmp_path / name / "layer1") for name in ("bytes", "floats"))
    np.testing.assert_array_equal(a.W, b.W)
    codes = np.load(tmp_path / "codes_bytes.npy")
    np.testing.assert_array_equal(codes, np.load(tmp_path / "codes_floats.npy"))
    np.testing.assert_allclose(codes, b.encode(F), rtol=1e-6, atol=1e-7)
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_names_a_bad_value_in_a_mapped_file(tmp_path):
    X = np.full((40, 4), 0.5, np.float32)
    X[33, 2] = np.inf
    np.save(tmp_path / "bad.npy", X)
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "row 34, column 3" in errors[0], result.output


def test_mnist_as_bytes_is_the_float_images_times_255():
    from conftest import mnist_dir

    from fastae.datasets import load_mnist

    if mnist_dir() is None:
        pytest.skip("FASTAE_DATA does not name the MNIST directory")
    as_floats, as_bytes_ = load_mnist(), load_mnist(dtype=np.uint8)
    assert as_bytes_.train_images.dtype == np.uint8
    assert as_bytes_.train_images.nbytes * 4 == as_floats.train_images.nbytes
    np.testing.assert_array_equal(as_bytes_.train_images.astype(np.float32) / np.float32(255), as_floats.train_images)
    np.testing.assert_array_equal(as_bytes_.test_labels, as_floats.test_labels)
    with pytest.raises(ValueError, match="dtype: expected numpy.float32 or numpy.uint8"):
        load_mnist(dtype=np.float64)
