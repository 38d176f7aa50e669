"""Training loops against plain references: Q1's NumPy loop, masking noise, edge batches,
sparse inputs split into a dense prefix and a sparse tail."""
import importlib.util
import os
from pathlib import Path

import naive
import numpy as np
import pytest

from fastae import Autoencoder, config
from fastae.autoencoder import LOSSES
from fastae.datasets import q1_patterns
from fastae.model import epoch_order, epoch_orders


def load_bench_module(name):
    path = Path(__file__).parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sparsity", [None, (0.1, 0.5)], ids=["plain", "sparse"])
def test_q1_matches_the_numpy_loop(sparsity):
    q1_numpy = load_bench_module("q1_numpy")
    X = q1_patterns(np.float64)
    model = Autoencoder(9, 4, sparsity=sparsity, dtype=np.float64)
    W, b, c = model.W.copy(), model.b.copy(), model.c.copy()
    fast = model.fit(X, 200, 0.1)
    slow = q1_numpy.train(W, b, c, X, 200, 0.1, *(sparsity or (0.0, 0.0)))
    np.testing.assert_allclose(fast, slow, rtol=1e-10)
    np.testing.assert_allclose(model.W, W, rtol=1e-9, atol=1e-12)


def naive_fit(model, X, epochs, lr, batch_size):
    """SGD with the naive step, the same noise and the same batch order as ``fit``."""
    W, b, c = model.W.copy(), model.b.copy(), model.c.copy()
    kind = LOSSES[model.loss_name]
    losses = []
    for e in range(epochs):
        order = epoch_order(model.seed, e, len(X)) if batch_size < len(X) else np.arange(len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            rows = order[start : start + batch_size]
            Xt = naive.gather_corrupt(X, rows, model.corruption, model.seed, e)
            loss, g = naive.ae_loss_and_grads(W, b, c, Xt, X[rows], kind, model.rho, model.beta)
            W, b, c = W - lr * g["W"], b - lr * g["b"], c - lr * g["c"]
            total += len(rows) * loss
        losses.append(total / len(X))
    return np.array(losses), W


def test_a_call_takes_the_epochs_whose_orders_fit_order_chunk_bytes(monkeypatch):
    """A big data set trains an epoch per compiled call (its order is 8 bytes a pattern),
    to the same result."""
    for count in (1, 3):
        expected = np.stack([epoch_order(7, 2 + e, 50) for e in range(count)])
        np.testing.assert_array_equal(epoch_orders(7, 2, count, 50), expected)
    X = np.random.default_rng(1).random((64, 6)).astype(np.float32)
    fits = {}
    for order_bytes in (config.ORDER_CHUNK_BYTES, 8 * 64 * 1):
        monkeypatch.setattr(config, "ORDER_CHUNK_BYTES", order_bytes)
        model, calls = Autoencoder(6, 3, corruption=0.2, seed=3), []
        losses = model.fit(X, 40, 0.1, batch_size=16, callback=lambda done, _: calls.append(done))
        fits[order_bytes] = calls, losses, model.W
    (calls, losses, W), (small_calls, small_losses, small_W) = fits.values()
    assert calls == list(range(2, 41, 2)) and small_calls == list(range(1, 41))
    np.testing.assert_array_equal(small_losses, losses)
    np.testing.assert_array_equal(small_W, W)


@pytest.mark.parametrize("batch_size", [1, 4, 7, 23], ids=lambda b: f"batch{b}")
def test_denoising_fit_matches_naive(batch_size):
    X = np.random.default_rng(0).random((23, 12))
    model = Autoencoder(12, 5, corruption=0.3, sparsity=(0.1, 0.4), seed=5, dtype=np.float64)
    expected_losses, expected_W = naive_fit(model, X, 3, 0.2, batch_size)
    losses = model.fit(X, 3, 0.2, batch_size=batch_size)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-10)
    np.testing.assert_allclose(model.W, expected_W, rtol=1e-9, atol=1e-12)


def loops_run(monkeypatch, name):
    """A list that gets the parts and whole arguments (before the work buffers) of each
    training loop ``name`` that the CPU backend runs from now on."""
    from fastae.backends import cpu

    loops = []
    run = cpu.CPUBackend.run

    def spy(self, loop, *args, **kwargs):
        if getattr(loop, "py_func", loop).__name__ == name:
            loops.append(args[-3:-1])
        return run(self, loop, *args, **kwargs)

    monkeypatch.setattr(cpu.CPUBackend, "run", spy)
    return loops


@pytest.mark.parametrize("loss, corruption, sparsity", [("cross_entropy", 0.3, (0.1, 0.4)), ("mse", 0.0, None)],
                         ids=["ce-noise-sparse", "mse-plain"])
def test_a_step_in_parts_matches_naive(monkeypatch, loss, corruption, sparsity):
    """The step cut into row parts, a thread each (``cpu_parts``: three parts of uneven
    sizes, a last batch smaller than the others) trains the model of the naive step."""
    from fastae.backends import cpu

    monkeypatch.setattr(cpu, "step_parts", lambda X, W, batch_size, tuning, work: 3)
    loops = loops_run(monkeypatch, "ae_epochs")
    X = np.random.default_rng(2).random((40, 13))
    model = Autoencoder(13, 5, loss=loss, corruption=corruption, sparsity=sparsity, seed=5, dtype=np.float64)
    expected_losses, expected_W = naive_fit(model, X, 3, 0.2, 16)
    losses = model.fit(X, 3, 0.2, batch_size=16)
    assert loops and all(loop == (3, None) for loop in loops), loops  # the loop ran in parts
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-10)
    np.testing.assert_allclose(model.W, expected_W, rtol=1e-9, atol=1e-12)


