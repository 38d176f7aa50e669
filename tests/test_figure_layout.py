"""Every figure of ``run q1``, ``run q2``, ``run q3 --quick`` (with the ablation, on a small
MNIST subset) and ``train``, drawn as it is saved, checked for what a reader would see:

* no visible text (titles, axis and tick labels, colour-bar labels, legends, annotations)
  reaches outside the figure;
* no two texts overlap;
* every numeric axis shows at least three tick labels, written as plain numbers (no
  ``6x10^1``), and an epoch axis only whole epochs;
* every image tile (a weight vector, an image, an activation map) is drawn at least
  ``fastae.plots.MIN_TILE_PX`` pixels on its shorter side at the saved dpi;
* every colour bar stands just right of what it scales, level with it.

The texts are the ones matplotlib actually draws (``Text.draw`` is recorded while the
figure renders), measured by their window extents in pixels of the saved PNG.
"""
import os
from pathlib import Path
from unittest import mock

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter  # noqa: E402

from fastae import plots  # noqa: E402
from fastae.experiments import q1, q2, q3, train  # noqa: E402
from fastae.experiments.record import RunRecord  # noqa: E402

#: Pixels by which a text may pass an edge or another text (antialiasing, rounding).
TOLERANCE_PX = 1.0
#: Most pixels between a colour bar and the image or axes it scales: half an inch, or for
#: wide axes 6 % of their width (matplotlib's own pad is 5 %).
COLORBAR_GAP_PX, COLORBAR_GAP_SHARE = 0.5 * plots.DPI, 0.06
DATA = os.environ.get("FASTAE_DATA")


def drawn_texts(fig):
    """``[(text, bbox in pixels)]`` of every text that drawing ``fig`` puts on it."""
    texts = []
    original = Text.draw

    def recording(self, renderer):
        if self.get_visible() and self.get_text().strip():
            texts.append(self)
        return original(self, renderer)

    with mock.patch.object(Text, "draw", recording):
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t, t.get_window_extent(renderer)) for t in dict.fromkeys(texts)]


def _overlap(a, b):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE_PX and min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE_PX


def _tick_problems(fig, drawn):
    problems = []
    for ax in fig.axes:
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = [t for t in axis.get_ticklabels() + axis.get_ticklabels(minor=True) if t in drawn]
            if not labels or isinstance(axis.get_major_formatter(), (FixedFormatter, NullFormatter)) or \
                    isinstance(axis.get_major_locator(), FixedLocator):
                continue  # ticks the figure placed itself: rows and columns of a matrix, a few epochs
            where = f"{name} axis of {ax.get_title() or ax.get_label() or 'an axes'!r}"
            texts = [t.get_text() for t in labels]
            lo, hi = sorted(axis.get_view_interval())
            wanted = min(3, int(np.floor(hi) - np.ceil(lo)) + 1) if name == "x" and ax.get_xlabel() == "epoch" else 3
            if len(labels) < wanted:
                problems.append(f"{where}: only {len(labels)} tick labels {texts}")
            if any("$" in s or "times" in s for s in texts):
                problems.append(f"{where}: tick labels in exponent notation {texts}")
            if name == "x" and ax.get_xlabel() == "epoch" and not all(s.lstrip("\u2212-").isdigit() for s in texts):
                problems.append(f"{where}: ticks between epochs {texts}")
    return problems


def _colorbar_problems(fig, renderer):
    problems = []
    for cax in fig.axes:
        bar = getattr(cax, "_colorbar", None)
        if bar is None:
            continue
        if getattr(bar.mappable, "axes", None) is not None:
            scaled = [bar.mappable.axes.get_window_extent(renderer)]
        else:  # a colour scale of its own (tiles): the tiles it stands beside
            scaled = [image.get_window_extent(renderer) for image, _, _ in getattr(fig, "tiles", [])]
        box = cax.get_window_extent(renderer)
        left = [b for b in scaled if b.x1 <= box.x0 + TOLERANCE_PX and box.y0 < b.y1 and b.y0 < box.y1]
        gap = min((box.x0 - b.x1 for b in left), default=None)
        if gap is None or gap > max(COLORBAR_GAP_PX, COLORBAR_GAP_SHARE * max(b.width for b in left)):
            what = "nothing level with it on its left" if gap is None else f"{gap:.0f} px from what it scales"
            problems.append(f"colour bar {cax.get_ylabel()!r}: {what}")
    return problems


