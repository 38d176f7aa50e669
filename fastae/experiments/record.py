"""The record of a run: each figure registered as it is written, then ``metrics.json`` and
``report.html`` made from the same record, so that the page shows what the run wrote.

::

    rec = RunRecord(out)
    rec.figure("weights.png", plots.later.tiles(W.T, (28, 28), title="..."), "what it shows", section="(a) ...")
    ...
    rec.write(metrics, title="...", sections=[("(a) ...", html)])   # metrics.json + report.html

A figure given as a sketch (``plots.later``) is drawn by the process's painter
(:mod:`fastae.plots.painter`) while the run goes on; :meth:`RunRecord.write` waits for
them all before it writes the page that shows them.

A run's record (``RunRecord(out, command=...)``) also owns its directory while it runs:
it holds a lock (``flock`` on the directory: a second run into it is refused), it
writes ``run.json`` first (the command, every setting and a fingerprint of the data,
``complete`` false until :meth:`RunRecord.write` ends the run), and it refuses to replace
files that no fastae run wrote (a directory without ``run.json``) unless ``overwrite``.
``resume`` refuses a directory whose ``run.json`` names other data.
"""
import os
from dataclasses import dataclass
from pathlib import Path

from .. import io, plots
from ..plots import painter
from ..plots.sketch import Sketch
from ..report import write_report
from .common import RunDirError

try:
    import fcntl
except ImportError:  # not a POSIX system: runs go unlocked
    fcntl = None

#: The record of the run that wrote a directory.
RUN_FILE = "run.json"
#: A run that ends with this many figures still waiting for the painter draws some of
#: them itself (its first one costs it matplotlib's import, about 0.3 s): about 0.1 s each.
HELP_AFTER = 3
#: Files every run writes.
COMMON_OUTPUTS = ("metrics.json", "report.html")
#: Locks this process holds, by directory (a run interrupted in this process, then
#: resumed, takes its own lock again).
_held = {}


def _lock(out):
    """Take the lock of directory ``out`` (``flock`` on the directory itself: nothing is
    left behind, and the system releases it when the process ends, however it ends)."""
    key = os.path.realpath(out)
    if key in _held or fcntl is None:
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            pid = (read_run_file(out) or {}).get("pid", "?")
        except ValueError:
            pid = "?"
        raise RunDirError(
            f"--out: another fastae run (process {pid}) is writing into {out}; wait until it ends, "
            "or choose another --out"
        ) from None
    _held[key] = fd


def _unlock(out):
    fd = _held.pop(os.path.realpath(out), None)
    if fd is not None:
        os.close(fd)


def read_run_file(out):
    """The ``run.json`` of directory ``out`` (a dict), or None when there is none."""
    path = Path(out) / RUN_FILE
    return io.load_json(path, "run record") if path.is_file() else None


def _other_data(before, now):
    """Whether a data fingerprint ``{part: {"size", "crc32"}}`` names other data than
    ``before``: a part of the same size with other contents. (A part of another size is a
    change of settings, which retrains the stages that depend on it.)"""
    if not isinstance(before, dict):
        return False
    for part, fp in now.items():
        old = before.get(part)
        if isinstance(old, dict) and old.get("size") == fp.get("size") and old.get("crc32") != fp.get("crc32"):
            return True
    return False


def describe_data(data):
    """A data fingerprint in words, for messages."""
    if not isinstance(data, dict):
        return repr(data)
    parts = []
    for part, fp in data.items():
        fp = fp if isinstance(fp, dict) else {}
        parts.append(f"{part}: {fp.get('source', '')} size {fp.get('size')}, CRC-32 {fp.get('crc32')}".replace(":  ", ": "))
    return "; ".join(parts)


@dataclass(frozen=True)
class FigureEntry:
    """One written figure: its file name in the run directory, its caption, and the heading
    of the report section it belongs to (None: the page's "Figures" section)."""

    name: str
    caption: str
    section: str | None = None


