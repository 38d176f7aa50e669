"""Exercise Q2: undercomplete, overcomplete and sparse autoencoders on random 10x10 images.

100 images of 10x10 pixels drawn uniformly from [0, 1) (seeded), squared error summed
over pixels and averaged over the batch, sigmoid units, tied weights, mini-batch SGD:

(a) ``undercomplete``: 49 hidden units;
(b) ``overcomplete``: 144 hidden units;
(c) ``sparse``: 144 hidden units with the KL sparsity term, ``rho = 0.05``, ``beta = 0.5``.

Defaults follow the tutorial's code: learning rate 0.2, batches of 32 (the last, partial
batch of each epoch is kept), 1000 epochs, patterns shuffled every epoch from the seed.

Initial weights: ``init="sigmoid_uniform"`` (``U(+-4 sqrt(6 / (n_visible + n_hidden)))``).
Measured against the ``N(0, 1/sqrt(100))`` init (1000 epochs, seeds 0, 1, 2), the normal
init is not clearly better: the overcomplete model ends with about 30 % less squared error
with the uniform init (0.11-0.12 against 0.16-0.17); the undercomplete one ends 4-6 %
lower with the normal init (0.96-1.01 against 1.00-1.06) and the sparse one within 5 %
either way. ``Q2Config.init`` switches.

Random pixels have no structure to find, so the interesting question is *how* each
model spends its code; the metrics measure it (see :data:`METRICS`).
"""
import functools
from dataclasses import asdict, dataclass

import numpy as np

from .. import plots
from ..autoencoder import Autoencoder
from ..backends import get_backend
from ..datasets import random_images
from ..report import fmt, fmt_key
from .common import Stopwatch, compiled_note, environment, fit_seconds, map_shape, prepare_run_dir, silent, table
from .record import RunRecord

#: The three models, in the order they are trained and shown.
MODELS = ("undercomplete", "overcomplete", "sparse")

#: An activation below this counts as "off" (the share of quiet activations, silent units).
QUIET = 0.05
#: An activation above this counts as "on" (units that never switch off).
LOUD = 0.95

#: Per-model metrics in ``metrics.json`` (``runs.<name>.<key>``) and the printed table,
#: with their row labels.
METRICS = {
    "final_loss": "final training loss (last epoch)",
    "mse": "reconstruction MSE, training images",
    "mse_fresh": "reconstruction MSE, fresh random images",
    "variance_explained": "share of pixel variance explained",
    "mean_activation": "mean hidden activation",
    "share_quiet": f"share of activations < {QUIET}",
    "silent_units": f"silent units (< {QUIET} for every image)",
    "always_on_units": f"always-on units (> {LOUD} for every image)",
    "lifetime_sparsity": "lifetime sparsity (Treves-Rolls, 0 dense .. 1 sparse)",
    "population_sparsity": "population sparsity (Treves-Rolls)",
    "mean_abs_weight": "mean |W|",
    "weight_norm": "mean ||w_j|| (per hidden unit)",
    "weight_top10_share": "share of ||w_j||^2 in its 10 largest pixels",
    "weight_abs_correlation": "mean |corr(w_j, w_k)|, j != k",
    "jacobian_diagonal": "mean dy_i/dx_i (identity: 1)",
    "jacobian_off_diagonal": "mean |dy_i/dx_k|, i != k (identity: 0)",
}


@dataclass(frozen=True)
class Q2Config:
    """Hyper-parameters of Q2 (defaults: the tutorial's code).

    ``hidden_under`` sizes model (a), ``hidden_over`` models (b) and (c); ``seed`` seeds
    the initial weights and the shuffling, ``data_seed`` the images (``n_images`` of
    ``side x side`` pixels); ``init`` is ``"sigmoid_uniform"`` or ``"normal"``; the
    reconstruction MSE curve is taken every ``eval_every`` epochs; the figures show the
    first ``n_show`` images.
    """

    epochs: int = 1000
    lr: float = 0.2
    batch_size: int = 32
    hidden_under: int = 49
    hidden_over: int = 144
    rho: float = 0.05
    beta: float = 0.5
    n_images: int = 100
    side: int = 10
    seed: int = 0
    device: str = "cpu"
    data_seed: int = 0
    init: str = "sigmoid_uniform"
    eval_every: int = 10
    n_show: int = 10