def test_which_steps_run_in_parts(monkeypatch):
    """Dense floats with few hidden units, one part per thread; not a split input, bytes,
    many hidden units, a small step, a short call, threaded kernels, or a single thread."""
    from fastae.backends import cpu
    from fastae.backends.records import Tuning

    monkeypatch.setattr(cpu.blas, "blas_threads", lambda: 2)
    monkeypatch.setattr(cpu.numba, "get_num_threads", lambda: 4)
    dense, split = Tuning(1, None), Tuning(1, (np.arange(625), 300))
    X, W = np.zeros((1000, 625), np.float32), np.zeros((625, 100), np.float32)
    long = config.PARTS_MIN_CALL_WORK  # a call of just enough patterns x weights
    assert cpu.step_parts(X, W, 128, dense, long) == 2
    assert cpu.step_parts(X.astype(np.float64), W, 128, dense, long) == 2
    assert cpu.step_parts(X, W, 128, split, long) is None
    assert cpu.step_parts(X.astype(np.uint8), W, 128, dense, long) is None
    assert cpu.step_parts(X, np.zeros((625, config.PARTS_MAX_HIDDEN + 1), np.float32), 128, dense, long) is None
    assert cpu.step_parts(X, W, 2 * config.PARTS_MIN_ROWS - 1, dense, long) is None  # one part of enough rows
    assert cpu.step_parts(X[:10], W, 128, dense, long) is None  # 10 rows: a step of a tenth of the work
    assert cpu.step_parts(X, W, 128, dense, long - 1) is None  # a short call: not worth the compile
    monkeypatch.setattr(config, "KERNEL_THREADS", 2)
    assert cpu.step_parts(X, W, 128, dense, long) is None
    monkeypatch.setattr(config, "KERNEL_THREADS", 1)
    monkeypatch.setattr(config, "STEP_PARTS", False)
    assert cpu.step_parts(X, W, 128, dense, long) is None
    monkeypatch.setattr(config, "STEP_PARTS", True)
    monkeypatch.setattr(cpu.blas, "blas_threads", lambda: 1)
    assert cpu.step_parts(X, W, 128, dense, long) is None


def test_blas_is_single_threaded_only_while_a_loop_runs_in_parts(monkeypatch):
    """Within ``step_parts`` with parts BLAS runs on one thread; after it (however the
    block ends) on its own count again; a second loop meanwhile runs whole."""
    from fastae.backends import blas, cpu
    from fastae.backends.records import Tuning

    threads = blas.blas_threads()
    if threads is None or threads < 2:
        pytest.skip("scipy's BLAS does not run on several threads here")
    monkeypatch.setattr(cpu, "step_parts", lambda X, W, batch_size, tuning, work: 2)
    backend, X, W, tuning = cpu.CPUBackend(), np.zeros((10, 4)), np.zeros((4, 2)), Tuning(1, None)
    with pytest.raises(KeyboardInterrupt):
        with backend.step_parts(X, W, 8, tuning, 0) as parts:
            assert parts == 2 and blas.blas_threads() == 1
            with backend.step_parts(X, W, 8, tuning, 0) as second:
                assert second is None
            raise KeyboardInterrupt
    assert blas.blas_threads() == threads
    with backend.step_parts(X, W, 8, tuning, 0) as parts:
        assert parts == 2
    assert blas.blas_threads() == threads


def test_blas_leaves_each_held_core_to_the_work_beside():
    """While a core is held (``fastae.cores``) BLAS runs on a thread fewer, a step or a
    pass is not cut into parts for it, and ``single_threaded`` blocks still give one
    thread; the count comes back when the last hold and block end, whichever thread ends
    them."""
    import threading

    from fastae import cores
    from fastae.backends import blas, cpu

    threads = blas.own_threads()
    if threads is None or threads < 2:
        pytest.skip("scipy's BLAS does not run on several threads here")
    cores.hold()
    try:
        assert blas.blas_threads() == threads - 1 and blas.own_threads() == threads
        if threads == 2:
            assert cpu._part_count(128) is None and cpu.eval_parts(10**5, 10**12) is None
        opened, closing = threading.Event(), threading.Event()

        def other_block():
            with blas.single_threaded():
                opened.set()
                closing.wait()

        other = threading.Thread(target=other_block)
        with blas.single_threaded():
            other.start()
            opened.wait()
            assert blas.blas_threads() == 1
        assert blas.blas_threads() == 1  # the other thread's block is still open
        closing.set()
        other.join()
        assert blas.blas_threads() == threads - 1
    finally:
        cores.release()
    assert blas.blas_threads() == threads and blas.own_threads() == threads
    assert cpu._part_count(128) == min(threads, cpu.numba.get_num_threads(), 128 // config.PARTS_MIN_ROWS)


def test_a_forked_child_holds_no_core():
    """A child forked while its parent's painter held a core runs BLAS on its own count."""
    from fastae import cores
    from fastae.backends import blas

    threads = blas.own_threads()
    if threads is None or threads < 2 or not hasattr(os, "fork"):
        pytest.skip("scipy's BLAS does not run on several threads here, or no fork")
    cores.hold()
    try:
        pid = os.fork()
        if pid == 0:  # the child: its exit status says what it found
            os._exit(0 if cores.held() == 0 and blas.blas_threads() == threads else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        cores.release()
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("batch_size", [1, 7, 30], ids=lambda b: f"batch{b}")
def test_split_input_fit_matches_naive(batch_size):
    """Sparse columns (as in MNIST): the loop splits the input into a dense prefix and a
    sparse tail, trains on W and c in that column order, and puts them back."""
    from conftest import skewed_sparse

    from fastae.backends import cpu_kernels as cpu

    X = skewed_sparse(np.random.default_rng(3), 30, 24, np.float64)
    cols, n_dense = cpu.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)
    assert 0 < n_dense < 24 and list(cols) != list(range(24))
    model = Autoencoder(24, 6, corruption=0.3, sparsity=(0.1, 0.4), seed=5, dtype=np.float64)
    expected_losses, expected_W = naive_fit(model, X, 3, 0.2, batch_size)
    losses = model.fit(X, 3, 0.2, batch_size=batch_size)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-10)
    np.testing.assert_allclose(model.W, expected_W, rtol=1e-9, atol=1e-12)


