"""Compute backends: one object per device with the same methods.

The device is chosen once, from ``device="cpu"``; models and the training loop call
the backend's methods and never test which device they run on.
"""

DEVICES = ("cpu",)


def get_backend(device="cpu"):
    """The backend object for ``device``."""
    if device == "cpu":
        from .cpu import CPUBackend

        return CPUBackend()
    raise ValueError(f"device: unknown device {device!r}; choose one of {', '.join(DEVICES)}")
