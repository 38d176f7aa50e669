"""Every CPU kernel against its NumPy twin in tests/naive.py, float32 and float64."""
import naive
import numpy as np
import pytest

from fastae.backends import cpu_kernels as cpu
from fastae.backends.cpu import STEPS, CPUBackend
from fastae.backends.records import CROSS_ENTROPY, MSE, AEHyper

DTYPES = [np.float32, np.float64]
BLOCKS = [1, 3]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_corrupt(rng, dtype, n_blocks):
    X = rng.random((23, 13)).astype(dtype)
    rows = rng.permutation(23)[:11]
    out = np.empty((11, 13), dtype)
    cpu.gather_corrupt(out, X, rows, 0.3, 7, 5, n_blocks)
    np.testing.assert_array_equal(out, naive.gather_corrupt(X, rows, 0.3, 7, 5))
    cpu.gather_corrupt(out, X, rows, 0.0, 7, 5, n_blocks)
    np.testing.assert_array_equal(out, X[rows])


def test_noise_rate_and_independence():
    X = np.ones((400, 250), np.float32)
    rows = np.arange(400)
    a, b = np.empty_like(X), np.empty_like(X)
    cpu.gather_corrupt(a, X, rows, 0.1, 1, 0, 2)
    cpu.gather_corrupt(b, X, rows, 0.1, 1, 1, 2)
    assert abs(1 - a.mean() - 0.1) < 0.005  # 100,000 pixels: sd of the rate 0.001
    assert abs(((a == 0) & (b == 0)).mean() - 0.01) < 0.002  # streams independent
    # One seed gives one mask whatever the order of the rows and the thread count.
    perm = np.random.default_rng(0).permutation(400)
    c = np.empty_like(X)
    cpu.gather_corrupt(c, X, perm, 0.1, 1, 0, 1)
    np.testing.assert_array_equal(c, a[perm])


def test_input_split_puts_the_dense_columns_first():
    counts = np.array([30, 0, 100, 5, 30, 9, 10, 1, 60, 2, 3, 10])  # nonzeros of 100 rows
    X = (np.arange(100)[:, None] < counts).astype(np.float32)
    cols, n_dense = cpu.input_split(X, 0.1, 4096)
    np.testing.assert_array_equal(cols, [0, 2, 4, 6, 8, 11, 1, 3, 5, 7, 9, 10])
    assert n_dense == 6  # nonzero in at least 10 % of the rows
    assert cpu.input_split(X, 0.35, 4096)[1] == 2
    assert cpu.input_split(X, 0.08, 4096)[1] == 7
    # Counted on every 4th row when asked for 25 (runs of one row): rows 0, 4, ..., 96, of
    # which column 3 (nonzero in rows 0-4) has 2, as many as 8 % of 25.
    assert cpu.input_split(X, 0.08, 25)[1] == 8
    for tail_density in (0.0, 0.01):  # no split; a tail of 1 of 12 columns is under 1/8
        cols, n_dense = cpu.input_split(X, tail_density, 4096)
        assert n_dense == 12 and list(cols) == list(range(12))
    # 4,096 rows of 12,800 are counted in 64 runs of 64 rows, 202 rows apart: columns 1
    # and 2, nonzero in every row but those (68 % of them), go to the tail.
    X = np.ones((12800, 16), np.float32)
    counted = (np.arange(64)[:, None] * 202 + np.arange(64)).ravel()
    X[counted, 1:3] = 0.0
    cols, n_dense = cpu.input_split(X, 0.1, 4096)
    assert n_dense == 14 and list(cols[14:]) == [1, 2]


