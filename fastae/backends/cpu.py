"""The CPU backend: ``steps.py`` compiled with numba over ``cpu_kernels``.

Every step and loop is one compiled, cached function; an epoch loop is ``nogil`` and
runs on a worker thread while the main thread waits, so that Ctrl-C can stop it at the
end of a batch (``fastae.stopping``; README, "Threads"); a call of well under a
millisecond (``SHORT_WORK``) runs on the calling thread.
"""
import concurrent.futures
import contextlib
import functools
import logging
import os
import threading
import time
import types

import numba
import numpy as np
from numba import njit
from numba._dispatcher import compute_fingerprint
from numba.core.registry import CPUDispatcher

from .. import config
from ..stopping import StoppedBeforeStart, interruptible, run_in_worker
from . import blas, compile_ahead, cpu_elementwise, cpu_gathers, cpu_kernels, cpu_sparse, cpu_updates, mathfn, steps
from .base import Backend, sparsity_term
from .cpu_kernels import JIT


def _step_jit(cache):
    return lambda fn, inline: njit(nogil=True, inline="always" if inline else "never", **dict(JIT, cache=cache))(fn)


#: The steps, compiled over the CPU's kernels.
STEPS = steps.build(cpu_kernels, _step_jit(True))


@functools.cache
def parallel_build():
    """``(kernels, steps)`` with the elementwise kernels of ``cpu_elementwise.PARALLEL``
    compiled with ``parallel=True``, for ``config.KERNEL_THREADS > 1``.

    Every compiled function of the kernel modules gets a twin whose globals name the
    other twins, so that each caller reaches the parallel kernels. The twins are not
    cached on disk (numba's cache would not tell them from the serial ones): a process
    that asks for threads compiles them once.
    """
    modules = (mathfn, blas, cpu_elementwise, cpu_gathers, cpu_updates, cpu_sparse, cpu_kernels)
    originals = {id(d): d for m in modules for d in vars(m).values() if isinstance(d, CPUDispatcher)}
    parallel = {id(d) for d in cpu_elementwise.PARALLEL}
    scopes, twins = {}, {}
    for key, d in originals.items():
        f = d.py_func
        scope = scopes.setdefault(id(f.__globals__), dict(f.__globals__))
        fn = types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__)
        fn.__qualname__, fn.__doc__, fn.__module__ = f.__qualname__, f.__doc__, f.__module__
        options = {o: v for o, v in d.targetoptions.items() if o != "nopython"}
        twins[key] = njit(**dict(options, parallel=key in parallel or options.get("parallel", False)))(fn)
    for scope in scopes.values():
        for name, value in scope.items():
            if id(value) in twins and value is originals[id(value)]:
                scope[name] = twins[id(value)]
    kernels = types.ModuleType(f"{cpu_kernels.__name__}_parallel")  # numba resolves a module's attributes
    for name, value in vars(cpu_kernels).items():
        if not name.startswith("__"):
            setattr(kernels, name, twins.get(id(value), value))
    return kernels, steps.build(kernels, _step_jit(False))


#: A loop whose compiled code takes longer than this to appear (numba's cache loads in
#: well under a second) is being compiled: the "fastae" logger says so, at level INFO.
COMPILE_NOTICE_AFTER = 1.5

#: A training call of at most this much ``work`` (multiply-adds of the patterns' weights:
#: 1,800 for ten epochs of Q1, 14 million for ten of Q2) takes well under a millisecond,
#: less than handing it to the worker thread and back (about 0.1 ms; Q1 makes 1,000 calls).
SHORT_WORK = 100_000

log = logging.getLogger("fastae")


