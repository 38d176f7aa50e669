"""The CUDA kernels against their NumPy twins and the CPU kernels, and CPU-vs-CUDA parity.

On a machine without a GPU these run in numba's CUDA simulator: export
NUMBA_ENABLE_CUDASIM=1 before Python starts (``.ci/run`` does). Sizes and thread blocks are
tiny (the simulator runs each GPU thread in Python), and sizes such as 3 * tpb + 1 leave
partial blocks. On a real GPU the same tests run unchanged.
"""
import naive
import numpy as np
import pytest

from fastae import Autoencoder, StackedClassifier, config
from fastae.backends import cpu_kernels as cpu
from fastae.backends.records import CROSS_ENTROPY, MSE

cuda_mod = pytest.importorskip("fastae.backends.cuda", reason="numba's CUDA support is not installed")
if cuda_mod.cuda_unavailable_reason() is not None:
    pytest.skip(
        "no CUDA device; set NUMBA_ENABLE_CUDASIM=1 before Python starts to use the simulator",
        allow_module_level=True,
    )
from numba import cuda  # noqa: E402  (only after the availability check)

from fastae.backends import cuda_kernels as ck  # noqa: E402

TPB = 8


@pytest.fixture(autouse=True)
def tiny_launches(monkeypatch):
    monkeypatch.setattr(config, "CUDA_THREADS_PER_BLOCK", TPB)
    monkeypatch.setattr(config, "CUDA_MAX_BLOCKS", 3)
    monkeypatch.setattr(config, "CUDA_GEMM_TILE", (2, 2, 2, 2, 4))  # 4 x 4 tiles of C, 4 deep


