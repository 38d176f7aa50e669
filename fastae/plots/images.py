"""Images: weight tiles, rows of images, activation maps, and the mosaic array behind them."""

from __future__ import annotations

import math
import numbers

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from . import _checks as check
from ._core import (
    ACTIVATION_CMAP,
    DPI,
    GAP_COLOUR,
    PIXEL_CMAP,
    Figure,
    check_target,
    colorbar_room,
    extend_for,
    finish,
    hide_frame,
    near_square_grid,
    new_figure,
    pixel_scale,
    place,
    placed_colorbar,
    register_tiles,
    suptitle,
    text_width,
    title_height,
)

NORMALIZE_MODES = ("each", "global", "none")
#: Inches a colour bar with its label takes beside a figure's content.
_COLORBAR_IN = 1.25


def _as_vectors(vectors, tile_shape, name: str = "vectors") -> np.ndarray:
    h, w = tile_shape
    arr = check.float_array(vectors, name)
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
            f"tile_shape {tile_shape} needs {h * w} values per row but {name} has {arr.shape[1]} columns"
        )
    return arr


def _resolve_grid(grid, n: int) -> tuple[int, int]:
    if grid is None:
        return near_square_grid(n)
    try:
        rows, cols = grid
    except (TypeError, ValueError):
        raise ValueError(f"grid must be (rows, cols), got {grid!r}") from None
    if rows is None and cols is None:
        return near_square_grid(n)
    if rows is None:
        cols = check.positive_int(cols, "grid cols")
        rows = math.ceil(n / cols)
    elif cols is None:
        rows = check.positive_int(rows, "grid rows")
        cols = math.ceil(n / rows)
    else:
        rows, cols = check.positive_int(rows, "grid rows"), check.positive_int(cols, "grid cols")
    if rows * cols < n:
        raise ValueError(f"grid {grid!r} has {rows * cols} cells, fewer than the {n} tiles")
    return int(rows), int(cols)


def _normalize_tiles(arr: np.ndarray, normalize: str) -> np.ndarray:
    if normalize == "each":
        lo = arr.min(axis=1, keepdims=True)
        span = arr.max(axis=1, keepdims=True) - lo
        flat = span == 0
        return np.where(flat, 0.5, (arr - lo) / np.where(flat, 1.0, span))
    if normalize == "global":
        lo, hi = float(arr.min()), float(arr.max())
        return np.full_like(arr, 0.5) if hi == lo else (arr - lo) / (hi - lo)
    return arr.copy()


def mosaic(vectors, tile_shape, grid=None, normalize="each", gap=1, fill=1.0) -> np.ndarray:
    """Arrange row vectors as image tiles in one 2-D array (no figure).

    ``vectors``: ``(n, h*w)`` (one tile per row, reshaped in C order), ``(n, h, w)`` or one
    1-D tile. ``tile_shape``: ``(h, w)``. ``grid``: ``(rows, cols)``, either may be None;
    default near square (``ceil(sqrt(n))`` columns), filled row by row. ``normalize``:
    ``"each"`` maps every tile to its own min..max -> [0, 1] (for weights), ``"global"``
    all tiles with one min..max, ``"none"`` keeps the values; a constant tile maps to 0.5.
    ``gap``: pixels of ``fill`` between tiles (1.0: white; NaN: the colormap's "bad"
    colour), also filling unused cells. Returns an array of shape
    ``(rows*h + (rows-1)*gap, cols*w + (cols-1)*gap)``.
    """
    h, w = check.shape2(tile_shape, "tile_shape")
    check.choice(normalize, "normalize", NORMALIZE_MODES)
    gap = check.positive_int(gap, "gap", allow_zero=True)
    if not isinstance(fill, numbers.Real) or isinstance(fill, bool) or math.isinf(fill):
        raise ValueError(f"fill must be a finite number or NaN, got {fill!r}")
    arr = _as_vectors(vectors, (h, w))
    n = arr.shape[0]
    rows, cols = _resolve_grid(grid, n)
    block = np.full((rows * cols, h + gap, w + gap), float(fill))
    block[:n, :h, :w] = _normalize_tiles(arr, normalize).reshape(n, h, w)
    out = block.reshape(rows, cols, h + gap, w + gap).transpose(0, 2, 1, 3)
    out = out.reshape(rows * (h + gap), cols * (w + gap))
    return np.ascontiguousarray(out[: rows * (h + gap) - gap, : cols * (w + gap) - gap])


