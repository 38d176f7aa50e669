"""Q3 layer 1 (784-625-784, batch 128, 10 % masking, CE + KL): one epoch in fastae, in the
NumPy reference and, when it can be imported, in PyTorch (CPU, eager, autograd), interleaved.

Usage: ``python bench/compare_q3.py [--images 60000] [--rounds 3]``. Prints each round's
seconds per epoch, the medians, the ratios, and each one's share of this machine's fp32
GEMM peak, itself measured here with a 2048^3 float32 matmul.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import q3_numpy  # noqa: E402

from fastae import Autoencoder  # noqa: E402

V, H, B = 784, 625, 128


def gemm_peak(n=2048, repeats=5):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def epoch_flops(n_images):
    """5 GEMMs a step: X~W, HW^T, dY W, and the two paths of dW (one K = 2B product)."""
    return 2 * n_images * V * H * 5


def make_torch_epoch(X):
    import torch

    torch.manual_seed(0)
    Xt = torch.from_numpy(X)
    bound = 4 * np.sqrt(6 / (V + H))
    W = ((torch.rand(V, H) * 2 - 1) * bound).requires_grad_()
    b = torch.zeros(H, requires_grad=True)
    c = torch.zeros(V, requires_grad=True)
    opt = torch.optim.SGD([W, b, c], lr=0.1)

    def epoch():
        order = torch.randperm(len(Xt))
        for start in range(0, len(Xt), B):
            x = Xt[order[start : start + B]]
            xt = x * (torch.rand_like(x) >= 0.1)
            h = torch.sigmoid(xt @ W + b)
            z = h @ W.T + c
            ce = torch.nn.functional.binary_cross_entropy_with_logits(z, x, reduction="sum") / len(x)
            q = h.mean(0).clamp(1e-6, 1 - 1e-6)
            kl = (0.02 * torch.log(0.02 / q) + 0.98 * torch.log(0.98 / (1 - q))).sum()
            loss = ce + 0.4 * kl
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch, torch.__version__


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    try:
        from fastae.datasets import load_mnist

        X = load_mnist().train_images[: args.images]
        source = "MNIST"
    except Exception:
        X = (rng.random((args.images, V)) < 0.2).astype(np.float32)
        source = "random binary images"
    n = len(X)

    model = Autoencoder(V, H, corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform")
    model.fit(X[:256], 1, 0.1, batch_size=B)  # compile outside the timing
    W, bb, cc = model.W.copy(), model.b.copy(), model.c.copy()
    impls = {
        "fastae": lambda: model.fit(X, 1, 0.1, batch_size=B),
        "numpy": lambda: q3_numpy.epoch(W, bb, cc, X, rng.permutation(n)),
    }
    try:
        torch_epoch, version = make_torch_epoch(X)
        impls[f"pytorch {version}"] = torch_epoch
    except ImportError:
        print("pytorch: not importable, skipped (pip install torch==2.13.0)")

    peak = gemm_peak()
    print(f"data: {n} {source}; fp32 GEMM peak measured here: {peak / 1e9:.0f} GFLOP/s")
    times = {name: [] for name in impls}
    for r in range(args.rounds):
        for name, f in impls.items():
            times[name].append(_timed(f))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    flops = epoch_flops(n)
    base = statistics.median(times["fastae"])
    print(f"\n{'implementation':<22}{'median s':>10}{'best s':>9}{'vs fastae':>11}{'GEMM peak':>11}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<22}{med:>10.2f}{min(ts):>9.2f}{med / base:>10.2f}x{flops / med / peak:>10.0%}")


if __name__ == "__main__":
    main()
