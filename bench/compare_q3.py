"""Q3's three training stages, one epoch each, in fastae, in the NumPy reference and, when it
can be imported, in PyTorch (CPU, eager, autograd), interleaved.

fastae runs as it trains (``fastae``: MNIST's sparse pixels split into a dense prefix and a
sparse tail, see README "Sparse inputs"; layer 2's steps in row parts, a thread each, see
"Threads"; fine-tuning's in parts too), with every product dense (``fastae, no split``:
``fastae.config.SPLIT_TAIL_DENSITY = 0``) and, with layer 2 and fine-tuning, with their steps
whole (``fastae, no parts``: ``fastae.config.STEP_PARTS = False``). The share of the GEMM peak counts every
epoch's FLOPs as dense products, whichever way they were computed.

Stages: ``layer1`` (784-625-784 denoising autoencoder, batch 128, 10 % masking, CE + KL,
SGD), ``layer2`` (625-100-625 on layer-1 codes, no noise) and ``finetune`` (784-625-100-10
classifier, softmax CE, Adam). Each timed epoch starts after a garbage collection and a
pause of ``PAUSE`` seconds (see ``compare``). Prints each round's seconds, the medians,
the ratios and each one's share of this machine's fp32 GEMM peak, measured here with a
2048^3 float32 product.

Usage::

    python bench/compare_q3.py [--images 60000] [--rounds 3] [--stages layer1,layer2,finetune]
    python bench/compare_q3.py --consistency [--no-split]   # layer 1: 5 epochs in each of 3 processes
    python bench/compare_q3.py --bytes [--stages layer1,finetune]   # adds fastae on MNIST's uint8 pixels

``--bytes`` adds ``fastae, bytes``: the same stages trained on the images as bytes (uint8,
scaled by 1/255 in the batch gather) instead of float32.
"""
import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import q3_numpy  # noqa: E402

from fastae import Autoencoder, StackedClassifier, config  # noqa: E402

B = 128
STAGES = ("layer1", "layer2", "finetune")
PAUSE = 0.5  # seconds before each timed epoch


def gemm_peak(n=2048, repeats=5):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    return 2 * n**3 / min(_timed(lambda: a @ a) for _ in range(repeats))


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def stage_flops(stage, n):
    """Multiply-adds of one epoch, times 2."""
    if stage == "layer1":  # X~W, HW^T, dY W, and dW's two paths
        return 2 * n * 784 * 625 * 5
    if stage == "layer2":
        return 2 * n * 625 * 100 * 5
    # forward X W1, H1 W2, H2 V; backward dV, dH2, dW2, dH1, dW1 (no gradient for X)
    return 2 * n * (2 * 784 * 625 + 3 * 625 * 100 + 3 * 100 * 10)


def load_data(n):
    try:
        from fastae.datasets import load_mnist

        mnist = load_mnist()
        return mnist.train_images[:n], mnist.train_labels[:n], "MNIST"
    except Exception:
        rng = np.random.default_rng(0)
        return (rng.random((n, 784)) < 0.2).astype(np.float32), rng.integers(0, 10, n), "random binary images"


