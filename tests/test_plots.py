"""Tests for fastae.plots: PNG output, mosaic geometry, normalisation, validation."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fastae import plots  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def no_open_figures():
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


def read_png(path):
    path = Path(path)
    assert path.is_file()
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    return img


def aspect(img):
    return img.shape[1] / img.shape[0]


def draw(function, *args, path, **kwargs):
    """Call a plotting function with ``path``; check that it returned its Figure, and return
    the PNG's path."""
    fig = function(*args, path=path, **kwargs)
    assert isinstance(fig, plots.Figure) and isinstance(fig, matplotlib.figure.Figure)
    path = Path(path)
    return path if path.suffix else path.with_name(path.name + ".png")


# --------------------------------------------------------------------------
# mosaic
# --------------------------------------------------------------------------
def test_mosaic_geometry_five_tiles_three_columns():
    v = np.zeros((5, 9))
    m = plots.mosaic(v, (3, 3), normalize="none", gap=1)
    assert m.shape == (2 * 3 + 1, 3 * 3 + 2)


@pytest.mark.parametrize(
    "n, shape, grid, gap, expected",
    [
        (1, (4, 5), None, 1, (4, 5)),
        (4, (2, 3), None, 2, (2 * 2 + 2, 2 * 3 + 2)),
        (6, (2, 2), (2, 3), 0, (4, 6)),
        (6, (2, 2), (None, 2), 1, (3 * 2 + 2, 2 * 2 + 1)),
        (6, (2, 2), (1, None), 1, (2, 6 * 2 + 5)),
        (625, (28, 28), None, 1, (25 * 28 + 24, 25 * 28 + 24)),
    ],
)
def test_mosaic_shapes(n, shape, grid, gap, expected):
    v = np.zeros((n, shape[0] * shape[1]))
    assert plots.mosaic(v, shape, grid=grid, gap=gap).shape == expected


def test_mosaic_places_tiles_row_major_with_fill():
    v = np.arange(5 * 6, dtype=float).reshape(5, 6) / 100.0  # tiles 2x3, values < 1
    m = plots.mosaic(v, (2, 3), normalize="none", gap=1, fill=-1.0)
    assert m.shape == (2 * 2 + 1, 3 * 3 + 2)
    # tile 0 top-left, tile 1 right of it, tile 3 on second row
    np.testing.assert_array_equal(m[0:2, 0:3], v[0].reshape(2, 3))
    np.testing.assert_array_equal(m[0:2, 4:7], v[1].reshape(2, 3))
    np.testing.assert_array_equal(m[0:2, 8:11], v[2].reshape(2, 3))
    np.testing.assert_array_equal(m[3:5, 0:3], v[3].reshape(2, 3))
    np.testing.assert_array_equal(m[3:5, 4:7], v[4].reshape(2, 3))
    # gaps and the unused 6th cell hold the fill value
    assert np.all(m[2, :] == -1.0)
    assert np.all(m[:, 3] == -1.0) and np.all(m[:, 7] == -1.0)
    assert np.all(m[3:5, 8:11] == -1.0)


def test_mosaic_default_fill_is_white():
    m = plots.mosaic(np.zeros((2, 4)), (2, 2), normalize="none")
    assert m.shape == (2, 5)
    assert np.all(m[:, 2] == 1.0)


def test_mosaic_accepts_3d_and_1d():
    imgs = np.random.default_rng(1).random((3, 2, 2))
    m3 = plots.mosaic(imgs, (2, 2), normalize="none", grid=(1, 3))
    m2 = plots.mosaic(imgs.reshape(3, 4), (2, 2), normalize="none", grid=(1, 3))
    np.testing.assert_array_equal(m3, m2)
    m1 = plots.mosaic(np.array([0.1, 0.2, 0.3, 0.4]), (2, 2), normalize="none")
    np.testing.assert_allclose(m1, [[0.1, 0.2], [0.3, 0.4]])


