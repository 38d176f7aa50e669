"""Train autoencoders on the user's own data (``fastae train``), and use them.

One size in ``hidden`` trains one tied-weight autoencoder; several train a stack greedily:
layer 1 on the data, then each layer on the codes that the layer below gives for the
clean data (no masking noise). Loss, masking noise and sparsity are the same for every
layer; layer ``l`` is seeded with ``seed + l - 1`` (``checks.stage_seed``, as in Q3). Initial weights:
``sigmoid_uniform``.

A run directory holds, for each layer ``l``, the model ``layer<l>.npz`` + ``layer<l>.json``
and its weights ``weights_layer<l>.png`` (one tile per hidden unit when the layer's input
length is a perfect square, else the matrix ``W`` as a heat map), the learning curves of
every layer in ``learning_curves.png``, and ``metrics.json`` (the settings, the data's
shape and source, per layer the final loss, the mean hidden activation, the
reconstruction error and the training time, and the environment).

``stack.py`` reads such a directory back and runs data through the whole stack.

Ctrl-C stops training at the end of the batch in progress and saves the layer in training
as ``layer<l>.checkpoint`` (model, losses so far, position in the epoch); ``run(...,
resume=True)`` (``fastae train --resume``) loads the layers already finished and continues
that one, to the same models as a run that was never interrupted. A resume needs the same
settings and the same data (its CRC-32 is stored with each layer).
"""
import math
import zlib
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from .. import config, mapped, plots
from ..autoencoder import LOSSES, Autoencoder
from ..backends import get_backend
from ..checks import (
    check_choice,
    check_data,
    check_positive_int,
    check_probability,
    check_rate,
    check_seed,
    check_sparsity,
    check_unit_interval,
    stage_seed,
)
from ..model import INITS, TrainingDiverged
from ..report import fmt
from ..stopping import TrainingInterrupted
from .common import (
    Stopwatch,
    as_floats,
    compiled_note,
    environment,
    epoch_line,
    map_shape,
    prepare_run_dir,
    silent,
    table,
)
from .record import RunRecord
from .stack import is_chunked, load_autoencoder
from .stages import Stages


@dataclass(frozen=True)
class TrainConfig:
    """Settings of ``fastae train``.

    ``hidden`` lists the code size of each layer (one size: one autoencoder);
    ``loss`` is ``"cross_entropy"`` (data in [0, 1]) or ``"mse"``; ``corruption`` the
    masking-noise level and ``sparsity`` None or ``(rho, beta)``, both for every layer;
    ``batch_size`` None trains full-batch.
    """

    hidden: tuple = (256,)
    loss: str = "cross_entropy"
    corruption: float = 0.0
    sparsity: tuple = None
    epochs: int = 50
    batch_size: int = 128
    lr: float = 0.1
    seed: int = 0
    device: str = "cpu"
    init: str = "sigmoid_uniform"

    def __post_init__(self):
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(f"hidden: expected one or more layer sizes, got {self.hidden!r}") from None
        if not hidden:
            raise ValueError("hidden: give at least one layer size")
        object.__setattr__(self, "hidden", tuple(check_positive_int(k, "hidden") for k in hidden))
        check_choice(self.loss, tuple(LOSSES), "loss")
        object.__setattr__(self, "corruption", check_probability(self.corruption, "corruption"))
        object.__setattr__(self, "sparsity", check_sparsity(self.sparsity))
        object.__setattr__(self, "epochs", check_positive_int(self.epochs, "epochs"))
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size", check_positive_int(self.batch_size, "batch_size"))
        object.__setattr__(self, "lr", check_rate(self.lr, "lr", np.float32))
        object.__setattr__(self, "seed", check_seed(self.seed))
        check_choice(self.init, INITS, "init")


def _weights_figure(rec, model, layer, source):
    """The layer's weights: tiles when its input length is a perfect square, else a heat map."""
    W = model.params()["W"]
    n_in, k = W.shape
    side = math.isqrt(n_in)
    on = f"trained on {source}" if layer == 1 else f"on layer {layer - 1}'s codes"
    title = f"layer {layer}: {n_in} -> {k}, {on}"
    name = f"weights_layer{layer}.png"
    if side >= 2 and side * side == n_in:
        rows, cols = map_shape(k)
        grid = (rows, cols) if rows * 4 >= cols else None  # near-square factors, else ceil(sqrt) columns
        fig = plots.later.tiles(W.T, (side, side), grid=grid, normalize="each", colorbar=True,
                                title=f"{title}\none {side}x{side} tile per hidden unit")
        return rec.figure(name, fig, f"Weights of layer {layer}: each of the {k} hidden units' {n_in} weights "
                          f"as a {side}x{side} image, each on its own grey scale.")
    limit = float(np.abs(W).max()) or None
    fig = plots.later.heatmap(W, title=f"{title}\nweights W", xlabel="hidden unit", ylabel="input", cmap="RdBu_r",
                              vmin=-limit if limit else None, vmax=limit, colorbar_label="weight")
    return rec.figure(name, fig, f"Weights of layer {layer}: the {n_in} x {k} matrix W (rows: inputs, "
                      "columns: hidden units), red positive, blue negative, white 0.")


