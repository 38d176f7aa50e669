"""Matrices: annotated heat maps (confusion matrices, activation tables) and panels of arrays."""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps

from . import _checks as check
from ._core import (
    DPI,
    PIXEL_CMAP,
    Figure,
    check_target,
    finish,
    new_figure,
    pixel_scale,
    place,
    placed_colorbar,
    register_tiles,
    suptitle,
    title_height,
    wrap,
)

#: Extra keys of a :func:`side_by_side` panel's options, beside imshow's own.
PANEL_KEYS = ("colorbar", "colorbar_label", "xlabel", "ylabel", "tile_shape")


def text_colour(rgba) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba``."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def _formatter(fmt, raw, data):
    if isinstance(fmt, str):
        formatter = fmt.format
    elif callable(fmt):
        formatter = fmt
    else:
        raise ValueError(f"fmt must be a format string or callable, got {fmt!r}")
    integral = np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.bool_)

    def fmt_value(i, j):
        return formatter(raw[i, j].item() if integral else float(data[i, j]))

    finite = np.argwhere(np.isfinite(data))
    if finite.size:
        try:
            s = fmt_value(*finite[0])
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise ValueError(f"fmt {fmt!r} cannot format matrix values ({exc})") from None
        if not isinstance(s, str):
            raise ValueError(f"fmt must produce str, got {type(s).__name__}")
    return fmt_value


def heatmap(matrix, *, title, xlabel, ylabel, xticklabels=None, yticklabels=None, annotate=False,
            fmt="{:.2f}", cmap="viridis", vmin=None, vmax=None, colorbar_label=None, path=None) -> Figure:
    """A matrix as a coloured table, optionally with each value written in its cell.

    ``matrix``: ``(rows, cols)``; NaN cells are light grey and blank. ``xticklabels``,
    ``yticklabels``: one label per column / row (default 0..n-1). ``annotate``: write the
    values, black or white by the cell's luminance, formatted by ``fmt`` (a format string
    or a callable; integer matrices stay integers, so ``"{:d}"`` suits counts).
    ``vmin``, ``vmax``: the colour range (default the data's). ``colorbar_label``: the
    colour bar's label. ``path``: see :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    check.labels((xlabel, "xlabel"), (ylabel, "ylabel"))
    check.label(colorbar_label, "colorbar_label", allow_none=True)
    check.cmap(cmap)
    check.vrange(vmin, vmax)
    raw = np.asarray(matrix)
    if raw.ndim != 2 or raw.size == 0:
        raise ValueError(f"matrix must be a non-empty 2-D array, got shape {raw.shape}")
    data = check.float_array(raw, "matrix", allow_nan=True)
    nr, nc = data.shape
    if xticklabels is not None:
        xticklabels = check.str_list(xticklabels, nc, "xticklabels", "columns")
    if yticklabels is not None:
        yticklabels = check.str_list(yticklabels, nr, "yticklabels", "rows")
    fmt_value = _formatter(fmt, raw, data) if annotate else None

    longest_x = max((len(s) for s in xticklabels), default=0) if xticklabels else 0
    rotate = xticklabels is not None and (longest_x > 3 and nc > 4 or longest_x > 8)
    cell = 0.55 if annotate else 0.35
    width = min(max(nc * cell + 2.6, 4.8), 14.0)
    height = min(max(nr * cell + 1.4 + (0.085 * longest_x if rotate else 0), 3.2), 14.0)
    fig = new_figure(width, height + title_height(title, width))
    ax = fig.add_subplot()
    cm = (colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cm, vmin=vmin, vmax=vmax, aspect="auto",
                   interpolation="nearest")
    if nc <= 40 or xticklabels is not None:
        ax.set_xticks(np.arange(nc), xticklabels if xticklabels is not None else [str(j) for j in range(nc)],
                      rotation=90 if rotate else 0)
    if nr <= 40 or yticklabels is not None:
        ax.set_yticks(np.arange(nr), yticklabels if yticklabels is not None else [str(i) for i in range(nr)])
    ax.tick_params(length=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate:
        fontsize = 10 if max(nr, nc) <= 10 else (8 if max(nr, nc) <= 20 else 6)
        for i, j in np.argwhere(np.isfinite(data)):
            ax.text(j, i, fmt_value(i, j), ha="center", va="center", fontsize=fontsize,
                    color=text_colour(im.cmap(im.norm(data[i, j]))))
    fig.colorbar(im, ax=ax, label=colorbar_label or "")
    suptitle(fig, title)
    return finish(fig, target)


def _panel(item, i):
    """``(subtitle, array, imshow options, own options)`` of one :func:`side_by_side` panel."""
    sub, arr, *rest = check.panel(item, i, "panels", "(subtitle, array, kwargs)", (2, 3))
    check.label(sub, f"panels[{i}] subtitle")
    kw = (rest[0] if rest else None) or {}
    if not isinstance(kw, dict):
        raise ValueError(f"panels[{i}] kwargs must be a dict, got {kw!r}")
    a = check.float_array(arr, f"panels[{i}] array", allow_nan=True)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"panels[{i}] array must be a non-empty 2-D array, got shape {a.shape}")
    kw = dict(kw)
    own = {key: kw.pop(key) for key in PANEL_KEYS if key in kw}
    for key in ("colorbar_label", "xlabel", "ylabel"):
        check.label(own.get(key, ""), f"panels[{i}] {key}")
    if "tile_shape" in own:
        own["tile_shape"] = check.shape2(own["tile_shape"], f"panels[{i}] tile_shape")
    kw.setdefault("cmap", PIXEL_CMAP)
    kw.setdefault("interpolation", "nearest")
    check.cmap(kw["cmap"], f"panels[{i}] cmap")
    check.vrange(kw.get("vmin"), kw.get("vmax"), f"panels[{i}] vmin", f"panels[{i}] vmax")
    return sub, a, kw, own


def _image_box(shape, kw, width, height):
    """Inches ``(width, height)`` that imshow gives an array of ``shape`` in a cell of
    ``width`` x ``height``: the whole cell for ``aspect="auto"`` (or an ``extent``), else
    the largest box of the array's aspect that fits."""
    aspect = kw.get("aspect", "equal")
    if "extent" in kw or aspect == "auto":
        return width, height
    try:
        ratio = (1.0 if aspect == "equal" else float(aspect)) * shape[0] / shape[1]
    except (TypeError, ValueError):
        return width, height  # imshow says what is wrong with it
    if ratio <= 0 or not math.isfinite(ratio):
        return width, height
    return min(width, height / ratio), min(height, width * ratio)