def test_normalize_each():
    v = np.array([[0.0, 1.0, 2.0, 4.0], [-3.0, -1.0, -1.0, 1.0], [5.0, 5.0, 5.0, 5.0]])
    m = plots.mosaic(v, (1, 4), grid=(3, 1), normalize="each", gap=0)
    np.testing.assert_allclose(m[0], [0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(m[1], [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(m[2], [0.5, 0.5, 0.5, 0.5])  # constant tile -> mid grey


def test_normalize_global():
    v = np.array([[0.0, 1.0], [2.0, 4.0]])
    m = plots.mosaic(v, (1, 2), grid=(2, 1), normalize="global", gap=0)
    np.testing.assert_allclose(m, [[0.0, 0.25], [0.5, 1.0]])
    assert plots.mosaic(np.full((2, 2), 3.0), (1, 2), normalize="global", gap=0).max() == 0.5


def test_normalize_none_keeps_values_and_input_untouched():
    v = np.array([[0.2, 0.7], [0.0, 1.0]])
    copy = v.copy()
    m = plots.mosaic(v, (1, 2), grid=(2, 1), normalize="none", gap=0)
    np.testing.assert_array_equal(m, v)
    np.testing.assert_array_equal(v, copy)
    plots.mosaic(v, (1, 2), normalize="each")
    np.testing.assert_array_equal(v, copy)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(vectors=np.zeros((3, 10)), tile_shape=(3, 3)), "tile_shape"),
        (dict(vectors=np.zeros((3, 9)), tile_shape=(3, 0)), "tile_shape"),
        (dict(vectors=np.zeros((3, 9)), tile_shape=(9,)), "tile_shape"),
        (dict(vectors=np.zeros((3, 9)), tile_shape=(3, 3), grid=(1, 2)), "grid"),
        (dict(vectors=np.zeros((3, 9)), tile_shape=(3, 3), normalize="max"), "normalize"),
        (dict(vectors=np.zeros((3, 9)), tile_shape=(3, 3), gap=-1), "gap"),
        (dict(vectors=np.zeros((3, 9)), tile_shape=(3, 3), fill=np.inf), "fill"),
        (dict(vectors=np.zeros((0, 9)), tile_shape=(3, 3)), "vectors"),
        (dict(vectors=np.zeros((2, 3, 9)), tile_shape=(3, 3)), "vectors"),
        (dict(vectors=np.full((2, 9), np.nan), tile_shape=(3, 3)), "vectors"),
        (dict(vectors=[["a"] * 9], tile_shape=(3, 3)), "vectors"),
    ],
)
def test_mosaic_bad_inputs(kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.mosaic(**kwargs)


# --------------------------------------------------------------------------
# tiles
# --------------------------------------------------------------------------
def test_tiles_625_is_square(tmp_path, rng):
    w = rng.normal(size=(625, 784))
    out = draw(plots.tiles, w, (28, 28), title="625 filters", path=tmp_path / "w.png")
    assert out == tmp_path / "w.png"
    img = read_png(out)
    assert 0.8 < aspect(img) < 1.15


@pytest.mark.parametrize("normalize", ["each", "global", "none"])
def test_tiles_modes_with_colorbar(tmp_path, rng, normalize):
    v = rng.random((12, 20))
    out = draw(plots.tiles, v, (4, 5), title="t",
               normalize=normalize, colorbar=True, path=str(tmp_path / f"t_{normalize}.png"))
    assert isinstance(out, Path)
    read_png(out)


def test_tiles_wide_grid_aspect(tmp_path, rng):
    out = draw(plots.tiles, rng.random((10, 16)), (4, 4), grid=(1, 10),
               title="wide", normalize="none", path=tmp_path / "wide.png")
    assert aspect(read_png(out)) > 3


def test_tiles_labels(tmp_path, rng):
    v = rng.random((10, 784))
    out = draw(plots.tiles, v, (28, 28), title="digits", normalize="none",
               labels=[str(i) for i in range(10)], path=tmp_path / "lab.png")
    read_png(out)
    # more than 25 tiles: labels are accepted but not drawn
    out = draw(plots.tiles, rng.random((30, 4)), (2, 2), title="many",
               labels=[str(i) for i in range(30)], path=tmp_path / "lab30.png")
    read_png(out)
    with pytest.raises(ValueError, match="labels"):
        plots.tiles(v, (28, 28), title="x", labels=["a", "b"], path=tmp_path / "bad.png")


def test_tiles_no_suffix_gets_png(tmp_path, rng):
    out = draw(plots.tiles, rng.random((4, 4)), (2, 2), title="t", path=tmp_path / "nosuffix")
    assert out.suffix == ".png"
    read_png(out)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(vectors=np.zeros((4, 10)), tile_shape=(3, 3)), "tile_shape"),
        (dict(vectors=np.zeros((4, 9)), tile_shape=(3, 3), normalize="x"), "normalize"),
        (dict(vectors=np.zeros((4, 9)), tile_shape=(3, 3), cmap="no-such-map"), "cmap"),
        (dict(vectors=np.zeros((4, 9)), tile_shape=(3, 3), grid=(1, 1)), "grid"),
        (dict(vectors=np.zeros((4, 9)), tile_shape=(3, 3), title=""), "title"),
    ],
)
def test_tiles_bad_inputs(tmp_path, kwargs, name):
    kwargs.setdefault("title", "t")
    with pytest.raises(ValueError, match=name):
        plots.tiles(**kwargs, path=tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_bad_path(tmp_path):
    with pytest.raises(ValueError, match="path"):
        plots.tiles(np.zeros((1, 4)), (2, 2), title="t", path=tmp_path / "missing_dir" / "x.png")
    with pytest.raises(ValueError, match="path"):
        plots.tiles(np.zeros((1, 4)), (2, 2), title="t", path=tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="path"):
        plots.bar([1], title="t", xlabel="x", ylabel="y", labels=["a"], path=123)


# --------------------------------------------------------------------------
# image_rows
# --------------------------------------------------------------------------
def test_image_rows(tmp_path, rng):
    x = rng.random((8, 784))
    rows = {"input": x, "corrupted": x * (rng.random(x.shape) > 0.3), "reconstruction": x * 0.9}
    out = draw(plots.image_rows, rows, (28, 28), title="denoising", path=tmp_path / "rows.png")
    img = read_png(out)
    assert aspect(img) > 1.5  # 8 images wide, 3 rows high
    out = draw(plots.image_rows, rows, (28, 28), title="cb", colorbar=True,
               vmin=-1.0, vmax=2.0, path=tmp_path / "rows_cb.png")
    read_png(out)


def test_image_rows_single_image_per_row(tmp_path, rng):
    out = draw(plots.image_rows, {"a": rng.random((1, 16)), "b": rng.random(16)},
               (4, 4), title="one", path=tmp_path / "one.png")
    read_png(out)


@pytest.mark.parametrize(
    "rows, kwargs, name",
    [
        ({"a": np.zeros((3, 16)), "b": np.zeros((4, 16))}, {}, "rows"),
        ({"a": np.zeros((3, 16)), "b": np.zeros((3, 15))}, {}, "image_shape"),
        ({}, {}, "rows"),
        ([np.zeros((3, 16))], {}, "rows"),
        ({"a": np.zeros((3, 16))}, {"vmin": 1.0, "vmax": 0.0}, "vmin"),
    ],
)
def test_image_rows_bad_inputs(tmp_path, rows, kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.image_rows(rows, (4, 4), title="t", **kwargs, path=tmp_path / "bad.png")


# --------------------------------------------------------------------------
# activation_maps
# --------------------------------------------------------------------------
@pytest.mark.parametrize("k, shape", [(625, (25, 25)), (100, (10, 10)), (144, (12, 12)),
                                      (49, (7, 7))])
def test_activation_maps(tmp_path, rng, k, shape):
    a = rng.random((5, k))
    out = draw(plots.activation_maps, a, shape, title="activations",
               sample_labels=[f"digit {i}" for i in range(5)], path=tmp_path / f"act{k}.png")
    img = read_png(out)
    assert aspect(img) > 2  # five panels in one row


def test_activation_maps_many_samples_and_auto_range(tmp_path, rng):
    out = draw(plots.activation_maps, rng.normal(size=(12, 49)), (7, 7),
               title="many", vmin=None, vmax=None, path=tmp_path / "many.png")
    read_png(out)


@pytest.mark.parametrize(
    "acts, shape, kwargs, name",
    [
        (np.zeros((3, 100)), (12, 12), {}, "map_shape"),
        (np.zeros((3, 100)), (10, 10), {"sample_labels": ["a"]}, "sample_labels"),
        (np.zeros((3, 4, 25)), (10, 10), {}, "activations"),
        (np.zeros((3, 100)), (10, 10), {"vmin": 1.0, "vmax": 1.0}, "vmin"),
    ],
)
def test_activation_maps_bad_inputs(tmp_path, acts, shape, kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.activation_maps(acts, shape, title="t", **kwargs, path=tmp_path / "bad.png")


# --------------------------------------------------------------------------
# heatmap
# --------------------------------------------------------------------------
def test_heatmap_q1_table(tmp_path, rng):
    m = rng.random((8, 3))
    out = draw(plots.heatmap, m, title="hidden per pattern", xlabel="hidden unit",
               ylabel="pattern", annotate=True,
               yticklabels=[format(1 << i, "08b") for i in range(8)],
               xticklabels=["h1", "h2", "h3"], colorbar_label="activation",
               vmin=0.0, vmax=1.0, path=tmp_path / "q1.png")
    img = read_png(out)
    assert aspect(img) < 1.2  # taller than wide


def test_heatmap_confusion_integer_format(tmp_path, rng):
    cm = rng.integers(0, 1000, size=(10, 10))
    out = draw(plots.heatmap, cm, title="confusion", xlabel="predicted",
               ylabel="true", annotate=True, fmt="{:d}", cmap="Blues", path=tmp_path / "cm.png")
    assert 0.7 < aspect(read_png(out)) < 1.5


def test_heatmap_nan_and_callable_fmt(tmp_path):
    m = np.array([[0.1, np.nan], [0.5, 0.9]])
    out = draw(plots.heatmap, m, title="t", xlabel="x", ylabel="y",
               annotate=True, fmt=lambda v: f"{100 * v:.0f}%", path=tmp_path / "nan.png")
    read_png(out)


def test_heatmap_text_colour_contrast():
    assert plots.matrices.text_colour((0.0, 0.0, 0.0, 1.0)) == "white"
    assert plots.matrices.text_colour((1.0, 1.0, 1.0, 1.0)) == "black"


@pytest.mark.parametrize(
    "matrix, kwargs, name",
    [
        (np.zeros(5), {}, "matrix"),
        (np.zeros((2, 3)), {"xticklabels": ["a", "b"]}, "xticklabels"),
        (np.zeros((2, 3)), {"yticklabels": ["a", "b", "c"]}, "yticklabels"),
        (np.zeros((2, 3)), {"annotate": True, "fmt": "{:d}"}, "fmt"),
        (np.zeros((2, 3)), {"cmap": "nope"}, "cmap"),
        (np.zeros((2, 3)), {"vmin": 2, "vmax": 1}, "vmin"),
    ],
)
def test_heatmap_bad_inputs(tmp_path, matrix, kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.heatmap(matrix, title="t", xlabel="x", ylabel="y", **kwargs, path=tmp_path / "bad.png")


# --------------------------------------------------------------------------
# side_by_side
# --------------------------------------------------------------------------
def test_side_by_side(tmp_path, rng):
    panels = [
        (f"model {i}", plots.mosaic(rng.normal(size=(25, 64)), (8, 8)),
         {"cmap": "gray", "vmin": 0.0, "vmax": 1.0})
        for i in range(3)
    ]
    panels.append(("raw", rng.normal(size=(10, 10)), {"cmap": "viridis",
                                                        "colorbar_label": "weight"}))
    out = draw(plots.side_by_side, panels, title="features", path=tmp_path / "sbs.png")
    assert aspect(read_png(out)) > 2.5
    out = draw(plots.side_by_side, [("a", rng.random((5, 5)))], title="one", path=tmp_path / "sbs2.png")
    read_png(out)
    out = draw(plots.side_by_side, panels, title="grid", ncols=2, path=tmp_path / "sbs3.png")
    assert aspect(read_png(out)) < 2.0


@pytest.mark.parametrize(
    "panels, kwargs, name",
    [
        ([], {}, "panels"),
        ([("a", np.zeros(4), {})], {}, "panels"),
        ([("a", np.zeros((2, 2)), "gray")], {}, "panels"),
        ([("a", np.zeros((2, 2)), {"cmap": "nope"})], {}, "cmap"),
        ([("a", np.zeros((2, 2)), {"bogus_kw": 1})], {}, "panels"),
        ([("a", np.zeros((2, 2)), {})], {"ncols": 0}, "ncols"),
    ],
)
def test_side_by_side_bad_inputs(tmp_path, panels, kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.side_by_side(panels, title="t", **kwargs, path=tmp_path / "bad.png")


# --------------------------------------------------------------------------
# histogram / bar / learning curves
# --------------------------------------------------------------------------
def test_histogram(tmp_path, rng):
    out = draw(plots.histogram, {"sparse": rng.beta(1, 20, 2000), "plain": rng.beta(2, 5, 2000)},
               title="mean activation", xlabel="rho hat", vlines={"rho": 0.05}, path=tmp_path / "h.png")
    assert 1.2 < aspect(read_png(out)) < 1.9
    out = draw(plots.histogram, {"const": np.full(10, 3.0)}, title="c",
               xlabel="x", bins=[0, 1, 2, 3, 4], path=tmp_path / "h1.png")
    read_png(out)


@pytest.mark.parametrize(
    "series, kwargs, name",
    [
        ({}, {}, "series"),
        ({"a": []}, {}, "series"),
        ({"a": [1.0, np.inf]}, {}, "series"),
        ({"a": [1.0, 2.0]}, {"bins": 0}, "bins"),
        ({"a": [1.0, 2.0]}, {"bins": [3, 2, 1]}, "bins"),
        ({"a": [1.0, 2.0]}, {"vlines": {"rho": "x"}}, "vlines"),
    ],
)
def test_histogram_bad_inputs(tmp_path, series, kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.histogram(series, title="t", xlabel="x", **kwargs, path=tmp_path / "bad.png")


def test_bar(tmp_path):
    out = draw(plots.bar, [0.12, 0.08, 0.05], title="test error", xlabel="model",
               ylabel="error", labels=["AE", "DAE", "sparse AE"], path=tmp_path / "b.png")
    read_png(out)
    with pytest.raises(ValueError, match="labels"):
        plots.bar([1, 2], title="t", xlabel="x", ylabel="y", labels=["a"], path=tmp_path / "bad.png")
    with pytest.raises(ValueError, match="values"):
        plots.bar([[1, 2]], title="t", xlabel="x", ylabel="y",
                  labels=["a"], path=tmp_path / "bad.png")


def test_learning_curves_single_and_xy(tmp_path):
    ep = np.arange(1, 31)
    out = draw(plots.learning_curves, {"train": np.exp(-ep / 10) + 0.1},
               title="loss", logy=True, path=tmp_path / "lc.png")
    assert 1.2 < aspect(read_png(out)) < 1.9
    out = draw(plots.learning_curves, {"train": list(np.exp(-ep / 10)), "valid": (ep[::5] * 1.0, np.exp(-ep[::5] / 9))},
               title="loss", xlabel="iteration", ylabel="mse", path=tmp_path / "lc2.png")
    read_png(out)


def test_learning_curves_panels(tmp_path):
    ep = np.arange(1, 21)
    loss = {"train": np.exp(-ep / 5), "valid": np.exp(-ep / 6)}
    acc = {"train": 1 - 0.5 * np.exp(-ep / 5), "valid": 1 - 0.6 * np.exp(-ep / 6)}
    out = draw(plots.learning_curves, None, title="classifier",
               panels=[("loss", "cross-entropy", loss),
               ("accuracy", "accuracy", acc)],
               logy=(True, False), path=tmp_path / "p.png")
    assert aspect(read_png(out)) > 2.0
    out = draw(plots.learning_curves, loss, title="both",
               panels=[("accuracy", "accuracy", acc)], path=tmp_path / "p2.png")
    read_png(out)


@pytest.mark.parametrize(
    "curves, kwargs, name",
    [
        (None, {}, "curves"),
        ({}, {}, "curves"),
        ({"a": []}, {}, "curves"),
        ({"a": np.zeros((2, 2))}, {}, "curves"),
        ({"a": (np.arange(3), np.arange(4))}, {}, "curves"),
        ({"a": [1.0, 0.0]}, {"logy": True}, "logy"),
        ({"a": [1.0, 2.0]}, {"logy": [True, False]}, "logy"),
        ({"a": [1.0, 2.0]}, {"panels": [("p", "y")]}, "panels"),
        ({"a": [1.0, 2.0]}, {"panels": [("p", "y", {})]}, "panels"),
        ({"a": [1.0, 2.0]}, {"xlabel": None}, "xlabel"),
    ],
)
def test_learning_curves_bad_inputs(tmp_path, curves, kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.learning_curves(curves, title="t", **kwargs, path=tmp_path / "bad.png")


def test_no_pyplot_figures_left(tmp_path, rng):
    plots.tiles(rng.random((4, 4)), (2, 2), title="t", path=tmp_path / "a.png")
    plots.heatmap(rng.random((2, 2)), title="t", xlabel="x", ylabel="y", path=tmp_path / "b.png")
    assert plt.get_fignums() == []


# --------------------------------------------------------------------------
# figures returned; saved to a path, a file object, or not at all
# --------------------------------------------------------------------------
def _every_function(rng):
    """One call of each plotting function, as ``(name, call(path))``."""
    x = rng.random((6, 16))
    return [
        ("tiles", lambda path: plots.tiles(x, (4, 4), title="t", path=path)),
        ("image_rows", lambda path: plots.image_rows({"a": x, "b": x}, (4, 4), title="t", path=path)),
        ("activation_maps", lambda path: plots.activation_maps(x, (4, 4), title="t", path=path)),
        ("heatmap", lambda path: plots.heatmap(x, title="t", xlabel="x", ylabel="y", path=path)),
        ("side_by_side", lambda path: plots.side_by_side([("a", x)], title="t", path=path)),
        ("histogram", lambda path: plots.histogram({"a": x}, title="t", xlabel="x", path=path)),
        ("bar", lambda path: plots.bar([1.0, 2.0], title="t", xlabel="x", ylabel="y", labels=["a", "b"], path=path)),
        ("learning_curves", lambda path: plots.learning_curves({"a": [3.0, 2.0, 1.0]}, title="t", path=path)),
    ]


def test_every_public_function_is_covered():
    drawing = {name for name in plots.__all__
               if name not in ("DPI", "MIN_TILE_PX", "Figure", "mosaic", "save", "Sketch", "later")}
    assert drawing == {name for name, _ in _every_function(np.random.default_rng(0))}


@pytest.mark.parametrize("index", range(8))
def test_without_a_path_the_figure_is_returned_and_nothing_written(tmp_path, monkeypatch, rng, index):
    monkeypatch.chdir(tmp_path)
    name, call = _every_function(rng)[index]
    fig = call(None)
    assert isinstance(fig, matplotlib.figure.Figure) and isinstance(fig, plots.Figure), name
    assert list(tmp_path.iterdir()) == [], name
    png = fig._repr_png_()  # what Jupyter and IPython show as the cell's value
    assert png[:8] == PNG_SIGNATURE and len(png) > 1000, name
    assert list(tmp_path.iterdir()) == [], name


@pytest.mark.parametrize("index", range(8))
def test_a_file_object_receives_the_png(tmp_path, rng, index):
    import io

    name, call = _every_function(rng)[index]
    buf = io.BytesIO()
    fig = call(buf)
    assert isinstance(fig, plots.Figure) and buf.getvalue()[:8] == PNG_SIGNATURE, name
    with open(tmp_path / "f.png", "wb") as f:
        call(f)
    assert read_png(tmp_path / "f.png").shape[0] > 100, name


def test_save_writes_atomically_and_checks_its_arguments(tmp_path, rng):
    import io

    fig = plots.tiles(rng.random((4, 4)), (2, 2), title="t")
    assert plots.save(fig, tmp_path / "a") == tmp_path / "a.png"
    read_png(tmp_path / "a.png")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary file left
    with pytest.raises(ValueError, match="fig must be a matplotlib Figure"):
        plots.save("not a figure", tmp_path / "b.png")
    with pytest.raises(ValueError, match="path must be given"):
        plots.save(fig, None)
    with pytest.raises(ValueError, match="path's parent directory does not exist"):
        plots.save(fig, tmp_path / "no" / "b.png")
    with pytest.raises(ValueError, match="path must be None, a str or path-like object, or a binary file object"):
        plots.save(fig, 3.5)
    buf = io.BytesIO()
    assert plots.save(fig, buf) is buf and buf.getvalue()[:8] == PNG_SIGNATURE


def test_a_failed_save_leaves_the_old_file(tmp_path, rng, monkeypatch):
    target = tmp_path / "a.png"
    plots.tiles(rng.random((4, 4)), (2, 2), title="old", path=target)
    before = target.read_bytes()
    fig = plots.tiles(rng.random((4, 4)), (2, 2), title="new")
    def full(*args, **kwargs):
        raise OSError("disk full")

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    monkeypatch.setattr(FigureCanvasAgg, "print_png", full)
    with pytest.raises(OSError, match="disk full"):
        plots.save(fig, target)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_long_titles_are_wrapped_to_the_figure(rng):
    fig = plots.tiles(rng.random((4, 9)), (3, 3), title="a long title that no small figure can hold on one line " * 3)
    assert fig.get_suptitle().count("\n") >= 2


def test_ipython_shows_a_returned_figure_as_png(rng):
    shell = pytest.importorskip("IPython.core.interactiveshell").InteractiveShell.instance()
    data, _ = shell.display_formatter.format(plots.tiles(rng.random((4, 16)), (4, 4), title="t"))
    assert data["image/png"][:8] == PNG_SIGNATURE


def test_save_takes_any_matplotlib_figure_at_the_plots_dpi(tmp_path):
    fig = matplotlib.figure.Figure(figsize=(4, 3), dpi=72)  # no canvas of fastae's, another dpi
    fig.add_subplot().plot([1, 2, 3])
    img = read_png(plots.save(fig, tmp_path / "mpl.png"))
    assert img.shape[:2] == (3 * plots.DPI, 4 * plots.DPI)