def test_split_and_dense_loops_agree_in_float32(monkeypatch):
    from conftest import skewed_sparse

    from fastae.backends import cpu_kernels as cpu

    X = skewed_sparse(np.random.default_rng(4), 500, 200)
    assert cpu.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)[1] < 200
    split = Autoencoder(200, 50, corruption=0.1, sparsity=(0.05, 0.3), seed=2)
    split_losses = split.fit(X, 3, 0.1, batch_size=64)
    monkeypatch.setattr(config, "SPLIT_TAIL_DENSITY", 0.0)
    dense = Autoencoder(200, 50, corruption=0.1, sparsity=(0.05, 0.3), seed=2)
    dense_losses = dense.fit(X, 3, 0.1, batch_size=64)
    np.testing.assert_allclose(split_losses, dense_losses, rtol=1e-5)
    np.testing.assert_allclose(split.W, dense.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(split.c, dense.c, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(split.W, dense.W)  # the two loops did round differently


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("corruption, shift", [(0.0, 0), (0.2, 1)], ids=["plain", "augmented"])
def test_split_classifier_matches_the_dense_loop(monkeypatch, optimizer, corruption, shift):
    """Fine-tuning on sparse columns: the split loop (the first weight's rows and Adam's
    moments reordered while it runs) against the plain one, in float64."""
    from conftest import skewed_sparse

    from fastae import StackedClassifier
    from fastae.backends import cpu_kernels as cpu

    rng = np.random.default_rng(5)
    X = skewed_sparse(rng, 60, 36, np.float64)  # 6 x 6 images
    y = rng.integers(0, 3, 60)
    assert cpu.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)[1] < 36

    def fit():
        model = StackedClassifier([36, 8, 5], 3, seed=1, dtype=np.float64)
        history = model.fit(X, y, 3, 0.05, 16, optimizer=optimizer, corruption=corruption, shift=shift)
        return model, history

    split, split_history = fit()
    monkeypatch.setattr(config, "SPLIT_TAIL_DENSITY", 0.0)
    dense, dense_history = fit()
    np.testing.assert_allclose(split_history["loss"], dense_history["loss"], rtol=1e-12)
    assert split_history["train_accuracy"] == dense_history["train_accuracy"]
    for name, value in dense.params().items():
        np.testing.assert_allclose(split.params()[name], value, rtol=1e-10, atol=1e-13, err_msg=name)
    # They did add in other orders (W1's own updates are too small to show it, here).
    assert not all(np.array_equal(v, dense.params()[k]) for k, v in split.params().items())


@pytest.mark.parametrize("data, layers, optimizer, corruption, shift", [
    ("split", [36, 8, 5], "adam", 0.2, 1), ("dense", [36, 8, 5], "sgd", 0.0, 0), ("bytes", [36, 8, 5], "adam", 0.2, 0),
    ("split", [36], "sgd", 0.0, 0),
], ids=["split-adam-augmented", "dense-sgd", "bytes-adam-noise", "softmax-alone-sgd"])
def test_a_classifier_step_in_parts_matches_the_whole_step(monkeypatch, optimizer, data, layers, corruption, shift):
    """The classifier's step cut into parts, a thread each (``cpu_classifier_parts``: three
    parts of uneven sizes, a last batch smaller than the others), trains the model and
    reports the losses and hits of the whole step, in float64: on a split input with noise
    and shifts, dense floats, bytes, and a softmax layer alone."""
    from conftest import skewed_sparse

    from fastae import StackedClassifier
    from fastae.backends import cpu

    rng = np.random.default_rng(8)
    X = skewed_sparse(rng, 70, 36, np.float64)  # 6 x 6 images
    y = rng.integers(0, 3, 70)
    if data == "bytes":
        X = np.round(X * 255).astype(np.uint8)
    if data == "dense":
        monkeypatch.setattr(config, "SPLIT_TAIL_DENSITY", 0.0)

    def fit():
        model = StackedClassifier(layers, 3, seed=1, dtype=np.float64)
        history = model.fit(X, y, 3, 0.05, 16, optimizer=optimizer, corruption=corruption, shift=shift)
        return model, history

    loops = loops_run(monkeypatch, "classifier_epochs")
    whole, whole_history = fit()
    monkeypatch.setattr(cpu, "classifier_parts", lambda X, weights, batch_size, work: 3)
    parts, parts_history = fit()
    assert loops and loops[0] == (None, True) and loops[-1] == (3, None), loops  # whole, then in parts
    np.testing.assert_allclose(parts_history["loss"], whole_history["loss"], rtol=1e-12)
    assert parts_history["train_accuracy"] == whole_history["train_accuracy"]
    for name, value in whole.params().items():
        np.testing.assert_allclose(parts.params()[name], value, rtol=1e-10, atol=1e-13, err_msg=name)


def test_which_classifier_steps_run_in_parts(monkeypatch):
    """A long call of large enough steps runs in one part per thread, split input or not;
    not a short call, a small step, a batch of too few rows, threaded kernels, the parts
    off, or a single thread."""
    from fastae.backends import cpu

    monkeypatch.setattr(cpu.blas, "blas_threads", lambda: 2)
    monkeypatch.setattr(cpu.numba, "get_num_threads", lambda: 4)
    X, weights = np.zeros((1000, 784), np.float32), [np.zeros((784, 625), np.float32), np.zeros((625, 10))]
    long = config.CLASSIFIER_PARTS_MIN_CALL_WORK
    assert cpu.classifier_parts(X, weights, 128, long) == 2
    assert cpu.classifier_parts(X.astype(np.uint8), weights, 128, long) == 2
    assert cpu.classifier_parts(X, weights, 128, long - 1) is None  # a short call: not worth the compile
    assert cpu.classifier_parts(X, [np.zeros((784, 1))], 128, long) is None  # a step of 100,000 multiply-adds
    assert cpu.classifier_parts(X, weights, 2 * config.PARTS_MIN_ROWS - 1, long) is None
    monkeypatch.setattr(config, "KERNEL_THREADS", 2)
    assert cpu.classifier_parts(X, weights, 128, long) is None
    monkeypatch.setattr(config, "KERNEL_THREADS", 1)
    monkeypatch.setattr(config, "STEP_PARTS", False)
    assert cpu.classifier_parts(X, weights, 128, long) is None
    monkeypatch.setattr(config, "STEP_PARTS", True)
    monkeypatch.setattr(cpu.blas, "blas_threads", lambda: 1)
    assert cpu.classifier_parts(X, weights, 128, long) is None


@pytest.mark.parametrize("as_bytes", [False, True], ids=["floats", "bytes"])
def test_split_layers_match_a_plain_forward_pass(monkeypatch, as_bytes):
    """The classifier's layer outputs on a sparse input (split as in training, in blocks
    of ``EVAL_BLOCK`` rows; bytes also in host chunks of ``EVAL_CHUNK`` rows, one split for
    them all) against a float64 NumPy forward pass; the first weight ends in its own order."""
    from conftest import skewed_sparse

    from fastae import StackedClassifier
    from fastae.backends import cpu_kernels as cpu

    monkeypatch.setattr(config, "EVAL_CHUNK", 300)
    rng = np.random.default_rng(6)
    X = skewed_sparse(rng, 600, 36)  # blocks of 256, 256 and 88 rows (bytes: 256 and 44, twice)
    if as_bytes:
        X = np.round(X * 255).astype(np.uint8)
    assert cpu.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)[1] < 36
    model = StackedClassifier([36, 8, 5], 3, seed=1)
    W0 = model.weights[0].copy()
    H = X.astype(np.float64) / (255.0 if as_bytes else 1.0)
    expected = []
    for W, b in zip(model.weights, model.biases):
        Z = H @ W.astype(np.float64) + b
        H = 1.0 / (1.0 + np.exp(-Z))
        expected.append(H if len(expected) < len(model.weights) - 1 else Z)
    for got, want in zip(model.layers(X), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.weights[0], W0)
    assert model.predict(X).tolist() == expected[-1].argmax(axis=1).tolist()