def side_by_side(panels, *, title, ncols=None, path=None) -> Figure:
    """Several 2-D arrays next to each other, each with its subtitle and colour bar.

    ``panels``: ``(subtitle, array, kwargs)`` (kwargs may be left out): imshow's options
    (default ``cmap="gray"``, ``interpolation="nearest"``) plus ``colorbar`` (default
    True), ``colorbar_label``, ``xlabel``, ``ylabel`` (the axes are hidden without them)
    and ``tile_shape`` (the array is a :func:`mosaic` of such tiles: it is drawn so large
    that each tile meets the minimum size). ``ncols``: panels per row (default all in one
    row up to 4, else near square). ``path``: see :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    parsed = [_panel(item, i) for i, item in
              enumerate(check.panel_list(panels, "panels", "(subtitle, array, kwargs)"))]
    n = len(parsed)
    ncols = (n if n <= 4 else math.ceil(math.sqrt(n))) if ncols is None else min(
        check.positive_int(ncols, "ncols"), n)
    nrows = math.ceil(n / ncols)
    default = 3.6 if ncols <= 3 else 3.0
    sides = []  # inches each panel's image needs: tile mosaics so that tiles meet the minimum
    for _, a, _, own in parsed:
        scale = pixel_scale(min(own["tile_shape"]), max(a.shape), wide_px=600) if "tile_shape" in own else 0.0
        sides.append(max(default, max(a.shape) * scale / DPI))
    cells = [list(range(c, n, ncols)) for c in range(ncols)]
    col_in = [max(sides[i] for i in col) for col in cells]
    row_in = [max(sides[i] for i in range(r * ncols, min(n, (r + 1) * ncols))) for r in range(nrows)]

    def ylabel_w(i):
        return 0.5 if parsed[i][3].get("ylabel") else 0.0

    def extra_w(i):
        return 0.25 + (1.25 if parsed[i][3].get("colorbar", True) else 0.0) + ylabel_w(i)

    cell_w = [w + max(extra_w(i) for i in col) for w, col in zip(col_in, cells)]
    width = sum(cell_w) + 0.2
    label_h = max((0.35 if own.get("xlabel") else 0.0) for _, _, _, own in parsed)
    subs = [wrap(sub, col_in[i % ncols], 11.0) for i, (sub, _, _, _) in enumerate(parsed)]
    sub_h = [max(subs[i].count("\n") + 1 for i in range(r * ncols, min(n, (r + 1) * ncols))) * 11.0 * 1.25 / 72.0
             + 0.15 for r in range(nrows)]
    pitch = [s + h + label_h + 0.05 for s, h in zip(sub_h, row_in)]
    title_in = title_height(title, width)
    fig = new_figure(width, sum(pitch) + title_in + 0.1, layout=None)
    for i, (sub, a, kw, own) in enumerate(parsed):
        r, c = divmod(i, ncols)
        box_w, box_h = _image_box(a.shape, kw, col_in[c], row_in[r])
        left = 0.1 + sum(cell_w[:c]) + ylabel_w(i) + (col_in[c] - box_w) / 2
        top = title_in + sum(pitch[:r]) + sub_h[r] + (row_in[r] - box_h) / 2
        ax = place(fig, left, top, box_w, box_h)
        try:
            im = ax.imshow(np.ma.masked_invalid(a), **kw)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"panels kwargs for {sub!r} are not valid imshow arguments ({exc})") from None
        if "tile_shape" in own:
            register_tiles(fig, im, own["tile_shape"], 1)
        if own.get("xlabel") or own.get("ylabel"):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(own.get("xlabel", ""))
            ax.set_ylabel(own.get("ylabel", ""))
        else:
            ax.set_axis_off()
        # y given: the title sits at the top edge as it would anyway (no ticks there),
        # without matplotlib measuring tick labels to find that out.
        ax.set_title(subs[i], fontsize=11.0, y=1.0)
        if own.get("colorbar", True):
            placed_colorbar(fig, im, left + box_w + 0.15, top + 0.1 * box_h, 0.8 * box_h,
                            own.get("colorbar_label", ""))
    suptitle(fig, title)
    return finish(fig, target)
