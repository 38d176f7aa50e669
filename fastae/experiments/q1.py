"""Exercise Q1: a 9-4-9 autoencoder on the tutorial's five 3x3 patterns, plain and sparse.

Full-batch gradient descent on the cross-entropy, learning rate 0.1, the tutorial code's
``N(0, 1/sqrt(9))`` initial weights; then the same with the KL sparsity penalty,
``beta = 0.5``, ``rho = 0.1``.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .. import plots
from ..autoencoder import Autoencoder
from ..backends import get_backend
from ..datasets import q1_patterns
from ..report import fmt, q1_reference_section
from .common import compiled_note, environment, fit_seconds, fmt_vector, prepare_run_dir, silent, table
from .record import RunRecord


@dataclass(frozen=True)
class Q1Config:
    """Hyper-parameters of Q1 (defaults: the tutorial's, with enough epochs that every
    output lies within 0.15 of its binary target)."""

    n_hidden: int = 4
    lr: float = 0.1
    epochs: int = 5000
    rho: float = 0.1
    beta: float = 0.5
    seed: int = 0
    device: str = "cpu"
    eval_every: int = 10


def _bit_errors(model, X):
    return int(((model.reconstruct(X) > 0.5) != (X > 0.5)).sum())


def train_run(X, cfg, sparsity):
    """Train one Q1 model; returns it with its loss and bit-error curves."""
    model = Autoencoder(
        X.shape[1], cfg.n_hidden, sparsity=sparsity, seed=cfg.seed, init="normal", device=cfg.device
    )
    bit_epochs, bit_errors = [], []

    def record(done, _losses):
        bit_epochs.append(done)
        bit_errors.append(_bit_errors(model, X))

    losses = model.fit(X, cfg.epochs, cfg.lr, callback=record, chunk_epochs=cfg.eval_every)
    return model, losses, (np.array(bit_epochs), np.array(bit_errors))


def _summary(model, X, losses):
    H = model.encode(X)
    Y = model.reconstruct(X)
    return {
        "final_loss": float(losses[-1]),
        "bit_errors": int(((Y > 0.5) != (X > 0.5)).sum()),
        "max_abs_error": float(np.abs(Y - X).max()),
        "mean_hidden_activation": float(H.mean()),
        "mean_activation_per_unit": H.mean(axis=0),
        "h": H,
        "y": Y,
    }


def _xhy_table(X, s):
    rows = [
        (f"x{p + 1}", fmt_vector(X[p], 0), fmt_vector(s["h"][p]), fmt_vector(s["y"][p]))
        for p in range(X.shape[0])
    ]
    return table(("", "x (3x3, row by row)", "h", "y"), rows)


def _figures(rec, name, label, model, X, s, cfg):
    """The weights, hidden activations and reconstructions of one run, in its report section."""
    units = [f"h{j + 1}" for j in range(cfg.n_hidden)]
    patterns = [f"x{p + 1}" for p in range(X.shape[0])]
    section = _section(name, cfg)
    rec.figure(
        f"weights_{name}.png",
        plots.later.tiles(model.params()["W"].T, (3, 3),
                          title=f"Q1 {label}:\nweights of the {cfg.n_hidden} hidden units",
                          normalize="global", colorbar=True, labels=units),
        f"Weights learned (the tutorial's w1 to w{cfg.n_hidden}): each hidden unit's 9 weights as a 3x3 "
        "image, all on one grey scale. Look for units tuned to strokes of the patterns (a row, a column, "
        "a diagonal): a positive (white) weight where the pattern has a 1.",
        section=section,
    )
    rec.figure(
        f"hidden_{name}.png",
        plots.later.heatmap(s["h"], title=f"Q1 {label}:\nhidden activations "
                            f"(mean {fmt(s['mean_hidden_activation'], 'level')})",
                            xlabel="hidden unit", ylabel="pattern", xticklabels=units, yticklabels=patterns,
                            annotate=True, vmin=0.0, vmax=1.0, colorbar_label="activation"),
        "Hidden-layer activations: the code h of each input pattern (rows x1 to x5: the tutorial's h "
        "column), its value in each cell. Look for a different code for each pattern; with the sparsity "
        "penalty, most entries near 0.",
        section=section,
    )
    rec.figure(
        f"reconstructions_{name}.png",
        plots.later.image_rows({"input x": X, "output y": s["y"]}, (3, 3),
                               title=f"Q1 {label}:\ninputs and reconstructions", colorbar=True, labels=patterns),
        "Reconstructions of the input patterns: each input x (top) above its output y (bottom: the "
        "tutorial's y column), black 0, white 1. Look for outputs that match their inputs pixel for pixel.",
        section=section,
    )


def _section(name, cfg):
    return f"{name}: KL sparsity penalty (beta {cfg.beta:g}, rho {cfg.rho:g})" if name == "sparse" else \
        f"{name}: no sparsity penalty"


def run(cfg=Q1Config(), out="runs/q1", echo=silent, overwrite=False):
    """Run both Q1 models, write the figures, models, ``metrics.json`` and ``report.html`` into ``out``
    (``overwrite``: also replace files there that no fastae run wrote)."""
    get_backend(cfg.device)  # an unusable device fails here, before any work
    out = prepare_run_dir(out)
    runs = {"plain": None, "sparse": (cfg.rho, cfg.beta)}
    outputs = ["learning_curves.png"] + [f"{kind}_{name}{ext}" for name in runs for kind, ext in
                                         (("model", ""), ("weights", ".png"), ("hidden", ".png"),
                                          ("reconstructions", ".png"))]
    rec = RunRecord(out, "q1", settings=asdict(cfg), outputs=outputs, overwrite=overwrite)
    X = q1_patterns()
    metrics = {"exercise": "q1", "config": asdict(cfg), "environment": environment(), "runs": {}}
    curves, bit_curves = {}, {}
    for name, sparsity in runs.items():
        model, losses, bits = train_run(X, cfg, sparsity)
        s = _summary(model, X, losses)
        timing = fit_seconds(model, losses)
        metrics["runs"][name] = {"sparsity": sparsity, **s, **timing, "loss_curve": losses}
        curves[name] = losses
        bit_curves[name] = bits
        model.save(out / f"model_{name}", history={"loss": losses})

        label = f"{name} (rho={cfg.rho}, beta={cfg.beta})" if sparsity else name
        _figures(rec, name, label, model, X, s, cfg)
        echo(
            f"\nQ1 {label}: {cfg.epochs} epochs in {fmt(timing['train_seconds'], 'seconds')}"
            f"{compiled_note(timing['compile_seconds'])}, loss {fmt(s['final_loss'], 'loss')}, bit errors {s['bit_errors']}, "
            f"max |y - x| {fmt(s['max_abs_error'], 'level')}, "
            f"mean hidden activation {fmt(s['mean_hidden_activation'], 'level')}"
        )
        echo(_xhy_table(X, s))

    rec.figure(
        "learning_curves.png",
        plots.later.learning_curves(
            None,
            title=f"Q1: 9-4-9 autoencoder, gradient descent, lr {cfg.lr}",
            panels=[
                ("cross-entropy loss", "loss", curves),
                ("bit errors (outputs thresholded at 0.5)", "bit errors",
                 {k: tuple(v) for k, v in bit_curves.items()}),
            ],
            logy=(True, False),
        ),
        "Learning curves of both runs: the cross-entropy loss (summed over the 9 pixels, averaged over the "
        "five patterns; left, log "
        "scale) and the number of wrong output bits when the outputs are thresholded at 0.5 (right). Look "
        "for the loss still falling slowly at the end and the bit errors reaching 0.",
        section="Learning curves",
    )
    rec.write(
        metrics,
        title=f"fastae Q1: {X.shape[1]}-{cfg.n_hidden}-{X.shape[1]} autoencoder on the five 3x3 patterns",
        summary=f"{cfg.epochs} epochs of full-batch gradient descent on the cross-entropy, lr {cfg.lr}; "
        f"the sparse run adds {cfg.beta} x KL(rho = {cfg.rho}).",
        highlights=[
            (f"{name}: {label}", fmt(metrics["runs"][name][key], kind))
            for name in runs
            for key, label, kind in (("max_abs_error", "max |y - x|", "level"), ("bit_errors", "bit errors", "count"))
        ],
        sections=[q1_reference_section(X, metrics["runs"]), ("Learning curves", "")]
        + [(_section(name, cfg), "") for name in runs],
    )
    echo(f"\nWrote {out}/")
    return metrics