# ---------------------------------------------------------------------- helpers


def fresh_images(cfg):
    """Random images the models never see: the same distribution, another seed."""
    rng = np.random.default_rng([cfg.data_seed, 1])
    return rng.random((cfg.n_images, cfg.side * cfg.side)).astype(np.float32)


def _treves_rolls(H, axis):
    """Treves-Rolls sparsity ``(1 - E[h]^2 / E[h^2]) / (1 - 1/n)`` along ``axis``, averaged.

    0 when every entry is equal (dense), 1 when a single entry is non-zero.
    """
    n = H.shape[axis]
    if n < 2:
        return float("nan")
    m1 = H.mean(axis=axis)
    m2 = (H * H).mean(axis=axis)
    s = (1.0 - m1 * m1 / np.maximum(m2, 1e-30)) / (1.0 - 1.0 / n)
    return float(s.mean())


def _jacobian_stats(model, X):
    """Mean diagonal and mean |off-diagonal| of ``dy/dx`` over the images of ``X``.

    ``dy_i/dx_k = y_i (1 - y_i) sum_j W_ij h_j (1 - h_j) W_kj``; the identity map has 1
    on the diagonal and 0 elsewhere.
    """
    W = model.params()["W"].astype(np.float64)
    S = model.encode(X).astype(np.float64)
    S *= 1.0 - S  # h (1 - h)
    Y = model.reconstruct(X).astype(np.float64)
    G = Y * (1.0 - Y)  # y (1 - y)
    n, V = Y.shape
    diag = G * (S @ (W * W).T)  # n x V
    off = 0.0
    for lo in range(0, n, 64):  # n x V x V Jacobians, 64 images at a time
        J = G[lo : lo + 64, :, None] * ((W[None, :, :] * S[lo : lo + 64, None, :]) @ W.T)
        off += np.abs(J).sum()
    off -= np.abs(diag).sum()
    return float(diag.mean()), float(off / (n * V * (V - 1)))


def reconstruction_mse(model, X):
    """Squared error summed over pixels, averaged over the images (the loss without KL)."""
    return float(((model.reconstruct(X).astype(np.float64) - X) ** 2).sum(axis=1).mean())


def summarize(model, X, X_fresh, losses):
    """The :data:`METRICS` of one trained model, plus its activations and reconstructions."""
    H = model.encode(X).astype(np.float64)
    Y = model.reconstruct(X)
    W = model.params()["W"].astype(np.float64)
    mse = reconstruction_mse(model, X)
    total_var = float(((X - X.mean(axis=0)) ** 2).sum(axis=1).mean())
    energy = W * W
    top10 = np.sort(energy, axis=0)[-10:].sum(axis=0) / np.maximum(energy.sum(axis=0), 1e-30)
    k = W.shape[1]
    if k > 1:
        C = np.corrcoef(W.T)
        weight_corr = float(np.abs(C[~np.eye(k, dtype=bool)]).mean())
    else:
        weight_corr = float("nan")
    jd, jo = _jacobian_stats(model, X)
    metrics = {
        "final_loss": float(losses[-1]),
        "mse": mse,
        "mse_fresh": reconstruction_mse(model, X_fresh),
        "variance_explained": 1.0 - mse / total_var,
        "mean_activation": float(H.mean()),
        "share_quiet": float((H < QUIET).mean()),
        "silent_units": int((H < QUIET).all(axis=0).sum()),
        "always_on_units": int((H > LOUD).all(axis=0).sum()),
        "lifetime_sparsity": _treves_rolls(H, axis=0),
        "population_sparsity": _treves_rolls(H, axis=1),
        "mean_abs_weight": float(np.abs(W).mean()),
        "weight_norm": float(np.sqrt(energy.sum(axis=0)).mean()),
        "weight_top10_share": float(top10.mean()),
        "weight_abs_correlation": weight_corr,
        "jacobian_diagonal": float(jd),
        "jacobian_off_diagonal": float(jo),
    }
    return metrics, H, Y


