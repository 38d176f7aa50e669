"""fastae's DenoisingAutoencoder against scikit-learn's BernoulliRBM as features for a
logistic regression, on the digits data of scikit-learn's example "Restricted Boltzmann
Machine features for digit classification".

The data are built as in that example: the 1,797 8x8 digits as float32, each also moved by
one pixel up, left, right and down (``scipy.ndimage.convolve`` with the example's four
direction kernels, zeros filled in), so 8,985 images; every pixel column scaled into
[0, 1] (``minmax_scale``); 20 % held out for testing (``train_test_split``,
``random_state=0``).

Rows: logistic regression on the raw pixels; ``Pipeline([BernoulliRBM(n_components=100,
learning_rate=0.06, n_iter=10), head])``, the example's RBM; ``Pipeline([
DenoisingAutoencoder(hidden_layer_sizes=(100,)), head])`` with fastae's defaults; and
``StackedAutoencoderClassifier()`` with its defaults, which is its own head. Each feature
extractor runs with ``random_state`` 0, 1, ... (``--seeds``); the table gives the mean
test accuracy over the seeds and, in brackets, the lowest and highest.

Columns: the logistic head. ``C=6000`` is the example's head, ``LogisticRegression(
solver="newton-cg", C=6000)`` on the features and ``C=100`` on the raw pixels, C having
been chosen by the example's grid search for the RBM; it runs with the default tol,
because the example's ``tol=1`` stops newton-cg before its first step on scikit-learn 1.9
(every test image gets the same class, 9.7 %). ``default`` is ``LogisticRegression()``
(C=1) as a user writes it without tuning (``max_iter=1000`` so that it converges).
``CV`` is ``LogisticRegressionCV`` choosing C in 1, 10, ..., 10^4 by 3-fold
cross-validation on the training set, for each feature extractor alone.

Usage::

    python bench/sklearn_digits.py [--seeds 5]
"""
import argparse
import time
import warnings

import numpy as np
from scipy.ndimage import convolve
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM
from sklearn.preprocessing import minmax_scale

import fastae
from fastae.sklearn import DenoisingAutoencoder, StackedAutoencoderClassifier

#: The example's kernels: convolving with each moves an image by one pixel.
DIRECTIONS = np.array([
    [[0, 1, 0], [0, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [0, 0, 1], [0, 0, 0]],
    [[0, 0, 0], [0, 0, 0], [0, 1, 0]],
])

HEADS = {
    "C=6000": lambda raw: LogisticRegression(solver="newton-cg", C=100.0 if raw else 6000.0),
    "default": lambda raw: LogisticRegression(max_iter=1000),
    "CV": lambda raw: LogisticRegressionCV(Cs=[1, 10, 100, 1000, 10000], cv=3, solver="newton-cg",
                                           scoring="accuracy"),
}


CLASSIFIER = "fastae StackedAutoencoderClassifier(), defaults, with its own softmax layer"


def nudged_digits():
    """``(X_train, X_test, y_train, y_test)`` exactly as the example builds them."""
    X, y = load_digits(return_X_y=True)
    images = np.asarray(X, "float32").reshape(-1, 8, 8)
    moved = [convolve(images, w[None], mode="constant") for w in DIRECTIONS]  # each image on its own
    X = np.concatenate([images] + moved).reshape(-1, 64)
    y = np.concatenate([y] * (1 + len(DIRECTIONS)))
    X = minmax_scale(X, feature_range=(0, 1))
    return train_test_split(X, y, test_size=0.2, random_state=0)


def extractors(seed):
    return {
        "BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10)":
            BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10, random_state=seed),
        "fastae DenoisingAutoencoder(hidden_layer_sizes=(100,)), defaults":
            DenoisingAutoencoder(hidden_layer_sizes=(100,), random_state=seed),
    }


def cell(values):
    values = 100 * np.asarray(values)
    if len(values) == 1:
        return f"{values[0]:.2f} %"
    return f"{values.mean():.2f} % ({values.min():.2f}-{values.max():.2f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="random_state 0 .. seeds-1 for each extractor")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", FutureWarning)  # LogisticRegressionCV announcing new defaults
    X_train, X_test, y_train, y_test = nudged_digits()
    print(f"digits, nudged: {len(X_train)} training and {len(X_test)} test images; fastae {fastae.__version__}")

    rows = {"logistic regression on the raw pixels": ({h: [make(True).fit(X_train, y_train).score(X_test, y_test)]
                                                       for h, make in HEADS.items()}, [])}
    for seed in range(args.seeds):
        for name, extractor in extractors(seed).items():
            start = time.perf_counter()
            train = extractor.fit_transform(X_train)
            seconds = time.perf_counter() - start
            test = extractor.transform(X_test)
            scores, times = rows.setdefault(name, ({h: [] for h in HEADS}, []))
            times.append(seconds)
            for h, make in HEADS.items():
                scores[h].append(make(False).fit(train, y_train).score(test, y_test))
            print(f"  seed {seed}: {name}: fit {seconds:.2f} s, "
                  + ", ".join(f"{h} {100 * s[-1]:.2f} %" for h, s in scores.items()), flush=True)
        start = time.perf_counter()
        clf = StackedAutoencoderClassifier(random_state=seed).fit(X_train, y_train)
        scores, times = rows.setdefault(CLASSIFIER, ({"own": []}, []))
        times.append(time.perf_counter() - start)
        scores["own"].append(clf.score(X_test, y_test))
        print(f"  seed {seed}: {CLASSIFIER}: fit {times[-1]:.2f} s, {100 * scores['own'][-1]:.2f} % "
              f"({clf.n_iter_} epochs of fine-tuning)", flush=True)

    print()
    print("| features | " + " | ".join(f"head {h}" for h in HEADS) + " | fit time (median) |")
    print("| --- |" + " --- |" * (len(HEADS) + 1))
    own = rows.pop(CLASSIFIER)
    for name, (scores, times) in rows.items():
        fit = f"{np.median(times):.2f} s" if times else ""
        print(f"| {name} | " + " | ".join(cell(scores[h]) for h in HEADS) + f" | {fit} |")
    print(f"\n{CLASSIFIER}: {cell(own[0]['own'])}, fit {np.median(own[1]):.2f} s (median)")


if __name__ == "__main__":
    main()