@pytest.mark.parametrize("as_bytes", [False, True], ids=["floats", "bytes"])
def test_split_loss_matches_the_dense_one(monkeypatch, as_bytes):
    """The autoencoder's loss on a sparse input (split as in training, in blocks of
    ``EVAL_BLOCK`` rows; bytes also in host chunks) against the same loss without a split,
    in float64; ``W`` and ``c`` end in their own order."""
    from conftest import skewed_sparse

    from fastae.backends import cpu_kernels as cpu

    monkeypatch.setattr(config, "EVAL_CHUNK", 300)
    rng = np.random.default_rng(7)
    X = skewed_sparse(rng, 600, 36, np.float64)
    if as_bytes:
        X = np.round(X * 255).astype(np.uint8)
    assert cpu.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)[1] < 36
    model = Autoencoder(36, 8, sparsity=(0.1, 0.4), seed=3, dtype=np.float64)  # no noise: loss(X) is X's
    params = {name: value.copy() for name, value in model.params().items()}
    mask = (rng.random(X.shape) > 0.2).astype(np.float64)
    split_losses = [model.loss(X), model.loss(X, mask=mask)]
    for name, value in params.items():
        np.testing.assert_array_equal(model.params()[name], value, err_msg=name)
    monkeypatch.setattr(config, "SPLIT_TAIL_DENSITY", 0.0)
    dense_losses = [model.loss(X), model.loss(X, mask=mask)]
    np.testing.assert_allclose(split_losses, dense_losses, rtol=1e-12)


def pass_models(monkeypatch, data, seed):
    """``(X, mask, autoencoder, classifier)`` in float64 for the passes over a data set:
    a sparse input of 700 rows and 36 columns that the passes split (``split``), the same
    without a split (``dense``), or as bytes (``bytes``)."""
    from conftest import skewed_sparse

    from fastae import StackedClassifier

    rng = np.random.default_rng(seed)
    X = skewed_sparse(rng, 700, 36, np.float64)
    if data == "bytes":
        X = np.round(X * 255).astype(np.uint8)
    if data == "dense":
        monkeypatch.setattr(config, "SPLIT_TAIL_DENSITY", 0.0)
    mask = (rng.random(X.shape) > 0.2).astype(np.float64)
    ae = Autoencoder(36, 8, sparsity=(0.1, 0.4), seed=3, dtype=np.float64)
    clf = StackedClassifier([36, 8, 5], 3, seed=1, dtype=np.float64)
    return X, mask, ae, clf