def comparison_table(runs):
    """The :data:`METRICS` of the models side by side: one row per metric, each number
    written as its quantity (:mod:`fastae.report.numbers`)."""
    names = list(runs)
    rows = [(label, *(fmt_key(runs[n][key], key) for n in names)) for key, label in METRICS.items()]
    hidden = ("hidden units", *(str(runs[n]["hidden"]) for n in names))
    return table(("metric", *names), [hidden, *rows])


# -------------------------------------------------------------------------- run


def train_run(X, cfg, n_hidden, sparsity):
    """Train one Q2 model; returns it, its per-epoch losses and its MSE curve."""
    model = Autoencoder(
        X.shape[1], n_hidden, loss="mse", sparsity=sparsity, seed=cfg.seed, init=cfg.init, device=cfg.device
    )
    mse_epochs, mse_values = [], []

    def record(done, _losses):
        mse_epochs.append(done)
        mse_values.append(reconstruction_mse(model, X))

    losses = model.fit(
        X, cfg.epochs, cfg.lr, cfg.batch_size, callback=record, chunk_epochs=cfg.eval_every
    )
    return model, losses, (np.array(mse_epochs), np.array(mse_values))


def _label(name, k, sparsity):
    if sparsity:
        return f"{name} ({k} hidden, rho={sparsity[0]:g}, beta={sparsity[1]:g})"
    return f"{name} ({k} hidden)"


def _sorted_units(H):
    """``H`` transposed (units x images), units sorted by decreasing mean activation."""
    return H[:, np.argsort(-H.mean(axis=0), kind="stable")].T


#: The ``|error|`` rows of the reconstruction figures share this scale (0 to ERROR_SCALE), so
#: that the three models compare.
ERROR_SCALE = 0.5
#: The report's section of each model, as the tutorial names them.
SECTIONS = {"undercomplete": "(a) Undercomplete autoencoder", "overcomplete": "(b) Overcomplete autoencoder",
            "sparse": "(c) Sparse autoencoder"}
COMPARISON = "Comparison of the three autoencoders"


def _model_figures(rec, name, label, X, Y, H, W, s, cfg):
    """Weights, inputs with reconstructions, and activations of one model, in its report section."""
    shape, n_show, grid = (cfg.side, cfg.side), max(1, min(cfg.n_show, cfg.n_images)), map_shape(W.shape[0])
    section = f"{SECTIONS[name]}: {W.shape[0]} hidden units"
    images = [f"image {i + 1}" for i in range(n_show)]
    rec.figure(
        f"weights_{name}.png",
        plots.later.tiles(W, shape, grid=grid,
                          title=f"Q2 {label}\nweights: one {cfg.side}x{cfg.side} tile per hidden unit",
                          normalize="each", colorbar=True),
        f"Weights learned: each hidden unit's {cfg.side * cfg.side} weights as a {cfg.side}x{cfg.side} tile, "
        "each tile on its own grey scale. Random pixels have no structure to find: look for how local the "
        "tiles are (a few bright or dark pixels) against speckle all over.",
        section=section,
    )
    err = np.abs(Y[:n_show] - X[:n_show])
    rec.figure(
        f"reconstructions_{name}.png",
        plots.later.image_rows({"input": X[:n_show], "reconstruction": Y[:n_show], "|error|": err}, shape,
                               title=f"Q2 {label}\nfirst {n_show} images; MSE over all {cfg.n_images}: "
                               f"{fmt_key(s['mse'], 'mse')}", colorbar=True, labels=images,
                               scales={"|error|": {"vmin": 0.0, "vmax": ERROR_SCALE, "cmap": "inferno",
                                             "label": "|error|"}}),
        f"Input images (top) and output reconstructions (middle) of the first {n_show} training images, "
        f"and the absolute error of each pixel (bottom, black 0 to yellow {ERROR_SCALE:g} and above: one "
        "scale for all three models). Look for how dark the error row is: the darker, the closer the copy.",
        section=section,
    )
    rec.figure(
        f"activations_{name}.png",
        plots.later.activation_maps(H[:n_show], grid, sample_labels=images,
                                    title=f"Q2 {label}\nhidden activations of the first {n_show} images "
                                    f"(mean over all {cfg.n_images}: {fmt_key(s['mean_activation'], 'activation')})"),
        f"Hidden-layer activations: the {W.shape[0]} units' activations for each of the first {n_show} images, "
        f"as a {grid[0]}x{grid[1]} map (dark 0, yellow 1). Look for how many units are on for an image: "
        "most of them without the sparsity term, a few with it.",
        section=section,
    )


