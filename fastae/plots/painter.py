"""Figures drawn by a second process while a run goes on.

matplotlib takes longer to import and to draw a small run's figures than the run takes to
train (warm ``fastae run q2``: 1.6 s of figures in 3.3 s). So a run hands each figure, as
a :class:`~fastae.plots.sketch.Sketch`, to a painter: one Python process, started the
first time a process asks for it (:func:`shared`), that draws the figures one after the
other, each saved atomically (``plots.save``), while the run trains on. The painter
imports matplotlib on the other core meanwhile; the run's own process imports it only to
help with the figures still waiting when it has finished training (``HELP_AFTER`` in
``fastae.experiments.record``). While the painter has figures to draw it holds a core
(``fastae.cores``), which the run's compiled calls leave to it. A figure looks the same whichever process draws it, but
matplotlib settings changed inside the run's process (``rcParams``) reach only the
figures drawn there: set them in a ``matplotlibrc`` file, which both read, or set
``fastae.config.FIGURE_PROCESS = False``.

What the painter cannot draw is drawn in the run's process: a sketch that does not pickle
is never sent, and :meth:`Painter.wait` gives back the sketches whose drawing failed in
the painter or that a painter which died left undone, for the caller to draw itself (an
error there then raises as it always would). Ctrl-C does not reach the painter (a
session of its own, and it ignores SIGINT): the run's process decides what an
interruption stops, and at its exit it waits for the figures already handed over (a
second Ctrl-C stops the painter).

The painter reads jobs, pickled ``(number, sketch, path)``, from its standard input and
answers ``(number, None)`` or ``(number, "the error")`` on a pipe of its own; its
standard output goes to its standard error (where matplotlib's warnings go). Two daemon
threads of the run's process feed the jobs, one when the painter is free, and read the
answers: handing over a figure never waits for the painter, and a run that ends with
several figures still waiting takes the last ones back and draws them itself, beside the
painter (:meth:`Painter.take`; ``RunRecord.finish_figures``).
"""

from __future__ import annotations

import atexit
import collections
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .. import cores

#: The painter's program: fastae from the same place as the process that starts it.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from fastae.plots.painter import serve; serve()"


