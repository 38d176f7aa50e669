"""Every device allocation, host-device copy and kernel launch of the CUDA backend, counted.

``cuda_kernels``, ``cuda_gemm`` and ``cuda`` allocate, copy and launch only through the
functions below, which add to :data:`COUNTS`: the tests read it (under the simulator, or
on a GPU) to check how many kernels a training step launches and that an epoch loop
allocates and copies nothing per batch; ``bench/gpu_launches.py`` prints it.
"""
import math
import warnings

import numpy as np
from numba import cuda

#: Running totals since the last :func:`reset`: ``launches`` (kernels), ``allocations``
#: (device arrays made), ``to_device`` and ``to_host`` (copies each way).
COUNTS = {"launches": 0, "allocations": 0, "to_device": 0, "to_host": 0}


def reset():
    """Zero :data:`COUNTS`."""
    for key in COUNTS:
        COUNTS[key] = 0


def counts():
    """A copy of :data:`COUNTS`."""
    return dict(COUNTS)


#: numba-cuda warns of every launch of fewer blocks than this ("Grid size N will likely
#: result in GPU under-utilization due to low occupancy").
FEW_BLOCKS = 128


def launch(kernel, grid, block, *args):
    """``kernel[grid, block](*args)``, counted.

    Each grid is sized to its data (Q3's 10 output biases take one block), so numba-cuda's
    warning for a grid of under :data:`FEW_BLOCKS` blocks says nothing a user can act on:
    it is silenced for these launches only, a user's own kernels still warn.
    """
    COUNTS["launches"] += 1
    if (grid if isinstance(grid, int) else math.prod(grid)) >= FEW_BLOCKS:
        kernel[grid, block](*args)
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Grid size \d+ will likely result in GPU under-utilization")
        kernel[grid, block](*args)


def device_array(shape, dtype):
    """A new, uninitialised device array."""
    COUNTS["allocations"] += 1
    return cuda.device_array(shape, dtype)


def to_device(a):
    """A new device array holding the host array ``a``."""
    COUNTS["allocations"] += 1
    COUNTS["to_device"] += 1
    return cuda.to_device(np.ascontiguousarray(a))


def to_host(a):
    """The device array ``a`` as a new host array."""
    COUNTS["to_host"] += 1
    return a.copy_to_host()


def copy_in(dst, src):
    """Copy ``src`` (host or device, ``dst``'s shape) into the device array ``dst``."""
    COUNTS["to_device"] += 1
    dst.copy_to_device(src)
