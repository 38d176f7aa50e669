"""The evaluation passes of each ``fastae run q3`` epoch, each timed alone on MNIST.

Each epoch of layer 1 takes its loss on the 5,000 validation images (with one fixed
masking-noise draw), layer 2 its loss on their codes, and fine-tuning the classifier's
accuracy on the 5,000 validation and the 10,000 test images (bytes, read 4,096 rows at a
time). Untrained models of Q3's shapes; the best of 7 calls of each, in milliseconds.

Usage::

    python bench/eval_passes.py
"""
import time

import numpy as np

from fastae import Autoencoder, StackedClassifier
from fastae.datasets import load_mnist


def best_ms(call, repeats=7):
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main():
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
    total = 0.0
    for name, call in passes.items():
        ms = best_ms(call)
        total += ms
        print(f"{name:36s} {ms:7.1f} ms")
    print(f"{'all four (one epoch of each stage)':36s} {total:7.1f} ms")


if __name__ == "__main__":
    main()
