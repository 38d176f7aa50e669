"""The BLAS products of one Q3 step, each timed alone at the real sizes, float32.

For layer 2 (625-100-625, batch 128: the forward product, the decoder's ``H W^T``, the
backward ``dY W`` and the tied update's one product with K = 256) and for fine-tuning
(784-625-100-10, batch 128, the input's 344 dense columns of MNIST's split: three
forward and five backward products). Each product runs ``REPEATS`` times inside one
compiled loop through fastae's ``gemm``, the best of 5 such loops is kept, and the script
prints its microseconds and GFLOP/s, each stage's total, and this machine's fp32 GEMM
peak (a 2048^3 product). What a step spends beside its products is the stage's epoch
time (``bench/compare_q3.py``) less these totals times its steps.

Usage::

    python bench/stage_products.py
    OPENBLAS_NUM_THREADS=1 python bench/stage_products.py   # one BLAS thread
"""
import time

import numpy as np
from numba import njit

import fastae  # noqa: F401  (sets the BLAS thread environment before scipy's BLAS loads)
from fastae.backends.blas import blas_threads, gemm

REPEATS = 200
DENSE = 344  # MNIST's dense input columns (README, "Sparse inputs")

#: (stage, what, m, k, n, transpose A, transpose B): C (m x n) = op(A) (m x k) op(B) (k x n)
PRODUCTS = (
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


def main():
    print(f"BLAS threads: {blas_threads()}")
    totals = {}
    for stage, what, m, k, n, ta, tb in PRODUCTS:
        s = seconds(m, k, n, ta, tb)
        totals[stage] = totals.get(stage, 0.0) + s
        print(f"{stage:9s} {what:28s} {m:4d} x {k:3d} x {n:3d}  {s * 1e6:7.1f} us  {2 * m * k * n / s / 1e9:6.1f} GFLOP/s")
    for stage, s in totals.items():
        print(f"{stage:9s} all products of a step      {s * 1e6:7.1f} us")
    s = seconds(2048, 2048, 2048, False, False, repeats=3)
    print(f"fp32 GEMM peak (2048^3): {2 * 2048**3 / s / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
