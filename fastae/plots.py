"""Figure helpers for the fastae tutorial reproductions.

Every plotting function in this module

* draws into a fresh :class:`matplotlib.figure.Figure` attached to an Agg
  canvas (pyplot is never used, so no window is opened and no figure is
  left registered with pyplot),
* uses constrained ("tight") layout, a title and labelled axes,
* saves a PNG at ``DPI`` dots per inch to ``path`` and returns it as a
  :class:`pathlib.Path`,
* validates its inputs and raises :class:`ValueError` whose message names
  the offending argument.

Pixel images are drawn with ONE grey scale (``cmap="gray"``, white = high);
hidden-unit activations use the perceptual ``viridis`` colormap.

``path`` may be a ``str`` or a path-like object; its parent directory must
already exist.  A path without suffix gets ``.png`` appended; any other
suffix than ``.png`` is rejected.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "activation_maps",
    "bar",
    "heatmap",
    "histogram",
    "image_rows",
    "learning_curves",
    "mosaic",
    "side_by_side",
    "tiles",
]

#: Resolution of every saved PNG.
DPI = 120

_PIXEL_CMAP = "gray"
_GAP_COLOUR = "#c9daf8"  # pale blue between images in a row: distinct from every grey
_ACTIVATION_CMAP = "viridis"
_NORMALIZE_MODES = ("each", "global", "none")


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------
def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a str or path-like object, got {type(path).__name__}")
    p = Path(path)
    if str(p) in ("", "."):
        raise ValueError("path must name a file")
    if p.suffix == "":
        p = p.with_name(p.name + ".png")
    elif p.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png (figures are saved as PNG), got {str(path)!r}")
    parent = p.parent
    if not parent.is_dir():
        raise ValueError(f"path's parent directory does not exist: {str(parent)!r}")
    return p


def _check_title(title) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title must be a non-empty str, got {title!r}")
    return title


def _check_label(value, name: str, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {value!r}")
    return value


def _check_shape2(shape, name: str) -> tuple[int, int]:
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{name} must be a pair of positive ints, got {shape!r}") from None
    if len(dims) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in dims
    ):
        raise ValueError(f"{name} must be a pair of positive ints, got {shape!r}")
    return int(dims[0]), int(dims[1])


def _as_float_array(x, name: str, *, allow_nan: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like ({exc})") from None
    bad = ~np.isfinite(arr)
    if allow_nan:
        bad &= ~np.isnan(arr)
    if bad.any():
        what = "infinite" if allow_nan else "non-finite (NaN/inf)"
        raise ValueError(f"{name} contains {what} values")
    return arr


def _check_vrange(vmin, vmax, vmin_name: str = "vmin", vmax_name: str = "vmax"):
    for v, n in ((vmin, vmin_name), (vmax, vmax_name)):
        if v is not None and (
            not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v)
        ):
            raise ValueError(f"{n} must be a finite number or None, got {v!r}")
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise ValueError(f"{vmin_name} ({vmin}) must be smaller than {vmax_name} ({vmax})")


def _check_cmap(cmap, name: str = "cmap"):
    if isinstance(cmap, str):
        if cmap not in colormaps:
            raise ValueError(f"{name} {cmap!r} is not a known matplotlib colormap")
    elif cmap is None or not callable(cmap):
        raise ValueError(f"{name} must be a colormap name or Colormap, got {cmap!r}")
    return cmap


def _check_str_list(values, n: int, name: str, what: str) -> list[str]:
    if isinstance(values, str):
        raise ValueError(f"{name} must be a sequence of str, not a single str")
    try:
        out = [str(v) for v in values]
    except TypeError:
        raise ValueError(f"{name} must be a sequence of str, got {values!r}") from None
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} entries but there are {n} {what}")
    return out


def _check_positive_int(v, name: str, *, allow_zero: bool = False) -> int:
    lo = 0 if allow_zero else 1
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < lo:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} int, got {v!r}")
    return int(v)


# --------------------------------------------------------------------------
# figure helpers
# --------------------------------------------------------------------------
def _new_figure(figsize) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """Write the PNG to a temporary name beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, dpi=DPI, format="png")
        os.replace(tmp, path)
    finally:
        fig.clear()
        tmp.unlink(missing_ok=True)
    return path