def _colour_scale(arr, normalize):
    if normalize == "global":
        lo, hi = float(arr.min()), float(arr.max())
        return (Normalize(lo - 0.5, hi + 0.5) if hi == lo else Normalize(lo, hi)), "value"
    if normalize == "each":
        return Normalize(0.0, 1.0), "scaled per tile"
    return Normalize(0.0, 1.0), "value"


def tiles(vectors, tile_shape, *, title, grid=None, normalize="each", cmap="gray", colorbar=False,
          labels=None, path=None) -> Figure:
    """Each row of ``vectors`` as a small image in a grid (weights as images).

    ``vectors``, ``tile_shape``, ``grid``, ``normalize``: as for :func:`mosaic` ("each"
    suits weights, "global" keeps relative magnitudes and labels the colour bar in the
    original units, "none" draws values on a fixed 0..1 scale). ``cmap``: default "gray"
    (white = high). ``colorbar``: draw a colour bar. ``labels``: one short label per tile,
    drawn under each tile when there are at most 25. ``path``: see :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    h, w = check.shape2(tile_shape, "tile_shape")
    check.choice(normalize, "normalize", NORMALIZE_MODES)
    check.cmap(cmap)
    arr = _as_vectors(vectors, (h, w))
    n = arr.shape[0]
    rows, cols = _resolve_grid(grid, n)
    if labels is not None:
        labels = check.str_list(labels, n, "labels", "tiles")
    norm, cb_label = _colour_scale(arr, normalize)
    extra_w = _COLORBAR_IN if colorbar else 0.0

    if labels is not None and n <= 25:
        scale = pixel_scale(min(h, w), cols * max(h, w), tile_px_wanted=168)
        tw, th = w * scale / DPI, h * scale / DPI
        gap_w = max(0.12, max(text_width(s) for s in labels) + 0.1 - tw)
        grid_w, grid_h = cols * tw + (cols - 1) * gap_w, rows * (th + 0.32)
        width = max(grid_w + extra_w + 0.3, 3.6)
        title_in = title_height(title, width)
        content = max(grid_h, colorbar_room(cb_label) if colorbar else 0.0)
        fig = new_figure(width, content + title_in + 0.2, layout=None)
        left, top = (width - extra_w - grid_w) / 2, title_in + 0.05 + (content - grid_h) / 2
        normed = _normalize_tiles(arr, normalize).reshape(n, h, w)
        for i in range(n):
            r, c = divmod(i, cols)
            ax = place(fig, left + c * (tw + gap_w), top + r * (th + 0.32), tw, th)
            hide_frame(ax)
            im = ax.imshow(normed[i], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            register_tiles(fig, im, (h, w), 0)
            ax.set_xlabel(labels[i], fontsize="medium", labelpad=2)
        right, span_top, span = left + grid_w, top, rows * (th + 0.32) - 0.32
    else:
        m = mosaic(arr, (h, w), grid=(rows, cols), normalize=normalize, gap=1, fill=1.0)
        scale = pixel_scale(min(h, w), max(m.shape))
        iw, ih = m.shape[1] * scale / DPI, m.shape[0] * scale / DPI
        width = max(iw + extra_w + 0.3, 3.6)
        title_in = title_height(title, width)
        content = max(ih, colorbar_room(cb_label) if colorbar else 0.0)
        fig = new_figure(width, content + title_in + 0.3, layout=None)
        left, top = (width - extra_w - iw) / 2, title_in + 0.1 + (content - ih) / 2
        ax = place(fig, left, top, iw, ih)
        im = ax.imshow(m, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        register_tiles(fig, im, (h, w), 1)
        ax.set_axis_off()
        right, span_top, span = left + iw, top, ih
    suptitle(fig, title)
    if colorbar:
        bar = 0.8 * span
        placed_colorbar(fig, ScalarMappable(norm=norm, cmap=cmap), right + 0.2, span_top + (span - bar) / 2, bar,
                        cb_label)
    return finish(fig, target)


def _scales(scales, names):
    """Per-row colour scales: ``label -> {"vmin", "vmax", "cmap", "label"}``."""
    if scales is None:
        return {}
    if not isinstance(scales, dict):
        raise ValueError("scales must be a dict row_label -> {vmin, vmax, cmap, label}")
    out = {}
    for key, spec in scales.items():
        if key not in names:
            raise ValueError(f"scales[{key!r}] names no row; rows are {names}")
        if not isinstance(spec, dict) or not set(spec) <= {"vmin", "vmax", "cmap", "label"}:
            raise ValueError(f"scales[{key!r}] must be a dict with keys vmin, vmax, cmap, label")
        vmin, vmax = spec.get("vmin"), spec.get("vmax")
        check.vrange(vmin, vmax, f"scales[{key!r}] vmin", f"scales[{key!r}] vmax")
        if vmin is None or vmax is None:
            raise ValueError(f"scales[{key!r}] needs both vmin and vmax")
        out[key] = {"vmin": vmin, "vmax": vmax, "cmap": check.cmap(spec.get("cmap", PIXEL_CMAP)),
                    "label": check.label(spec.get("label", key), f"scales[{key!r}] label")}
    return out


def image_rows(rows, image_shape, *, title, vmin=0.0, vmax=1.0, colorbar=False, labels=None,
               scales=None, path=None) -> Figure:
    """Aligned rows of images, such as inputs / corrupted inputs / reconstructions.

    ``rows``: ``row_label -> (n, h*w)`` array, the same ``n`` for every row, drawn top to
    bottom with the label on the left. ``image_shape``: ``(h, w)``. ``vmin``, ``vmax``: the
    grey scale every row shares (default 0..1, white = high). ``colorbar``: one colour bar
    for the shared scale. ``labels``: one label per column (``"x1"``, ``"digit 7"``), drawn
    above the first row. ``scales``: rows drawn on their own scale, ``row_label ->
    {"vmin", "vmax", "cmap", "label"}`` (each with its own colour bar when ``colorbar``),
    e.g. an ``|error|`` row. ``path``: see :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    h, w = check.shape2(image_shape, "image_shape")
    check.vrange(vmin, vmax)
    if vmin is None or vmax is None:
        raise ValueError("vmin and vmax must be numbers so that rows share one scale")
    if not isinstance(rows, dict) or not rows:
        raise ValueError("rows must be a non-empty dict row_label -> (n, d) array")
    parsed, n = [], None
    for key, value in rows.items():
        try:
            arr = _as_vectors(value, (h, w), name=f"rows[{key!r}]")
        except ValueError as exc:
            raise ValueError(str(exc).replace("tile_shape", "image_shape")) from None
        if n is not None and arr.shape[0] != n:
            raise ValueError(f"rows must all have the same number of images: rows[{key!r}] has "
                             f"{arr.shape[0]}, expected {n}")
        n = arr.shape[0]
        parsed.append((str(key), arr))
    own = _scales(scales, [k for k, _ in parsed])
    if labels is not None:
        labels = check.str_list(labels, n, "labels", "images per row")

    strip_w = n * w + (n - 1) + 2
    scale = pixel_scale(min(h, w), strip_w)
    row_w, row_in = strip_w * scale / DPI, (h + 2) * scale / DPI
    label_in = 0.25 + 0.085 * max(len(k) for k, _ in parsed)
    width = row_w + label_in + (_COLORBAR_IN if colorbar else 0.0) + 0.3
    rows_h = len(parsed) * (row_in + 0.1)
    content = max(rows_h, colorbar_room("pixel value", 0.9) if colorbar else 0.0)
    title_in = title_height(title, width)
    fig = new_figure(width, content + (0.3 if labels else 0.0) + title_in + 0.2, layout=None)
    left, top = label_in + 0.1, title_in + (0.3 if labels else 0.0) + 0.1 + (content - rows_h) / 2
    shared = {"vmin": vmin, "vmax": vmax, "cmap": PIXEL_CMAP, "label": "pixel value"}
    shared_images, shared_rows, axes = [], [], []
    for i, (key, arr) in enumerate(parsed):
        row_top = top + i * (row_in + 0.1)
        ax = place(fig, left, row_top, row_w, row_in)
        axes.append(ax)
        spec = own.get(key, shared)
        # Gaps are NaN, drawn in a colour no pixel has: white pixels stay visible.
        strip = np.pad(mosaic(arr, (h, w), grid=(1, n), normalize="none", gap=1, fill=np.nan), 1,
                       constant_values=np.nan)
        cm = (colormaps[spec["cmap"]] if isinstance(spec["cmap"], str) else spec["cmap"]).with_extremes(
            bad=GAP_COLOUR)
        im = ax.imshow(strip, cmap=cm, vmin=spec["vmin"], vmax=spec["vmax"], interpolation="nearest")
        register_tiles(fig, im, (h, w), 1)
        hide_frame(ax)
        ax.set_ylabel(key, rotation=0, ha="right", va="center", fontsize="medium")
        if key in own:
            if colorbar:
                placed_colorbar(fig, im, left + row_w + 0.2, row_top + 0.05 * row_in, 0.9 * row_in, spec["label"],
                                extend_for(arr, spec["vmin"], spec["vmax"]))
        else:
            shared_images.append((im, arr))
            shared_rows.append(row_top)
    if labels:
        ax = axes[0]
        ax.set_xticks(1 + (w + 1) * np.arange(n) + (w - 1) / 2, labels, fontsize="medium")
        ax.tick_params(length=0, top=True, labeltop=True, bottom=False, labelbottom=False, pad=2)
    suptitle(fig, title)
    if colorbar and shared_images:
        data = np.concatenate([a.ravel() for _, a in shared_images])
        span = shared_rows[-1] + row_in - shared_rows[0]
        placed_colorbar(fig, shared_images[-1][0], left + row_w + 0.2, shared_rows[0] + 0.05 * span, 0.9 * span,
                        "pixel value", extend_for(data, vmin, vmax))
    return finish(fig, target)


