"""The CPU backend: ``steps.py`` compiled with numba over ``cpu_kernels``.

Every step and loop is one compiled, cached function; an epoch loop is ``nogil`` and
runs on a worker thread while the main thread waits, so that Ctrl-C can stop it at the
end of a batch (``fastae.stopping``; README, "Threads").
"""
import numpy as np
from numba import njit
from numba.typed import List

from .. import config
from ..stopping import run_in_worker
from . import cpu_kernels, steps
from .base import Backend
from .cpu_kernels import JIT

#: The steps, compiled over the CPU's kernels.
STEPS = steps.build(cpu_kernels, njit(nogil=True, **JIT))


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
        return run_in_worker(loop, *args)

    def n_blocks(self, n_elements):
        if config.KERNEL_THREADS <= 1 or n_elements < config.PARALLEL_MIN_ELEMENTS:
            return 1
        return config.KERNEL_THREADS
