"""The cores that fastae's own work beside the compiled calls holds, for the compiled
calls to leave to it.

The figure painter (``fastae.plots.painter``), a second process, holds one core while it
has figures to draw. On a 2-core machine a matrix product
split across both cores then waits, at every step, for the thread that the painter has
pushed off its core: Q2's 144-hidden models trained 3-4 times slower beside a busy
process with BLAS on two threads than on one, and on a quiet machine one thread was no
slower for them. So BLAS (``backends.blas``) runs on that many threads fewer while a
core is held, and a step or a pass is not cut into parts for the threads of the cores
held.

This module imports nothing of numba's or matplotlib's: the painter's side holds and
releases, the compiled side watches.
"""
import os
import threading

_lock = threading.Lock()
_held = 0
_watchers = []


def hold():
    """One core more held by work beside the compiled calls, until :func:`release`."""
    global _held
    with _lock:
        _held += 1
        _tell()


def release():
    """The core of one :func:`hold` back to the compiled calls."""
    global _held
    with _lock:
        _held = max(0, _held - 1)
        _tell()


def held():
    """How many cores work beside the compiled calls holds now."""
    return _held


def watch(fn):
    """Call ``fn(held)`` now and after every change (from the thread that made it)."""
    with _lock:
        _watchers.append(fn)
        fn(_held)


def _tell():
    for fn in _watchers:
        fn(_held)


def _forked():
    """A forked child holds nothing: the helpers that held cores are its parent's. (Its
    watchers set themselves back on their own: a lock taken in the parent at the fork
    stays taken in the child.)"""
    global _lock, _held
    _lock, _held = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