class Painter:
    """The painter process and the two threads that talk to it. Jobs wait here until the
    painter is free (one at a time in its hands), so that the caller can take back the
    last ones and draw them itself (:meth:`take`)."""

    def __init__(self):
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
        # A session of its own: the terminal's Ctrl-C goes to the run's process only (from
        # the painter's first moment, before it could ignore it).
        self._proc = subprocess.Popen([sys.executable, "-c", _BOOT, root], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env=env, start_new_session=True)
        self.pid = os.getpid()  # of the process that started it (a forked child starts its own)
        self._changed = threading.Condition()
        self._waiting = collections.deque()  # (number, pickled job): not handed to the painter yet
        self._pending = {}  # number -> (sketch, path): not drawn yet (waiting, or in the painter's hands)
        self._failed = {}  # number -> (sketch, path): the painter's drawing raised
        self._busy = False  # a job is in the painter's hands
        self._closing = False
        self._next = 0
        self._holding = False  # a core held (``fastae.cores``) while figures wait or are drawn
        self.alive = True
        threading.Thread(target=self._feed, name="fastae-painter-feed", daemon=True).start()
        threading.Thread(target=self._read, name="fastae-painter-read", daemon=True).start()

    def submit(self, sketch, path):
        """Hand ``sketch`` over, to be drawn into ``path``; returns its number, or None when
        it cannot go (it does not pickle, or the painter has ended)."""
        with self._changed:
            number, self._next = self._next, self._next + 1
        try:
            job = pickle.dumps((number, sketch, str(path)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an argument that does not pickle (a lambda): drawn by the caller
            return None
        with self._changed:
            if not self.alive:
                return None
            self._pending[number] = (sketch, path)
            self._waiting.append((number, job))
            self._hold_while_drawing()
            self._changed.notify_all()
        return number

    def take(self, numbers, at_least=1):
        """Take back the last of the jobs ``numbers`` that the painter has not started, for
        the caller to draw, when at least ``at_least`` of them wait; returns its ``(sketch,
        path)`` or None."""
        with self._changed:
            mine = [i for i, (n, _) in enumerate(self._waiting) if n in numbers]
            if len(mine) < at_least:
                return None
            number, _ = self._waiting[mine[-1]]
            del self._waiting[mine[-1]]
            job = self._pending.pop(number)
            self._hold_while_drawing()
            return job

    def wait(self, numbers):
        """Wait until the jobs ``numbers`` are done; returns ``[(sketch, path)]`` of those
        the painter did not draw (its drawing failed, or it ended first)."""
        with self._changed:
            self._changed.wait_for(lambda: not self.alive or not any(n in self._pending for n in numbers))
            undone = [self._pending.pop(n) for n in numbers if n in self._pending]
            undone += [self._failed.pop(n) for n in numbers if n in self._failed]
            self._hold_while_drawing()
        return undone

    def close(self):
        """Let the painter draw what it has been handed, and end it: at once when it has
        nothing left to draw (each figure is in place before its answer comes), or on
        Ctrl-C."""
        with self._changed:
            self._closing = True
            idle = not self._pending
            self._changed.notify_all()
        if idle:
            self._proc.kill()
        try:
            self._proc.wait()
        except KeyboardInterrupt:
            self._proc.kill()
            self._proc.wait()

    def _feed(self):
        stdin = self._proc.stdin
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: not self.alive or self._closing and not self._waiting
                                           or self._waiting and not self._busy)
                    if not self.alive or not self._waiting:
                        break
                    _, job = self._waiting.popleft()
                    self._busy = True
                stdin.write(job)
                stdin.flush()
            stdin.close()
        except OSError:  # the painter has ended
            self._ended()

    def _read(self):
        answers = self._proc.stdout
        while True:
            try:
                number, error = pickle.load(answers)
            except Exception:  # EOFError: the painter has ended
                self._ended()
                return
            with self._changed:
                self._busy = False
                job = self._pending.pop(number, None)
                if error is not None and job is not None:
                    self._failed[number] = job
                self._hold_while_drawing()
                self._changed.notify_all()

    def _ended(self):
        with self._changed:
            self.alive = False
            self._hold_while_drawing()
            self._changed.notify_all()

    def _hold_while_drawing(self):
        """Hold a core (``fastae.cores``) while the painter has figures to draw, release it
        when it has none or has ended (called with ``_changed`` held)."""
        drawing = self.alive and bool(self._pending)
        if drawing != self._holding:
            self._holding = drawing
            (cores.hold if drawing else cores.release)()


_shared = None


def shared():
    """This process's painter, started on first use; None when figures are drawn in this
    process (``fastae.config.FIGURE_PROCESS`` is False, or no process could start)."""
    global _shared
    from .. import config

    if not config.FIGURE_PROCESS or not sys.executable:
        return None
    if _shared is None or not _shared.alive or _shared.pid != os.getpid():
        try:
            _shared = Painter()
        except OSError:
            return None
        atexit.register(_shared.close)
    return _shared


def serve():
    """The painter's loop (in the painter process): draw each job read from the standard
    input, answer each on the original standard output."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to the standard error, never into the answers
    jobs = sys.stdin.buffer
    try:
        _warm_up()
    except Exception:  # the jobs' own drawing reports what is wrong
        pass
    while True:
        try:
            number, sketch, path = pickle.load(jobs)
        except Exception:  # EOFError: no more jobs
            return
        try:
            sketch.draw(path)
            error = None
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        try:
            pickle.dump((number, error), answers)
            answers.flush()
        except OSError:  # the run's process has ended
            return


def _warm_up():
    """Import the plotting modules and draw two small figures (fonts, colour maps, text
    layout), while the run that started the painter is still training."""
    import io

    import numpy as np

    from . import images, matrices

    fig = images.tiles(np.eye(2).reshape(1, 4), (2, 2), title="warm-up", colorbar=True)
    fig.canvas.print_png(io.BytesIO())
    fig = matrices.heatmap(np.eye(2), title="warm-up", xlabel="x", ylabel="y", annotate=True)
    fig.canvas.print_png(io.BytesIO())
