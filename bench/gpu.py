"""On a machine with an NVIDIA GPU: one Q3 layer-1 epoch with ``device="cuda"`` against the
same epoch in PyTorch on the same GPU (when it can be imported), and the whole
``fastae run q3 --device cuda``.

Usage: ``python bench/gpu.py [--images 60000] [--rounds 3] [--skip-run] [--run-limit 900]``.
Prints each round's seconds, the medians and the ratio, the kernel launches of the timed
epochs (``cuda_device.COUNTS``), then the time and test accuracy of the full exercise
(stopped after ``--run-limit`` seconds). Timings synchronise the device and leave
compilation out (one warm-up epoch on a few batches).
"""
import json
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from compare_q3 import torch_ae_epoch  # noqa: E402

from fastae import Autoencoder  # noqa: E402
from fastae.backends import cuda_device  # noqa: E402
from fastae.backends.cuda import cuda, cuda_unavailable_reason  # noqa: E402

V, H, B = 784, 625, 128


def make_torch_epoch(X):
    import torch

    epoch = torch_ae_epoch(X, V, H, 0.1, device="cuda")
    return epoch, f"pytorch {torch.__version__} on {torch.cuda.get_device_name()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-run", action="store_true", help="Do not time the whole fastae run q3.")
    parser.add_argument("--run-limit", type=float, default=900, help="Seconds the whole run may take.")
    args = parser.parse_args()
    reason = cuda_unavailable_reason()
    if reason:
        sys.exit(f"bench/gpu.py: {reason}")

    try:
        from fastae.datasets import load_mnist

        X = load_mnist().train_images[: args.images]
    except Exception:
        X = (np.random.default_rng(0).random((args.images, V)) < 0.2).astype(np.float32)

    model = Autoencoder(V, H, corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform", device="cuda")
    model.fit(X[:512], 1, 0.1, batch_size=B)  # compile outside the timing

    def fastae_epoch():
        model.fit(X, 1, 0.1, batch_size=B)
        cuda.synchronize()

    gpu = cuda.get_current_device().name
    impls = {f"fastae on {gpu.decode() if isinstance(gpu, bytes) else gpu}": fastae_epoch}
    try:
        torch_epoch, name = make_torch_epoch(X)
        torch_epoch()  # warm-up
        impls[name] = torch_epoch
    except ImportError:
        print("pytorch: not importable, skipped")
    times = {k: [] for k in impls}
    cuda_device.reset()
    for r in range(args.rounds):
        for name, f in impls.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
        print(f"round {r + 1}: " + ", ".join(f"{k}: {v[-1]:.3f} s" for k, v in times.items()))
    batches = args.rounds * -(-X.shape[0] // B)
    print(f"fastae: {cuda_device.COUNTS['launches'] / batches:.2f} kernel launches a batch "
          f"({cuda_device.COUNTS['launches']} in {batches} batches)")
    base = statistics.median(next(iter(times.values())))
    for name, ts in times.items():
        print(f"{name:<50} median {statistics.median(ts):.3f} s  ({statistics.median(ts) / base:.2f}x fastae)")

    if not args.skip_run:
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            try:
                subprocess.run(["fastae", "run", "q3", "--device", "cuda", "--out", out, "--quiet"], check=True,
                               timeout=args.run_limit)
            except subprocess.TimeoutExpired:
                sys.exit(f"fastae run q3 --device cuda: not finished after {args.run_limit:.0f} s")
            metrics = json.loads((Path(out) / "metrics.json").read_text())
            print(f"fastae run q3 --device cuda: {time.perf_counter() - t:.1f} s, "
                  f"test accuracy {100 * metrics['test_accuracy']:.2f} % (the CPU's: README, Q3)")


if __name__ == "__main__":
    main()