class CPUBackend(Backend):
    """Arrays stay NumPy arrays; ``n_blocks`` picks how many threads an elementwise kernel
    splits its rows across (``config.KERNEL_THREADS``, 1 by default)."""

    name = "cpu"

    @property
    def kernels(self):
        return cpu_kernels if config.KERNEL_THREADS <= 1 else parallel_build()[0]

    @property
    def steps(self):
        return STEPS if config.KERNEL_THREADS <= 1 else parallel_build()[1]

    def asarray(self, x, dtype):
        return np.ascontiguousarray(x, dtype=dtype)

    def to_host(self, x):
        return x

    # NumPy's own: the kernels' ``empty`` and ``zeros`` are for compiled code, and
    # called from Python each would compile for every shape's dimensions and dtype
    # (about 0.5 s of a classifier's first fit, for its optimiser's moments).
    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def step_list(self, arrays):
        """A tuple of the same arrays (the compiled code updates them in place). numba
        indexes a tuple of arrays of one type at run time without a typed list's
        helpers (about 1 s of a first classifier fit); a loop then compiles once per
        depth (the tuple's length is part of its type)."""
        return tuple(arrays)

    def run(self, loop, *args, work=None):
        """Compile ``loop`` for these arguments first (or load it from numba's cache),
        then run it; ``compile_seconds`` is what the first part took, ``compiled`` whether
        numba compiled (its cache did not have the loop). Ctrl-C while it compiles returns
        at once: the loop has not run, and its cursor says so. A call of at most
        ``SHORT_WORK`` runs on the calling thread: a Ctrl-C is heard when it returns."""
        try:
            with interruptible():
                self.compile_seconds, self.compiled = compile_for(loop, args)
        except StoppedBeforeStart:
            self.compile_seconds, self.compiled = 0.0, False
            return None
        if work is not None and work <= SHORT_WORK:
            return loop(*args)
        return run_in_worker(loop, *args)

    @contextlib.contextmanager
    def step_parts(self, X, W, batch_size, tuning, work):
        """``step_parts``' count where it finds the steps worth cutting into parts, and
        BLAS on one thread until the block ends. One loop at a time runs in parts (a
        second one, on another thread meanwhile, runs whole)."""
        with _in_parts(step_parts(X, W, batch_size, tuning, work)) as parts:
            yield parts

    @contextlib.contextmanager
    def classifier_parts(self, X, weights, batch_size, tuning, work):
        """As ``step_parts``, with ``classifier_parts``' count."""
        with _in_parts(classifier_parts(X, weights, batch_size, work)) as parts:
            yield parts

    def n_blocks(self, n_elements):
        if config.KERNEL_THREADS <= 1 or n_elements < config.PARALLEL_MIN_ELEMENTS:
            return 1
        return config.KERNEL_THREADS

    # The passes over a data set, in row parts on threads where ``eval_parts`` finds them
    # worth it: each part is the one-piece pass over its rows (the same compiled loop),
    # so the parts compile nothing of their own.

    def _ae_loss(self, W, b, c, Xt, X, hp, tuning):
        with _in_parts(eval_parts(X.shape[0], X.shape[0] * W.size)) as bounds:
            if bounds is None:
                return super()._ae_loss(W, b, c, Xt, X, hp, tuning)
            # A split input reorders W and c while a part runs: each part but the first
            # gets copies, made before any part starts.
            own = [(W, c)] + [(W.copy(), c.copy()) if tuning.split is not None else (W, c) for _ in bounds[1:]]
            no_kl = hp._replace(beta=0.0)  # the KL term once, below, on the mean over all the rows
            parts = in_threads(lambda i, lo, hi: super(CPUBackend, self)._ae_loss(
                own[i][0], b, own[i][1], Xt[lo:hi], X[lo:hi], no_kl, tuning), bounds)
        n = X.shape[0]
        recon = sum(float(part[1]) * (hi - lo) for part, (lo, hi) in zip(parts, bounds)) / n
        rho_hat = sum(part[2].astype(np.float64) * (hi - lo) for part, (lo, hi) in zip(parts, bounds)) / n
        loss = recon + (sparsity_term(rho_hat, hp.rho, hp.beta) if hp.beta > 0.0 else 0.0)
        return loss, recon, rho_hat.astype(W.dtype)

    def _layers(self, weights, biases, X, tuning, outs):
        with _in_parts(eval_parts(X.shape[0], X.shape[0] * sum(W.size for W in weights))) as bounds:
            if bounds is None:
                return super()._layers(weights, biases, X, tuning, outs)
            # As in _ae_loss: a split input reorders the first weight while a part runs.
            own = [weights] + [[weights[0].copy(), *weights[1:]] if tuning.split is not None else weights
                               for _ in bounds[1:]]
            in_threads(lambda i, lo, hi: super(CPUBackend, self)._layers(own[i], biases, X[lo:hi], tuning,
                                                                         [o[lo:hi] for o in outs]), bounds)


#: Held while a loop runs its steps in parts (BLAS on one thread meanwhile).
_parts_lock = threading.Lock()


@contextlib.contextmanager
def _in_parts(parts):
    """``parts``, and BLAS on one thread until the block ends; None (steps whole) when
    ``parts`` is None or another loop runs in parts."""
    if parts is None or not _parts_lock.acquire(blocking=False):
        yield None
        return
    try:
        with blas.single_threaded():
            yield parts
    finally:
        _parts_lock.release()


