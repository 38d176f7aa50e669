"""The CPU backend: ``steps.py`` compiled with numba over ``cpu_kernels``.

Every step and loop is one compiled, cached function; an epoch loop is ``nogil`` and
runs on a worker thread while the main thread waits, so that Ctrl-C can stop it at the
end of a batch (``fastae.stopping``; README, "Threads").
"""
import logging
import threading
import time

import numpy as np
from numba import njit
from numba.typed import List

from .. import config
from ..stopping import StoppedBeforeStart, interruptible, run_in_worker
from . import cpu_kernels, steps
from .base import Backend
from .cpu_kernels import JIT

#: The steps, compiled over the CPU's kernels.
STEPS = steps.build(cpu_kernels, lambda fn, inline: njit(nogil=True, inline="always" if inline else "never", **JIT)(fn))

#: A loop whose compiled code takes longer than this to appear (numba's cache loads in
#: well under a second) is being compiled: the "fastae" logger says so, at level INFO.
COMPILE_NOTICE_AFTER = 1.5

log = logging.getLogger("fastae")


class CPUBackend(Backend):
    """Arrays stay NumPy arrays; ``n_blocks`` picks how many threads an elementwise kernel
    splits its rows across (``config.KERNEL_THREADS``, 1 by default)."""

    name = "cpu"
    kernels = cpu_kernels
    steps = STEPS

    def asarray(self, x, dtype):
        return np.ascontiguousarray(x, dtype=dtype)

    def to_host(self, x):
        return x

    def param_list(self, arrays):
        """A typed list sharing the given arrays (the compiled code updates them in place)."""
        out = List()
        for a in arrays:
            out.append(a)
        return out

    def run(self, loop, *args):
        """Compile ``loop`` for these arguments first (or load it from numba's cache),
        then run it; ``compile_seconds`` is what the first part took. Ctrl-C while it
        compiles returns at once: the loop has not run, and its cursor says so."""
        try:
            with interruptible():
                self.compile_seconds = compile_for(loop, args)
        except StoppedBeforeStart:
            self.compile_seconds = 0.0
            return None
        return run_in_worker(loop, *args)

    def n_blocks(self, n_elements):
        if config.KERNEL_THREADS <= 1 or n_elements < config.PARALLEL_MIN_ELEMENTS:
            return 1
        return config.KERNEL_THREADS


def compile_for(loop, args):
    """Make ``loop``'s code for the types of ``args`` ready (numba compiles it, or loads it
    from its on-disk cache); returns the seconds it took, 0 when it was ready."""
    sig = tuple(loop.typeof_pyval(a) for a in args)
    if sig in loop.overloads:
        return 0.0
    start = time.perf_counter()
    notice = threading.Timer(COMPILE_NOTICE_AFTER, log.info,
                             ("compiling fastae's kernels (first run only; this takes up to a minute)",))
    notice.daemon = True
    notice.start()
    try:
        loop.compile(sig)
    finally:
        notice.cancel()
    return time.perf_counter() - start
