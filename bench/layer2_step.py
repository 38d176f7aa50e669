"""Where a Q3 layer-2 step spends its time, part by part, inside a running epoch.

One compiled epoch of the layer-2 autoencoder (625-100-625, batch 128, cross-entropy and
the KL term, SGD, float32) over 55,000 rows of random codes in [0, 1), through the same
kernels and products as ``fastae``'s loop, in its order; the time-stamp counter is read
between the parts, so each part is timed where it runs (its inputs fresh from the part
before, the batch's rows gathered from memory), not alone and warm as in
``bench/stage_products.py``. It prints each part's microseconds a step (at the counter's
rate, given or measured) and its share, for 3 epochs after one to compile.

Usage::

    python bench/layer2_step.py [--rounds 3]
"""
import argparse
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

import fastae  # noqa: F401  (sets the BLAS thread environment before scipy's BLAS loads)
from fastae.backends import cpu_kernels as k
from fastae.backends.records import Augment

N, V, H, B = 55_000, 625, 100, 128
PARTS = ("gather the batch", "X W", "bias + sigmoid", "H W^T", "cross-entropy delta", "rho_hat + KL",
         "dY W", "hidden delta", "bias gradients", "tied update (K = 256)", "bias updates")


@intrinsic
def _cycles(typingctx):
    """The time-stamp counter (LLVM's ``readcyclecounter``)."""

    def codegen(context, builder, sig, args):
        fn = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=ir.FunctionType(ir.IntType(64), []))
        return builder.call(fn, [])

    return types.int64(), codegen


@njit
def epoch(W, b, c, X, order, ticks):
    """One epoch; ``ticks[p]`` grows by the counter ticks of part ``p``, ``ticks[-1]`` by
    the steps."""
    ws = k.ae_work(X.shape[1], W.shape[1], B, W.dtype, False, False, None)
    lr, P, aug = W.dtype.type(0.1), B, Augment(None, None, 1, 0)
    H, D = ws.hg[P : 2 * P], ws.xd[P : 2 * P]
    t = np.empty(len(PARTS) + 1, np.int64)
    for start in range(0, X.shape[0] - B + 1, B):
        rows = order[start : start + B]
        t[0] = _cycles()
        k.draw(ws.xd, ws.clean, ws.tail, X, rows, aug, 0, None, 1)
        t[1] = _cycles()
        k.gemm(1.0, ws.xd[:P], False, W, False, 0.0, H)
        t[2] = _cycles()
        k.bias_sigmoid(H, b, 1)
        t[3] = _cycles()
        k.gemm(1.0, H, False, W, True, 0.0, D)
        t[4] = _cycles()
        k.output_delta(D, ws.loss_rows[:P], c, X, rows, None, 1.0 / P, ws.sums, 1)
        t[5] = _cycles()
        k.col_sum(ws.rho_hat, H, 1.0 / P, 1)
        k.kl_penalty(ws.kl_grad, ws.rho_hat, 0.02, 0.4, 1.0 / P, float(P), ws.sums)
        t[6] = _cycles()
        k.gemm(1.0, D, False, W, False, 0.0, ws.hg[:P])
        t[7] = _cycles()
        k.hidden_delta(ws.hg[:P], H, ws.kl_grad, 1)
        t[8] = _cycles()
        k.col_sum(ws.db, ws.hg[:P], 1.0, 1)
        k.col_sum(ws.dc, D, 1.0, 1)
        t[9] = _cycles()
        k.tied_weight_step(W, -lr, 1.0, ws, P, None)
        t[10] = _cycles()
        k.sgd(b, ws.db, lr, 1)
        k.sgd(c, ws.dc, lr, 1)
        t[11] = _cycles()
        for p in range(len(PARTS)):
            ticks[p] += t[p + 1] - t[p]
        ticks[-1] += 1


def counter_hz():
    """The counter's ticks a second, over 0.2 s of wall time."""
    c0, t0 = _cycles_now(), time.perf_counter()
    time.sleep(0.2)
    return (_cycles_now() - c0) / (time.perf_counter() - t0)


@njit
def _cycles_now():
    return _cycles()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.random((N, V), dtype=np.float32)
    W0 = ((rng.random((V, H), dtype=np.float32) - 0.5) * 0.2).astype(np.float32)
    b, c = np.zeros(H, np.float32), np.zeros(V, np.float32)
    ticks = np.zeros(len(PARTS) + 1, np.int64)
    epoch(W0.copy(), b.copy(), c.copy(), X[: 4 * B], rng.permutation(4 * B), ticks)  # compile
    hz = counter_hz()
    print(f"layer 2, {N:,} rows of {V}, batch {B}; counter {hz / 1e9:.2f} GHz")
    for r in range(args.rounds):
        ticks[:] = 0
        started = time.perf_counter()
        epoch(W0.copy(), b.copy(), c.copy(), X, rng.permutation(N), ticks)
        wall = time.perf_counter() - started
        steps, total = ticks[-1], ticks[:-1].sum()
        print(f"epoch {r + 1}: {wall:.3f} s, {wall / steps * 1e6:.0f} us a step "
              f"({total / steps / hz * 1e6:.0f} us in the parts below)")
        for name, n in zip(PARTS, ticks[:-1]):
            print(f"  {name:24s} {n / steps / hz * 1e6:7.1f} us  {100 * n / total:5.1f} %")


if __name__ == "__main__":
    main()