def eval_parts(n, work):
    """The row bounds ``[(lo, hi), ...]`` of the parts that a pass over ``n`` rows (the
    autoencoder's loss, the classifier's layers; ``work``: its multiply-adds, rows times
    the weights' sizes) runs in, one thread each with BLAS on one thread, or None: in one
    piece, with BLAS's threads. One part per BLAS thread now (as in ``_part_count``),
    each but the last a whole number of ``config.EVAL_BLOCK`` rows (the blocks of the
    one-piece pass), for a pass of at least ``config.EVAL_PARTS_MIN_WORK``; none with
    ``config.STEP_PARTS`` False or elementwise kernels on threads of their own."""
    if not config.STEP_PARTS or config.KERNEL_THREADS > 1 or work < config.EVAL_PARTS_MIN_WORK:
        return None
    blocks = -(-n // config.EVAL_BLOCK)
    parts = min(blas.blas_threads() or 1, blocks)
    if parts < 2:
        return None
    cuts = [k * blocks // parts * config.EVAL_BLOCK for k in range(parts)] + [n]
    return list(zip(cuts[:-1], cuts[1:]))


@functools.cache
def _pool():
    """The threads that run the parts of a pass beside the calling thread. They stay,
    idle between passes, most likely keeping what BLAS set up for them on their first
    products: threads made anew for every pass ran layer 2's validation loss 1.2 times
    as long as in one piece, where these take 0.9 times as long. A process forked from
    this one makes its own (the parent's threads do not exist there)."""
    return concurrent.futures.ThreadPoolExecutor(thread_name_prefix="fastae-pass")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.cache_clear)


def in_threads(part, bounds):
    """``[part(i, lo, hi) for i, (lo, hi) in enumerate(bounds)]``, all at once: the first
    on the calling thread, the others on ``_pool``'s threads (the compiled loops release
    the GIL). Returns, or raises what a part raised, once every part has returned."""
    others = [_pool().submit(part, i, lo, hi) for i, (lo, hi) in enumerate(bounds) if i > 0]
    try:
        first = part(0, *bounds[0])
    finally:
        concurrent.futures.wait(others)
    return [first] + [f.result() for f in others]


def _part_count(B):
    """One part per BLAS thread (at most numba's threads, ``config.PARTS_MIN_ROWS`` rows a
    part at least) for batches of ``B`` rows, or None for fewer than two. BLAS's threads
    now: one fewer for each core held beside the compiled calls (``fastae.cores``: the
    figure painter's while it draws), whose parts would wait at every step for a thread
    pushed off its core."""
    parts = min(blas.blas_threads() or 1, numba.get_num_threads(), B // config.PARTS_MIN_ROWS)
    return parts if parts >= 2 else None


def step_parts(X, W, batch_size, tuning, work):
    """How many row parts a tied autoencoder's training step on ``X`` (weight ``W``, in
    batches of ``batch_size``) runs in (``cpu_parts``), or None: not for a split input,
    bytes, more than ``config.PARTS_MAX_HIDDEN`` hidden units, a step of fewer than
    ``config.PARTS_MIN_WORK`` multiply-adds a product, a call of fewer than
    ``config.PARTS_MIN_CALL_WORK`` (``work``: its patterns, over its epochs, times
    ``W.size``), or elementwise kernels on threads of their own (``config.KERNEL_THREADS
    > 1``). One part per BLAS thread (at most numba's threads, and
    ``config.PARTS_MIN_ROWS`` rows a part at least)."""
    B = min(batch_size, X.shape[0])
    if (not config.STEP_PARTS or config.KERNEL_THREADS > 1 or tuning.split is not None or X.dtype.kind != "f"
            or W.shape[1] > config.PARTS_MAX_HIDDEN or B * W.size < config.PARTS_MIN_WORK
            or work < config.PARTS_MIN_CALL_WORK):
        return None
    return _part_count(B)


def classifier_parts(X, weights, batch_size, work):
    """How many parts a stacked classifier's training step on ``X`` (``weights``, in
    batches of ``batch_size``) runs in (``cpu_classifier_parts``), or None: not for a call
    of fewer than ``config.CLASSIFIER_PARTS_MIN_CALL_WORK`` (``work``: its patterns, over
    its epochs, times the weights' sizes), a step of fewer than ``config.PARTS_MIN_WORK``
    multiply-adds a product, or elementwise kernels on threads of their own; the parts
    as in ``step_parts``."""
    B = min(batch_size, X.shape[0])
    if (not config.STEP_PARTS or config.KERNEL_THREADS > 1 or work < config.CLASSIFIER_PARTS_MIN_CALL_WORK
            or B * weights[0].size < config.PARTS_MIN_WORK):
        return None
    return _part_count(B)


#: ``(loop, fingerprints of its arguments)`` whose code is ready in this process.
_ready = set()


def _fingerprints(args):
    """numba's own cache keys of the arguments' types (what its dispatcher keys its
    compiled code by): about 3 us for an autoencoder loop's eight arguments, where
    typing them takes about 70 us; None when numba has no fingerprint for one of them."""
    try:
        return tuple(compute_fingerprint(a) for a in args)
    except (NotImplementedError, TypeError, ValueError):
        return None


def compile_for(loop, args):
    """Make ``loop``'s code for the types of ``args`` ready (numba compiles it, or loads it
    from its on-disk cache); returns the seconds it took (0 when it was ready) and whether
    it was compiled. A compile that the plan of ``compile_ahead`` lists runs beside a
    helper process that compiles the loop's kernels from the other end."""
    key = _fingerprints(args)
    if key is not None and (loop, key) in _ready:
        return 0.0, False
    sig = tuple(loop.typeof_pyval(a) for a in args)
    if sig in loop.overloads:
        if key is not None:
            _ready.add((loop, key))
        return 0.0, False
    misses = loop.stats.cache_misses[sig]
    start = time.perf_counter()
    notice = threading.Timer(COMPILE_NOTICE_AFTER, log.info,
                             ("compiling fastae's kernels (first run only; 5-20 s a model)",))
    notice.daemon = True
    notice.start()
    helper = compile_ahead.start(loop, sig)
    try:
        loop.compile(sig)
    finally:
        compile_ahead.stop(helper)
        notice.cancel()
    if key is not None:
        _ready.add((loop, key))
    return time.perf_counter() - start, loop.stats.cache_misses[sig] > misses