def assert_split_batch(xin, clean, tail, expected, targets, n_dense):
    """``split_batch``'s outputs against the batch ``expected`` with its columns reordered
    (and its clean ``targets``, when ``clean`` has rows)."""
    np.testing.assert_array_equal(clean, targets)
    np.testing.assert_array_equal(xin[:, :n_dense], expected[:, :n_dense])
    for i in range(len(expected)):
        (nonzero,) = np.nonzero(expected[i, n_dense:])
        np.testing.assert_array_equal(tail.col[i, : tail.length[i]], n_dense + nonzero)
        np.testing.assert_array_equal(tail.val[i, : tail.length[i]], expected[i, n_dense + nonzero])


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_batch_against_naive(rng, dtype):
    """A batch drawn as the training loops draw it (masked; shifted and masked), then split."""
    from conftest import skewed_sparse

    X = skewed_sparse(rng, 40, 30, dtype)  # 5 x 6 images for the shifts
    rows = rng.permutation(40)[:17]
    cols, n_dense = cpu.input_split(X, 0.3, 4096)
    assert 0 < n_dense < 30
    xin, clean = np.empty((17, 30), dtype), np.empty((17, 30), dtype)
    tail = cpu.sparse_tail(17, 30, np.dtype(dtype))
    for p in (0.0, 0.3):
        cpu.gather_corrupt(tail.drawn, X, rows, p, 7, 5, 1)
        cpu.split_batch(xin, clean, tail, X, rows, cols, n_dense)
        expected = naive.gather_corrupt(X, rows, p, 7, 5)[:, cols]
        assert_split_batch(xin, clean, tail, expected, X[rows][:, cols], n_dense)
    # With shifts, and no targets (the classifier's case).
    cpu.gather_augment(tail.drawn, X, rows, 0.3, 1, 5, 7, 5, 1)
    cpu.split_batch(xin, xin[:0], tail, X, rows, cols, n_dense)
    expected = naive.gather_augment(X, rows, 0.3, 1, 5, 7, 5)[:, cols]
    assert_split_batch(xin, xin[:0], tail, expected, xin[:0], n_dense)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_tail_products(rng, dtype):
    """``tail_forward``, ``tail_update``, ``input_product`` and ``input_gradient`` against
    dense products with the tail's matrix."""
    P, V, Hn, n_dense = 9, 14, 5, 6
    tail = (rng.random((P, V)) < 0.3) * rng.random((P, V))
    tail[:, :n_dense] = 0
    tail[2] = 0  # a pattern with an empty tail
    tail = tail.astype(dtype)
    sparse = cpu.sparse_tail(P, V, np.dtype(dtype))
    for i in range(P):
        (nz,) = np.nonzero(tail[i])
        sparse.length[i], sparse.col[i, : len(nz)], sparse.val[i, : len(nz)] = len(nz), nz, tail[i, nz]
    W = rng.normal(size=(V, Hn)).astype(dtype)
    H = rng.normal(size=(P, Hn)).astype(dtype)
    expected = H + tail @ W
    cpu.tail_forward(H, sparse, W)
    np.testing.assert_allclose(H, expected, **tol(dtype))
    G = rng.normal(size=(P, Hn)).astype(dtype)
    expected = W - 0.3 * tail.T @ G
    cpu.tail_update(W, -0.3, sparse, G)
    np.testing.assert_allclose(W, expected, **tol(dtype))
    # The products a split input takes: X = [prefix | tail] against plain ones.
    X = rng.random((P, V)).astype(dtype)
    X[:, n_dense:] = tail[:, n_dense:]
    out = np.empty((P, Hn), dtype)
    cpu.input_product(out, X, W, sparse, (np.arange(V), n_dense))
    np.testing.assert_allclose(out, X @ W, **tol(dtype))
    grad = np.full((V, Hn), np.nan, dtype)
    cpu.input_gradient(grad, X, G, sparse, (np.arange(V), n_dense))
    np.testing.assert_allclose(grad, X.T @ G, **tol(dtype))