def activation_maps(activations, map_shape, *, title, sample_labels=None, vmin=0.0, vmax=1.0,
                    path=None) -> Figure:
    """Each sample's hidden activations as a small map (``viridis``, one shared colour bar).

    ``activations``: ``(n_samples, k)`` (a 1-D array is one sample). ``map_shape``: the
    layout of the ``k`` units, ``rows * cols == k`` ((25, 25) for 625 units, (10, 10) for
    100). ``sample_labels``: the panels' titles (default "sample 1", ...). ``vmin``,
    ``vmax``: the shared colour range (default 0..1 for sigmoid units; None takes the
    data's). ``path``: see :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    mh, mw = check.shape2(map_shape, "map_shape")
    check.vrange(vmin, vmax)
    arr = check.float_array(activations, "activations")
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
        sample_labels = check.str_list(sample_labels, n, "sample_labels", "samples")
    lo = float(arr.min()) if vmin is None else float(vmin)
    hi = float(arr.max()) if vmax is None else float(vmax)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5

    ncols = min(n, 5) if n <= 25 else math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    scale = pixel_scale(min(mh, mw), ncols * max(mh, mw), tile_px_wanted=180)
    pw, ph = mw * scale / DPI, mh * scale / DPI
    gap_w = max(0.15, max(text_width(s) for s in sample_labels) + 0.1 - pw)
    grid_w, grid_h = ncols * pw + (ncols - 1) * gap_w, nrows * (ph + 0.35)
    width = max(grid_w + _COLORBAR_IN + 0.2, 4.0)
    content = max(grid_h, colorbar_room("activation", 0.85))
    title_in = title_height(title, width)
    fig = new_figure(width, content + title_in + 0.2, layout=None)
    left, top = (width - _COLORBAR_IN - grid_w) / 2, title_in + 0.05 + (content - grid_h) / 2
    for i in range(n):
        r, c = divmod(i, ncols)
        ax = place(fig, left + c * (pw + gap_w), top + 0.3 + r * (ph + 0.35), pw, ph)
        ax.set_axis_off()
        im = ax.imshow(arr[i].reshape(mh, mw), cmap=ACTIVATION_CMAP, vmin=lo, vmax=hi, interpolation="nearest")
        register_tiles(fig, im, (mh, mw), 0)
        # y given: the title sits at the top edge as it would anyway (the axes has no
        # ticks), without matplotlib measuring tick labels to find that out.
        ax.set_title(sample_labels[i], fontsize="medium", y=1.0)
    suptitle(fig, title)
    bar = 0.85 * (grid_h - 0.05)
    placed_colorbar(fig, im, left + grid_w + 0.25, top + (grid_h - bar) / 2, bar, "activation",
                    extend_for(arr, vmin, vmax))
    return finish(fig, target)