def _comparison_figures(rec, curves, mse_curves, acts, weights, cfg):
    """Learning curves, features and activations side by side, and the activation histogram."""
    shape = (cfg.side, cfg.side)
    rec.figure(
        "learning_curves.png",
        plots.later.learning_curves(
            None, title=f"Q2: random {cfg.side}x{cfg.side} images, SGD lr {cfg.lr:g}, batch {cfg.batch_size}",
            panels=[(f"training loss (sparse: MSE + {cfg.beta:g} KL)", "loss per image", curves),
                    (f"reconstruction MSE, every {cfg.eval_every} epochs", "squared error per image", mse_curves)],
            logy=True),
        "Learning curves: the training loss of each epoch (left; the sparse model's includes its KL term) "
        f"and the reconstruction error of the training images every {cfg.eval_every} epochs (right), log "
        "scales. Look for which model copies best: the overcomplete one, whose error keeps falling.",
        section=COMPARISON,
    )
    panels = []
    for name in MODELS:
        k = weights[name].shape[0]
        panels += [
            (f"{name} ({k} hidden): weights", plots.later.mosaic(weights[name], shape, grid=map_shape(k)),
             {"tile_shape": shape, "colorbar": False}),
            (f"{name}: activations, all {cfg.n_images} images", _sorted_units(acts[name]),
             {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0, "aspect": "auto", "colorbar_label": "activation",
              "xlabel": "image", "ylabel": "hidden unit (by mean activation)"}),
        ]
    rec.figure(
        "comparison.png",
        plots.later.side_by_side(panels, ncols=2, title="Q2: weights learned (left) and hidden-layer activations "
                                 "(right) of the three autoencoders"),
        "Weights learned (left, one tile per hidden unit) and hidden-layer activations (right: one row per "
        f"unit, sorted by its mean activation, one column per image, all {cfg.n_images} images) of the three "
        "models, as the tutorial compares them with and without the sparsity constraint. Look for the sparse "
        "model's activation matrix: dark but for a few bright entries per image.",
        section=COMPARISON,
    )
    rec.figure(
        "activation_histogram.png",
        plots.later.histogram({f"{name} ({acts[name].shape[1]} units)": acts[name] for name in MODELS},
                              title=f"Q2: hidden activations over all {cfg.n_images} images", xlabel="activation",
                              bins=np.linspace(0.0, 1.0, 51), vlines={"rho": cfg.rho}, share=True, logy=True,
                              vline_fmt=functools.partial(fmt, kind="level"),
                              ylabel="share of activations (%)"),
        "Distribution of the hidden activations (images x units) of each model, as a share of its own "
        "activations on a log scale, with the sparsity target rho. Look for the sparse model's mass near 0 "
        "and the other two spread over the whole range.",
        section=COMPARISON,
    )