def _layer_settings(cfg, X, layer):
    """What layer ``layer``'s result depends on: the settings and its input data."""
    with mapped.reading(X):
        crc = zlib.crc32(memoryview(X).cast("B"))
    return {**asdict(cfg), "layer": layer, "input_shape": list(X.shape), "input_crc32": crc}


def _data_summary(X):
    """``(min, max, mean)`` of the data as the models see them (bytes scaled by 1/255)."""
    if not is_chunked(X):
        return float(X.min()), float(X.max()), float(X.mean())
    lo, hi, total = np.inf, -np.inf, 0.0
    with mapped.reading(X):
        for start in range(0, X.shape[0], config.EVAL_CHUNK):
            part = as_floats(X[start : start + config.EVAL_CHUNK])
            lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
            total += float(part.sum(dtype=np.float64))
    return lo, hi, total / X.size


def _layer_stats(model, inputs, keep_codes):
    """``(codes or None, reconstruction MSE, mean activation)`` of a trained layer; the
    codes only when ``keep_codes`` (the next layer's input), the rest in chunks for
    bytes and mapped files."""
    if not is_chunked(inputs):
        H = model.encode(inputs)
        Y = model.reconstruct(inputs)
        return H, float(((Y.astype(np.float64) - inputs) ** 2).sum(axis=1).mean()), float(H.mean())
    n = inputs.shape[0]
    H = np.empty((n, model.n_hidden), model.dtype) if keep_codes else None
    squared, active = 0.0, 0.0
    with mapped.reading(inputs):
        for start in range(0, n, config.EVAL_CHUNK):
            stop = min(start + config.EVAL_CHUNK, n)
            codes = model.encode(inputs[start:stop])
            Y = model.decode(codes)
            squared += float(((Y.astype(np.float64) - as_floats(inputs[start:stop])) ** 2).sum())
            active += float(codes.sum(dtype=np.float64))
            if H is not None:
                H[start:stop] = codes
    return H, squared / n, active / (n * model.n_hidden)


def _train_layer(model, history, inputs, cfg, layer, echo):
    """``fit`` the rest of the layer's epochs, with a progress line per chunk of epochs;
    ``history`` holds the losses of the epochs before."""
    first = model.epochs_trained
    n = inputs.shape[0]

    def progress(done, losses):
        seconds = losses["seconds"]
        echo(epoch_line(f"layer {layer}", first + done, cfg.epochs, f"loss {losses[-1]:.4f}", seconds[-1], n,
                        (cfg.epochs - first - done) * sum(seconds) / done))

    def so_far(losses):
        return {"loss": history["loss"] + list(map(float, losses)),
                "seconds": history.get("seconds", []) + list(losses["seconds"])}

    if first >= cfg.epochs:
        return model, history
    try:
        losses = model.fit(inputs, cfg.epochs - first, cfg.lr, cfg.batch_size, callback=progress)
    except (TrainingInterrupted, TrainingDiverged) as e:
        e.history = so_far(e.history)
        raise
    return model, so_far(losses)


