"""On a machine with an NVIDIA GPU: the CPU and CUDA backends side by side at Q3's real
sizes, from the same seed (same masks, same batches).

Usage: ``python bench/gpu_parity.py [--images 4096] [--epochs 2]``. Trains the layer-1
(784-625) and layer-2 (625-100) autoencoders, then fine-tunes the 784-625-100-10
classifier with Adam, once on each device, and prints the largest relative difference of
each parameter array, of the epoch losses, and both training accuracies. The tests
(``tests/test_cuda.py``) check the same at tiny sizes; this shows the agreement at the
sizes a user trains.
"""
import argparse
import sys

import numpy as np

from fastae import Autoencoder, StackedClassifier


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def report(name, gpu, cpu, losses_gpu, losses_cpu):
    worst = max(rel(gpu.params()[k], v) for k, v in cpu.params().items())
    print(f"{name:<28} parameters {worst:.1e}  epoch losses {rel(losses_gpu, losses_cpu):.1e}  (largest relative)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    try:
        from fastae.backends.cuda import cuda_unavailable_reason
    except ImportError as e:
        sys.exit(f"bench/gpu_parity.py: numba's CUDA support is not installed ({e}); pip install '.[cuda]'")
    reason = cuda_unavailable_reason()
    if reason:
        sys.exit(f"bench/gpu_parity.py: {reason}")
    try:
        from fastae.datasets import load_mnist

        data = load_mnist()
        X, y = data.train_images[: args.images], data.train_labels[: args.images]
    except Exception as e:  # no MNIST here: random binary images and labels
        print(f"MNIST not loaded ({e}); random data instead")
        rng = np.random.default_rng(0)
        X = (rng.random((args.images, 784)) < 0.2).astype(np.float32)
        y = rng.integers(0, 10, args.images)

    models, inputs = {}, X
    for name, n_in, n_hidden in (("layer 1 (784-625)", 784, 625), ("layer 2 (625-100)", 625, 100)):
        pair = {}
        for device in ("cpu", "cuda"):
            model = Autoencoder(n_in, n_hidden, corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform",
                                seed=1, device=device)
            pair[device] = (model, model.fit(inputs, args.epochs, 0.1, batch_size=128))
        report(name, pair["cuda"][0], pair["cpu"][0], pair["cuda"][1], pair["cpu"][1])
        models[name] = pair
        inputs = pair["cpu"][0].encode(inputs)

    histories = {}
    for device in ("cpu", "cuda"):
        encoders = [pair[device][0] for pair in models.values()]
        clf = StackedClassifier.from_autoencoders(encoders, 10, seed=2, device=device)
        histories[device] = (clf, clf.fit(X, y, args.epochs, 0.001, 128, optimizer="adam"))
    (clf_cpu, h_cpu), (clf_gpu, h_gpu) = histories["cpu"], histories["cuda"]
    report("fine-tuning (Adam)", clf_gpu, clf_cpu, h_gpu["loss"], h_cpu["loss"])
    print(f"{'':<28} training accuracy cpu {h_cpu['train_accuracy']}, cuda {h_gpu['train_accuracy']}")


if __name__ == "__main__":
    main()
