"""What a training step of the CUDA backend asks of the device: kernel launches per step,
and the device arrays and copies each way of one ``fit`` call of an epoch (Q3 calls
``fit`` once an epoch; ``fastae.backends.cuda_device.COUNTS``), for Q3's three models.

Usage: ``python bench/gpu_launches.py [--tiny]``. On a GPU it uses Q3's sizes (784-625,
625-100, 784-625-100-10 with Adam, batches of 128) and also prints the time of a step;
``--tiny`` (the default under ``NUMBA_ENABLE_CUDASIM=1``, whose threads run in Python)
shrinks every layer and the launch shapes: the counts do not depend on the sizes. Each
count is the difference between an epoch of 2 * N and one of N batches, so what is made
once per call drops out.
"""
import argparse
import os
import sys
import time

import numpy as np

from fastae import Autoencoder, StackedClassifier, config
from fastae.backends import cuda_device
from fastae.backends.cuda import cuda, cuda_unavailable_reason


def epoch_counts(fit, n_rows):
    """COUNTS and seconds of ``fit(n_rows)``, after a call that compiles."""
    fit(n_rows)
    cuda_device.reset()
    cuda.synchronize()
    start = time.perf_counter()
    fit(n_rows)
    cuda.synchronize()
    return cuda_device.counts(), time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", default=bool(os.environ.get("NUMBA_ENABLE_CUDASIM")))
    parser.add_argument("--batches", type=int, default=8, help="N: batches of the shorter epoch")
    args = parser.parse_args()
    reason = cuda_unavailable_reason()
    if reason:
        sys.exit(f"bench/gpu_launches.py: {reason}")
    if args.tiny:
        config.CUDA_THREADS_PER_BLOCK, config.CUDA_MAX_BLOCKS, config.CUDA_GEMM_TILE = 8, 3, (2, 2, 2, 2, 4)
        sizes, B = (12, 9, 5, 3), 4
    else:
        sizes, B = (784, 625, 100, 10), 128
    V, H1, H2, n_classes = sizes
    rng = np.random.default_rng(0)
    n = 2 * args.batches * B
    X = (rng.random((n, V)) < 0.2).astype(np.float32)
    codes = rng.random((n, H1)).astype(np.float32)
    y = rng.integers(0, n_classes, size=n)
    ae1 = Autoencoder(V, H1, corruption=0.1, sparsity=(0.02, 0.4), device="cuda")
    ae2 = Autoencoder(H1, H2, corruption=0.1, sparsity=(0.02, 0.4), device="cuda")
    clf = StackedClassifier([V, H1, H2], n_classes, device="cuda")
    models = {
        f"autoencoder {V}-{H1} (noise, CE + KL)": lambda m: ae1.fit(X[:m], 1, 0.1, batch_size=B),
        f"autoencoder {H1}-{H2} (noise, CE + KL)": lambda m: ae2.fit(codes[:m], 1, 0.1, batch_size=B),
        f"classifier {V}-{H1}-{H2}-{n_classes} (Adam)": lambda m: clf.fit(X[:m], y[:m], 1, 0.001, B, optimizer="adam"),
    }
    print(f"{'model':<42} launches/step  arrays/call  to device/call  to host/call  step")
    for name, fit in models.items():
        (short, t_short), (long, t_long) = (epoch_counts(fit, m * B) for m in (args.batches, 2 * args.batches))
        per = {k: (long[k] - short[k]) / args.batches for k in long}
        fixed = {k: short[k] - per[k] * args.batches for k in short}
        step = (t_long - t_short) / args.batches
        print(f"{name:<42} {per['launches']:>13g}  {fixed['allocations']:>11g}  {fixed['to_device']:>14g}  "
              f"{fixed['to_host']:>12g}  {1e6 * step:.0f} us"
              + ("" if per["allocations"] == per["to_device"] == per["to_host"] == 0 else "  (per batch too!)"))


if __name__ == "__main__":
    main()