def run(cfg=TrainConfig(), data=None, out="runs/train", echo=silent, *, source=None, key=None, resume=False,
        overwrite=False, progress=None):
    """Train the layers of ``cfg`` on ``data``; write models, figures and ``metrics.json`` into ``out``.

    ``data`` is a 2-D array (one pattern per row) or a file name for
    :func:`fastae.userdata.load_array` (``key`` picks an array of an ``.npz``);
    ``source`` names it in messages and in ``metrics.json``. ``resume`` loads the layers
    that ``out`` already holds for these settings and data, and continues an interrupted
    one from its checkpoint; it refuses a run directory trained on other data of the same
    shape. ``overwrite`` lets the run replace files in ``out`` that no fastae run wrote.
    ``echo`` receives the headings and the summary, ``progress`` the per-epoch lines
    (default: ``echo``). Returns the metrics.
    """
    progress = echo if progress is None else progress
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg: expected a TrainConfig, got {type(cfg).__name__}")
    if data is None:
        raise ValueError("data: give an array (patterns in rows) or a data file")
    if isinstance(data, (str, Path)):
        from ..userdata import load_array

        source = source or str(data)
        data = load_array(data, key=key, mmap=True)
    source = source or "data"
    get_backend(cfg.device)  # an unusable device fails here, before any work
    X = check_data(data, None, name=source, dtype=np.float32, keep_bytes=True)
    if cfg.loss == "cross_entropy":
        check_unit_interval(X, source)
    out = prepare_run_dir(out)
    n, d = X.shape
    layers = [f"layer{layer}" for layer in range(1, len(cfg.hidden) + 1)]
    outputs = (*layers, *(f"{name}.checkpoint" for name in layers), *(f"weights_{name}.png" for name in layers),
               "learning_curves.png")
    fingerprint = {"data": {"source": str(source), "size": [n, d], "crc32": zlib.crc32(memoryview(X).cast("B"))}}
    rec = RunRecord(out, "train", settings=asdict(cfg), data=fingerprint, outputs=outputs, overwrite=overwrite,
                    resume=resume)
    clock = Stopwatch()
    sizes = (d, *cfg.hidden)
    lo, hi, mean = _data_summary(X)
    metrics = {
        "command": "train",
        "config": asdict(cfg),
        "data": {
            "source": str(source),
            "shape": [n, d],
            "min": lo,
            "max": hi,
            "mean": mean,
        },
        "layer_sizes": list(sizes),
        "layers": [],
        "environment": environment(),
    }
    if cfg.loss == "mse" and (lo < 0.0 or hi > 1.0):
        echo(f"Note: the outputs are sigmoids in (0, 1); values of {source} outside [0, 1] cannot be reconstructed.")
    curves = {}
    inputs = X
    stages = Stages(out, resume, lambda path: load_autoencoder(path, cfg.device))
    for layer, (n_in, k) in enumerate(pairwise(sizes), 1):
        describe = f"layer {layer} ({n_in} -> {k})"

        def announce(event, detail, describe=describe):
            if event == "loaded":
                echo(f"{describe}: loaded from {detail}.npz")
            elif event == "continuing":
                echo(f"{describe}: continuing from {detail[0]}.npz after {detail[1].epochs_trained} epochs")
            elif detail and "not saved yet" not in detail:
                echo(f"{describe}: not resumed ({detail})")

        def train(start, n_in=n_in, k=k, layer=layer, inputs=inputs):
            if start is None:
                model = Autoencoder(n_in, k, loss=cfg.loss, corruption=cfg.corruption, sparsity=cfg.sparsity,
                                    seed=stage_seed(cfg.seed, layer - 1), device=cfg.device, init=cfg.init)
                start = (model, {"loss": [], "seconds": []})
            return _train_layer(*start, inputs, cfg, layer, progress)

        model, history = stages.run(f"layer{layer}", _layer_settings(cfg, inputs, layer), train, announce,
                                    label=f"layer {layer}", layer=layer, layer_sizes=list(sizes),
                                    data_source=str(source), parents=(f"layer{layer - 1}",) if layer > 1 else ())
        losses, seconds = history["loss"], stages.records[f"layer{layer}"]["seconds"]
        compiling = stages.records[f"layer{layer}"]["compile_seconds"]
        losses = np.asarray(losses)
        H, mse, active = _layer_stats(model, inputs, layer < len(cfg.hidden))
        record = {
            "layer": layer,
            "n_visible": n_in,
            "n_hidden": k,
            "final_loss": float(losses[-1]),
            "reconstruction_mse": mse,
            "mean_activation": active,
            "seconds": seconds,
            "compile_seconds": compiling,
            "loss_curve": losses,
        }
        metrics["layers"].append(record)
        _weights_figure(rec, model, layer, source)
        curves[f"layer {layer} ({n_in} -> {k})"] = losses
        echo(f"layer {layer} ({n_in} -> {k}): {cfg.epochs} epochs in {fmt(seconds, 'seconds')}"
             f"{compiled_note(compiling)}, final loss "
             f"{fmt(record['final_loss'], 'loss')}, mean activation {fmt(record['mean_activation'], 'level')}")
        inputs = H
    every = np.concatenate(list(curves.values()))
    noise = f", masking noise {cfg.corruption:g}" if cfg.corruption else ""
    sparse = f", KL rho {cfg.sparsity[0]:g} beta {cfg.sparsity[1]:g}" if cfg.sparsity else ""
    batch = "full batch" if cfg.batch_size is None else f"batch {cfg.batch_size}"
    rec.figure(
        "learning_curves.png",
        plots.later.learning_curves(curves,
                                    title=f"{source}: {cfg.loss} loss{noise}{sparse}\nSGD lr {cfg.lr:g}, {batch}",
                                    ylabel="training loss per pattern", logy=bool(np.all(every > 0))),
        "Learning curves: each layer's training loss per pattern after each epoch (for a stack, each layer on "
        "the codes of the layer below). Look for curves that flatten out: more epochs would add little.",
    )
    metrics["wall_seconds"] = clock.total()
    echo("")
    echo(table(
        ("layer", "sizes", "final loss", "reconstruction MSE", "mean activation", "time"),
        [(r["layer"], f"{r['n_visible']} -> {r['n_hidden']}", fmt(r["final_loss"], "loss"),
          fmt(r["reconstruction_mse"], "loss"), fmt(r["mean_activation"], "level"), fmt(r["seconds"], "seconds"))
         for r in metrics["layers"]],
    ))
    rec.write(
        metrics,
        title=f"fastae train: {source}",
        summary=f"{len(metrics['layers'])} layer(s) trained greedily on {n} patterns of {d} values.",
        highlights=[(f"layer {r['layer']}: final loss", fmt(r["final_loss"], "loss")) for r in metrics["layers"]],
    )
    echo(f"\nTrained on {source} ({n} patterns x {d} values); wrote {out}/ in "
         f"{fmt(metrics['wall_seconds'], 'seconds')}")
    return metrics