def _near_square_grid(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    return rows, cols


def _hide_frame(ax) -> None:
    """Remove ticks and spines but keep the axis labels usable."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _extend_for(data: np.ndarray, vmin, vmax) -> str:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return "neither"
    lo = vmin is not None and finite.min() < vmin
    hi = vmax is not None and finite.max() > vmax
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get(
        (lo, hi), "both"
    )


# --------------------------------------------------------------------------
# mosaic
# --------------------------------------------------------------------------
def _as_vectors(vectors, tile_shape, name: str = "vectors") -> np.ndarray:
    h, w = tile_shape
    arr = _as_float_array(vectors, name)
    if arr.ndim == 3 and arr.shape[1:] == (h, w):
        arr = arr.reshape(arr.shape[0], h * w)
    elif arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one row")
    if arr.shape[1] != h * w:
        raise ValueError(
            f"tile_shape {tile_shape} needs {h * w} values per row but {name} has "
            f"{arr.shape[1]} columns"
        )
    return arr


def _resolve_grid(grid, n: int) -> tuple[int, int]:
    if grid is None:
        return _near_square_grid(n)
    try:
        rows, cols = grid
    except (TypeError, ValueError):
        raise ValueError(f"grid must be (rows, cols), got {grid!r}") from None
    if rows is None and cols is None:
        return _near_square_grid(n)
    if rows is None:
        cols = _check_positive_int(cols, "grid cols")
        rows = math.ceil(n / cols)
    elif cols is None:
        rows = _check_positive_int(rows, "grid rows")
        cols = math.ceil(n / rows)
    else:
        rows = _check_positive_int(rows, "grid rows")
        cols = _check_positive_int(cols, "grid cols")
    if rows * cols < n:
        raise ValueError(f"grid {grid!r} has {rows * cols} cells, fewer than the {n} tiles")
    return int(rows), int(cols)


def _normalize_tiles(arr: np.ndarray, normalize: str) -> np.ndarray:
    if normalize == "each":
        lo = arr.min(axis=1, keepdims=True)
        hi = arr.max(axis=1, keepdims=True)
        span = hi - lo
        flat = span == 0
        out = (arr - lo) / np.where(flat, 1.0, span)
        return np.where(flat, 0.5, out)
    if normalize == "global":
        lo, hi = float(arr.min()), float(arr.max())
        if hi == lo:
            return np.full_like(arr, 0.5)
        return (arr - lo) / (hi - lo)
    return arr.copy()


def mosaic(vectors, tile_shape, grid=None, normalize="each", gap=1, fill=1.0) -> np.ndarray:
    """Arrange row vectors as image tiles in one 2-D mosaic array.

    Parameters
    ----------
    vectors : array_like, shape (n, d)
        One tile per row, ``d == tile_shape[0] * tile_shape[1]``.  A 1-D
        array is one tile; an (n, h, w) array is accepted too.
    tile_shape : (int, int)
        ``(height, width)`` of one tile; rows are reshaped in C order.
    grid : (int, int) or None, optional
        ``(rows, cols)`` of the tile grid.  Default is near square:
        ``cols = ceil(sqrt(n))``, ``rows = ceil(n / cols)``.  Either entry
        may be None to derive it from the other.  Filled row-major.
    normalize : {"each", "global", "none"}, optional
        ``"each"`` rescales every tile to its own min..max -> [0, 1]
        (for weights); ``"global"`` rescales all tiles with one common
        min..max -> [0, 1]; ``"none"`` keeps the values (assumed in
        [0, 1]).  A constant tile (or constant data, for "global") maps to
        0.5.
    gap : int, optional
        Pixels of ``fill`` between neighbouring tiles (not around the
        border).  Default 1.
    fill : float, optional
        Value of the gaps and of unused grid cells.  Default 1.0, i.e. white
        in the grey scale, which separates dark-background digits and
        weight tiles visibly; NaN draws them in the colour map's "bad" colour.

    Returns
    -------
    numpy.ndarray, shape (rows*h + (rows-1)*gap, cols*w + (cols-1)*gap)
        Float mosaic.

    Raises
    ------
    ValueError
        If ``vectors`` do not match ``tile_shape``, ``grid`` is too small,
        ``normalize`` is unknown, ``gap`` is negative or ``fill`` is not a
        finite number.
    """
    h, w = _check_shape2(tile_shape, "tile_shape")
    if normalize not in _NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {_NORMALIZE_MODES}, got {normalize!r}")
    gap = _check_positive_int(gap, "gap", allow_zero=True)
    if not isinstance(fill, numbers.Real) or isinstance(fill, bool) or math.isinf(fill):
        raise ValueError(f"fill must be a finite number or NaN, got {fill!r}")
    arr = _as_vectors(vectors, (h, w))
    n = arr.shape[0]
    rows, cols = _resolve_grid(grid, n)
    tiles_ = _normalize_tiles(arr, normalize).reshape(n, h, w)

    block = np.full((rows * cols, h + gap, w + gap), float(fill))
    block[:n, :h, :w] = tiles_
    out = block.reshape(rows, cols, h + gap, w + gap).transpose(0, 2, 1, 3)
    out = out.reshape(rows * (h + gap), cols * (w + gap))
    return np.ascontiguousarray(out[: rows * (h + gap) - gap, : cols * (w + gap) - gap])


# --------------------------------------------------------------------------
# 1. learning curves
# --------------------------------------------------------------------------
def _check_curves(curves, name: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"{name} must be a non-empty dict label -> sequence or (x, y)")
    out = []
    for label, value in curves.items():
        where = f"{name}[{label!r}]"
        if (
            isinstance(value, tuple)
            and len(value) == 2
            and all(np.ndim(v) == 1 for v in value)
        ):
            x = _as_float_array(value[0], f"{where} x", allow_nan=False)
            y = _as_float_array(value[1], f"{where} y", allow_nan=True)
            if x.shape != y.shape:
                raise ValueError(f"{where}: x has {x.size} values but y has {y.size}")
        else:
            y = _as_float_array(value, where, allow_nan=True)
            if y.ndim != 1:
                raise ValueError(f"{where} must be 1-D or an (x, y) tuple, got shape {y.shape}")
            x = np.arange(1, y.size + 1, dtype=float)
        if y.size == 0:
            raise ValueError(f"{where} is empty")
        out.append((str(label), x, y))
    return out


def learning_curves(
    path, curves, *, title, xlabel="epoch", ylabel="loss", logy=False, panels=None
) -> Path:
    """Plot one or several learning curves.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    curves : dict or None
        ``label -> y`` (1-D sequence, plotted against 1..n) or
        ``label -> (x, y)`` (tuple of two equal-length 1-D sequences).
        NaN values are drawn as gaps.  May be None when ``panels`` is
        given; if both are given, ``curves`` becomes the first panel.
    title : str
        Figure title (axes title for one panel, figure title otherwise).
    xlabel, ylabel : str, optional
        Axis labels; ``xlabel`` is shared by all panels, ``ylabel`` is used
        for ``curves``.
    logy : bool or sequence of bool, optional
        Logarithmic y axis.  One bool applies to every panel; a sequence
        gives one flag per panel (``curves`` first, then ``panels``), e.g.
        ``(True, False)`` for a loss + accuracy figure.  Log panels need
        positive values.
    panels : list of (str, str, dict), optional
        ``(panel_title, ylabel, curves_dict)`` per subplot, drawn side by
        side.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    ValueError
        Naming the offending argument.
    """
    p = _check_path(path)
    title = _check_title(title)
    _check_label(xlabel, "xlabel")
    _check_label(ylabel, "ylabel")
    specs = []  # (panel_title, ylabel, parsed curves)
    if curves is not None:
        specs.append((None, ylabel, _check_curves(curves, "curves")))
    if panels is not None:
        if isinstance(panels, (str, dict)) or not hasattr(panels, "__len__") or len(panels) == 0:
            raise ValueError("panels must be a non-empty list of (panel_title, ylabel, curves)")
        for i, panel in enumerate(panels):
            if not isinstance(panel, (tuple, list)) or len(panel) != 3:
                raise ValueError(f"panels[{i}] must be (panel_title, ylabel, curves), got {panel!r}")
            ptitle, pylabel, pcurves = panel
            _check_label(ptitle, f"panels[{i}] title")
            _check_label(pylabel, f"panels[{i}] ylabel")
            specs.append((ptitle, pylabel, _check_curves(pcurves, f"panels[{i}] curves")))
    if not specs:
        raise ValueError("curves must be given when panels is None")

    if isinstance(logy, (bool, np.bool_)):
        logs = [bool(logy)] * len(specs)
    else:
        try:
            logs = [bool(v) for v in logy]
        except TypeError:
            raise ValueError(f"logy must be a bool or a sequence of bools, got {logy!r}") from None
        if len(logs) != len(specs):
            raise ValueError(f"logy has {len(logs)} flags but there are {len(specs)} panels")
    for (ptitle, _, parsed), lg in zip(specs, logs):
        if lg:
            for label, _, y in parsed:
                finite = y[np.isfinite(y)]
                if finite.size and finite.min() <= 0:
                    raise ValueError(
                        f"logy=True needs positive values, but curve {label!r} has {finite.min():g}"
                    )

    npan = len(specs)
    fig = _new_figure((5.2 * npan if npan > 1 else 6.4, 4.2))
    axes = fig.subplots(1, npan, squeeze=False)[0]
    for ax, (ptitle, pylabel, parsed), lg in zip(axes, specs, logs):
        for label, x, y in parsed:
            style = {"marker": "o", "markersize": 3} if y.size <= 40 else {}
            ax.plot(x, y, label=label, linewidth=1.6, **style)
        if lg:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(pylabel)
        ax.grid(True, which="major", alpha=0.3)
        if npan > 1 and ptitle:
            ax.set_title(ptitle)
        if len(parsed) > 1:
            ax.legend(frameon=False)
    if npan > 1:
        fig.suptitle(title, fontsize="large")
    else:
        ax = axes[0]
        ax.set_title(title if not specs[0][0] else f"{title}\n{specs[0][0]}")
    return _save(fig, p)


# --------------------------------------------------------------------------
# 2. tiles
# --------------------------------------------------------------------------
def _image_figsize(height_px: int, width_px: int, *, extra_w: float = 0.0, extra_h: float = 0.6,
                   long_side=(3.5, 9.0), px_scale: float = 1.6) -> tuple[float, float]:
    """Figure size giving about ``px_scale`` screen pixels per array pixel."""
    lo, hi = long_side
    ratio = max(height_px, width_px) / min(height_px, width_px)
    long_in = max(max(height_px, width_px) * px_scale / DPI, lo, 0.9 * ratio)
    long_in = min(long_in, hi)
    if width_px >= height_px:
        w_in, h_in = long_in, long_in / ratio
    else:
        w_in, h_in = long_in / ratio, long_in
    return max(w_in, 2.5) + extra_w, h_in + extra_h


def tiles(
    path,
    vectors,
    tile_shape,
    *,
    title,
    grid=None,
    normalize="each",
    cmap="gray",
    colorbar=False,
    labels=None,
) -> Path:
    """Draw each row of ``vectors`` as a small image in a grid.

    The tiles are assembled with :func:`mosaic` and drawn with a single
    ``imshow`` (fast for hundreds of tiles), separated by thin white gaps,
    axes off.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    vectors : array_like, shape (n, d)
        One tile per row, ``d == prod(tile_shape)``.
    tile_shape : (int, int)
        ``(height, width)`` of a tile.
    title : str
        Figure title.
    grid : (int, int) or None, optional
        ``(rows, cols)``; default near square (``ceil(sqrt(n))`` columns).
    normalize : {"each", "global", "none"}, optional
        See :func:`mosaic`.  "each" suits weights, "global" keeps relative
        magnitudes (the colour bar then shows the original values), "none"
        draws values as given on a fixed 0..1 scale.
    cmap : str or Colormap, optional
        Default "gray" (white = high).
    colorbar : bool, optional
        Draw a colour bar.  With "global" it is labelled in the original
        units; with "each" it shows the per-tile normalised 0..1 scale.
    labels : sequence of str, optional
        One short label per tile, drawn under the tiles when ``n <= 25``
        (ignored for more tiles).

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    ValueError
        Naming the offending argument (e.g. ``tile_shape`` when the row
        length does not match).
    """
    p = _check_path(path)
    title = _check_title(title)
    h, w = _check_shape2(tile_shape, "tile_shape")
    if normalize not in _NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {_NORMALIZE_MODES}, got {normalize!r}")
    _check_cmap(cmap)
    arr = _as_vectors(vectors, (h, w))
    n = arr.shape[0]
    rows, cols = _resolve_grid(grid, n)
    if labels is not None:
        labels = _check_str_list(labels, n, "labels", "tiles")

    if normalize == "global":
        lo, hi = float(arr.min()), float(arr.max())
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        cb_norm, cb_label = Normalize(lo, hi), "value"
    elif normalize == "each":
        cb_norm, cb_label = Normalize(0.0, 1.0), "normalised value (per tile)"
    else:
        cb_norm, cb_label = Normalize(0.0, 1.0), "value"

    extra_w = 1.1 if colorbar else 0.0
    if labels is not None and n <= 25:
        normed = _normalize_tiles(arr, normalize).reshape(n, h, w)
        tile_in = min(1.6, max(0.8, 7.0 / cols))
        fig = _new_figure((cols * tile_in * w / max(h, w) + extra_w + 0.2,
                           rows * (tile_in * h / max(h, w) + 0.3) + 0.6))
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            ax.set_axis_off()
            if i < n:
                ax.imshow(normed[i], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.text(0.5, -0.04, labels[i], transform=ax.transAxes, ha="center", va="top",
                        fontsize="small")
        cb_axes = axes.ravel().tolist()
    else:
        m = mosaic(arr, (h, w), grid=(rows, cols), normalize=normalize, gap=1, fill=1.0)
        fig = _new_figure(_image_figsize(*m.shape, extra_w=extra_w))
        ax = fig.add_subplot()
        ax.imshow(m, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_axis_off()
        cb_axes = ax
    fig.suptitle(title)
    if colorbar:
        sm = ScalarMappable(norm=cb_norm, cmap=cmap)
        fig.colorbar(sm, ax=cb_axes, shrink=0.8, label=cb_label)
    return _save(fig, p)


# --------------------------------------------------------------------------
# 3. image rows
# --------------------------------------------------------------------------
def image_rows(path, rows, image_shape, *, title, vmin=0.0, vmax=1.0, colorbar=False) -> Path:
    """Draw aligned rows of images, e.g. input / corrupted / reconstruction.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    rows : dict
        ``row_label -> (n, d)`` array with ``d == prod(image_shape)``; all
        rows must have the same ``n``.  Rows are drawn top to bottom in
        dict order with the label on the left.
    image_shape : (int, int)
        ``(height, width)`` of one image.
    title : str
        Figure title.
    vmin, vmax : float, optional
        Fixed grey scale shared by all rows (default 0..1, white = high).
    colorbar : bool, optional
        Draw one shared colour bar.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    ValueError
        Naming the offending argument (``rows`` for mismatched counts,
        ``image_shape`` for a wrong row length).
    """
    p = _check_path(path)
    title = _check_title(title)
    h, w = _check_shape2(image_shape, "image_shape")
    _check_vrange(vmin, vmax)
    if vmin is None or vmax is None:
        raise ValueError("vmin and vmax must be numbers so that rows share one scale")
    if not isinstance(rows, dict) or not rows:
        raise ValueError("rows must be a non-empty dict row_label -> (n, d) array")
    parsed = []
    n = None
    for label, value in rows.items():
        try:
            arr = _as_vectors(value, (h, w), name=f"rows[{label!r}]")
        except ValueError as exc:
            msg = str(exc).replace("tile_shape", "image_shape")
            raise ValueError(msg) from None
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise ValueError(
                f"rows must all have the same number of images: rows[{label!r}] has "
                f"{arr.shape[0]}, expected {n}"
            )
        parsed.append((str(label), arr))

    nrows = len(parsed)
    strip_w = n * w + (n - 1)
    long_in = min(max(strip_w * 1.6 / DPI, 4.0), 10.0)
    row_h_in = long_in * h / strip_w
    fig = _new_figure((long_in + 1.0 + (0.9 if colorbar else 0.0),
                       nrows * (row_h_in + 0.08) + 0.6))
    axes = fig.subplots(nrows, 1, squeeze=False)[:, 0]
    for ax, (label, arr) in zip(axes, parsed):
        # Gaps are NaN, drawn in a colour no pixel has: white pixels stay visible.
        strip = np.pad(mosaic(arr, (h, w), grid=(1, n), normalize="none", gap=1, fill=np.nan), 1,
                       constant_values=np.nan)
        cmap = colormaps[_PIXEL_CMAP].with_extremes(bad=_GAP_COLOUR)
        im = ax.imshow(strip, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        _hide_frame(ax)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="medium")
    fig.suptitle(title)
    if colorbar:
        data = np.concatenate([a.ravel() for _, a in parsed])
        fig.colorbar(im, ax=axes.tolist(), shrink=0.9, label="pixel value",
                     extend=_extend_for(data, vmin, vmax))
    return _save(fig, p)


# --------------------------------------------------------------------------
# 4. activation maps
# --------------------------------------------------------------------------
def activation_maps(
    path, activations, map_shape, *, title, sample_labels=None, vmin=0.0, vmax=1.0
) -> Path:
    """Draw each sample's hidden activations as a small map.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    activations : array_like, shape (n_samples, k)
        Hidden activations; a 1-D array is one sample.
    map_shape : (int, int)
        Layout of the ``k`` units, ``prod(map_shape) == k`` (e.g. (25, 25)
        for 625 units, (10, 10) for 100, (12, 12) for 144, (7, 7) for 49).
    title : str
        Figure title.
    sample_labels : sequence of str, optional
        Panel titles; default "sample 1", "sample 2", ...
    vmin, vmax : float or None, optional
        Colour range shared by all panels (default 0..1 for sigmoid
        units); None takes the data minimum / maximum.

    Returns
    -------
    pathlib.Path
        The written PNG.  Panels use ``viridis`` with one shared colour bar
        labelled "activation".

    Raises
    ------
    ValueError
        Naming the offending argument (``map_shape`` if ``k`` does not
        match).
    """
    p = _check_path(path)
    title = _check_title(title)
    mh, mw = _check_shape2(map_shape, "map_shape")
    _check_vrange(vmin, vmax)
    arr = _as_float_array(activations, "activations")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"activations must be a 2-D array (n_samples, k), got shape {arr.shape}")
    n, k = arr.shape
    if k != mh * mw:
        raise ValueError(f"map_shape {map_shape} holds {mh * mw} units but activations has k={k}")
    if sample_labels is None:
        sample_labels = [f"sample {i + 1}" for i in range(n)]
    else:
        sample_labels = _check_str_list(sample_labels, n, "sample_labels", "samples")
    lo = float(arr.min()) if vmin is None else float(vmin)
    hi = float(arr.max()) if vmax is None else float(vmax)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5

    ncols = min(n, 5) if n <= 25 else math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    panel = 2.0 if n > 1 else 3.5
    aspect = mh / mw
    fig = _new_figure((ncols * panel + 1.1, nrows * (panel * aspect + 0.35) + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    im = None
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            im = ax.imshow(arr[i].reshape(mh, mw), cmap=_ACTIVATION_CMAP, vmin=lo, vmax=hi,
                           interpolation="nearest")
            ax.set_title(sample_labels[i], fontsize="medium")
    fig.suptitle(title)
    fig.colorbar(im, ax=axes.tolist(), shrink=0.85, label="activation",
                 extend=_extend_for(arr, vmin, vmax))
    return _save(fig, p)


# --------------------------------------------------------------------------
# 5. heatmap
# --------------------------------------------------------------------------
def _text_colour(rgba) -> str:
    r, g, b = rgba[:3]
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "black" if luminance > 0.45 else "white"


def heatmap(
    path,
    matrix,
    *,
    title,
    xlabel,
    ylabel,
    xticklabels=None,
    yticklabels=None,
    annotate=False,
    fmt="{:.2f}",
    cmap="viridis",
    vmin=None,
    vmax=None,
    colorbar_label=None,
) -> Path:
    """Draw a matrix as a coloured table, optionally annotated with values.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    matrix : array_like, shape (rows, cols)
        Values; NaN cells are drawn light grey and left blank.
    title, xlabel, ylabel : str
        Figure title and axis labels.
    xticklabels, yticklabels : sequence of str, optional
        One label per column / row; default 0..n-1.
    annotate : bool, optional
        Write each value in its cell; the text is black or white depending
        on the cell's luminance.
    fmt : str or callable, optional
        ``fmt.format(value)`` (or ``fmt(value)``) for annotations; integer
        matrices keep integer values, so ``"{:d}"`` works for counts.
    cmap : str or Colormap, optional
        Default "viridis".
    vmin, vmax : float, optional
        Colour range; default the data range.
    colorbar_label : str, optional
        Label of the colour bar (always drawn).

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    ValueError
        Naming the offending argument.
    """
    p = _check_path(path)
    title = _check_title(title)
    _check_label(xlabel, "xlabel")
    _check_label(ylabel, "ylabel")
    _check_label(colorbar_label, "colorbar_label", allow_none=True)
    _check_cmap(cmap)
    _check_vrange(vmin, vmax)
    raw = np.asarray(matrix)
    if raw.ndim != 2 or raw.size == 0:
        raise ValueError(f"matrix must be a non-empty 2-D array, got shape {raw.shape}")
    data = _as_float_array(raw, "matrix", allow_nan=True)
    nr, nc = data.shape
    if xticklabels is not None:
        xticklabels = _check_str_list(xticklabels, nc, "xticklabels", "columns")
    if yticklabels is not None:
        yticklabels = _check_str_list(yticklabels, nr, "yticklabels", "rows")
    if isinstance(fmt, str):
        formatter = fmt.format
    elif callable(fmt):
        formatter = fmt
    else:
        raise ValueError(f"fmt must be a format string or callable, got {fmt!r}")
    integral = np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.bool_)

    def fmt_value(i, j):
        v = raw[i, j].item() if integral else float(data[i, j])
        return formatter(v)

    if annotate:
        finite_idx = np.argwhere(np.isfinite(data))
        if finite_idx.size:
            try:
                s = fmt_value(*finite_idx[0])
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                raise ValueError(f"fmt {fmt!r} cannot format matrix values ({exc})") from None
            if not isinstance(s, str):
                raise ValueError(f"fmt must produce str, got {type(s).__name__}")

    longest_x = max((len(s) for s in xticklabels), default=0) if xticklabels else 0
    rotate = xticklabels is not None and (longest_x > 3 and nc > 4 or longest_x > 8)
    cell = 0.55 if annotate else 0.35
    fig_w = min(max(nc * cell + 2.4, 4.5), 14.0)
    fig_h = min(max(nr * cell + 1.6 + (0.05 * longest_x if rotate else 0), 3.2), 14.0)
    fig = _new_figure((fig_w, fig_h))
    ax = fig.add_subplot()
    cm = (colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad="lightgrey")
    masked = np.ma.masked_invalid(data)
    im = ax.imshow(masked, cmap=cm, vmin=vmin, vmax=vmax, aspect="auto",
                   interpolation="nearest")
    if nc <= 40 or xticklabels is not None:
        ax.set_xticks(np.arange(nc))
        ax.set_xticklabels(xticklabels if xticklabels is not None else [str(j) for j in range(nc)],
                           rotation=45 if rotate else 0, ha="right" if rotate else "center",
                           rotation_mode="anchor" if rotate else "default")
    if nr <= 40 or yticklabels is not None:
        ax.set_yticks(np.arange(nr))
        ax.set_yticklabels(yticklabels if yticklabels is not None else [str(i) for i in range(nr)])
    ax.tick_params(length=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate:
        fontsize = 10 if max(nr, nc) <= 10 else (8 if max(nr, nc) <= 20 else 6)
        for i in range(nr):
            for j in range(nc):
                if not np.isfinite(data[i, j]):
                    continue
                colour = _text_colour(im.cmap(im.norm(data[i, j])))
                ax.text(j, i, fmt_value(i, j), ha="center", va="center", color=colour,
                        fontsize=fontsize)
    fig.colorbar(im, ax=ax, label=colorbar_label or "")
    return _save(fig, p)


# --------------------------------------------------------------------------
# 6. side by side
# --------------------------------------------------------------------------
def side_by_side(path, panels, *, title, ncols=None) -> Path:
    """Draw several 2-D arrays next to each other, each with a colour bar.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    panels : list of (str, array_like, dict)
        ``(subtitle, 2-D array, imshow_kwargs)``; the kwargs dict may be
        omitted (2-tuple).  Defaults ``cmap="gray"`` and
        ``interpolation="nearest"``.  The extra key ``"colorbar_label"``
        labels that panel's colour bar.  Typical use: mosaics from
        :func:`mosaic` of three models' features.
    title : str
        Figure title.
    ncols : int, optional
        Panels per row; default all in one row up to 4, else near square.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    ValueError
        Naming the offending argument.
    """
    p = _check_path(path)
    title = _check_title(title)
    if isinstance(panels, (str, dict)) or not hasattr(panels, "__len__") or len(panels) == 0:
        raise ValueError("panels must be a non-empty list of (subtitle, array, kwargs)")
    parsed = []
    for i, panel in enumerate(panels):
        if not isinstance(panel, (tuple, list)) or len(panel) not in (2, 3):
            raise ValueError(f"panels[{i}] must be (subtitle, array, kwargs), got {type(panel)}")
        sub, arr = panel[0], panel[1]
        kw = panel[2] if len(panel) == 3 else {}
        _check_label(sub, f"panels[{i}] subtitle")
        if kw is None:
            kw = {}
        if not isinstance(kw, dict):
            raise ValueError(f"panels[{i}] kwargs must be a dict, got {kw!r}")
        a = _as_float_array(arr, f"panels[{i}] array", allow_nan=True)
        if a.ndim != 2 or a.size == 0:
            raise ValueError(f"panels[{i}] array must be a non-empty 2-D array, got shape {a.shape}")
        kw = dict(kw)
        cb_label = kw.pop("colorbar_label", "")
        kw.setdefault("cmap", _PIXEL_CMAP)
        kw.setdefault("interpolation", "nearest")
        _check_cmap(kw["cmap"], f"panels[{i}] cmap")
        _check_vrange(kw.get("vmin"), kw.get("vmax"), f"panels[{i}] vmin", f"panels[{i}] vmax")
        parsed.append((sub, a, kw, cb_label))
    n = len(parsed)
    if ncols is None:
        ncols = n if n <= 4 else math.ceil(math.sqrt(n))
    else:
        ncols = min(_check_positive_int(ncols, "ncols"), n)
    nrows = math.ceil(n / ncols)
    aspect = max(a.shape[0] / a.shape[1] for _, a, _, _ in parsed)
    panel_w = 4.0 if ncols <= 3 else 3.2
    fig = _new_figure((ncols * (panel_w + 0.9), nrows * (panel_w * min(aspect, 2.0) + 0.5) + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    for ax, (sub, a, kw, cb_label) in zip(axes, parsed):
        try:
            im = ax.imshow(np.ma.masked_invalid(a), **kw)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"panels kwargs for {sub!r} are not valid imshow arguments ({exc})") \
                from None
        ax.set_axis_off()
        ax.set_title(sub)
        fig.colorbar(im, ax=ax, shrink=0.8, label=cb_label)
    fig.suptitle(title)
    return _save(fig, p)


# --------------------------------------------------------------------------
# 7. histogram
# --------------------------------------------------------------------------
def histogram(path, series, *, title, xlabel, ylabel="count", bins=50, vlines=None) -> Path:
    """Overlay histograms of several 1-D samples on common bins.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    series : dict
        ``label -> 1-D array`` (multi-dimensional arrays are flattened).
        All series share the same bin edges so they compare.
    title, xlabel : str
        Title and x-axis label.
    ylabel : str, optional
        Default "count".
    bins : int or sequence of float, optional
        Number of bins over the combined range, or explicit edges.
    vlines : dict, optional
        ``label -> x`` dashed reference lines (e.g. a target sparsity rho).

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    ValueError
        Naming the offending argument.
    """
    p = _check_path(path)
    title = _check_title(title)
    _check_label(xlabel, "xlabel")
    _check_label(ylabel, "ylabel")
    if not isinstance(series, dict) or not series:
        raise ValueError("series must be a non-empty dict label -> 1-D array")
    parsed = []
    for label, value in series.items():
        a = _as_float_array(value, f"series[{label!r}]").ravel()
        if a.size == 0:
            raise ValueError(f"series[{label!r}] is empty")
        parsed.append((str(label), a))
    lines = []
    if vlines is not None:
        if not isinstance(vlines, dict):
            raise ValueError("vlines must be a dict label -> x")
        for label, x in vlines.items():
            if not isinstance(x, numbers.Real) or isinstance(x, bool) or not math.isfinite(x):
                raise ValueError(f"vlines[{label!r}] must be a finite number, got {x!r}")
            lines.append((str(label), float(x)))
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        nb = _check_positive_int(bins, "bins")
        allv = np.concatenate([a for _, a in parsed])
        lo, hi = float(allv.min()), float(allv.max())
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, nb + 1)
    else:
        edges = _as_float_array(bins, "bins")
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins must be a positive int or increasing bin edges")

    fig = _new_figure((6.4, 4.2))
    ax = fig.add_subplot()
    alpha = 0.85 if len(parsed) == 1 else 0.5
    for label, a in parsed:
        ax.hist(a, bins=edges, alpha=alpha, label=label, edgecolor="none")
    colours = ["black", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]
    for i, (label, x) in enumerate(lines):
        ax.axvline(x, color=colours[i % len(colours)], linestyle="--", linewidth=1.5,
                   label=f"{label} = {x:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    if len(parsed) > 1 or lines:
        ax.legend(frameon=False)
    return _save(fig, p)


# --------------------------------------------------------------------------
# 8. bar
# --------------------------------------------------------------------------
def bar(path, values, *, title, xlabel, ylabel, labels) -> Path:
    """Simple bar chart with the value printed on each bar.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG; its parent directory must exist.
    values : array_like, shape (n,)
        Bar heights.
    title, xlabel, ylabel : str
        Title and axis labels.
    labels : sequence of str
        One category label per bar.

    Returns
    -------
    pathlib.Path
        The written PNG.

    Raises
    ------
    ValueError
        Naming the offending argument.
    """
    p = _check_path(path)
    title = _check_title(title)
    _check_label(xlabel, "xlabel")
    _check_label(ylabel, "ylabel")
    v = _as_float_array(values, "values")
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {v.shape}")
    labels = _check_str_list(labels, v.size, "labels", "values")
    longest = max(len(s) for s in labels)
    rotate = longest > 6 and v.size > 3 or longest > 14
    fig = _new_figure((min(max(0.7 * v.size + 2.0, 5.0), 14.0), 4.2 + (0.06 * longest if rotate else 0)))
    ax = fig.add_subplot()
    x = np.arange(v.size)
    bars = ax.bar(x, v, color="tab:blue", width=0.7)
    if v.size <= 30:
        ax.bar_label(bars, labels=[f"{val:.3g}" for val in v], padding=2, fontsize="small")
        ax.margins(y=0.12)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                       rotation_mode="anchor" if rotate else "default")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return _save(fig, p)