def run(cfg=Q2Config(), out="runs/q2", echo=silent, overwrite=False):
    """Train the three Q2 models; write figures, models, ``metrics.json`` and ``report.html`` into ``out``
    (``overwrite``: also replace files there that no fastae run wrote)."""
    get_backend(cfg.device)  # an unusable device fails here, before any work
    out = prepare_run_dir(out)
    outputs = ["learning_curves.png", "comparison.png", "activation_histogram.png"] + [
        f"{kind}_{name}{ext}" for name in MODELS
        for kind, ext in (("model", ""), ("weights", ".png"), ("reconstructions", ".png"), ("activations", ".png"))]
    rec = RunRecord(out, "q2", settings=asdict(cfg), outputs=outputs, overwrite=overwrite)
    clock = Stopwatch()
    X = random_images(cfg.n_images, cfg.side, seed=cfg.data_seed)
    X_fresh = fresh_images(cfg)
    specs = {
        "undercomplete": (cfg.hidden_under, None),
        "overcomplete": (cfg.hidden_over, None),
        "sparse": (cfg.hidden_over, (cfg.rho, cfg.beta)),
    }
    metrics = {
        "exercise": "q2",
        "config": asdict(cfg),
        "environment": environment(),
        "data": {"n_images": cfg.n_images, "side": cfg.side, "mean": float(X.mean()), "std": float(X.std())},
        "thresholds": {"quiet": QUIET, "loud": LOUD},
        "metric_labels": METRICS,
        "runs": {},
    }
    curves, mse_curves, acts, weights = {}, {}, {}, {}
    for name, (k, sparsity) in specs.items():
        model, losses, mse_curve = train_run(X, cfg, k, sparsity)
        timing = fit_seconds(model, losses)
        s, H, Y = summarize(model, X, X_fresh, losses)
        metrics["runs"][name] = {
            "hidden": k,
            "sparsity": sparsity,
            **s,
            **timing,
            "mean_activation_per_unit": H.mean(axis=0),
            "loss_curve": losses,
            "mse_curve": {"epoch": mse_curve[0], "mse": mse_curve[1]},
        }
        curves[name], mse_curves[name] = losses, tuple(mse_curve)
        acts[name], weights[name] = H, model.params()["W"].T
        model.save(out / f"model_{name}", history={"loss": losses})

        label = _label(name, k, sparsity)
        _model_figures(rec, name, label, X, Y, H, weights[name], s, cfg)
        echo(
            f"Q2 {label}: {cfg.epochs} epochs in {fmt(timing['train_seconds'], 'seconds')}"
            f"{compiled_note(timing['compile_seconds'])}, final loss "
            f"{fmt_key(s['final_loss'], 'final_loss')}, MSE {fmt_key(s['mse'], 'mse')}, "
            f"mean activation {fmt_key(s['mean_activation'], 'mean_activation')}"
        )

    _comparison_figures(rec, curves, mse_curves, acts, weights, cfg)
    echo("\nQ2 comparison (training images; 'fresh' = unseen random images):")
    echo(comparison_table(metrics["runs"]))
    metrics["wall_seconds"] = clock.total()
    rec.write(
        metrics,
        title=f"fastae Q2: autoencoders on {cfg.n_images} random {cfg.side}x{cfg.side} images",
        summary=f"{cfg.epochs} epochs of SGD, lr {cfg.lr:g}, batches of {cfg.batch_size}, squared error; "
        f"{', '.join(_label(n, k, sp) for n, (k, sp) in specs.items())}.",
        highlights=[(f"{name}: MSE", fmt_key(metrics["runs"][name]["mse"], "mse")) for name in MODELS]
        + [(f"{name}: mean activation", fmt_key(metrics["runs"][name]["mean_activation"], "mean_activation"))
           for name in MODELS],
        sections=[(COMPARISON, "")],
        labels=METRICS,
    )
    echo(f"\nWrote {out}/ in {fmt(metrics['wall_seconds'], 'seconds')}")
    return metrics
