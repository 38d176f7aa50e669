"""The CUDA backend: ``steps.py`` run as Python over ``cuda_kernels``' launchers.

This and the ``cuda_*`` modules are the only ones that import ``numba.cuda``. Parameters
and data stay on the device for a whole run; only ``asarray`` and ``to_host`` copy, and
each call copies its orders of the patterns and reads back the loss once an epoch. A
training step is 6 launches (an autoencoder's) or 4 + 2 per layer (a classifier's), and
the epoch loop allocates and copies nothing per batch (``cuda_device.COUNTS`` counts).

Under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) the kernels run in
numba's CUDA simulator, which the tests use on machines without a GPU.
"""
import numpy as np
from numba import config as numba_config
from numba import cuda

from .. import config
from . import cuda_device, cuda_kernels, steps
from .base import Backend

#: The steps, as Python over the GPU's kernel launchers.
STEPS = steps.build(cuda_kernels)


def cuda_unavailable_reason():
    """None when a CUDA device can be used, else why not (one line)."""
    try:
        if not cuda.is_available():
            return "no usable CUDA device was found"
    except Exception as e:  # the driver or the toolkit is missing or broken
        return f"no usable CUDA device ({e})"
    if not hasattr(np, "row_stack") and not numba_config.ENABLE_CUDASIM:
        # numba-cuda up to 0.30.4 registers np.row_stack, which numpy 2.5 removed: every
        # kernel then fails to compile with "module 'numpy' has no attribute 'row_stack'".
        from importlib.metadata import version

        nc = version("numba-cuda")
        if tuple(int(p) for p in nc.split(".")[:3] if p.isdigit()) <= (0, 30, 4):
            return (f"numba-cuda {nc} cannot compile kernels with numpy {np.__version__}; "
                    "install numpy < 2.5 (pip install 'numpy<2.5')")
    return None


class CUDABackend(Backend):
    """The steps on an NVIDIA GPU. Arrays are numba device arrays."""

    name = "cuda"
    kernels = cuda_kernels
    steps = STEPS

    def __init__(self):
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise ValueError(
                f"device: {reason}; device='cuda' needs an NVIDIA GPU and the CUDA extra "
                "(pip install 'fastae[cuda]'); use device='cpu' meanwhile"
            )

    def asarray(self, x, dtype):
        if hasattr(x, "copy_to_host"):  # already on the device
            return x
        return cuda_device.to_device(np.ascontiguousarray(x, dtype=dtype))

    def to_host(self, x):
        return cuda_device.to_host(x) if hasattr(x, "copy_to_host") else x

    def run(self, loop, *args, work=None):
        return loop(*args)

    def schedule(self, sched):
        return sched._replace(orders=cuda_device.to_device(sched.orders))

    def classifier_accuracy(self, weights, biases, X, y, tuning=None):
        """On the device, ``config.EVAL_CHUNK`` rows at a time: the forward pass, then the
        softmax kernel counts the hits; only the count comes back (the GPU never splits
        its input: ``tuning`` is not read)."""
        k = self.kernels
        n, top = X.shape[0], len(weights) - 1
        ws = k.classifier_work(weights, min(config.EVAL_CHUNK, n), None)
        rows = k.arange(n)
        for start in range(0, n, config.EVAL_CHUNK):
            stop = min(start + config.EVAL_CHUNK, n)
            self.steps.forward(weights, biases, X[start:stop], stop - start, ws.acts, None, None, 1)
            k.softmax_delta(ws, stop - start, biases[top], y, rows[start:stop], 1)
        return k.get_sums(ws.sums)[1] / n
