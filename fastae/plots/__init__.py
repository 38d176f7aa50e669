"""Figures of autoencoders: weights as image tiles, rows of images, activation maps,
learning curves, heat maps, histograms and bar charts.

Every plotting function takes its data first and its options as keywords, draws a new
:class:`Figure` and returns it:

* ``path=None`` (the default) only returns the figure; in Jupyter or IPython it shows
  itself as a cell's value (``fastae.plots.tiles(model.W.T, (28, 28), title="weights")``);
* ``path="dir/name.png"`` (a ``str`` or path-like ending in ``.png`` or without a suffix;
  the directory must exist) also saves it there, atomically: to a unique temporary name in
  the same directory, renamed over the target, with the permissions the umask gives;
* ``path=file_object`` (an ``io.BytesIO``, a file opened ``"wb"``) writes the PNG into it.

:func:`save` saves a figure later. Figures are drawn on their own Agg canvas, never
through pyplot: no window opens and pyplot keeps no reference to them. PNGs are written
at :data:`DPI`; every image tile (a weight vector, a digit, an activation map) is drawn at
least :data:`MIN_TILE_PX` pixels on its shorter side; titles are wrapped to the figure's
width. Pixel images use one grey scale (white = high), hidden activations ``viridis``.
Bad arguments raise a ValueError that names the argument.

Modules: :mod:`~fastae.plots.images` (:func:`tiles`, :func:`image_rows`,
:func:`activation_maps`, :func:`mosaic`), :mod:`~fastae.plots.curves`
(:func:`learning_curves`, :func:`histogram`, :func:`bar`), :mod:`~fastae.plots.matrices`
(:func:`heatmap`, :func:`side_by_side`).
"""

from ._core import DPI, MIN_TILE_PX, Figure, save
from .curves import bar, histogram, learning_curves
from .images import activation_maps, image_rows, mosaic, tiles
from .matrices import heatmap, side_by_side

__all__ = [
    "DPI",
    "MIN_TILE_PX",
    "Figure",
    "activation_maps",
    "bar",
    "heatmap",
    "histogram",
    "image_rows",
    "learning_curves",
    "mosaic",
    "save",
    "side_by_side",
    "tiles",
]
