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

:func:`save` saves a figure later. ``plots.later.tiles(...)`` (any of the figures) only
records the call, as a :class:`Sketch` to draw later or in another process
(:mod:`~fastae.plots.painter`: how runs draw their figures while they train). Figures
are drawn on their own Agg canvas, never through pyplot: no window opens and pyplot
keeps no reference to them. PNGs are written at :data:`DPI`; every image tile (a weight
vector, a digit, an activation map) is drawn at least :data:`MIN_TILE_PX` pixels on its
shorter side; titles are wrapped to the figure's width. Pixel images use one grey scale
(white = high), hidden activations ``viridis``. Bad arguments raise a ValueError that
names the argument.

Modules: :mod:`~fastae.plots.images` (:func:`tiles`, :func:`image_rows`,
:func:`activation_maps`, :func:`mosaic`), :mod:`~fastae.plots.curves`
(:func:`learning_curves`, :func:`histogram`, :func:`bar`), :mod:`~fastae.plots.matrices`
(:func:`heatmap`, :func:`side_by_side`).
"""

#: Where each public name lives. The submodules load on first use: ``fastae.plots.later``
#: (:mod:`~fastae.plots.sketch`) and :mod:`~fastae.plots.painter` need no matplotlib, so a
#: run whose figures another process draws does not import it for them.
_HOMES = {
    "DPI": "_core",
    "MIN_TILE_PX": "_core",
    "Figure": "_core",
    "save": "_core",
    "bar": "curves",
    "histogram": "curves",
    "learning_curves": "curves",
    "activation_maps": "images",
    "image_rows": "images",
    "mosaic": "images",
    "tiles": "images",
    "heatmap": "matrices",
    "side_by_side": "matrices",
    "Sketch": "sketch",
    "later": "sketch",
}

__all__ = sorted(_HOMES)


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fastae.plots' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))
