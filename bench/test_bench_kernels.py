"""Each CPU kernel against its NumPy twin, at Q3's layer-1 sizes, float32.

Run: ``pytest bench/test_bench_kernels.py --benchmark-only``. ``test_fastae[kernel]`` times
the compiled kernel (``n_blocks=1``: on the calling thread, fastae's default) and
``test_numpy[kernel]`` its NumPy twin; both are in the benchmark group ``kernel``.

Sizes: a batch of B = 128 patterns, 784 visible, 625 hidden units; the softmax kernel on
128 x 10 logits; ``sgd`` and ``adam`` on the 784 x 625 weight. One registry, ``KERNELS``,
says for each kernel how both implementations are called on the same inputs (built by
``make_inputs``), which inputs the kernel overwrites, and how their results are compared.
Before timing, each test calls both once (which also compiles, or loads from numba's cache,
the kernel) and asserts that they agree, so each pair is known to compute the same thing.

The twins come from tests/naive.py, except kernels that have none there: ``col_sum``
and ``sgd`` (twins as in tests/test_kernels.py's expected values), ``tied_weight_step``
(the gradient of the tied weight, written as in ``naive.ae_loss_and_grads``: two products
and a sum, where fastae makes one BLAS call on stacked factors), and the split input's
``split_batch`` (``naive.gather_corrupt`` with the columns reordered), ``tail_forward``
and ``tail_update`` (dense products with the batch's tail as a matrix). The split kernels
run on MNIST-like inputs whose columns are nonzero at rates from 0.45 down to 0. The
``gather_corrupt`` twin hashes one pixel at a time in Python integers: its time is a
tests-only reference, not what a NumPy program would pay for masking noise (q3_numpy.py
draws from NumPy's RNG); ``split_batch``'s twin draws the batch too.
"""
import importlib.util
from collections import namedtuple
from math import ceil
from pathlib import Path
from time import perf_counter

import numpy as np
import pytest

from fastae import config
from fastae.backends import cpu_kernels as cpu
from fastae.backends.records import CROSS_ENTROPY


def _load_naive():
    """tests/naive.py, loaded by path (tests/ is not a package; sys.path stays as it is)."""
    path = Path(__file__).resolve().parent.parent / "tests" / "naive.py"
    spec = importlib.util.spec_from_file_location("_fastae_tests_naive", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naive = _load_naive()

F32 = np.float32
B, V, HN, K = 128, 784, 625, 10  # batch, visible, hidden, classes
N_SOURCE = 1024  # rows of the data set that a batch is gathered from
P_NOISE, RHO, BETA, LR = 0.1, 0.02, 0.4, 0.1  # Q3 layer 1
ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "t": 10}


def make_inputs():
    """One layer-1 training step's arrays, float32, with realistic values: a batch gathered
    from binary images, the tied weight at its sigmoid-uniform init, and the activations
    and deltas that a step computes from them. Twins never write to these; every array a
    kernel writes to is a copy (see ``KERNELS``)."""
    rng = np.random.default_rng(0)
    X = (rng.random((N_SOURCE, V)) < 0.2).astype(F32)
    rows = rng.permutation(N_SOURCE)[:B]
    bound = 4 * np.sqrt(6 / (V + HN))
    W = rng.uniform(-bound, bound, (V, HN)).astype(F32)
    b = (rng.normal(size=HN) * 0.1).astype(F32)
    c = (rng.normal(size=V) * 0.1).astype(F32)
    Xt = X[rows] * (rng.random((B, V)) >= P_NOISE)
    XW = Xt @ W  # hidden pre-activation without its bias
    H = naive.sigmoid(XW + b).astype(F32)
    HWt = H @ W.T  # output pre-activation without its bias
    dY = ((naive.sigmoid(HWt + c) - X[rows]) / B).astype(F32)
    rho_hat = H.mean(axis=0)
    _, kl_grad = naive.kl_penalty(rho_hat, RHO, BETA / B)
    dYW = dY @ W
    dH = ((dYW + kl_grad) * H * (1 - H)).astype(F32)
    # For the split kernels: MNIST-like pixels, nonzero at rates from 0.45 down to 0 (mean
    # 0.15), split as the training loop splits them, and one batch's tail of X~.
    Xs = (rng.random((N_SOURCE, V)) < 0.45 * rng.permutation(np.linspace(1, 0, V)) ** 2).astype(F32)
    cols, n_dense = cpu.input_split(Xs, 0.1, config.SPLIT_SAMPLE_ROWS)
    tail = naive.gather_corrupt(Xs, rows, P_NOISE, 7, 3)[:, cols]
    tail[:, :n_dense] = 0
    return {
        "Xs": Xs, "cols": cols, "n_dense": n_dense, "tail": tail,
        "X": X, "rows": rows, "W": W, "b": b, "c": c, "Xt": Xt, "XW": XW, "H": H, "HWt": HWt, "dY": dY,
        "rho_hat": rho_hat, "kl_grad": kl_grad.astype(F32), "dYW": dYW, "dH": dH,
        "gW": (Xt.T @ dH + dY.T @ H).astype(F32),  # a weight gradient, for the updates
        "mW": (rng.normal(size=(V, HN)) * 1e-3).astype(F32),  # Adam's moments, mid-run
        "vW": (rng.random((V, HN)) * 1e-6).astype(F32),
        "logits": (rng.normal(size=(B, K)) * 3).astype(F32),
        "d": (rng.normal(size=K) * 0.1).astype(F32),
        "labels": rng.integers(0, K, N_SOURCE),
    }