def fastae_stages(X, y):
    """``(stages, warm-ups, layer-1 codes)``: each stage's epoch, and a call of its fit on
    256 rows that compiles its loop (outside the timing)."""
    ae1 = Autoencoder(784, 625, corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform")
    warm = {"layer1": lambda: ae1.fit(X[:256], 1, 0.1, batch_size=B)}
    warm["layer1"]()
    codes = ae1.encode(X)
    ae2 = Autoencoder(625, 100, sparsity=(0.02, 0.4), init="sigmoid_uniform", seed=1)
    clf = StackedClassifier.from_autoencoders([ae1, ae2], 10, seed=2)
    warm["layer2"] = lambda: ae2.fit(codes[:256], 1, 0.1, batch_size=B)
    warm["finetune"] = lambda: clf.fit(X[:256], y[:256], 1, 0.001, B, optimizer="adam")
    # A call this short would run its steps whole: it compiles the steps in parts as well.
    warm = {name: with_settings({name: f}, {}, PARTS_MIN_CALL_WORK=0, CLASSIFIER_PARTS_MIN_CALL_WORK=0)[name]
            for name, f in warm.items()}
    warm["layer2"]()
    warm["finetune"]()
    return {
        "layer1": lambda: ae1.fit(X, 1, 0.1, batch_size=B),
        "layer2": lambda: ae2.fit(codes, 1, 0.1, batch_size=B),
        "finetune": lambda: clf.fit(X, y, 1, 0.001, B, optimizer="adam"),
    }, warm, codes


def with_settings(stages, warm, **settings):
    """The same calls with ``fastae.config`` changed as in ``settings`` while each runs,
    their loops compiled first (``warm``)."""

    def changed(f):
        def run():
            saved = {name: getattr(config, name) for name in settings}
            vars(config).update(settings)
            try:
                f()
            finally:
                vars(config).update(saved)

        return run

    for f in warm.values():
        changed(f)()
    return {name: changed(f) for name, f in stages.items()}


def numpy_stages(X, y, codes):
    rng = np.random.default_rng(0)

    def ae(n_in, n_out):
        bound = 4 * np.sqrt(6 / (n_in + n_out))
        W = rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)
        return W, np.zeros(n_out, np.float32), np.zeros(n_in, np.float32)

    l1, l2 = ae(784, 625), ae(625, 100)
    weights = [l1[0].copy(), l2[0].copy(), np.zeros((100, 10), np.float32)]
    biases = [np.zeros(625, np.float32), np.zeros(100, np.float32), np.zeros(10, np.float32)]
    params = weights + biases
    state = {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}
    n = len(X)
    return {
        "layer1": lambda: q3_numpy.epoch(*l1, X, rng.permutation(n), rng=rng),
        "layer2": lambda: q3_numpy.epoch(*l2, codes, rng.permutation(n), corruption=0.0, rng=rng),
        "finetune": lambda: q3_numpy.finetune_epoch(weights, biases, X, y, rng.permutation(n), state),
    }


def torch_ae_epoch(data, n_in, n_out, corruption, device="cpu"):
    """One epoch of a tied autoencoder in PyTorch (autograd + SGD), as a callable; the data
    and the parameters live on ``device``, and a GPU epoch ends with a synchronize."""
    import torch

    bound = 4 * np.sqrt(6 / (n_in + n_out))
    W = ((torch.rand(n_in, n_out, device=device) * 2 - 1) * bound).requires_grad_()
    b = torch.zeros(n_out, device=device, requires_grad=True)
    c = torch.zeros(n_in, device=device, requires_grad=True)
    opt = torch.optim.SGD([W, b, c], lr=0.1)
    data = torch.from_numpy(data).to(device)

    def epoch():
        order = torch.randperm(len(data), device=device)
        for start in range(0, len(data), B):
            x = data[order[start : start + B]]
            xt = x * (torch.rand_like(x) >= corruption) if corruption else x
            h = torch.sigmoid(xt @ W + b)
            z = h @ W.T + c
            ce = torch.nn.functional.binary_cross_entropy_with_logits(z, x, reduction="sum") / len(x)
            q = h.mean(0).clamp(1e-6, 1 - 1e-6)
            kl = (0.02 * torch.log(0.02 / q) + 0.98 * torch.log(0.98 / (1 - q))).sum()
            opt.zero_grad()
            (ce + 0.4 * kl).backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()

    return epoch