@pytest.mark.parametrize("data", ["split", "dense", "bytes"])
def test_the_passes_follow_eval_block_set_at_run_time(monkeypatch, data):
    """``config.EVAL_BLOCK`` changed after the passes compiled: the autoencoder's loss and
    the classifier's layers take the new blocks (their buffers' rows) to the same results
    in float64, in one piece and in parts (the compiled loops had kept the block of their
    compile and overran buffers sized for a smaller one)."""
    X, mask, ae, clf = pass_models(monkeypatch, data, 13)

    def passes():
        return [ae.loss(X, mask=mask), ae.loss(X), *clf.layers(X)]

    want = passes()
    monkeypatch.setattr(config, "EVAL_PARTS_MIN_WORK", 0)
    for block in (32, 100, 1000):
        monkeypatch.setattr(config, "EVAL_BLOCK", block)
        for got, expected in zip(passes(), want, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, err_msg=f"block {block}")


def test_which_passes_run_in_parts(monkeypatch):
    """One part per BLAS thread, each a whole number of ``EVAL_BLOCK`` rows but the last;
    not a pass of one block, a small pass, threaded kernels, the parts off, or a single
    thread."""
    from fastae.backends import cpu

    B, enough = config.EVAL_BLOCK, config.EVAL_PARTS_MIN_WORK
    monkeypatch.setattr(cpu.blas, "blas_threads", lambda: 2)
    assert cpu.eval_parts(4 * B + 10, enough) == [(0, 2 * B), (2 * B, 4 * B + 10)]
    assert cpu.eval_parts(B + 1, enough) == [(0, B), (B, B + 1)]
    assert cpu.eval_parts(B, enough) is None  # one block
    assert cpu.eval_parts(10 * B, enough - 1) is None
    monkeypatch.setattr(cpu.blas, "blas_threads", lambda: 3)
    assert cpu.eval_parts(4 * B, enough) == [(0, B), (B, 2 * B), (2 * B, 4 * B)]
    monkeypatch.setattr(config, "KERNEL_THREADS", 2)
    assert cpu.eval_parts(10 * B, enough) is None
    monkeypatch.setattr(config, "KERNEL_THREADS", 1)
    monkeypatch.setattr(config, "STEP_PARTS", False)
    assert cpu.eval_parts(10 * B, enough) is None
    monkeypatch.setattr(config, "STEP_PARTS", True)
    monkeypatch.setattr(cpu.blas, "blas_threads", lambda: None)
    assert cpu.eval_parts(10 * B, enough) is None