def close(actual, expected, rtol=1e-5):
    """Close in float32: relative ``rtol``, with an absolute floor of ``rtol`` times the
    largest magnitude (entries near zero have no relative precision to compare)."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


#: One kernel of the registry, for the inputs ``a`` of ``make_inputs``:
#: ``fastae(a) -> (kernel, args)`` and ``numpy(a) -> (twin, args)``: the calls to time;
#: ``fresh``: positions in the kernel's args that it overwrites and whose values matter;
#:   they are restored from a copy before every timed call (``benchmark.pedantic`` setup,
#:   untimed). Kernels whose in-place writes are left to accumulate say so below;
#: ``check(args, returned, expected)``: asserts that the kernel's results (its args after
#:   the call, and what it returned) match the twin's return value ``expected``.
Kernel = namedtuple("Kernel", "fastae numpy fresh check")


def _check_gather(args, _, expected):
    np.testing.assert_array_equal(args[0], expected)  # the same hash: bit for bit


def _check_output_delta(args, _, expected):
    close(args[0], expected[0])
    close(args[1], expected[1], rtol=1e-4)  # loss per row: 784 float32 terms


def _kl_value(grad, rho_hat, rho, scale):
    """``cpu.kl_penalty``'s penalty ``sum_j KL`` (weight 1, beta 1), and ``grad``."""
    sums = np.zeros(2)
    cpu.kl_penalty(grad, rho_hat, rho, 1.0, scale, 1.0, sums)
    return sums[0]


def _check_kl(args, value, expected):
    assert value == pytest.approx(expected[0], rel=1e-5)
    close(args[0], expected[1])


def _check_softmax(args, _, expected):
    close(args[0], expected[0])
    close(args[1], expected[1])
    np.testing.assert_array_equal(args[2], expected[2])


def _check_adam(args, _, expected):
    for got, want in zip((args[0], args[2], args[3]), expected):
        close(got, want)


def _tied_weight_args(a):
    """``tied_weight_step``'s args for the gradient: ``cpu.ae_work`` buffers holding a step's
    factors, xd = [X~ ; dY] and hg = [dH ; H], and dW = 1 * xd^T hg + 0 * dW."""
    ws = cpu.ae_work(V, HN, B, np.dtype(F32), True, False, None)
    ws.xd[:B], ws.xd[B:] = a["Xt"], a["dY"]
    ws.hg[:B], ws.hg[B:] = a["dH"], a["H"]
    return ws.dW, 1.0, 0.0, ws, B, None


def _split_batch(a):
    """``split_batch``'s arguments for the batch of ``a``, drawn as the autoencoder's loop
    draws it: the dense prefix (in B x V), the targets, the tail (holding the drawn batch)."""
    xin, clean, tail = np.empty((B, V), F32), np.empty((B, V), F32), cpu.sparse_tail(B, V, np.dtype(F32))
    cpu.gather_corrupt(tail.drawn, a["Xs"], a["rows"], P_NOISE, 7, 3, 1)
    cpu.split_batch(xin, clean, tail, a["Xs"], a["rows"], a["cols"], a["n_dense"])
    return xin, clean, tail


def _check_split_batch(args, _, expected):
    xin, clean, tail, n_dense = args[0], args[1], args[2], args[6]
    targets, corrupted = expected
    np.testing.assert_array_equal(clean, targets)
    np.testing.assert_array_equal(xin[:, :n_dense], corrupted[:, :n_dense])
    for i in range(B):
        (nz,) = np.nonzero(corrupted[i, n_dense:])
        np.testing.assert_array_equal(tail.col[i, : tail.length[i]], n_dense + nz)
        np.testing.assert_array_equal(tail.val[i, : tail.length[i]], corrupted[i, n_dense + nz])