def layout_problems(fig):
    """What is wrong with ``fig``'s layout, as sentences (empty when nothing is)."""
    drawn = drawn_texts(fig)
    width, height = fig.bbox.width, fig.bbox.height
    problems = []
    for t, b in drawn:
        if b.x0 < -TOLERANCE_PX or b.y0 < -TOLERANCE_PX or b.x1 > width + TOLERANCE_PX or b.y1 > height + TOLERANCE_PX:
            problems.append(f"text {t.get_text()!r} at x {b.x0:.0f}..{b.x1:.0f}, y {b.y0:.0f}..{b.y1:.0f} "
                            f"leaves the {width:.0f}x{height:.0f} figure")
    for i, (t, a) in enumerate(drawn):
        for u, b in drawn[i + 1:]:
            if _overlap(a, b):
                problems.append(f"texts {t.get_text()!r} and {u.get_text()!r} overlap")
    problems += _tick_problems(fig, {t for t, _ in drawn})
    renderer = fig.canvas.get_renderer()
    problems += _colorbar_problems(fig, renderer)
    for image, (h, w), _gap in getattr(fig, "tiles", []):
        box = image.get_window_extent(renderer)
        rows, cols = image.get_array().shape[:2]
        tile = min(h * box.height / rows, w * box.width / cols)
        if tile < plots.MIN_TILE_PX:
            problems.append(f"{h}x{w} tiles drawn {tile:.1f} px, under the {plots.MIN_TILE_PX} px minimum")
    return problems


# ------------------------------------------------------------- the checker itself


def test_the_checker_sees_clipped_and_overlapping_text_and_small_tiles():
    fig = plots.learning_curves({"a": [1.0, 2.0, 3.0]}, title="t")
    assert layout_problems(fig) == []
    fig.axes[0].set_title("a title far too long for any figure " * 8)
    fig.axes[0].set_xlabel("x label")
    fig.axes[0].text(0.5, 0.5, "x label", transform=fig.axes[0].transAxes)
    fig.axes[0].text(0.5, 0.5, "x label", transform=fig.axes[0].transAxes)
    problems = layout_problems(fig)
    assert any("leaves the" in p for p in problems), problems
    assert any("overlap" in p for p in problems), problems

    far = plots.tiles(np.random.default_rng(0).random((4, 9)), (3, 3), title="t", colorbar=True)
    assert layout_problems(far) == []
    bar = next(ax for ax in far.axes if hasattr(ax, "_colorbar"))
    x, y, w, h = bar.get_position().bounds
    bar.set_position((x + 0.2, y, w, h))
    assert any("px from what it scales" in p for p in layout_problems(far))

    small = plots.tiles(np.random.default_rng(0).random((625, 784)), (28, 28), title="t")
    small.set_size_inches(4, 4)
    assert any("under the" in p for p in layout_problems(small))
    assert layout_problems(plots.tiles(np.random.default_rng(0).random((625, 784)), (28, 28), title="t")) == []


