"""Stopping training cleanly on Ctrl-C, and continuing it later.

Every training loop (compiled on the CPU, a loop of kernel launches on the GPU) reads a
small array ``stop`` before each batch: ``stop[0]`` is set when the user presses Ctrl-C,
``stop[1]`` counts the batches the loop may still run. Where it stops, the loop records
the epoch and the row of that epoch's order it reached, and the loss summed so far. The
next call continues that same epoch from that row: the batch order (drawn from the seed
and the epoch number), the masking noise (keyed by epoch and pattern) and the loss sum
all come out as in a run that was never interrupted, so the final model is the same.

A Python signal handler only runs on the main thread, between bytecodes, never while
that thread is inside compiled code. So the CPU's compiled loop (which holds no GIL) runs
on a worker thread while the main thread waits for it; a signal interrupts that wait, and
the handler that :func:`ctrl_c_sets` installs sets the flag.
"""
import signal
import threading
from contextlib import contextmanager

import numpy as np

#: ``stop[1]`` of a loop with no batch limit.
NO_LIMIT = np.iinfo(np.int64).max


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``fit`` at the end of a batch.

    The model is consistent: its parameters are those after the last batch that ran, and
    the next ``fit`` (on this model, or on a copy saved and loaded again) first finishes
    the interrupted epoch. ``history`` holds what this ``fit`` call finished, as the
    :class:`fastae.History` that ``fit`` would have returned. A program that does not
    catch it stops as on any Ctrl-C (it is a KeyboardInterrupt).
    """

    def __init__(self, model, history):
        super().__init__(
            f"training stopped by Ctrl-C after {model.epochs_trained} complete epochs"
            + (" and part of the next" if model.partial_epoch else "")
        )
        self.model = model
        self.history = history


def new_stop():
    """A fresh ``stop`` array: no Ctrl-C yet, no batch limit."""
    return np.array([0, NO_LIMIT], dtype=np.int64)


@contextmanager
def ctrl_c_sets(stop):
    """Within the block, Ctrl-C sets ``stop[0]`` instead of raising KeyboardInterrupt.

    Only the main thread can install signal handlers; elsewhere (and where SIGINT is
    ignored, or handled outside Python) nothing changes.
    """
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None or previous is signal.SIG_IGN:
        yield stop
        return

    def handler(signum, frame):
        stop[0] = 1

    signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def run_in_worker(fn, *args):
    """``fn(*args)`` on a worker thread while the main thread waits for it, so that signal
    handlers run meanwhile; called from any other thread, just ``fn(*args)``.

    ``fn`` should release the GIL (a numba function compiled with ``nogil=True``).
    """
    if threading.current_thread() is not threading.main_thread():
        return fn(*args)
    box = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # handed to the caller below
            box["error"] = e

    worker = threading.Thread(target=target, name="fastae-train", daemon=True)
    worker.start()
    worker.join()  # a signal interrupts the wait, runs its Python handler, and the wait goes on
    if "error" in box:
        raise box["error"]
    return box.get("result")
