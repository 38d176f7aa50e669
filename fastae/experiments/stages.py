"""Resumable stages of a run directory, shared by ``run q3`` and ``fastae train``.

A stage (Q3's layer 1, layer 2 and classifier; ``train``'s layers) is saved as
``<out>/<name>.npz/.json`` with the settings it was trained with, its history and its
training seconds (the sum of its epochs' ``seconds``: no compilation, no evaluation).
With ``resume`` a stage is loaded when its saved settings equal this run's and no
earlier stage was trained in this run (its inputs would differ); otherwise it is trained, continuing from ``<name>.checkpoint`` when one was saved with the same
settings. Ctrl-C (or SIGTERM) during training saves that checkpoint and raises
RunInterrupted; a stage whose training diverges saves its last finite model as the
checkpoint and raises a ValueError that names the stage. A model or checkpoint whose two
files do not belong together (and whose previous arrays are gone too) is not used, and the
log says why.
"""
import signal
from pathlib import Path

from .. import io
from ..model import TrainingDiverged
from ..stopping import TrainingInterrupted, signal_name, signals_deferred, stopped_after
from .common import RunInterrupted


class Stages:
    """The stages of one run, in order.

    ``load(path)`` reads a saved model; ``records[name]`` says, for each stage run,
    whether it was ``resumed`` (loaded), its training ``seconds`` and the
    ``compile_seconds`` its training loops took to compile in this run.
    """

    def __init__(self, out, resume, load):
        self.out, self.resume, self.load = Path(out), resume, load
        self.trained = not resume  # once a stage is trained, every later stage is trained too
        self.records = {}
        self.digests = {}  # each stage's arrays_sha256, for the stages built on it

    def checkpoint(self, name):
        """Where Ctrl-C leaves an unfinished stage: ``<out>/<name>.checkpoint(.npz|.json)``."""
        return self.out / f"{name}.checkpoint"

    def saved(self, path, settings):
        """``(model, record)`` saved at ``path`` with ``settings``, or ``(None, why not)``."""
        npz, js = io.model_paths(path)
        if not (npz.is_file() and js.is_file()):
            return None, "not saved yet"
        record = io.load_json(js, "model config")
        saved, wanted = record.get("settings") or {}, io.json_roundtrip(settings)
        if not isinstance(saved, dict):
            return None, "saved without its settings"
        diff = [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in wanted.items() if saved.get(k) != v]
        diff += [f"{k} {saved[k]!r} -> none" for k in saved if k not in wanted]
        if diff:
            return None, f"saved with other settings ({', '.join(diff)})"
        if not isinstance(record.get("history"), dict) or "loss" not in record["history"]:
            return None, "saved without its training history"
        try:
            return self.load(path), record
        except ValueError as e:
            if "do not match" not in str(e):
                raise
            return None, f"its files come from different saves ({npz.name} does not match {js.name})"

    def run(self, name, settings, train, announce, *, label=None, optimizer_state=False, parents=(), **extra):
        """Stage ``name``: loaded, or trained by ``train(start)`` and saved; returns
        ``(model, history)``.

        ``train`` returns ``(model, history)``, ``history`` a dict of per-epoch lists with
        ``loss``; ``start`` is None or the checkpoint's ``(model, history)``. Ctrl-C in
        ``train`` raises TrainingInterrupted with ``history`` set to the stage's so far.
        ``announce(event, detail)`` tells the recipe what happens: ``"loaded"`` (detail:
        the path), ``"continuing"`` (the checkpoint's path and model) or ``"training"``
        (why it was not loaded, or None without ``resume``). ``optimizer_state``: the
        checkpoint keeps the optimizer's state (a classifier's). ``extra`` is saved with
        the finished model; ``label`` names the stage in messages (default: ``name``).
        ``parents`` names the earlier stages this one is built on: their arrays' SHA-256
        joins its settings (``settings["parents"]``), so that a stage is only ever loaded
        on top of the very models it was trained on.
        """
        path, ckpt = self.out / name, self.checkpoint(name)
        if parents:
            settings = {**settings, "parents": {p: self.digests[p] for p in parents}}
        if self.trained:
            model, why = None, "it builds on a stage trained in this run"
        else:
            model, why = self.saved(path, settings)
        if model is not None:
            announce("loaded", path)
            self.records[name] = {"resumed": True, "seconds": float(why.get("seconds", float("nan"))),
                                  "compile_seconds": 0.0}
            self.digests[name] = io.arrays_digest(model.params())
            return model, why["history"]
        earlier_trained, self.trained = self.trained, True
        start = None
        if self.resume and not earlier_trained:
            start, saved = self.saved(ckpt, settings)
            if start is not None:
                start = (start, saved["history"])
            elif saved != "not saved yet":
                why = f"its checkpoint is not used: {saved}"
        if start is not None:
            announce("continuing", (ckpt, start[0]))
        else:
            announce("training", why if self.resume else None)

        def save_checkpoint(e):
            with signals_deferred(deliver=False):  # a second Ctrl-C: the run is stopping anyway
                e.model.save(ckpt, history=e.history, settings=settings, seconds=training_seconds(e.history),
                             **({"optimizer_state": True} if optimizer_state else {}))

        try:
            model, history = train(start)
        except TrainingInterrupted as e:
            save_checkpoint(e)
            raise RunInterrupted(
                f"Interrupted{'' if e.signum == signal.SIGINT else ' by ' + signal_name(e.signum)}: "
                f"{label or name} stopped after {stopped_after(e.model)}"
                + f"; saved {ckpt}.npz. Run the same command with --resume to continue.",
                e.signum,
            ) from None
        except TrainingDiverged as e:
            save_checkpoint(e)
            raise ValueError(f"{label or name}: {e}; that model is saved as {ckpt}.npz") from None
        seconds = training_seconds(history)
        model.save(path, history=history, settings=settings, seconds=seconds, **extra)
        npz, js = io.model_paths(ckpt)
        for p in (npz, js, io.previous_arrays_path(npz)):
            p.unlink(missing_ok=True)
        self.records[name] = {"resumed": False, "seconds": seconds, "compile_seconds": float(model.compile_seconds)}
        self.digests[name] = io.arrays_digest(model.params())
        return model, history


def training_seconds(history):
    """A stage's training time: the sum of its epochs' ``seconds`` (the epochs of an
    interrupted run included)."""
    return float(sum(history.get("seconds", ())))