@pytest.mark.parametrize("data", ["split", "dense", "bytes"])
def test_passes_in_parts_match_the_one_piece_passes(monkeypatch, data):
    """The autoencoder's loss (with a mask and the KL term, and in chunks of bytes) and
    the classifier's layers, in three uneven row parts on threads, against the same
    passes in one piece, in float64; every parameter ends as it was (a split input
    reorders them while a part runs)."""
    from fastae.backends import cpu

    X, mask, ae, clf = pass_models(monkeypatch, data, 9)
    before = {**ae.params(), **{f"clf {k}": v for k, v in clf.params().items()}}
    before = {name: value.copy() for name, value in before.items()}

    def passes():
        return [ae.loss(X, mask=mask), ae.loss(X), *clf.layers(X), clf.predict_proba(X)]

    monkeypatch.setattr(config, "STEP_PARTS", False)
    whole = passes()
    monkeypatch.setattr(config, "STEP_PARTS", True)
    cuts = []
    monkeypatch.setattr(cpu, "eval_parts", lambda n, work: cuts.append(n) or [(0, 100), (100, 356), (356, n)])
    parts = passes()
    assert cuts == [700] * 4, cuts  # each pass ran in parts (bytes: in one host chunk each)
    for got, want in zip(parts, whole, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    after = {**ae.params(), **{f"clf {k}": v for k, v in clf.params().items()}}
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def tuning_calls(monkeypatch):
    """A list that gets the row count of every input that the CPU backend finds the split
    of (``Backend.tuning``) from now on."""
    from fastae.backends import base

    rows = []
    tuning = base.Backend.tuning
    monkeypatch.setattr(base.Backend, "tuning", lambda self, X, B: rows.append(X.shape[0]) or tuning(self, X, B))
    return rows


@pytest.mark.parametrize("data", ["split", "bytes"])
def test_a_loss_prepared_once_is_the_loss_of_the_parameters_at_each_call(monkeypatch, data):
    """``loss_on(X, mask)`` masks and splits ``X`` once, then gives ``loss(X, mask)`` of the
    parameters of each call, to the bit; without a mask it draws fresh noise at every
    call as ``loss`` does, and bytes go in host chunks at every call."""
    from conftest import skewed_sparse

    monkeypatch.setattr(config, "EVAL_CHUNK", 300)
    rng = np.random.default_rng(11)
    X = skewed_sparse(rng, 700, 36, np.float64)
    if data == "bytes":
        X = np.round(X * 255).astype(np.uint8)
    mask = (rng.random(X.shape) > 0.2).astype(np.float64)
    ae, twin = (Autoencoder(36, 8, corruption=0.2, sparsity=(0.1, 0.4), seed=3, dtype=np.float64) for _ in range(2))
    splits = tuning_calls(monkeypatch)
    masked = ae.loss_on(X, mask=mask)
    assert splits == [700]
    first = masked()
    assert splits == [700] and first == twin.loss(X, mask=mask)
    ae.fit(X, 1, 0.1, 64)
    twin.fit(X, 1, 0.1, 64)
    del splits[:]
    assert masked() == twin.loss(X, mask=mask) != first
    assert splits == [700]  # the twin's loss found its split; the prepared one did not again
    drawn = ae.loss_on(X)
    assert [drawn(), drawn()] == [twin.loss(X), twin.loss(X)]  # the same noise streams, one each call
    assert drawn() != twin.loss(X, mask=np.ones_like(mask))


@pytest.mark.parametrize("floats_max", [config.EVAL_FLOATS_MAX, 0], ids=["scaled once", "in chunks"])
def test_evaluation_sets_of_bytes_give_the_accuracy_of_each_epoch(monkeypatch, floats_max):
    """``fit``'s evaluation sets of bytes, scaled and split once for the call (or, when
    their floats would take more than ``EVAL_FLOATS_MAX`` bytes, read a chunk at a time
    after every epoch), give after each epoch the accuracy that ``accuracy`` measures
    then, in chunks of bytes."""
    from conftest import skewed_sparse

    from fastae import StackedClassifier

    monkeypatch.setattr(config, "EVAL_CHUNK", 300)
    monkeypatch.setattr(config, "EVAL_FLOATS_MAX", floats_max)
    rng = np.random.default_rng(12)
    X = np.round(skewed_sparse(rng, 900, 36) * 255).astype(np.uint8)
    y = (X[:, :3].argmax(axis=1) + (X[:, 3] > 100)) % 3
    model = StackedClassifier([36, 8, 5], 3, seed=1)
    measured = []
    splits = tuning_calls(monkeypatch)
    history = model.fit(X[:600], y[:600], 4, 0.5, 32, eval_sets={"val": (X[600:], y[600:])},
                        callback=lambda done, h: measured.append(model.accuracy(X[600:], y[600:])))
    assert history["accuracy_val"] == measured and len(set(measured)) > 1
    once = [300] + [600, 300] * 4  # the set's split, then each epoch's training and accuracy
    chunked = [600, 300, 300] * 4  # each epoch's training, evaluation and accuracy
    assert splits == (once if floats_max else chunked)


def test_a_pass_in_parts_waits_for_every_part(monkeypatch):
    """A part that fails: the error reaches the caller once the other parts are done, and
    BLAS runs on its own thread count again; while one pass runs in parts, a second runs
    in one piece."""
    import threading

    from fastae.backends import blas, cpu

    done = []

    def part(i, lo, hi):
        if i == 1:
            raise ValueError("part 1")
        threading.Event().wait(0.05)
        done.append(i)
        return i

    threads = blas.blas_threads()
    with pytest.raises(ValueError, match="part 1"):
        with cpu._in_parts([(0, 1), (1, 2), (2, 3)]) as bounds:
            cpu.in_threads(part, bounds)
    assert sorted(done) == [0, 2]
    assert blas.blas_threads() == threads
    assert cpu.in_threads(lambda i, lo, hi: (i, lo, hi), [(0, 5), (5, 9)]) == [(0, 0, 5), (1, 5, 9)]
    calls = []
    monkeypatch.setattr(cpu, "in_threads", lambda part, bounds: calls.append(bounds) or [])
    X = np.random.default_rng(0).random((600, 20))
    model = Autoencoder(20, 4, dtype=np.float64)
    monkeypatch.setattr(config, "EVAL_PARTS_MIN_WORK", 0)
    with cpu._in_parts(2):  # another pass holds the parts
        assert np.isfinite(model.loss(X))
    assert calls == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_pass_in_parts_works_in_a_process_forked_after_one(monkeypatch):
    """A child forked after a pass in parts runs its own pass in parts to the same loss:
    it makes its own threads for the parts (the parent's pool, whose threads do not exist
    in the child, would leave the child's pass waiting for ever)."""
    import multiprocessing

    from fastae.backends import cpu

    monkeypatch.setattr(config, "EVAL_PARTS_MIN_WORK", 0)
    X = np.random.default_rng(0).random((600, 20))
    model = Autoencoder(20, 4, sparsity=(0.1, 0.4), dtype=np.float64)
    used = []
    in_threads = cpu.in_threads
    monkeypatch.setattr(cpu, "in_threads", lambda part, bounds: used.append(len(bounds)) or in_threads(part, bounds))
    monkeypatch.setattr(cpu, "eval_parts", lambda n, work: [(0, 256), (256, n)])
    loss = model.loss(X)
    assert used == [2]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put((model.loss(X), used)))
    child.start()
    try:
        child_loss, child_used = queue.get(timeout=60)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert child_used == [2, 2] and child_loss == loss


def test_threaded_kernels_give_the_same_model(monkeypatch):
    """Kernels split across numba threads: each row and column is still summed by one
    thread in the same order, so the model is bitwise the same."""
    X = np.random.default_rng(1).random((300, 40)).astype(np.float32)
    one = Autoencoder(40, 30, corruption=0.1, sparsity=(0.05, 0.3), seed=2)
    one.fit(X, 2, 0.1, batch_size=64)
    monkeypatch.setattr(config, "KERNEL_THREADS", 3)
    monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    many = Autoencoder(40, 30, corruption=0.1, sparsity=(0.05, 0.3), seed=2)
    many.fit(X, 2, 0.1, batch_size=64)
    np.testing.assert_array_equal(one.W, many.W)
    # More threads ran the parallel twins; one thread runs kernels compiled serial.
    from fastae.backends import cpu, cpu_kernels

    kernels, steps = cpu.parallel_build()
    assert many.backend.steps is steps and many.backend.kernels is kernels
    for name in ("bias_sigmoid", "output_delta", "col_sum", "hidden_delta", "sgd"):
        assert getattr(kernels, name).targetoptions["parallel"] is True, name
        assert getattr(cpu_kernels, name).targetoptions.get("parallel", False) is False, name
        assert getattr(kernels, name).signatures, f"{name}'s parallel twin did not run"