def _numpy_split_batch(X, rows, cols, p, seed, stream):  # naive.gather_corrupt, columns reordered
    return X[rows][:, cols], naive.gather_corrupt(X, rows, p, seed, stream)[:, cols]


def _numpy_tail_forward(H, tail, W):
    return H + tail @ W


def _numpy_tail_update(W, alpha, tail, G):
    return W + alpha * tail.T @ G


def _numpy_output_delta(Z, c, X, rows, loss_kind, scale):
    return naive.output_delta(Z, c, X[rows], loss_kind, scale)


def _numpy_softmax_xent(Z, d, labels, rows, scale):
    return naive.softmax_xent(Z, d, labels[rows], scale)


def _numpy_col_sum(A, scale):  # not in naive.py; as in tests/test_kernels.py::test_col_sum
    return scale * A.sum(axis=0)


def _numpy_tied_weight(Xt, dH, dY, H):  # not in naive.py; as in naive.ae_loss_and_grads
    return Xt.T @ dH + dY.T @ H


def _numpy_sgd(p, g, lr):  # not in naive.py; as in tests/test_kernels.py::test_sgd
    return p - lr * g


KERNELS = {
    # Writes all of ``out``: nothing to restore.
    "gather_corrupt": Kernel(
        lambda a: (cpu.gather_corrupt, (np.empty((B, V), F32), a["X"], a["rows"], P_NOISE, 7, 3, 1)),
        lambda a: (naive.gather_corrupt, (a["X"], a["rows"], P_NOISE, 7, 3)),
        (), _check_gather,
    ),
    # A split input's batch, drawn into tail.drawn: reordered into the dense prefix, the
    # targets and the sparse tail (all written whole, the prefix up to n_dense and the tail
    # up to its lengths). The twin draws the batch too: compare with gather_corrupt's time.
    "split_batch": Kernel(
        lambda a: (cpu.split_batch, (*_split_batch(a), a["Xs"], a["rows"], a["cols"], a["n_dense"])),
        lambda a: (_numpy_split_batch, (a["Xs"], a["rows"], a["cols"], P_NOISE, 7, 3)),
        (), _check_split_batch,
    ),
    # H += the tail's X~ W, in place: restored. The twin multiplies the dense tail matrix.
    "tail_forward": Kernel(
        lambda a: (cpu.tail_forward, (a["XW"].copy(), _split_batch(a)[2], a["W"][a["cols"]])),
        lambda a: (_numpy_tail_forward, (a["XW"], a["tail"], a["W"][a["cols"]])),
        (0,), lambda args, _, expected: close(args[0], expected),
    ),
    # W += alpha * the tail's X~^T dH on the rows it touches, in place: restored.
    "tail_update": Kernel(
        lambda a: (cpu.tail_update, (a["W"][a["cols"]], -LR, _split_batch(a)[2], a["dH"])),
        lambda a: (_numpy_tail_update, (a["W"][a["cols"]], -LR, a["tail"], a["dH"])),
        (0,), lambda args, _, expected: close(args[0], expected),
    ),
    # In place on Z = X~ W: restored, so each call starts from the pre-activation.
    "bias_sigmoid": Kernel(
        lambda a: (cpu.bias_sigmoid, (a["XW"].copy(), a["b"], 1)),
        lambda a: (naive.bias_sigmoid, (a["XW"], a["b"])),
        (0,), lambda args, _, expected: close(args[0], expected),
    ),
    # In place on D = H W^T (then the delta): restored; loss_rows is written whole.
    "output_delta": Kernel(
        lambda a: (cpu.output_delta, (a["HWt"].copy(), np.empty(B, F32), a["c"], a["X"], a["rows"],
                                      CROSS_ENTROPY, 1.0 / B, np.zeros(2), 1)),
        lambda a: (_numpy_output_delta, (a["HWt"], a["c"], a["X"], a["rows"], CROSS_ENTROPY, 1.0 / B)),
        (0,), _check_output_delta,
    ),
    # rho_hat = H's column means; writes all of ``out``.
    "col_sum": Kernel(
        lambda a: (cpu.col_sum, (np.empty(HN, F32), a["H"], 1.0 / B, 1)),
        lambda a: (_numpy_col_sum, (a["H"], 1.0 / B)),
        (), lambda args, _, expected: close(args[0], expected),
    ),
    # Writes all of ``grad``; returns the penalty.
    "kl_penalty": Kernel(
        lambda a: (_kl_value, (np.empty(HN, F32), a["rho_hat"], RHO, BETA / B)),
        lambda a: (naive.kl_penalty, (a["rho_hat"], RHO, BETA / B)),
        (), _check_kl,
    ),
    # In place on D = dY W: restored (left to repeat, D would drift to (D + g) h (1 - h)'s
    # fixed point, no longer a delta from the layer above).
    "hidden_delta": Kernel(
        lambda a: (cpu.hidden_delta, (a["dYW"].copy(), a["H"], a["kl_grad"], 1)),
        lambda a: (naive.hidden_delta, (a["dYW"], a["H"], a["kl_grad"])),
        (0,), lambda args, _, expected: close(args[0], expected),
    ),
    # In place on the logits (then their delta): restored; loss_rows and hits written whole.
    "softmax_xent": Kernel(
        lambda a: (cpu.softmax_xent, (a["logits"].copy(), np.empty(B, F32), np.empty(B, F32), a["d"],
                                      a["labels"], a["rows"], 1.0 / B, np.zeros(2), 1)),
        lambda a: (_numpy_softmax_xent, (a["logits"], a["d"], a["labels"], a["rows"], 1.0 / B)),
        (0,), _check_softmax,
    ),
    # The weight gradient dW = X~^T dH + dY^T H (alpha 1, beta 0): writes all of dW.
    "tied_weight_step": Kernel(
        lambda a: (cpu.tied_weight_step, _tied_weight_args(a)),
        lambda a: (_numpy_tied_weight, (a["Xt"], a["dH"], a["dY"], a["H"])),
        (), lambda args, _, expected: close(args[0], expected),
    ),
    # In place on W: mutation accepted, as in training. Each call moves W by lr * gW (at most
    # 0.094 an entry): a linear drift that keeps W's entries normal floats, far from overflow,
    # over any run's rounds; sgd's time does not depend on the values.
    "sgd": Kernel(
        lambda a: (cpu.sgd, (a["W"].copy(), a["gW"], F32(LR), 1)),
        lambda a: (_numpy_sgd, (a["W"], a["gW"], F32(LR))),
        (), lambda args, _, expected: close(args[0], expected),
    ),
    # In place on W, m, v: mutation accepted, as in training. t is fixed and gW repeats, so
    # m and v settle at gW and gW^2 (bounded) and W moves by about lr_t = 1.5e-4 a call.
    "adam": Kernel(
        lambda a: (cpu.adam, (a["W"].copy(), a["gW"], a["mW"].copy(), a["vW"].copy(), *ADAM.values(), 1)),
        lambda a: (naive.adam, (a["W"], a["gW"], a["mW"], a["vW"], *ADAM.values())),
        (), _check_adam,
    ),
}


@pytest.fixture(params=list(KERNELS))
def kernel(request):
    return request.param


def prepared(name):
    """The kernel's and the twin's calls on fresh inputs, each run once and compared (which
    also compiles the kernel, or loads it from numba's cache); the kernel's ``fresh`` args
    are back to their values before the call."""
    spec = KERNELS[name]
    a = make_inputs()
    fn, args = spec.fastae(a)
    twin, twin_args = spec.numpy(a)
    saved = {i: args[i].copy() for i in spec.fresh}
    returned = fn(*args)
    spec.check(args, returned, twin(*twin_args))
    for i, value in saved.items():
        np.copyto(args[i], value)
    return (fn, args, saved), (twin, twin_args)


def test_fastae(benchmark, request, kernel):
    (fn, args, saved), _ = prepared(kernel)
    benchmark.group = kernel
    if not saved:
        benchmark(fn, *args)
        return

    def setup():
        for i, value in saved.items():
            np.copyto(args[i], value)
        return args, {}

    # pedantic runs exactly ``rounds`` rounds of one call: choose them as benchmark() would,
    # from --benchmark-max-time and --benchmark-min-rounds and one call's time.
    duration = min(_seconds(fn, args, setup) for _ in range(3))
    max_time = float(request.config.getoption("benchmark_max_time"))  # a string, as given
    min_rounds = int(request.config.getoption("benchmark_min_rounds"))
    rounds = max(min_rounds, ceil(max_time / max(duration, 1e-7)))
    benchmark.pedantic(fn, setup=setup, rounds=rounds)


def _seconds(fn, args, setup):
    setup()
    start = perf_counter()
    fn(*args)
    return perf_counter() - start


def test_numpy(benchmark, kernel):
    _, (twin, twin_args) = prepared(kernel)
    benchmark.group = kernel
    benchmark(twin, *twin_args)
