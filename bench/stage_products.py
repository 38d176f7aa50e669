"""The BLAS products of one Q3 step, each timed alone at the real sizes, float32.

For layer 1 (784-625-784, batch 128, MNIST's split: the forward product on the 344
dense columns, the decoder's ``H W^T``, the backward ``dY W``, and the tied update: the
dense rows' product with K = 256 and the other 440 rows' ``dY^T H`` with K = 128), for
layer 2 (625-100-625, batch 128: the forward product, the decoder's ``H W^T``, the
backward ``dY W`` and the tied update's one product with K = 256) and for fine-tuning
(784-625-100-10, batch 128, the input's 344 dense columns: three forward and five
backward products). Each product runs ``REPEATS`` times inside one compiled loop through
fastae's ``gemm``, the best of 5 such loops is kept, and the script prints its
microseconds and GFLOP/s, each stage's total, and this machine's fp32 GEMM peak (a
2048^3 product). What a step spends beside its products is the stage's epoch time
(``bench/compare_q3.py``) less these totals times its steps.

``--halves`` also runs each stage's products back to back, as a step does, two ways in
turn: whole, on BLAS's threads, and each cut into two halves of its columns, one numba
thread a half with BLAS on one thread (how a step in parts could share its products);
the best of 5 loops of each, per step.

Usage::

    python bench/stage_products.py [--halves]
    OPENBLAS_NUM_THREADS=1 python bench/stage_products.py   # one BLAS thread
"""
import argparse
import time

import numpy as np
from numba import njit, prange

import fastae  # noqa: F401  (sets the BLAS thread environment before scipy's BLAS loads)
from fastae.backends.blas import blas_threads, gemm, single_threaded

REPEATS = 200
DENSE = 344  # MNIST's dense input columns (README, "Sparse inputs")

#: (stage, what, m, k, n, transpose A, transpose B): C (m x n) = op(A) (m x k) op(B) (k x n)
PRODUCTS = (
    ("layer1", "X W (dense columns)", 128, DENSE, 625, False, False),
    ("layer1", "H W^T", 128, 625, 784, False, True),
    ("layer1", "dY W", 128, 784, 625, False, False),
    ("layer1", "dense rows' update, K = 256", DENSE, 256, 625, True, False),
    ("layer1", "other rows' dY^T H", 784 - DENSE, 128, 625, True, False),
    ("layer2", "X W", 128, 625, 100, False, False),
    ("layer2", "H W^T", 128, 100, 625, False, True),
    ("layer2", "dY W", 128, 625, 100, False, False),
    ("layer2", "[X; dY]^T [dH; H], K = 256", 625, 256, 100, True, False),
    ("finetune", "X W1 (dense columns)", 128, DENSE, 625, False, False),
    ("finetune", "H1 W2", 128, 625, 100, False, False),
    ("finetune", "H2 V", 128, 100, 10, False, False),
    ("finetune", "dZ V^T", 128, 10, 100, False, True),
    ("finetune", "H2^T dZ", 100, 128, 10, True, False),
    ("finetune", "dH2 W2^T", 128, 100, 625, False, True),
    ("finetune", "H1^T dH2", 625, 128, 100, True, False),
    ("finetune", "X^T dH1 (dense columns)", DENSE, 128, 625, True, False),
)


@njit
def _repeat(times, A, trans_a, B, trans_b, C):
    for _ in range(times):
        gemm(1.0, A, trans_a, B, trans_b, 0.0, C)


def seconds(m, k, n, trans_a, trans_b, repeats=REPEATS):
    """Best time of one ``m x k x n`` product over 5 compiled loops of ``repeats``."""
    rng = np.random.default_rng(0)
    A = rng.random((k, m) if trans_a else (m, k), dtype=np.float32)
    B = rng.random((n, k) if trans_b else (k, n), dtype=np.float32)
    C = np.zeros((m, n), np.float32)
    _repeat(2, A, trans_a, B, trans_b, C)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        _repeat(repeats, A, trans_a, B, trans_b, C)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


@njit
def _whole(times, As, Bs, Cs, flags):
    for _ in range(times):
        for p in range(len(As)):
            gemm(1.0, As[p], flags[p, 0], Bs[p], flags[p, 1], 0.0, Cs[p])


@njit(parallel=True)
def _halves(times, As, Bs, Cs, flags):
    for _ in range(times):
        for p in range(len(As)):
            A, B, C, trans_b = As[p], Bs[p], Cs[p], flags[p, 1]
            n = C.shape[1]
            for h in prange(2):
                lo, hi = h * (n // 2), n // 2 + h * (n - n // 2)
                gemm(1.0, A, flags[p, 0], B[lo:hi] if trans_b else B[:, lo:hi], trans_b, 0.0, C[:, lo:hi])


def halves_against_whole(stage, rounds=5, repeats=REPEATS):
    """Best seconds of ``stage``'s products back to back, whole and in column halves."""
    from numba.typed import List

    rng = np.random.default_rng(0)
    As, Bs, Cs, flags = List(), List(), List(), []
    for s, _, m, k, n, ta, tb in PRODUCTS:
        if s == stage:
            As.append(rng.random((k, m) if ta else (m, k), dtype=np.float32))
            Bs.append(rng.random((n, k) if tb else (k, n), dtype=np.float32))
            Cs.append(np.zeros((m, n), np.float32))
            flags.append((ta, tb))
    flags = np.array(flags, dtype=np.bool_)
    _whole(2, As, Bs, Cs, flags)
    with single_threaded():
        _halves(2, As, Bs, Cs, flags)
    best = {"whole": float("inf"), "halves": float("inf")}
    for _ in range(rounds):
        start = time.perf_counter()
        _whole(repeats, As, Bs, Cs, flags)
        best["whole"] = min(best["whole"], (time.perf_counter() - start) / repeats)
        with single_threaded():
            start = time.perf_counter()
            _halves(repeats, As, Bs, Cs, flags)
            best["halves"] = min(best["halves"], (time.perf_counter() - start) / repeats)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--halves", action="store_true", help="Also each stage's products in column halves.")
    args = parser.parse_args()
    print(f"BLAS threads: {blas_threads()}")
    totals = {}
    for stage, what, m, k, n, ta, tb in PRODUCTS:
        s = seconds(m, k, n, ta, tb)
        totals[stage] = totals.get(stage, 0.0) + s
        print(f"{stage:9s} {what:28s} {m:4d} x {k:3d} x {n:3d}  {s * 1e6:7.1f} us  {2 * m * k * n / s / 1e9:6.1f} GFLOP/s")
    for stage, s in totals.items():
        print(f"{stage:9s} all products of a step      {s * 1e6:7.1f} us")
    if args.halves:
        for stage in totals:
            best = halves_against_whole(stage)
            print(f"{stage:9s} a step's products back to back: whole {best['whole'] * 1e6:7.1f} us, "
                  f"in column halves {best['halves'] * 1e6:7.1f} us ({best['halves'] / best['whole']:.2f}x)")
    s = seconds(2048, 2048, 2048, False, False, repeats=3)
    print(f"fp32 GEMM peak (2048^3): {2 * 2048**3 / s / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