def test_the_checker_sees_exponent_ticks_and_fractional_epochs():
    fig = MplFigure(figsize=(5, 4), dpi=plots.DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([1, 2, 3, 4, 5], [60.0, 50.0, 45.0, 40.0, 35.0])
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    problems = layout_problems(fig)
    assert any("exponent" in p for p in problems), problems
    assert any("between epochs" in p for p in problems), problems
    fig = plots.learning_curves({"a": [60.0, 50.0, 45.0, 40.0, 35.0]}, title="t", logy=True)
    assert layout_problems(fig) == []


LONG = "a title as long as the ones the runs give their figures, with its settings in it, " * 2

#: Shapes the runs do not draw but a user may: one tile, a 1x1 matrix, long titles and labels.
ODD_FIGURES = {
    "one tile, colour bar": lambda r: plots.tiles(r.random((1, 49)), (7, 7), title=LONG, colorbar=True),
    "two labelled tiles": lambda r: plots.tiles(r.random((2, 9)), (3, 3), title=LONG, labels=["a", "b"],
                                                colorbar=True, normalize="global"),
    "one image per row": lambda r: plots.image_rows({"a long row label": r.random((1, 784))}, (28, 28),
                                                    title=LONG, colorbar=True, labels=["x1"]),
    "one activation map": lambda r: plots.activation_maps(r.random(100), (10, 10), title=LONG),
    "1x1 heat map": lambda r: plots.heatmap([[0.5]], title=LONG, xlabel="x", ylabel="y", colorbar_label="weight",
                                            annotate=True),
    "wide heat map": lambda r: plots.heatmap(r.normal(size=(3, 500)), title=LONG, xlabel="hidden unit",
                                             ylabel="input", colorbar_label="weight"),
    "tall heat map": lambda r: plots.heatmap(r.normal(size=(1000, 4)), title=LONG, xlabel="hidden unit",
                                             ylabel="input", colorbar_label="weight"),
    "many curves": lambda r: plots.learning_curves({f"curve number {i} with a long name": r.random(7) + 1
                                                    for i in range(8)}, title=LONG, logy=True),
    "log curves over 6 decades": lambda r: plots.learning_curves({"a": 10.0 ** -np.arange(7.0)}, title=LONG,
                                                                 logy=True),
    "log histogram": lambda r: plots.histogram({"a": r.beta(1, 30, 5000), "b": r.random(300)}, title=LONG,
                                               xlabel="activation", share=True, logy=True, vlines={"rho": 0.05}),
    "bar chart": lambda r: plots.bar(r.random(12), title=LONG, xlabel="model", ylabel="error",
                                     labels=[f"model number {i}" for i in range(12)]),
    "panels": lambda r: plots.side_by_side([("a", r.random((3, 3)), {"colorbar_label": "a long colour bar label"}),
                                            ("b", r.random((40, 9)), {"aspect": "auto", "xlabel": "image",
                                                                      "ylabel": "unit"})], title=LONG),
}


@pytest.mark.parametrize("name", list(ODD_FIGURES))
def test_small_and_odd_figures_are_laid_out(name):
    fig = ODD_FIGURES[name](np.random.default_rng(0))
    assert layout_problems(fig) == [], name


# ------------------------------------------------------------------ every run's figures

#: The figures drawn as image tiles (the rest are curves, heat maps and histograms).
TILED = ("weights_", "reconstructions_", "activations_", "comparison.png")
NOT_TILED = ("hidden_", "activation_histogram")


@pytest.fixture(scope="module")
def run_figures(tmp_path_factory):
    """``{"q1/weights_plain.png": problems, ...}`` for every figure the runs write, and the
    number of tile images each has."""
    found = {}
    current = {}
    original = RunRecord.figure

    def capture(self, name, fig, caption, *, section=None):
        fig = fig.draw() if isinstance(fig, plots.Sketch) else fig  # what the painter would draw
        found[f"{current['run']}/{name}"] = (layout_problems(fig), len(fig.tiles))
        return original(self, name, fig, caption, section=section)

    root = tmp_path_factory.mktemp("layout")
    with mock.patch.object(RunRecord, "figure", capture):
        current["run"] = "q1"
        q1.run(q1.Q1Config(epochs=200), out=root / "q1")
        current["run"] = "q2"
        q2.run(q2.Q2Config(epochs=20), out=root / "q2")
        if DATA and Path(DATA).is_dir():
            current["run"] = "q3"
            cfg = q3.Q3Config.quick(n_train=1000, n_val=200, n_test=500, epochs_layer1=2, epochs_layer2=2,
                                    epochs_classifier=3)
            q3.run(cfg, out=root / "q3", data_dir=DATA, ablation=True)
        rng = np.random.default_rng(0)
        current["run"] = "train"
        train.run(train.TrainConfig(hidden=(64, 16), epochs=5, batch_size=32, corruption=0.1, sparsity=(0.05, 0.5)),
                  rng.random((200, 784)).astype(np.float32), out=root / "train", source="data.npy")
        current["run"] = "train_matrix"
        train.run(train.TrainConfig(hidden=(12,), epochs=40, loss="mse"), rng.normal(size=(300, 30)).astype(np.float32),
                  out=root / "train_matrix", source="table.csv")
    return found


def test_every_run_writes_the_figures_the_layout_test_checks(run_figures):
    runs = {key.split("/")[0] for key in run_figures}
    assert {"q1", "q2", "train", "train_matrix"} <= runs
    assert sum(key.startswith("q1/") for key in run_figures) == 7
    assert sum(key.startswith("q2/") for key in run_figures) == 12
    if DATA and Path(DATA).is_dir():
        assert {f"q3/{name}" for name in q3.FIGURES} | {"q3/ablation_test_accuracy.png",
                                                         "q3/activation_histograms.png"} == {
            key for key in run_figures if key.startswith("q3/")}


@pytest.mark.skipif(not (DATA and Path(DATA).is_dir()), reason="Q3 needs the real MNIST: set FASTAE_DATA")
def test_q3_figures_are_laid_out(run_figures):
    bad = {k: v[0] for k, v in run_figures.items() if k.startswith("q3/") and v[0]}
    assert not bad, bad


@pytest.mark.parametrize("run", ["q1", "q2", "train", "train_matrix"])
def test_figures_are_laid_out(run_figures, run):
    bad = {k: v[0] for k, v in run_figures.items() if k.split("/")[0] == run and v[0]}
    assert not bad, bad


def test_tiled_figures_register_their_tiles(run_figures):
    for key, (_, n_tiles) in run_figures.items():
        name = key.split("/")[1]
        if key.startswith("train_matrix/weights"):
            assert n_tiles == 0, key  # a heat map of W: not tiles
        elif name.startswith(TILED) and not name.startswith(NOT_TILED):
            assert n_tiles > 0, key


def test_readme_lists_the_figures_the_runs_write(run_figures):
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`([A-Za-z0-9_<>]+\.png)`", readme))
    placeholders = {"q1": ("RUN", ("plain", "sparse")), "q2": ("MODEL", q2.MODELS),
                    "train": ("<l>", ("1", "2")), "train_matrix": ("<l>", ("1",))}
    written = set()
    for key in run_figures:
        run, name = key.split("/")
        written.add(name)
        word, values = placeholders.get(run, ("", ()))
        general = next((name.replace(v, word) for v in values if v in name), name)
        assert name in listed or general in listed, f"README does not list {name} ({run})"
    for name in listed:
        if not any(word in name for word in ("RUN", "MODEL", "<l>")):
            assert name in written, f"README lists {name}, which no run writes"