@pytest.mark.parametrize("shift", [1, 2])
@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_augment(rng, dtype, n_blocks, shift):
    """Random shifts of 5 x 4 images, then masking noise, against the NumPy twin."""
    X = rng.random((23, 20)).astype(dtype)
    rows = rng.permutation(23)[:11]
    out = np.empty((11, 20), dtype)
    for p in (0.0, 0.3):
        cpu.gather_augment(out, X, rows, p, shift, 5, 7, 5, n_blocks)
        np.testing.assert_array_equal(out, naive.gather_augment(X, rows, p, shift, 5, 7, 5))
    cpu.gather_augment(out, X, rows, 0.3, 0, 5, 7, 5, n_blocks)  # no shift: gather_corrupt
    np.testing.assert_array_equal(out, naive.gather_corrupt(X, rows, 0.3, 7, 5))


def test_image_shifts_are_uniform_and_redrawn_each_epoch():
    """Every (dy, dx) in -1..1 about equally often, moving the image as it says."""
    X = np.zeros((900, 49), np.float32)
    X[:, 3 * 7 + 3] = 1.0  # a dot in the middle of a 7 x 7 image
    rows = np.arange(900)
    out = np.empty_like(X)
    cpu.gather_augment(out, X, rows, 0.0, 1, 7, 3, 0, 1)
    y, x = np.divmod(out.argmax(axis=1), 7)
    counts = np.bincount((y - 2) * 3 + (x - 2), minlength=9)
    assert counts.sum() == 900 and counts.min() > 60 and counts.max() < 140  # 100 expected each
    again = np.empty_like(X)
    cpu.gather_augment(again, X, rows, 0.0, 1, 7, 3, 1, 1)  # the next epoch's stream
    assert (again.argmax(axis=1) != out.argmax(axis=1)).mean() > 0.8  # 8/9 expected


@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_sigmoid(rng, dtype, n_blocks):
    Z = (rng.normal(size=(17, 9)) * 30).astype(dtype)  # saturating values included
    bias = rng.normal(size=9).astype(dtype)
    expected = naive.bias_sigmoid(Z.astype(np.float64), bias)
    cpu.bias_sigmoid(Z, bias, n_blocks)
    np.testing.assert_allclose(Z, expected, **tol(dtype))


@pytest.mark.parametrize("loss_kind", [CROSS_ENTROPY, MSE])
@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_output_delta(rng, dtype, n_blocks, loss_kind):
    X = rng.random((19, 11)).astype(dtype)
    rows = rng.permutation(19)[:13]
    Z = rng.normal(size=(13, 11)).astype(dtype) * 3
    c = rng.normal(size=11).astype(dtype)
    expected_d, expected_loss = naive.output_delta(Z.astype(np.float64), c, X[rows], loss_kind, 1 / 13)
    loss_rows = np.empty(13, dtype)
    cpu.output_delta(Z, loss_rows, c, X, rows, loss_kind, 1 / 13, np.zeros(2), n_blocks)
    np.testing.assert_allclose(Z, expected_d, **tol(dtype))
    np.testing.assert_allclose(loss_rows, expected_loss, rtol=tol(dtype)["rtol"] * 10)


def test_cross_entropy_is_finite_when_outputs_saturate():
    X = np.array([[0.0, 1.0, 1.0, 0.0]], np.float32)
    Z = np.array([[200.0, -200.0, 200.0, -200.0]], np.float32)  # y is exactly 1 or 0 in float32
    loss_rows = np.empty(1, np.float32)
    cpu.output_delta(Z, loss_rows, np.zeros(4, np.float32), X, np.arange(1), CROSS_ENTROPY, 1.0, np.zeros(2), 1)
    assert np.isfinite(loss_rows).all() and np.isfinite(Z).all()
    assert loss_rows[0] == pytest.approx(400.0)
    np.testing.assert_allclose(Z, [[1.0, -1.0, 0.0, 0.0]], rtol=0, atol=1e-30)


