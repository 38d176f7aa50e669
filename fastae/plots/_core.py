"""What every figure shares: the Figure class, sizes, saving, titles that fit."""

from __future__ import annotations

import io as _stdio
import math
import os
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as _MplFigure

from .. import io

#: Resolution of every saved PNG (dots per inch).
DPI = 120
#: The shorter side of every image tile (a weight vector, a digit, an activation map) is
#: drawn at least this many pixels at :data:`DPI`.
MIN_TILE_PX = 48
#: Image tiles are drawn about this large when the figure stays narrower than :data:`WIDE_PX`.
TILE_PX = 96
#: Width of the image area up to which tiles grow towards :data:`TILE_PX`; beyond it they
#: shrink, never below :data:`MIN_TILE_PX`.
WIDE_PX = 960

PIXEL_CMAP = "gray"
ACTIVATION_CMAP = "viridis"
GAP_COLOUR = "#c9daf8"  # pale blue between images in a row: distinct from every grey

#: Font size of figure titles (points) and the share of it one character takes on average.
TITLE_PT = 12.0
_CHAR_EM = 0.58


class Figure(_MplFigure):
    """A :class:`matplotlib.figure.Figure` on its own Agg canvas that shows itself as a PNG
    in Jupyter and IPython (``_repr_png_``).

    ``tiles`` lists ``(image, (tile_height, tile_width), gap)`` for each drawn array made of
    image tiles (``gap`` array pixels between neighbours), so that their size on screen can
    be checked.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)
        self.tiles = []

    def _repr_png_(self):
        buf = _stdio.BytesIO()
        save(self, buf)
        return buf.getvalue()


def new_figure(width_in, height_in, layout="constrained") -> Figure:
    """A figure ``width_in`` x ``height_in`` inches. ``layout="constrained"`` lets matplotlib
    place the axes (curves, heat maps: tick labels of any width); ``None`` leaves that to
    :func:`place`, for figures of images whose every size is known beforehand (half the
    drawing time: the layout engine measures every text of every axes twice)."""
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout=layout)


#: Width of a colour bar placed by :func:`placed_colorbar` (inches).
COLORBAR_BAR_IN = 0.15
#: Inches between the top edge of a figure and its title, in figures placed by :func:`place`.
TITLE_TOP_IN = 0.06


def place(fig, left, top, width, height):
    """New axes ``width`` x ``height`` inches, ``left`` and ``top`` inches from the figure's
    left and top edges."""
    fig_w, fig_h = fig.get_figwidth(), fig.get_figheight()
    return fig.add_axes((left / fig_w, 1.0 - (top + height) / fig_h, width / fig_w, height / fig_h))


def placed_colorbar(fig, mappable, left, top, height, label, extend="neither"):
    """A colour bar :data:`COLORBAR_BAR_IN` wide at ``left``, ``top`` (inches, as for
    :func:`place`), its tick labels and ``label`` to its right."""
    cax = place(fig, left, top, COLORBAR_BAR_IN, height)
    return fig.colorbar(mappable, cax=cax, label=label, extend=extend)


def text_width(text: str, fontsize_pt: float = 10.0) -> float:
    """Inches that one line of ``text`` takes, about (an average character's width)."""
    return len(text) * _CHAR_EM * fontsize_pt / 72.0


def check_target(path):
    """``None``, a binary file object (kept as it is), or a ``.png`` path in an existing directory."""
    if path is None or (hasattr(path, "write") and not isinstance(path, (str, os.PathLike))):
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            f"path must be None, a str or path-like object, or a binary file object, got {type(path).__name__}"
        )
    p = Path(path)
    if str(p) in ("", "."):
        raise ValueError("path must name a file")
    if p.suffix == "":
        p = p.with_name(p.name + ".png")
    elif p.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png (figures are saved as PNG), got {str(path)!r}")
    if not p.parent.is_dir():
        raise ValueError(f"path's parent directory does not exist: {str(p.parent)!r}; create it first")
    return p