def torch_stages(X, y, codes):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 625), torch.nn.Sigmoid(), torch.nn.Linear(625, 100), torch.nn.Sigmoid(),
        torch.nn.Linear(100, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(np.asarray(y, np.int64))

    def finetune():
        order = torch.randperm(len(Xt))
        for start in range(0, len(Xt), B):
            rows = order[start : start + B]
            loss = torch.nn.functional.cross_entropy(net(Xt[rows]), yt[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return {
        "layer1": torch_ae_epoch(X, 784, 625, 0.1),
        "layer2": torch_ae_epoch(codes, 625, 100, 0.0),
        "finetune": finetune,
    }, torch.__version__


def compare(args):
    X, y, source = load_data(args.images)
    stages = [s for s in args.stages.split(",") if s]
    impls = {}
    impls["fastae"], warm, codes = fastae_stages(X, y)
    impls["fastae, no split"] = with_settings(impls["fastae"], warm, SPLIT_TAIL_DENSITY=0.0)
    parted = [s for s in stages if s in ("layer2", "finetune")]  # the stages whose steps run in parts
    if parted:
        impls["fastae, no parts"] = with_settings({s: impls["fastae"][s] for s in parted},
                                                  {s: warm[s] for s in parted}, STEP_PARTS=False)
    if args.bytes:
        impls["fastae, bytes"], _, _ = fastae_stages(np.rint(X * 255).astype(np.uint8), y)
    impls["numpy"] = numpy_stages(X, y, codes)
    try:
        impls["pytorch"], version = torch_stages(X, y, codes)
        print(f"pytorch {version}, {__import__('torch').get_num_threads()} threads")
    except ImportError:
        print("pytorch: not importable, skipped (pip install torch==2.13.0)")
    peak = gemm_peak()
    print(f"data: {len(X)} {source}; fp32 GEMM peak measured here: {peak / 1e9:.0f} GFLOP/s")
    times = {(s, k): [] for s in stages for k in impls if s in impls[k]}
    for r in range(args.rounds):
        for s in stages:
            for k in (k for k in impls if s in impls[k]):
                # Start clean: collect the previous call's garbage (PyTorch's epoch leaves enough
                # that collecting it inside the next timed epoch cost that epoch up to 0.15 s) and
                # let its idle threads fall asleep.
                gc.collect()
                time.sleep(PAUSE)
                times[s, k].append(_timed(impls[k][s]))
        print(f"round {r + 1}: " + ", ".join(f"{s} {k} {times[s, k][-1]:.2f} s" for s, k in times))
    print(f"\n{'stage':<10}{'implementation':<18}{'median s':>10}{'best s':>9}{'vs fastae':>11}{'GEMM peak':>11}")
    for s in stages:
        base = statistics.median(times[s, "fastae"])
        for k in (k for k in impls if (s, k) in times):
            med = statistics.median(times[s, k])
            share = stage_flops(s, len(X)) / med / peak
            print(f"{s:<10}{k:<18}{med:>10.2f}{min(times[s, k]):>9.2f}{med / base:>10.2f}x{share:>10.0%}")


def one_process(args):
    """Child of --consistency: layer-1 epochs of one ``fit`` call (as ``fastae run q3``
    trains), each epoch's seconds taken at the trainer's per-epoch callback; JSON on stdout."""
    X, _, _ = load_data(args.images)
    if args.no_split:
        config.SPLIT_TAIL_DENSITY = 0.0
    model = Autoencoder(784, 625, corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform")
    model.fit(X[:256], 1, 0.1, batch_size=B)  # compile outside the timing
    stamps = [time.perf_counter()]
    model.fit(X, args.epochs, 0.1, batch_size=B, chunk_epochs=1, callback=lambda *_: stamps.append(time.perf_counter()))
    print(json.dumps(np.diff(stamps).tolist()))


def consistency(args):
    peak = gemm_peak()
    flops = stage_flops("layer1", args.images)
    print(f"fp32 GEMM peak measured here: {peak / 1e9:.0f} GFLOP/s; layer 1{' (no split)' * args.no_split}, "
          f"{args.images} images, {args.epochs} epochs in each of {args.processes} processes")
    for p in range(args.processes):
        out = subprocess.run(
            [sys.executable, __file__, "--one-process", "--images", str(args.images), "--epochs", str(args.epochs)]
            + ["--no-split"] * args.no_split,
            check=True, capture_output=True, text=True,
        ).stdout
        ts = json.loads(out.strip().splitlines()[-1])
        med, worst = statistics.median(ts), max(ts)
        print(f"process {p + 1}: " + " ".join(f"{t:.2f}" for t in ts)
              + f" s; median {med:.2f} s = {flops / med / peak:.0%} of peak, worst {worst:.2f} s = "
              f"{flops / worst / peak:.0%}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--consistency", action="store_true", help="Layer 1 only, in separate processes.")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--no-split", action="store_true", help="With --consistency: every product dense.")
    parser.add_argument("--bytes", action="store_true", help="Also time fastae on the images as uint8.")
    parser.add_argument("--one-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_process:
        one_process(args)
    elif args.consistency:
        consistency(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
