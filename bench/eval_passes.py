"""The evaluation passes of each ``fastae run q3`` epoch, each timed alone on MNIST.

Each epoch of layer 1 takes its loss on the 5,000 validation images (with one fixed
masking-noise draw), layer 2 its loss on their codes, and fine-tuning the classifier's
accuracy on the 5,000 validation and the 10,000 test images (bytes, read 4,096 rows at a
time). Untrained models of Q3's shapes. Each pass runs in row parts on threads (as
fastae runs it where it finds that worth it: ``fastae.config.EVAL_PARTS_MIN_WORK``) and in
one piece (``fastae.config.STEP_PARTS = False``), in turn, ``--rounds`` times; the best
call of each, in milliseconds, and their ratio.

Usage::

    python bench/eval_passes.py [--rounds 7]
"""
import argparse
import time

import numpy as np

from fastae import Autoencoder, StackedClassifier, config
from fastae.datasets import load_mnist


def seconds(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    mnist = load_mnist(dtype=np.uint8)
    X_val, y_val = mnist.train_images[:5000], mnist.train_labels[:5000]
    X_test, y_test = mnist.test_images, mnist.test_labels
    ae1 = Autoencoder(784, 625, loss="cross_entropy", corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform")
    ae2 = Autoencoder(625, 100, loss="cross_entropy", sparsity=(0.02, 0.4), init="sigmoid_uniform", seed=1)
    clf = StackedClassifier.from_autoencoders([ae1, ae2], 10, seed=2)
    mask1 = ae1.corrupt(np.ones(X_val.shape, ae1.dtype))
    codes = ae1.encode(X_val)
    mask2 = np.ones(codes.shape, ae2.dtype)
    passes = {
        "layer 1 loss, 5,000 masked images": lambda: ae1.loss(X_val, mask=mask1),
        "layer 2 loss, 5,000 codes": lambda: ae2.loss(codes, mask=mask2),
        "classifier accuracy, 5,000 images": lambda: clf.accuracy(X_val, y_val),
        "classifier accuracy, 10,000 images": lambda: clf.accuracy(X_test, y_test),
    }
    ways = {"in parts": True, "one piece": False}
    best = {(name, way): float("inf") for name in passes for way in ways}
    for call in passes.values():  # the first calls compile, or load from numba's cache
        call()
    for _ in range(args.rounds):
        for name, call in passes.items():
            for way, parts in ways.items():
                config.STEP_PARTS = parts
                best[name, way] = min(best[name, way], seconds(call))
    config.STEP_PARTS = True
    print(f"{'best of ' + str(args.rounds) + ', ms':36s} {'in parts':>9s} {'one piece':>9s} {'ratio':>6s}")
    totals = dict.fromkeys(ways, 0.0)
    for name in passes:
        for way in ways:
            totals[way] += best[name, way]
        parts, whole = (best[name, way] * 1e3 for way in ways)
        print(f"{name:36s} {parts:9.1f} {whole:9.1f} {parts / whole:6.2f}")
    parts, whole = (totals[way] * 1e3 for way in ways)
    print(f"{'all four (one epoch of each stage)':36s} {parts:9.1f} {whole:9.1f} {parts / whole:6.2f}")


if __name__ == "__main__":
    main()