# Q3 layer 1 on the first 20,000 MNIST training images, seed 0, 5 epochs, as computed by
# fastae's first implementation (libm float64 math in the kernels, np.dot products and a
# separate SGD pass; commit 6dc697d). The vectorised float32 kernels and the fused sgemm
# update must stay on the same trajectory to float32 tolerance.
FIRST_IMPLEMENTATION_Q3_LAYER1 = [146.64650086007373, 111.19327770707164, 102.62892158021207, 97.86520213084243,
                                  94.68415010102353]


def test_q3_layer1_trajectory_matches_the_first_implementation():
    from conftest import mnist_dir

    if mnist_dir() is None:
        pytest.skip("FASTAE_DATA does not name the MNIST directory")
    from fastae.datasets import load_mnist

    X = load_mnist(mnist_dir()).train_images[:20000]
    model = Autoencoder(784, 625, corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform", seed=0)
    np.testing.assert_allclose(model.fit(X, 5, 0.1, 128), FIRST_IMPLEMENTATION_Q3_LAYER1, rtol=1e-5)


#: The sparse split's kernels, which a loop over an input without a split never calls
#: (``gather_targets``: a loss's branch for a split input, dropped as it compiles).
SPLIT_KERNELS = ("split_batch", "tail_forward", "tail_update", "reorder_rows", "inverse", "gather_targets")


#: Prepended to the programs below that count what a first fit compiles: the compile
#: helper off, so that no kernel is loaded from its saves (a kernel loaded whole does not
#: compile, nor list, the kernels it calls).
ALONE = "from fastae import config\nconfig.COMPILE_AHEAD = False\n"

#: A first fit of each model, then their outputs (``wall``: the autoencoder fit's seconds).
FIRST_FITS = (
    "model = Autoencoder(9, 4, seed=0)\n"
    "start = time.perf_counter()\n"
    "history = model.fit(np.random.default_rng(0).random((5, 9)), 3, 0.1)\n"
    "wall = time.perf_counter() - start\n"
    "model.encode(np.ones((2, 9))), model.loss(np.ones((2, 9)))\n"
    "clf = StackedClassifier([9, 4], 3, seed=0)\n"
    "clf.fit(np.random.default_rng(1).random((6, 9)), np.arange(6) % 3, 1, 0.1)\n"
    "clf.predict_proba(np.ones((2, 9))), clf.loss_and_grads(np.ones((2, 9)), np.arange(2))\n"
)


@pytest.fixture(scope="module")
def cold_first_fit(tmp_path_factory):
    """A first fit on dense data in a process with an empty numba cache: its wall, training
    and compile seconds; then a classifier's first fit, without shifts; and how many
    signatures each kernel of the CPU kernel modules compiled."""
    import json
    import os
    import subprocess
    import sys

    code = ALONE + (
        "import json, time\n"
        "import numpy as np\n"
        "from fastae import Autoencoder, StackedClassifier\n"
        "from fastae.backends import (cpu_classifier_parts, cpu_elementwise, cpu_gathers, cpu_parts, cpu_sparse,\n"
        "                             cpu_updates)\n"
        "from numba.core.registry import CPUDispatcher\n"
        + FIRST_FITS +
        "compiled = {n: len(d.overloads) for m in (cpu_sparse, cpu_elementwise, cpu_gathers, cpu_updates,\n"
        "                                           cpu_parts, cpu_classifier_parts)\n"
        "            for n, d in vars(m).items() if isinstance(d, CPUDispatcher)}\n"
        "from fastae.backends.cpu import STEPS\n"
        "lists = sorted({n for n, d in vars(STEPS).items() if isinstance(d, CPUDispatcher)\n"
        "                for sig in d.signatures if 'ListType' in str(sig)})\n"
        "print(json.dumps({'wall': wall, 'train': sum(history['seconds']), 'compile': model.compile_seconds,\n"
        "                  'compiled': compiled, 'loops_with_typed_lists': lists}))\n"
    )
    cache = tmp_path_factory.mktemp("cache")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out), cache=str(cache))


def test_a_cold_first_fit_counts_its_compiling_apart_from_training(cold_first_fit):
    """In a process with an empty numba cache the first fit compiles its loop: the
    epochs' seconds leave that out, and the model reports it as ``compile_seconds``."""
    r = cold_first_fit
    assert r["wall"] > 1.0, r  # it did compile
    assert r["train"] < 0.1 * r["wall"], r
    assert 0.8 * r["wall"] < r["compile"] <= r["wall"], r


def test_a_loop_over_dense_data_compiles_none_of_the_split_kernels(cold_first_fit):
    """Whether a loop splits its input is decided as it compiles: on dense data the
    split's kernels are not compiled at all, the dense ones are."""
    compiled = cold_first_fit["compiled"]
    assert {name: compiled[name] for name in SPLIT_KERNELS} == dict.fromkeys(SPLIT_KERNELS, 0), compiled
    assert compiled["draw"] > 0 and compiled["tied_weight_step"] > 0 and compiled["draw_augmented"] > 0, compiled
    assert "ae_work" not in compiled and "classifier_work" not in compiled, compiled  # made with NumPy, not compiled
    assert compiled["parts_step"] == 0 and compiled["_part"] == 0, compiled  # nor the steps in parts
    assert compiled["classifier_parts_step"] == 0 and compiled["_classifier_part"] == 0, compiled