def dev(a):
    return cuda.to_device(np.ascontiguousarray(a))


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("trans_b", [False, True], ids=["B", "Bt"])
@pytest.mark.parametrize("trans_a", [False, True], ids=["A", "At"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm(rng, dtype, trans_a, trans_b):
    M, N, K = 9, 5, 7  # partial 4 x 4 tiles and a partial 4-deep slice
    A = rng.normal(size=(K, M) if trans_a else (M, K)).astype(dtype)
    B = rng.normal(size=(N, K) if trans_b else (K, N)).astype(dtype)
    C = rng.normal(size=(M, N)).astype(dtype)
    product = (A.T if trans_a else A).astype(np.float64) @ (B.T if trans_b else B)
    out = dev(C)
    ck.gemm(-0.5, dev(A), trans_a, dev(B), trans_b, 1.0, out)
    np.testing.assert_allclose(out.copy_to_host(), C - 0.5 * product, **tol(dtype))
    bias = rng.normal(size=N).astype(dtype)
    ck.gemm(1.0, dev(A), trans_a, dev(B), trans_b, 0.0, out, bias=dev(bias))
    np.testing.assert_allclose(out.copy_to_host(), naive.bias_sigmoid(product, bias), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_sigmoid_and_add_bias(rng, dtype):
    """The kernels the CPU runs after a product; the GPU fuses them into its GEMM, and
    keeps them for the namespace both devices share."""
    Z = (rng.normal(size=(5, 3 * TPB + 1)) * 4).astype(dtype)
    bias = rng.normal(size=Z.shape[1]).astype(dtype)
    out = dev(Z)
    ck.bias_sigmoid(out, dev(bias), 1)
    np.testing.assert_allclose(out.copy_to_host(), naive.bias_sigmoid(Z.astype(np.float64), bias), **tol(dtype))
    out = dev(Z)
    ck.add_bias(out, dev(bias), 1)
    np.testing.assert_allclose(out.copy_to_host(), Z + bias, **tol(dtype))


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_gather_corrupt_matches_cpu_bit_for_bit(rng, p):
    X = rng.random((3 * TPB + 1, 5)).astype(np.float32)
    rows = rng.permutation(len(X))[:11]
    out = cuda.device_array((11, 5), np.float32)
    ck.gather_corrupt(out, dev(X), dev(rows), p, 7, 3, 1)
    expected = np.empty((11, 5), np.float32)
    cpu.gather_corrupt(expected, X, rows, p, 7, 3, 1)
    np.testing.assert_array_equal(out.copy_to_host(), expected)
    np.testing.assert_array_equal(expected, naive.gather_corrupt(X, rows, p, 7, 3))


def test_gather_augment_matches_cpu_bit_for_bit(rng):
    X = rng.random((3 * TPB + 1, 20)).astype(np.float32)
    rows = rng.permutation(len(X))[:11]
    out = cuda.device_array((11, 20), np.float32)
    ck.gather_augment(out, dev(X), dev(rows), 0.3, 1, 5, 7, 3, 1)
    expected = np.empty((11, 20), np.float32)
    cpu.gather_augment(expected, X, rows, 0.3, 1, 5, 7, 3, 1)
    np.testing.assert_array_equal(out.copy_to_host(), expected)


@pytest.mark.parametrize("shift", [0, 1])
def test_gathers_of_bytes_match_cpu_bit_for_bit(rng, shift):
    X = rng.integers(0, 256, (3 * TPB + 1, 20), dtype=np.uint8)
    rows = rng.permutation(len(X))[:11]
    out = cuda.device_array((11, 20), np.float32)
    ck.gather_augment(out, dev(X), dev(rows), 0.3, shift, 5, 7, 3, 1)
    expected = np.empty((11, 20), np.float32)
    cpu.gather_augment(expected, X, rows, 0.3, shift, 5, 7, 3, 1)
    np.testing.assert_array_equal(out.copy_to_host(), expected)
    assert 0.0 < expected.max() <= 1.0


def test_autoencoder_on_bytes_parity_with_cpu(rng):
    X = rng.integers(0, 256, (3 * TPB + 1, 9), dtype=np.uint8)
    kwargs = dict(corruption=0.2, sparsity=(0.1, 0.5), seed=3)
    on_cpu, on_gpu = Autoencoder(9, 5, **kwargs), Autoencoder(9, 5, device="cuda", **kwargs)
    np.testing.assert_allclose(on_gpu.fit(X, 2, 0.1, batch_size=8), on_cpu.fit(X, 2, 0.1, batch_size=8), rtol=1e-5)
    np.testing.assert_allclose(on_gpu.encode(X), on_cpu.encode(X), rtol=1e-5, atol=1e-6)
    assert on_gpu.loss(X) == pytest.approx(on_cpu.loss(X), rel=1e-5)


@pytest.mark.parametrize("loss_kind", [CROSS_ENTROPY, MSE])
@pytest.mark.parametrize("dtype", DTYPES)
def test_output_delta(rng, dtype, loss_kind):
    X = rng.random((13, 5)).astype(dtype)
    rows = rng.permutation(13)[:7]
    Z = (rng.normal(size=(7, 5)) * 3).astype(dtype)
    c = rng.normal(size=5).astype(dtype)
    expected_d, expected_loss = naive.output_delta(Z.astype(np.float64), c, X[rows], loss_kind, 1 / 7)
    D, acc, loss_rows = dev(Z), dev(np.zeros(2)), cuda.device_array(7, dtype)
    ck.output_delta(D, loss_rows, dev(c), dev(X), dev(rows), loss_kind, 1 / 7, acc, 1)
    np.testing.assert_allclose(D.copy_to_host(), expected_d, **tol(dtype))
    assert acc.copy_to_host()[0] == pytest.approx(expected_loss.sum(), rel=1e-5)
    np.testing.assert_allclose(loss_rows.copy_to_host(), expected_loss, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_col_sum_kl_and_hidden_delta(rng, dtype):
    H = rng.random((6, 3 * TPB + 1)).astype(dtype)
    out = cuda.device_array(H.shape[1], dtype)
    ck.col_sum(out, dev(H), 1 / 6, 1)
    rho_hat = H.mean(axis=0)
    np.testing.assert_allclose(out.copy_to_host(), rho_hat, **tol(dtype))

    grad, acc = cuda.device_array(H.shape[1], dtype), dev(np.zeros(2))
    ck.kl_penalty(grad, dev(rho_hat), 0.05, 0.4, 1 / 6, 6.0, acc)
    value, expected_grad = naive.kl_penalty(rho_hat.astype(np.float64), 0.05, 0.4 / 6)
    np.testing.assert_allclose(grad.copy_to_host(), expected_grad, rtol=1e-5)
    assert acc.copy_to_host()[0] == pytest.approx(6 * 0.4 * value, rel=1e-6)

    D = rng.normal(size=H.shape).astype(dtype)
    g = rng.normal(size=H.shape[1]).astype(dtype)
    Dd = dev(D)
    ck.hidden_delta(Dd, dev(H), dev(g), 1)
    np.testing.assert_allclose(Dd.copy_to_host(), naive.hidden_delta(D.astype(np.float64), H, g), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent(rng, dtype):
    labels = rng.integers(0, 4, size=2 * TPB + 3)
    rows = rng.permutation(len(labels))
    Z = (rng.normal(size=(len(rows), 4)) * 4).astype(dtype)
    d = rng.normal(size=4).astype(dtype)
    expected_d, expected_loss, expected_hits = naive.softmax_xent(Z.astype(np.float64), d, labels[rows], 0.5)
    D, acc = dev(Z), dev(np.zeros(2))
    loss_rows, hits = cuda.device_array(len(rows), dtype), cuda.device_array(len(rows), dtype)
    ck.softmax_xent(D, loss_rows, hits, dev(d), dev(labels), dev(rows), 0.5, acc, 1)
    np.testing.assert_allclose(D.copy_to_host(), expected_d, **tol(dtype))
    np.testing.assert_allclose(acc.copy_to_host(), [expected_loss.sum(), expected_hits.sum()], rtol=1e-5)
    np.testing.assert_allclose(loss_rows.copy_to_host(), expected_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(hits.copy_to_host(), expected_hits)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_and_adam(rng, dtype):
    P = rng.normal(size=(5, 5)).astype(dtype)  # 25 = 3 * TPB + 1 elements
    G = rng.normal(size=(5, 5)).astype(dtype)
    Pd = dev(P)
    ck.sgd(Pd, dev(G), 0.1, 1)
    np.testing.assert_allclose(Pd.copy_to_host(), P - 0.1 * G.astype(np.float64), **tol(dtype))
    Pd, Md, Vd = dev(P), dev(np.zeros_like(P)), dev(np.zeros_like(P))
    p, m, v = P.astype(np.float64), np.zeros_like(P, np.float64), np.zeros_like(P, np.float64)
    for t in (1, 2):
        ck.adam(Pd, dev(G), Md, Vd, 1e-3, 0.9, 0.999, 1e-8, t, 1)
        p, m, v = naive.adam(p, G, m, v, 1e-3, 0.9, 0.999, 1e-8, t)
    np.testing.assert_allclose(Pd.copy_to_host(), p, **tol(dtype))


def test_autoencoder_parity_with_cpu(rng):
    """Same seed, same masks, same batches: the losses agree to float32 tolerance."""
    X = rng.random((3 * TPB + 1, 9)).astype(np.float32)
    kwargs = dict(corruption=0.2, sparsity=(0.1, 0.5), seed=3)
    on_cpu = Autoencoder(9, 5, **kwargs)
    on_gpu = Autoencoder(9, 5, device="cuda", **kwargs)
    np.testing.assert_allclose(on_gpu.fit(X, 2, 0.1, batch_size=8), on_cpu.fit(X, 2, 0.1, batch_size=8), rtol=1e-5)
    for k, v in on_cpu.params().items():
        np.testing.assert_allclose(on_gpu.params()[k], v, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(on_gpu.reconstruct(X), on_cpu.reconstruct(X), rtol=1e-5, atol=1e-6)
    assert on_gpu.loss(X[:7], mask=X[:7] > 0.5) == pytest.approx(on_cpu.loss(X[:7], mask=X[:7] > 0.5), rel=1e-5)


def test_autoencoder_gradients_match_cpu_in_float64(rng):
    X = rng.random((7, 6))
    mask = rng.random(X.shape) > 0.3
    on_cpu = Autoencoder(6, 4, loss="mse", sparsity=(0.1, 0.5), dtype=np.float64, seed=1)
    on_gpu = Autoencoder(6, 4, loss="mse", sparsity=(0.1, 0.5), dtype=np.float64, seed=1, device="cuda")
    loss_cpu, grads_cpu = on_cpu.loss_and_grads(X, mask)
    loss_gpu, grads_gpu = on_gpu.loss_and_grads(X, mask)
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-12)
    for k in grads_cpu:
        np.testing.assert_allclose(grads_gpu[k], grads_cpu[k], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_classifier_parity_with_cpu(rng, optimizer):
    X = rng.random((2 * TPB + 1, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=len(X))
    on_cpu = StackedClassifier([6, 5, 4], 3, seed=2)
    on_gpu = StackedClassifier([6, 5, 4], 3, seed=2, device="cuda")
    h_cpu = on_cpu.fit(X, y, 2, 0.05, 8, optimizer=optimizer)
    h_gpu = on_gpu.fit(X, y, 2, 0.05, 8, optimizer=optimizer)
    np.testing.assert_allclose(h_gpu["loss"], h_cpu["loss"], rtol=1e-5)
    assert h_gpu["train_accuracy"] == h_cpu["train_accuracy"]
    np.testing.assert_allclose(on_gpu.predict_proba(X), on_cpu.predict_proba(X), rtol=1e-4, atol=1e-6)
    loss_cpu, g_cpu = on_cpu.loss_and_grads(X, y)
    loss_gpu, g_gpu = on_gpu.loss_and_grads(X, y)
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-5)
    for k in g_cpu:
        np.testing.assert_allclose(g_gpu[k], g_cpu[k], rtol=1e-4, atol=1e-6)


def test_no_gpu_is_a_clear_error(monkeypatch):
    from fastae.backends import get_backend

    monkeypatch.setattr(cuda_mod, "cuda_unavailable_reason", lambda: "no usable CUDA device was found")
    with pytest.raises(ValueError, match=r"device: no usable CUDA device.*fastae\[cuda\]"):
        get_backend("cuda")


@pytest.mark.parametrize("kind", ["autoencoder", "classifier"])
def test_interrupted_fit_resumes_to_the_uninterrupted_result(rng, stop_after, kind):
    """A fit stopped mid-epoch, then continued, ends where one uninterrupted fit ends."""
    from fastae import TrainingInterrupted

    X = rng.random((3 * TPB + 1, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=len(X))
    if kind == "autoencoder":
        make = lambda: Autoencoder(6, 4, corruption=0.2, sparsity=(0.1, 0.5), seed=3, device="cuda")  # noqa: E731
        fit = lambda m, e: m.fit(X, e, 0.1, batch_size=4)  # noqa: E731
    else:
        make = lambda: StackedClassifier([6, 5], 3, seed=2, device="cuda")  # noqa: E731
        fit = lambda m, e: m.fit(X, y, e, 0.05, 4, optimizer="adam")  # noqa: E731
    whole = make()
    fit(whole, 2)
    parts = make()
    stop_after(9)  # 7 batches an epoch: stops in the second
    with pytest.raises(TrainingInterrupted):
        fit(parts, 2)
    assert parts.epochs_trained == 1 and parts.partial_epoch["row"] == 8
    fit(parts, 1)
    for k, v in whole.params().items():
        np.testing.assert_allclose(parts.params()[k], v, rtol=1e-6, atol=1e-7)


def test_numpy_2_5_with_numba_cuda_0_30_is_named(monkeypatch):
    """numba-cuda 0.30.4 cannot compile kernels once numpy has no row_stack: say so."""
    from importlib import metadata

    monkeypatch.setattr(cuda_mod.numba_config, "ENABLE_CUDASIM", 0)
    monkeypatch.delattr(np, "row_stack", raising=False)
    monkeypatch.setattr(metadata, "version", lambda name: "0.30.4")
    assert "install numpy < 2.5" in cuda_mod.cuda_unavailable_reason()
    monkeypatch.setattr(metadata, "version", lambda name: "0.31.0")
    assert cuda_mod.cuda_unavailable_reason() is None