def test_float32_exp_and_log1p_accuracy():
    from numba import njit

    from fastae.backends.mathfn import exp_f32, log1p_unit_f32

    @njit
    def apply(f, xs):
        out = np.empty_like(xs)
        for i in range(xs.size):
            out[i] = f(xs[i])
        return out

    xs = np.linspace(-87, 88, 200001).astype(np.float32)
    exact = np.exp(xs.astype(np.float64))
    assert np.max(np.abs(apply(exp_f32, xs) / exact - 1)) < 1e-7
    us = np.linspace(0, 1, 100001).astype(np.float32)
    assert np.max(np.abs(apply(log1p_unit_f32, us) - np.log1p(us.astype(np.float64)))) < 2e-7


def test_row_sum(rng):
    for n in (1, 15, 16, 17, 784):
        a = rng.normal(size=n)
        assert cpu.row_sum(a) == pytest.approx(a.sum(), rel=1e-12)


@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_col_sum(rng, dtype, n_blocks):
    A = rng.normal(size=(15, 29)).astype(dtype)
    out = np.empty(29, dtype)
    cpu.col_sum(out, A, 0.5, n_blocks)
    np.testing.assert_allclose(out, 0.5 * A.astype(np.float64).sum(axis=0), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_penalty_clips_rho_hat(dtype):
    rho_hat = np.array([0.0, 1e-9, 0.02, 0.5, 1.0], dtype)
    grad = np.empty(5, dtype)
    sums = np.zeros(2)
    cpu.kl_penalty(grad, rho_hat, 0.05, 1.0, 0.25, 1.0, sums)
    value = sums[0]
    expected_value, expected_grad = naive.kl_penalty(rho_hat.astype(np.float64), 0.05, 0.25)
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(expected_value, rel=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5)


@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_hidden_delta(rng, dtype, n_blocks):
    D = rng.normal(size=(13, 7)).astype(dtype)
    H = rng.random((13, 7)).astype(dtype)
    g = rng.normal(size=7).astype(dtype)
    expected = naive.hidden_delta(D.astype(np.float64), H, g)
    cpu.hidden_delta(D, H, g, n_blocks)
    np.testing.assert_allclose(D, expected, **tol(dtype))


@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent(rng, dtype, n_blocks):
    labels = rng.integers(0, 10, size=31)
    rows = rng.permutation(31)[:17]
    Z = (rng.normal(size=(17, 10)) * 5).astype(dtype)
    d = rng.normal(size=10).astype(dtype)
    expected_d, expected_loss, expected_hits = naive.softmax_xent(Z.astype(np.float64), d, labels[rows], 1 / 17)
    loss_rows, hits = np.empty(17, dtype), np.empty(17, dtype)
    cpu.softmax_xent(Z, loss_rows, hits, d, labels, rows, 1 / 17, np.zeros(2), n_blocks)
    np.testing.assert_allclose(Z, expected_d, **tol(dtype))
    np.testing.assert_allclose(loss_rows, expected_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(hits, expected_hits)


@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd(rng, dtype, n_blocks):
    P = rng.normal(size=(9, 5)).astype(dtype)
    G = rng.normal(size=(9, 5)).astype(dtype)
    expected = P.astype(np.float64) - dtype(0.1) * G
    cpu.sgd(P, G, dtype(0.1), n_blocks)
    np.testing.assert_allclose(P, expected, **tol(dtype))


@pytest.mark.parametrize("n_blocks", BLOCKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam(rng, dtype, n_blocks):
    P = rng.normal(size=(7, 3)).astype(dtype)
    M = np.zeros_like(P)
    V = np.zeros_like(P)
    p, m, v = P.astype(np.float64), M.astype(np.float64), V.astype(np.float64)
    for t in (1, 2, 3):
        G = rng.normal(size=(7, 3)).astype(dtype)
        cpu.adam(P, G, M, V, 1e-3, 0.9, 0.999, 1e-8, t, n_blocks)
        p, m, v = naive.adam(p, G, m, v, 1e-3, 0.9, 0.999, 1e-8, t)
    np.testing.assert_allclose(P, p, **tol(dtype))
    np.testing.assert_allclose(M, m, **tol(dtype))


@pytest.mark.parametrize("loss_kind", [CROSS_ENTROPY, MSE])
@pytest.mark.parametrize("dtype", DTYPES)
def test_ae_step_against_naive(rng, dtype, loss_kind):
    V, Hn, P = 11, 6, 9
    X = rng.random((P, V)).astype(dtype)
    W = (rng.normal(size=(V, Hn)) * 0.5).astype(dtype)
    b = rng.normal(size=Hn).astype(dtype) * 0.1
    c = rng.normal(size=V).astype(dtype) * 0.1
    Xt = X * (rng.random(X.shape) > 0.2)
    hp = AEHyper(loss_kind, 0.2, 0.1, 0.5, 0)
    loss, grads = CPUBackend().ae_loss_and_grads(W, b, c, Xt, X, hp)
    expected_loss, expected = naive.ae_loss_and_grads(
        W.astype(np.float64), b, c, Xt.astype(np.float64), X.astype(np.float64), loss_kind, 0.1, 0.5
    )
    assert loss == pytest.approx(expected_loss, rel=1e-5 if dtype == np.float32 else 1e-12)
    for k in ("W", "b", "c"):
        np.testing.assert_allclose(grads[k], expected[k], rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_step_gives_the_dense_step_gradient(rng, dtype):
    """One step on a split input (reordered W and c, dense prefix, sparse tail): the same
    loss and gradients as the plain step (which test_gradients.py checks against finite
    differences), with W's and c's rows in the split's order."""
    from conftest import skewed_sparse

    P, V, Hn = 13, 24, 6
    X = skewed_sparse(rng, P, V, dtype)
    rows = np.arange(P)
    cols, n_dense = cpu.input_split(X, 0.1, 4096)
    assert n_dense < V
    W = (rng.normal(size=(V, Hn)) * 0.5).astype(dtype)
    b, c = (rng.normal(size=Hn) * 0.1).astype(dtype), (rng.normal(size=V) * 0.1).astype(dtype)
    hp = AEHyper(CROSS_ENTROPY, 0.2, 0.1, 0.5, 3)
    Xt = naive.gather_corrupt(X, rows, 0.2, 3, 0)
    loss, grads = CPUBackend().ae_loss_and_grads(W, b, c, Xt, X, hp)

    ws = cpu.ae_work(V, Hn, P, np.dtype(dtype), True, True, (cols, n_dense))
    cpu.gather_corrupt(ws.tail.drawn, X, rows, 0.2, 3, 0, 1)
    cpu.split_batch(ws.xd, ws.clean, ws.tail, X, rows, cols, n_dense)
    STEPS.ae_step(W[cols], b, c[cols], ws.clean, rows, hp, ws, (cols, n_dense), 1)
    STEPS.ae_bias_grads(ws, P, 1)
    split_loss = ws.sums[0] / P
    ws.dW[:] = np.nan
    cpu.tied_weight_step(ws.dW, 1.0, 0.0, ws, P, (cols, n_dense))
    assert split_loss == pytest.approx(loss, rel=1e-5 if dtype == np.float32 else 1e-13)
    np.testing.assert_allclose(ws.dW, grads["W"][cols], **tol(dtype))
    np.testing.assert_allclose(ws.db, grads["b"], **tol(dtype))
    np.testing.assert_allclose(ws.dc, grads["c"][cols], **tol(dtype))


def test_kernels_cache_stamp_covers_every_backend_source():
    """A change to mathfn.py or blas.py alone must invalidate the cached cpu.py kernels."""
    from fastae.backends.cache import sources_stamp

    impl = STEPS.ae_step._cache._impl
    assert getattr(type(impl._locator), "fastae", False)
    assert impl.locator.get_source_stamp()[1] == sources_stamp()