def test_a_classifier_loop_without_shifts_compiles_none(cold_first_fit):
    """``shift = 0`` reaches the loop as None: the gather of shifted images is not compiled."""
    compiled = cold_first_fit["compiled"]
    assert compiled["gather_augment"] > 0 and compiled["_gather_shift_corrupt_rows"] == 0, compiled


def test_loops_without_masking_noise_compile_none(cold_first_fit):
    """A corruption of 0 (the autoencoder's and the classifier's default) reaches the loops
    as None: the gathers copy rows, and the noise's gather is not compiled."""
    compiled = cold_first_fit["compiled"]
    assert compiled["_gather_rows"] > 0 and compiled["_gather_corrupt_rows"] == 0, compiled


def test_a_classifier_loop_with_sgd_compiles_no_adam(cold_first_fit):
    """SGD's record has None for Adam's constants: the loop's update compiles SGD alone,
    once for the weights and biases of every layer (each stepped flattened)."""
    compiled = cold_first_fit["compiled"]
    assert compiled["optimize"] == 1 and compiled["_sgd_span"] > 0 and compiled["_adam_span"] == 0, compiled


def output_of_a_cold_process(code, cache):
    """The standard output of ``code`` run by a fresh interpreter with the numba cache
    ``cache`` (an empty directory: everything compiles), the compile helper off."""
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-c", ALONE + code], env=env, check=True, capture_output=True,
                          text=True).stdout


def test_a_classifier_loop_with_adam_compiles_no_sgd(tmp_path):
    """Adam's record has None for SGD's rate: in a process with an empty numba cache, an
    Adam fit's update compiles Adam's step alone, once."""
    import json

    code = (
        "import json\n"
        "import numpy as np\n"
        "from fastae import StackedClassifier\n"
        "from fastae.backends import cpu_updates\n"
        "StackedClassifier([9, 4], 3, seed=0).fit(np.random.default_rng(1).random((6, 9)), np.arange(6) % 3, 1, "
        "0.01, optimizer='adam')\n"
        "print(json.dumps({n: len(getattr(cpu_updates, n).overloads) for n in ('optimize', '_sgd_span', "
        "'_adam_span')}))\n"
    )
    out = output_of_a_cold_process(code, tmp_path)
    assert json.loads(out) == {"optimize": 1, "_sgd_span": 0, "_adam_span": 1}, out


def test_a_loop_with_squared_error_compiles_no_cross_entropy(tmp_path):
    """Cross-entropy is None in the records, and ``cross_entropy`` is None for squared
    error: in a process with an empty numba cache, a squared-error fit compiles the
    output delta's squared error alone, not the cross-entropy's function."""
    code = (
        "import gc\n"
        "import numpy as np\n"
        "from numba.core.registry import CPUDispatcher\n"
        "from fastae import Autoencoder\n"
        "Autoencoder(9, 4, loss='mse', seed=0).fit(np.random.default_rng(0).random((6, 9)), 1, 0.1, 3)\n"
        "names = set()\n"
        "for d in gc.get_objects():\n"
        "    try:\n"
        "        if isinstance(d, CPUDispatcher) and d.overloads:\n"
        "            names.add(d.py_func.__name__)\n"
        "    except ReferenceError:  # a dead weak proxy among the objects\n"
        "        pass\n"
        "print(sorted(n for n in names if 'sigmoid' in n))\n"
    )
    out = output_of_a_cold_process(code, tmp_path)
    assert "'_sigmoid_f32'" in out and "_sigmoid_ce_f32" not in out, out


def test_the_classifier_loops_take_tuples_not_typed_lists(cold_first_fit):
    """The steps take a classifier's parameters, moments and buffers as tuples: no compiled
    loop has a typed list among its arguments (whose helpers a first fit would compile)."""
    assert cold_first_fit["loops_with_typed_lists"] == [], cold_first_fit["loops_with_typed_lists"]
    compiled = cold_first_fit["compiled"]
    assert "typed_list" not in compiled, compiled


def test_a_loop_given_an_argument_without_a_fingerprint_is_typed_instead():
    """``compile_for`` knows a ready loop by numba's fingerprints of its arguments' types;
    for an argument that has none (a string here) it types them instead: the loop compiles
    once, then is found ready."""
    from numba import njit

    from fastae.backends import cpu

    loop = njit(lambda name, x: x + len(name))
    assert cpu._fingerprints(("ab", 1.0)) is None
    seconds, compiled = cpu.compile_for(loop, ("ab", 1.0))
    assert compiled and seconds > 0
    assert cpu.compile_for(loop, ("cd", 2.0)) == (0.0, False)
    assert loop("cd", 2.0) == 4.0


def test_a_warm_process_compiles_nothing(cold_first_fit):
    """With numba's cache filled by the cold process, the same first fits and outputs in a
    new process load everything from it: not one function compiles."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, time\n"
        "import numpy as np\n"
        "from numba.core import event\n"
        "compiled = []\n"
        "class Listener(event.Listener):\n"
        "    def on_start(self, e):\n"
        "        compiled.append(e.data['dispatcher'].py_func.__qualname__)\n"
        "    def on_end(self, e):\n"
        "        pass\n"
        "event.register('numba:compile', Listener())\n"
        "from fastae import Autoencoder, StackedClassifier\n"
        + FIRST_FITS +
        "print(json.dumps(compiled))\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=cold_first_fit["cache"])
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []
