"""What the CUDA backend asks of the device per training step and per epoch: kernel
launches (``cuda_device.COUNTS``), and no allocation, view or copy per batch (counted both
by ``cuda_device`` and, independently, on numba's own device arrays).

Under ``NUMBA_ENABLE_CUDASIM=1`` on a machine without a GPU, as ``tests/test_cuda.py``;
tiny sizes and launch shapes. Each test compares two epochs of the same model that differ
only in their number of batches: whatever is per batch shows in the difference.
"""
import warnings

import numpy as np
import pytest

from fastae import Autoencoder, StackedClassifier, config, stopping

cuda_mod = pytest.importorskip("fastae.backends.cuda", reason="numba's CUDA support is not installed")
if cuda_mod.cuda_unavailable_reason() is not None:
    pytest.skip(
        "no CUDA device; set NUMBA_ENABLE_CUDASIM=1 before Python starts to use the simulator",
        allow_module_level=True,
    )
from numba import cuda  # noqa: E402  (only after the availability check)

from fastae.backends import cuda_device  # noqa: E402
from fastae.backends import cuda_kernels as ck  # noqa: E402

B = 4  # batch size: 3 batches in 12 rows (the last of 4), 5 in 19 (the last of 3)


@pytest.fixture(autouse=True)
def tiny_launches(monkeypatch):
    monkeypatch.setattr(config, "CUDA_THREADS_PER_BLOCK", 8)
    monkeypatch.setattr(config, "CUDA_MAX_BLOCKS", 3)
    monkeypatch.setattr(config, "CUDA_GEMM_TILE", (2, 2, 2, 2, 4))


@pytest.fixture
def numba_counts(monkeypatch):
    """Counts of what numba itself is asked for, outside ``cuda_device``: device arrays
    made, copies each way, and views of device arrays (slices or rows taken on the host;
    indexing inside a kernel yields numbers, not views)."""
    counts = {"arrays": 0, "to_device": 0, "to_host": 0, "views": 0}
    array_type = type(cuda.device_array(1))

    def counted(fn, key):
        def wrapper(*args, **kwargs):
            counts[key] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(cuda, "device_array", counted(cuda.device_array, "arrays"))
    monkeypatch.setattr(cuda, "to_device", counted(cuda.to_device, "arrays"))
    monkeypatch.setattr(array_type, "copy_to_host", counted(array_type.copy_to_host, "to_host"))
    monkeypatch.setattr(array_type, "copy_to_device", counted(array_type.copy_to_device, "to_device"))
    getitem = array_type.__getitem__

    def view_counted(self, index):
        out = getitem(self, index)
        if isinstance(out, array_type):
            counts["views"] += 1
        return out

    monkeypatch.setattr(array_type, "__getitem__", view_counted)
    return counts


def measured(numba_counts, fit):
    """``cuda_device.COUNTS`` and ``numba_counts`` over one call of ``fit``."""
    cuda_device.reset()
    before = dict(numba_counts)
    fit()
    return cuda_device.counts(), {k: v - before[k] for k, v in numba_counts.items()}


def per_batch(numba_counts, fit_rows):
    """Launches per batch from an epoch on 12 rows (3 batches) and one on 19 (5), whose
    other counts must agree."""
    fit_rows(12)  # makes what is kept between calls
    (ours3, numba3), (ours5, numba5) = (measured(numba_counts, lambda n=n: fit_rows(n)) for n in (12, 19))
    launches = (ours5.pop("launches") - ours3.pop("launches")) / 2
    assert ours5 == ours3, "allocations or copies per batch"
    assert numba5 == numba3, "device arrays, copies or views per batch"
    return launches


@pytest.mark.parametrize("sparsity", [(0.1, 0.5), None], ids=["kl", "plain"])
def test_an_autoencoder_step_is_six_launches_and_allocates_copies_and_slices_nothing(rng, numba_counts, sparsity):
    X = rng.random((19, 9)).astype(np.float32)
    model = Autoencoder(9, 5, corruption=0.2, sparsity=sparsity, seed=3, device="cuda")
    launches = per_batch(numba_counts, lambda n: model.fit(X[:n], 1, 0.1, batch_size=B))
    assert launches == 6


