"""A figure to draw later: the call of a plotting function, recorded (no matplotlib needed).

::

    s = plots.later.tiles(W.T, (28, 28), title="weights")   # records the call, draws nothing
    fig = s.draw()                                            # plots.tiles(W.T, (28, 28), title="weights")

A :class:`Sketch` pickles (its arguments are NumPy arrays, numbers, strings and the
like), so that another process can draw it: runs hand their figures to a
:mod:`~fastae.plots.painter` process this way and go on training.
"""

from __future__ import annotations

#: The plotting functions a sketch can call.
KINDS = ("activation_maps", "bar", "heatmap", "histogram", "image_rows", "learning_curves", "mosaic",
         "side_by_side", "tiles")


class Sketch:
    """``fastae.plots.<kind>(*args, **kwargs)``, to call later. An argument that is itself
    a sketch (such as a ``mosaic`` in a ``side_by_side`` panel), also inside lists, tuples
    and dicts, is drawn first and passed as its result."""

    def __init__(self, kind, args=(), kwargs=None):
        if kind not in KINDS:
            raise ValueError(f"kind: {kind!r} is no figure of fastae.plots; choose one of {', '.join(KINDS)}")
        self.kind, self.args, self.kwargs = kind, tuple(args), dict(kwargs or {})

    def draw(self, path=None):
        """Call the plotting function (with ``path``, when given, instead of the recorded
        one) and return what it returns: a Figure, or an array for ``mosaic``."""
        from .. import plots

        kwargs = {k: _drawn(v) for k, v in self.kwargs.items()}
        if path is not None:
            kwargs["path"] = path
        return getattr(plots, self.kind)(*(_drawn(a) for a in self.args), **kwargs)

    def __repr__(self):
        return f"Sketch({self.kind!r}, {len(self.args)} arguments, keywords {sorted(self.kwargs)})"


def _drawn(value):
    if isinstance(value, Sketch):
        return value.draw()
    if isinstance(value, (list, tuple)):
        return type(value)(_drawn(v) for v in value)
    if isinstance(value, dict):
        return {k: _drawn(v) for k, v in value.items()}
    return value


class _Later:
    """``later.tiles(...)`` is ``Sketch("tiles", ...)``, for every kind of figure."""

    def __getattr__(self, kind):
        if kind not in KINDS:
            raise AttributeError(f"fastae.plots.later has no figure {kind!r}; choose one of {', '.join(KINDS)}")

        def record(*args, **kwargs):
            return Sketch(kind, args, kwargs)

        record.__name__ = kind
        return record

    def __dir__(self):
        return list(KINDS)


#: ``later.<kind>(...)`` records a call of ``fastae.plots.<kind>`` as a :class:`Sketch`.
later = _Later()
