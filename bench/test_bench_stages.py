"""Q3: one epoch of each training stage in fastae against the NumPy reference, on MNIST.

Run: ``FASTAE_DATA=/path/to/mnist pytest bench/test_bench_stages.py --benchmark-only``
(skipped without ``FASTAE_DATA``). A call is one epoch over the first
``FASTAE_BENCH_IMAGES`` training images (default 10000; 60000 is a full Q3 epoch) of a
stage, in the benchmark group of that stage:

* ``layer1``: the 784-625-784 denoising autoencoder (batch 128, 10 % masking, CE + KL, SGD);
* ``layer2``: the 625-100-625 autoencoder on layer-1 codes (no noise);
* ``finetune``: the 784-625-100-10 classifier (softmax CE, Adam).

The stages are set up as bench/compare_q3.py sets them up (its ``fastae_stages`` and
``numpy_stages``, NumPy side from bench/q3_numpy.py); fastae's are compiled there, on 256
images, before any timing. Models keep training from round to round, as in compare_q3.py.
"""
import os

import pytest

DATA = os.environ.get("FASTAE_DATA")
pytestmark = pytest.mark.skipif(
    not DATA, reason="FASTAE_DATA is unset: set it to the directory holding the four MNIST files"
)

STAGES = ("layer1", "layer2", "finetune")


def n_images():
    value = os.environ.get("FASTAE_BENCH_IMAGES", "10000")
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= 60000:
        raise pytest.UsageError(f"FASTAE_BENCH_IMAGES: expected an integer in 1..60000, got {value!r}")
    return n


@pytest.fixture(scope="module")
def stages():
    """Every stage's one-epoch call, in both implementations, built once for the module."""
    import compare_q3

    from fastae.datasets import load_mnist

    mnist = load_mnist(DATA)  # read where it lies, never copied or downloaded
    n = n_images()
    X, y = mnist.train_images[:n], mnist.train_labels[:n]
    fastae, _, codes = compare_q3.fastae_stages(X, y)  # compiles each stage before returning
    return {"fastae": fastae, "numpy": compare_q3.numpy_stages(X, y, codes), "images": n}


@pytest.fixture(params=STAGES)
def stage(request):
    return request.param


def test_fastae(benchmark, stages, stage):
    benchmark.group = stage
    benchmark.extra_info["images"] = stages["images"]
    benchmark(stages["fastae"][stage])


def test_numpy(benchmark, stages, stage):
    benchmark.group = stage
    benchmark.extra_info["images"] = stages["images"]
    benchmark(stages["numpy"][stage])
