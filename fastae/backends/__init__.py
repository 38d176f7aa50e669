"""Compute backends: one object per device with the same methods.

The device is chosen once, from ``device="cpu"`` or ``"cuda"``; models call the
backend's methods (``base.Backend``, where the interface is documented) and never test
which device they run on. The algorithm is written once, in the steps (``steps.py``); each device
supplies a kernel namespace (``cpu_kernels``, ``cuda_kernels``) with the same names.
"""

from .cache import install as _install_cache_locator

_install_cache_locator()  # before the kernel modules are compiled or loaded from the cache

DEVICES = ("cpu", "cuda")


def get_backend(device="cpu"):
    """The backend object for ``device``; ``cuda`` raises a ValueError that says why
    when no GPU can be used."""
    if device == "cpu":
        from .cpu import CPUBackend

        return CPUBackend()
    if device == "cuda":
        try:
            from .cuda import CUDABackend
        except ImportError as e:
            raise ValueError(
                f"device: the CUDA backend needs numba's CUDA support ({e}); pip install 'fastae[cuda]'"
            ) from None
        return CUDABackend()
    raise ValueError(f"device: unknown device {device!r}; choose one of {', '.join(DEVICES)}")
