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
from dataclasses import asdict, dataclass

import numpy as np

from .. import io, plots
from ..backends import get_backend
from ..datasets import random_images
from ..model import Autoencoder
from ..report import write_report
from .common import Stopwatch, environment, map_shape, prepare_run_dir, silent, table

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


def _fmt(value):
    if isinstance(value, (int, np.integer)):
        return str(value)
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def comparison_table(runs):
    """The :data:`METRICS` of the models side by side: one row per metric."""
    names = list(runs)
    rows = [(label, *(_fmt(runs[n][key]) for n in names)) for key, label in METRICS.items()]
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


def run(cfg=Q2Config(), out="runs/q2", echo=silent):
    """Train the three Q2 models; write figures, models and ``metrics.json`` into ``out``."""
    get_backend(cfg.device)  # an unusable device fails here, before any work
    out = prepare_run_dir(out)
    clock = Stopwatch()
    X = random_images(cfg.n_images, cfg.side, seed=cfg.data_seed)
    X_fresh = fresh_images(cfg)
    shape = (cfg.side, cfg.side)
    n_show = max(1, min(cfg.n_show, cfg.n_images))
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
        clock.lap()
        model, losses, mse_curve = train_run(X, cfg, k, sparsity)
        seconds = clock.lap()
        s, H, Y = summarize(model, X, X_fresh, losses)
        metrics["runs"][name] = {
            "hidden": k,
            "sparsity": sparsity,
            **s,
            "train_seconds": seconds,
            "mean_activation_per_unit": H.mean(axis=0),
            "loss_curve": losses,
            "mse_curve": {"epoch": mse_curve[0], "mse": mse_curve[1]},
        }
        curves[name], mse_curves[name] = losses, tuple(mse_curve)
        acts[name], weights[name] = H, model.params()["W"].T
        model.save(out / f"model_{name}", history={"loss": losses})

        label = _label(name, k, sparsity)
        grid = map_shape(k)
        plots.tiles(
            out / f"weights_{name}.png",
            weights[name],
            shape,
            grid=grid,
            title=f"Q2 {label}\nweights: one {cfg.side}x{cfg.side} tile per hidden unit",
            normalize="each",
            colorbar=True,
        )
        plots.image_rows(
            out / f"reconstructions_{name}.png",
            {
                "input": X[:n_show],
                "reconstruction": Y[:n_show],
                "|error|": np.abs(Y[:n_show] - X[:n_show]),
            },
            shape,
            title=f"Q2 {label}\nfirst {n_show} images; MSE over all {cfg.n_images}: {s['mse']:.3f}",
            colorbar=True,
        )
        plots.activation_maps(
            out / f"activations_{name}.png",
            H[:n_show],
            grid,
            title=f"Q2 {label}\nhidden activations of the first {n_show} images "
            f"(mean over all {cfg.n_images}: {s['mean_activation']:.3f})",
            sample_labels=[f"image {i + 1}" for i in range(n_show)],
        )
        echo(
            f"Q2 {label}: {cfg.epochs} epochs in {seconds:.1f} s, final loss {s['final_loss']:.4f}, "
            f"MSE {s['mse']:.4f}, mean activation {s['mean_activation']:.3f}"
        )

    sparse_note = f"sparse: MSE + {cfg.beta:g} KL"
    plots.learning_curves(
        out / "learning_curves.png",
        None,
        title=f"Q2: random {cfg.side}x{cfg.side} images, SGD lr {cfg.lr:g}, batch {cfg.batch_size}",
        panels=[
            (f"training loss ({sparse_note})", "loss per image", curves),
            (f"reconstruction MSE, every {cfg.eval_every} epochs", "squared error per image", mse_curves),
        ],
        logy=True,
    )
    mosaics = [
        (
            f"{name}: weights",
            plots.mosaic(weights[name], shape, grid=map_shape(weights[name].shape[0])),
            {"colorbar_label": "weight (per tile min..max)"},
        )
        for name in MODELS
    ]
    act_panels = [
        (
            f"{name}: activations",
            _sorted_units(acts[name]),
            {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0, "aspect": "auto", "colorbar_label": "activation"},
        )
        for name in MODELS
    ]
    plots.side_by_side(
        out / "comparison.png",
        mosaics + act_panels,
        title=f"Q2: weights (top); hidden activations (bottom: one row per unit, sorted by mean "
        f"activation, one column per image, all {cfg.n_images} images)",
        ncols=3,
    )
    plots.histogram(
        out / "activation_histogram.png",
        {f"{name} ({acts[name].shape[1]} units)": acts[name] for name in MODELS},
        title=f"Q2: hidden activations over all {cfg.n_images} images",
        xlabel="activation",
        ylabel="count (images x units)",
        bins=np.linspace(0.0, 1.0, 51),
        vlines={"rho": cfg.rho},
    )
    echo("\nQ2 comparison (training images; 'fresh' = unseen random images):")
    echo(comparison_table(metrics["runs"]))
    metrics["wall_seconds"] = clock.total()
    io.save_json(out / "metrics.json", metrics)
    echo(f"\nWrote {out}/ in {metrics['wall_seconds']:.1f} s")
    write_report(
        out,
        title=f"fastae Q2: autoencoders on {cfg.n_images} random {cfg.side}x{cfg.side} images",
        summary=f"{cfg.epochs} epochs of SGD, lr {cfg.lr:g}, batches of {cfg.batch_size}, squared error; "
        f"{', '.join(_label(n, k, sp) for n, (k, sp) in specs.items())}.",
        highlights=[(f"{name}: MSE", f"{metrics['runs'][name]['mse']:.4f}") for name in MODELS]
        + [(f"{name}: mean activation", f"{metrics['runs'][name]['mean_activation']:.3f}") for name in MODELS],
        metrics=metrics,
        config=metrics["config"],
        environment=metrics["environment"],
        figures=[
            (out / "learning_curves.png", "Training loss and reconstruction MSE of the three models"),
            (out / "comparison.png", "Weights and hidden activations of the three models side by side"),
            (out / "activation_histogram.png", "Distribution of the hidden activations"),
        ]
        + [
            (out / f"{kind}_{name}.png", f"{name}: {what}")
            for name in MODELS
            for kind, what in (
                ("reconstructions", "inputs, reconstructions and absolute errors"),
                ("activations", "hidden activations"),
                ("weights", "weights of the hidden units"),
            )
        ],
        labels=METRICS,
    )
    return metrics