class RunRecord:
    """What a run writes besides its models, in the order it writes it."""

    def __init__(self, out, command=None, *, settings=None, data=None, outputs=(), overwrite=False, resume=False):
        self.out = Path(out)
        self.figures = []
        self._painter, self._drawing = painter.shared(), []  # the painter's jobs not yet waited for
        self.command, self.overwrite, self.foreign = command, overwrite, False
        if command is None:  # a bare record: no lock, no run.json
            return
        _lock(self.out)
        try:
            self._start(command, settings, data, outputs, resume)
        except BaseException:
            _unlock(self.out)
            raise

    def _start(self, command, settings, data, outputs, resume):
        """Check the directory against its ``run.json`` and start a new one."""
        try:
            previous = read_run_file(self.out)
        except ValueError:
            if not self.overwrite:
                raise
            previous = None
        if resume and previous is not None:
            if previous.get("command") != command:
                raise RunDirError(f"--resume: {self.out} holds a run of {previous.get('command')!r}, not of "
                                  f"{command!r}; choose another --out")
            if data is not None and _other_data(previous.get("data"), io.json_roundtrip(data)):
                raise RunDirError(
                    f"--resume: {self.out} was trained on other data ({describe_data(previous.get('data'))}; now "
                    f"{describe_data(io.json_roundtrip(data))}); run without --resume to train afresh on this "
                    "data, or choose another --out"
                )
        self.foreign = previous is None and not resume  # resuming: the user vouches for the directory
        self.claim(*COMMON_OUTPUTS, RUN_FILE, *outputs)
        self.run_file = {"command": command, "settings": settings, "data": data, "complete": False,
                         "pid": os.getpid()}
        io.save_json(self.out / RUN_FILE, self.run_file)

    def claim(self, *names):
        """Check that this run may write ``<out>/<name>`` for each name (a saved model's
        ``NAME`` stands for ``NAME.npz`` and ``NAME.json``): in a directory that no fastae run
        wrote, an existing file is replaced only with ``overwrite``. Returns the first path."""
        if self.foreign and not self.overwrite:
            taken = []
            for name in names:
                is_file = Path(name).suffix in (".png", ".json", ".html")
                candidates = [self.out / name] if is_file else list(io.model_paths(self.out / name))
                taken += [p.name for p in candidates if p.exists()]
            if taken:
                raise RunDirError(
                    f"--out: {self.out} holds files that no fastae run wrote there ({', '.join(taken)}); "
                    "choose another --out, or add --overwrite to replace them"
                )
        return self.out / names[0] if names else None

    def figure(self, name, fig, caption, *, section=None):
        """Save ``fig`` as ``<out>/<name>`` (atomically) and register it with its caption and
        report section; returns the path. ``fig``: a matplotlib Figure, saved now, or a
        :class:`~fastae.plots.sketch.Sketch`, handed to the painter (drawn here when there is
        none); :meth:`finish_figures` waits until it is written."""
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"caption: give a sentence saying what {name} shows, got {caption!r}")
        if any(entry.name == name for entry in self.figures):
            raise ValueError(f"name: {name} is already written by this run; give each figure its own name")
        path = self.claim(name)
        number = self._painter.submit(fig, path) if isinstance(fig, Sketch) and self._painter else None
        if number is not None:
            self._drawing.append(number)
        elif isinstance(fig, Sketch):
            fig.draw(path)
        else:
            plots.save(fig, path)
        self.figures.append(FigureEntry(path.name, caption, section))
        return path

    def finish_figures(self):
        """Wait until every figure handed to the painter is written. While
        ``HELP_AFTER`` or more of them wait for it, this process draws the last of them
        itself (after it imports matplotlib, once); those the painter could not draw are
        drawn here too (an error in one raises here)."""
        numbers, self._drawing = self._drawing, []
        if not numbers:
            return
        at_least = HELP_AFTER
        while (job := self._painter.take(numbers, at_least)) is not None:
            job[0].draw(job[1])
            at_least = 1  # matplotlib is loaded now: help until none waits
        for sketch, path in self._painter.wait(numbers):
            sketch.draw(path)

    @property
    def names(self):
        """The file names of the figures written so far, in order."""
        return [entry.name for entry in self.figures]

    def write(self, metrics, *, title, summary=None, highlights=(), sections=(), labels=None):
        """Write ``metrics.json`` (``metrics`` with ``figures``: the names of the figures
        written) and ``report.html`` (every figure with its caption, in its section; see
        :func:`fastae.report.write_report` for the other arguments). Returns ``metrics``."""
        self.finish_figures()
        metrics["figures"] = self.names
        io.save_json(self.claim("metrics.json"), metrics)
        write_report(
            self.out,
            title=title,
            metrics=metrics,
            config=metrics.get("config", {}),
            environment=metrics.get("environment", {}),
            figures=[(self.out / e.name, e.caption, e.section) for e in self.figures],
            summary=summary,
            highlights=highlights,
            sections=sections,
            labels=labels,
        )
        if self.command is not None:
            io.save_json(self.out / RUN_FILE, {**self.run_file, "complete": True})
            _unlock(self.out)
        return metrics
