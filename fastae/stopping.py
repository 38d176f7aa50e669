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
the handler that :func:`ctrl_c_sets` installs sets the flag. (A call too short to be worth
the handoff, well under a millisecond, runs on the main thread: the handler sets the flag
when it returns, and the next call stops before its first batch.) SIGTERM (what a batch
scheduler or ``docker stop`` sends) is handled the same way. While a loop's code is being
compiled, before it has changed anything, the handler stops at once instead
(:func:`interruptible`). While a model is being saved, both signals wait until its files
are written (:func:`signals_deferred`), so that a second Ctrl-C cannot tear a checkpoint.
"""
import os
import queue
import signal
import threading
from contextlib import contextmanager

import numpy as np

#: ``stop[1]`` of a loop with no batch limit.
NO_LIMIT = np.iinfo(np.int64).max

#: The signals that stop training cleanly: Ctrl-C, and SIGTERM.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: True while the main thread compiles a loop that has not started (see :func:`interruptible`).
_compiling = False


def _main_thread():
    return threading.current_thread() is threading.main_thread()


def signal_name(signum):
    """"Ctrl-C" for SIGINT, else the signal's name ("SIGTERM")."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped ``fit`` at the end of a batch.

    The model is consistent: its parameters are those after the last batch that ran, and
    the next ``fit`` (on this model, or on a copy saved and loaded again) first finishes
    the interrupted epoch. ``history`` holds what this ``fit`` call finished, as the
    :class:`fastae.History` that ``fit`` would have returned. A program that does not
    catch it stops as on any Ctrl-C (it is a KeyboardInterrupt). ``signum`` is the signal
    that stopped it (``signal.SIGINT`` or ``signal.SIGTERM``).
    """

    def __init__(self, model, history, signum=signal.SIGINT):
        signum = int(signum) or signal.SIGINT  # 0: a batch limit (tests), taken as Ctrl-C
        super().__init__(
            f"training stopped by {signal_name(signum)} after {stopped_after(model)}"
        )
        self.model = model
        self.history = history
        self.signum = int(signum)


def stopped_after(model):
    """How far an interrupted model had come, in words: ``1 complete epoch``, ``3 complete
    epochs and part of the next``."""
    n = model.epochs_trained
    return (f"{n} complete epoch{'' if n == 1 else 's'}"
            + (" and part of the next" if model.partial_epoch else ""))


class StoppedBeforeStart(KeyboardInterrupt):
    """Ctrl-C while a loop was being compiled: it has not run a batch (internal to ``fit``)."""

    def __init__(self, signum):
        super().__init__(signal_name(signum))
        self.signum = signum


def new_stop():
    """A fresh ``stop`` array: no Ctrl-C yet, no batch limit."""
    return np.array([0, NO_LIMIT], dtype=np.int64)


@contextmanager
def ctrl_c_sets(stop):
    """Within the block, Ctrl-C and SIGTERM set ``stop[0]`` (to the signal's number)
    instead of raising KeyboardInterrupt or ending the process.

    Only the main thread can install signal handlers; elsewhere nothing changes, nor for
    a signal that is ignored or handled outside Python.
    """
    if not _main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    previous = {s: h for s, h in previous.items() if h is not None and h is not signal.SIG_IGN}

    def handler(signum, frame):
        stop[0] = signum
        if _compiling:
            raise StoppedBeforeStart(signum)

    for s in previous:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def interruptible():
    """Within :func:`ctrl_c_sets`, a block (compiling a loop, before it runs) that Ctrl-C
    leaves at once with :class:`StoppedBeforeStart`, rather than when it ends."""
    global _compiling
    if not _main_thread():
        yield
        return
    _compiling = True
    try:
        yield
    finally:
        _compiling = False


@contextmanager
def signals_deferred(deliver=True):
    """Within the block (writing files that belong together), Ctrl-C and SIGTERM wait:
    the first one is delivered when the block ends, unless it ends with an exception or
    ``deliver`` is False (the program is stopping anyway)."""
    if not _main_thread():
        yield
        return
    pending = []
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    previous = {s: h for s, h in previous.items() if h is not None and h is not signal.SIG_IGN}
    for s in previous:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if pending and deliver:
        signal.raise_signal(pending[0])


def run_in_worker(fn, *args):
    """``fn(*args)`` on the worker thread while the main thread waits for it, so that
    signal handlers run meanwhile; called from any other thread, just ``fn(*args)``.

    ``fn`` should release the GIL (a numba function compiled with ``nogil=True``). The
    worker thread is started once and kept: a handoff to it takes about 20 us, a thread
    started for each call about 70 us (Q1 makes 1,000 calls of ten epochs).
    """
    if not _main_thread():
        return fn(*args)
    box, done = {}, threading.Event()
    _worker_jobs().put((fn, args, box, done))
    done.wait()  # a signal interrupts the wait, runs its Python handler, and the wait goes on
    if "error" in box:
        raise box["error"]
    return box.get("result")


#: ``(pid, queue)``: the jobs of the worker thread started in process ``pid``.
_worker = (None, None)


def _worker_jobs():
    """The worker thread's queue, the thread started on first use (and again in a forked
    child, which has no thread but the one that forked)."""
    global _worker
    pid, jobs = _worker
    if pid != os.getpid():
        jobs = queue.SimpleQueue()
        threading.Thread(target=_work, args=(jobs,), name="fastae-train", daemon=True).start()
        _worker = (os.getpid(), jobs)
    return jobs


def _work(jobs):
    while True:
        fn, args, box, done = jobs.get()
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # handed to the caller
            box["error"] = e
        del fn, args, box  # nothing of the caller's stays alive in the idle thread
        done.set()


class PartialEpoch:
    """Where Ctrl-C stopped an epoch of a model, for its next ``fit`` to finish it first.

    ``partial_epoch`` is None, or a dict of ``row`` (the patterns of the epoch's order
    already trained on), ``sums`` (the epoch's loss, and for a classifier hit count, summed
    over them) and the ``patterns``, ``batch_size`` and ``shuffle`` of that ``fit``.
    """

    partial_epoch = None

    def _resume_point(self, n, batch_size, shuffle):
        """``(at, partial)`` for the backend: where the interrupted epoch stopped, if any."""
        at, partial = np.zeros(2, np.int64), np.zeros(2)
        p = self.partial_epoch
        if p is not None:
            wanted = {"patterns": n, "batch_size": batch_size, "shuffle": shuffle}
            diff = [f"{k} {p[k]!r} then, {wanted[k]!r} now" for k in wanted if p[k] != wanted[k]]
            if diff:
                raise ValueError(
                    f"fit: epoch {self.epochs_trained + 1} was interrupted after {p['row']} patterns "
                    f"(with {', '.join(diff)}); fit with the same data and settings to finish it, "
                    "or call discard_partial_epoch() to start the next epoch afresh"
                )
            at[1], partial[:] = p["row"], p["sums"]
            self.partial_epoch = None  # set again if this fit stops too
        return at, partial

    def _stopped_at(self, at, partial, n, batch_size, shuffle):
        row = int(at[1])
        self.partial_epoch = None if row == 0 else {
            "row": row, "sums": [float(partial[0]), float(partial[1])], "patterns": n,
            "batch_size": batch_size, "shuffle": shuffle,
        }

    def _trained(self):
        """How far training got, in words (for ``repr``)."""
        n = self.epochs_trained
        trained = f"trained {n} epoch{'' if n == 1 else 's'}" if n else "untrained"
        if self.partial_epoch is not None:
            trained += f" and {self.partial_epoch['row']} patterns of the next"
        return trained

    def discard_partial_epoch(self):
        """Forget where an interrupted epoch stopped (its batches' updates stay); the next
        ``fit`` starts a fresh epoch."""
        self.partial_epoch = None

    @staticmethod
    def _checked_partial_epoch(p, path):
        """A ``partial_epoch`` read from a saved model's JSON, checked."""
        if p is None:
            return None
        keys = ("row", "sums", "patterns", "batch_size", "shuffle")
        ok = isinstance(p, dict) and all(k in p for k in keys)
        ok = ok and all(isinstance(p[k], int) and p[k] > 0 for k in ("row", "patterns", "batch_size"))
        ok = ok and p["row"] < p["patterns"] and isinstance(p["sums"], list) and len(p["sums"]) == 2
        if not ok:
            raise ValueError(f"path: {path} has a malformed partial_epoch {p!r}")
        return p