@pytest.mark.parametrize(("sizes", "expected"), [([6, 5, 4], 10), ([6, 5], 7)], ids=["3-layers", "2-layers"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_classifier_step_is_3L_plus_1_launches_and_allocates_copies_and_slices_nothing(rng, numba_counts, sizes,
                                                                                        expected, optimizer):
    """``L`` weight layers: the input's draw, ``L`` products forward, the softmax, ``L - 1``
    products back and ``L`` fused gradient-and-update products; 10 for Q3's 784-625-100-10."""
    X = rng.random((19, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=19)
    model = StackedClassifier(sizes, 3, seed=2, device="cuda")
    launches = per_batch(numba_counts, lambda n: model.fit(X[:n], y[:n], 1, 0.05, B, optimizer=optimizer,
                                                          corruption=0.1))
    assert launches == expected == 3 * len(sizes) + 1


def test_evaluation_after_each_epoch_stays_on_the_device(rng, numba_counts, monkeypatch):
    """Each evaluation set costs one read-back (its hit count) per epoch, whatever its
    size, and its accuracy is the host's (computed in chunks of EVAL_CHUNK rows)."""
    monkeypatch.setattr(config, "EVAL_CHUNK", 8)
    X = rng.random((20, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=20)
    Xv, yv = rng.random((19, 6)).astype(np.float32), rng.integers(0, 3, size=19)
    model = StackedClassifier([6, 5, 4], 3, seed=2, device="cuda")
    sets = {"v": (Xv, yv), "w": (Xv[:5], yv[:5])}
    model.fit(X, y, 1, 0.05, B, eval_sets=sets)
    (plain, numba_plain), (evaluated, numba_evaluated) = (
        measured(numba_counts, lambda s=s: model.fit(X, y, 2, 0.05, B, eval_sets=s)) for s in (None, sets)
    )
    assert evaluated["to_host"] - plain["to_host"] == 2 * 2  # two sets, two epochs
    assert numba_evaluated["to_host"] - numba_plain["to_host"] == 2 * 2
    history = model.fit(X, y, 1, 0.05, B, eval_sets=sets)
    assert history["accuracy_v"][-1] == pytest.approx(model.accuracy(Xv, yv), abs=1e-12)
    assert history["accuracy_w"][-1] == pytest.approx(model.accuracy(Xv[:5], yv[:5]), abs=1e-12)


def test_ctrl_c_is_read_every_stop_check_batches(rng, monkeypatch):
    """Ctrl-C during the 3rd batch stops the loop before batch STOP_CHECK_BATCHES + 1 (the
    next time the flag is read); the model then resumes to the uninterrupted result."""
    from fastae import TrainingInterrupted

    K = config.STOP_CHECK_BATCHES
    X = rng.random((K + 3, 6)).astype(np.float32)
    make = lambda: Autoencoder(6, 4, corruption=0.2, seed=3, device="cuda")  # noqa: E731
    whole = make()
    whole.fit(X, 1, 0.1, batch_size=1)
    stops, drawn, draw = [], [], ck.draw

    def new_stop():
        stops.append(np.array([0, stopping.NO_LIMIT], dtype=np.int64))
        return stops[-1]

    def draw_and_press_ctrl_c(*args):
        drawn.append(1)
        if len(drawn) == 3:
            stops[-1][0] = 1
        draw(*args)

    monkeypatch.setattr(stopping, "new_stop", new_stop)
    monkeypatch.setattr(ck, "draw", draw_and_press_ctrl_c)
    part = make()
    with pytest.raises(TrainingInterrupted):
        part.fit(X, 1, 0.1, batch_size=1)
    assert len(drawn) == K and part.partial_epoch["row"] == K
    monkeypatch.setattr(ck, "draw", draw)
    part.fit(X, 1, 0.1, batch_size=1)
    for k, v in whole.params().items():
        np.testing.assert_allclose(part.params()[k], v, rtol=1e-6, atol=1e-7)


def test_small_grids_launch_without_the_low_occupancy_warning():
    """numba-cuda warns of each launch of under 128 blocks, worded as below (on a GPU; the
    simulator does not warn). fastae's launches hide that warning and nothing else: the
    same warning from a user's own launch, after fastae's, still shows."""
    ran = []
    text = "Grid size {} will likely result in GPU under-utilization due to low occupancy."

    class Kernel:
        def __getitem__(self, launch):
            grid, _ = launch
            blocks = grid if isinstance(grid, int) else int(np.prod(grid))
            if blocks < 128:
                warnings.warn(text.format(blocks))
            return lambda *args: ran.append((grid, args))

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cuda_device.launch(Kernel(), 3, 32, "a")
        cuda_device.launch(Kernel(), (4, 8), 32, "b")
        cuda_device.launch(Kernel(), (4, 64), 32, "c")
        Kernel()[2, 32]()
    assert ran[:3] == [(3, ("a",)), ((4, 8), ("b",)), ((4, 64), ("c",))]
    assert [str(w.message) for w in seen] == [text.format(2)]