def save(fig, path):
    """Write ``fig`` as a PNG at :data:`DPI` to ``path`` and return ``path``.

    ``path``: a ``str`` or path-like (``.png`` or no suffix, parent directory existing),
    written to a unique temporary name and renamed over the target (a reader never sees a
    half-written file); or a binary file object, written in place.
    """
    if not isinstance(fig, _MplFigure):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    target = check_target(path)
    if target is None:
        raise ValueError("path must be given to save a figure (a .png path or a binary file object)")
    if isinstance(target, Path):
        return io.atomic_write(target, lambda f: _print_png(fig, f))
    _print_png(fig, target)
    return target


def _print_png(fig, f):
    if isinstance(fig.canvas, FigureCanvasAgg) and fig.dpi == DPI:
        # One pass: the layout and the drawing. savefig would first draw the whole figure with
        # rendering switched off to run the layout, then draw it again (the same pixels, a
        # quarter more time).
        fig.canvas.print_png(f)
    else:
        fig.savefig(f, dpi=DPI, format="png")


def finish(fig: Figure, target) -> Figure:
    """Save ``fig`` when a target (checked by :func:`check_target`) is given; return it."""
    if target is not None:
        save(fig, target)
    return fig


def wrap(text: str, width_in: float, fontsize_pt: float = TITLE_PT) -> str:
    """``text`` with each of its lines broken so that it fits ``width_in`` inches."""
    chars = max(12, int(width_in * 72.0 / (_CHAR_EM * fontsize_pt)))
    return "\n".join(textwrap.fill(line, chars) or line for line in text.split("\n"))


def suptitle(fig: Figure, title: str, fontsize_pt: float = TITLE_PT) -> None:
    """The figure's title, wrapped to its width; at its top edge when the figure has no
    layout engine (:func:`place`)."""
    where = {} if fig.get_layout_engine() is not None else {"y": 1.0 - TITLE_TOP_IN / fig.get_figheight()}
    fig.suptitle(wrap(title, fig.get_figwidth() - 0.2, fontsize_pt), fontsize=fontsize_pt, **where)


def title_height(title: str, width_in: float, fontsize_pt: float = TITLE_PT) -> float:
    """Inches that ``title``, wrapped to ``width_in``, takes above a figure's content."""
    return (wrap(title, width_in - 0.2, fontsize_pt).count("\n") + 1) * fontsize_pt * 1.35 / 72.0 + 0.15


def pixel_scale(tile_px: int, array_px: int, *, tile_px_wanted: float = TILE_PX,
                wide_px: float = WIDE_PX) -> float:
    """Screen pixels per array pixel for an image ``array_px`` array pixels across (its
    longer side) made of tiles ``tile_px`` array pixels across (their shorter side): tiles
    of ``tile_px_wanted`` while the image stays under ``wide_px``, never under
    :data:`MIN_TILE_PX`."""
    scale = min(tile_px_wanted / tile_px, wide_px / array_px)
    return max(scale, MIN_TILE_PX * 1.08 / tile_px)  # 8 % above the minimum: layout rounding


def register_tiles(fig: Figure, image, tile_shape, gap: int) -> None:
    fig.tiles.append((image, tuple(int(v) for v in tile_shape), int(gap)))


def colorbar_room(label: str, shrink: float = 0.8) -> float:
    """Inches of content a colour bar drawn at ``shrink`` of its height needs for ``label``
    (10 pt, along the bar) to fit."""
    return (len(label) * _CHAR_EM * 10.0 / 72.0 + 0.35) / shrink


def hide_frame(ax) -> None:
    """Remove ticks and spines but keep the axis labels usable."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def extend_for(data, vmin, vmax) -> str:
    """The colour bar's ``extend`` for data that may leave ``vmin`` .. ``vmax``."""
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return "neither"
    lo = vmin is not None and finite.min() < vmin
    hi = vmax is not None and finite.max() > vmax
    if lo and hi:
        return "both"
    return "min" if lo else "max" if hi else "neither"


def near_square_grid(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols
