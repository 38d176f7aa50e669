"""Curves and distributions: learning curves, histograms, bar charts."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullLocator

from . import _checks as check
from ._core import Figure, check_target, finish, new_figure, suptitle, title_height, wrap

#: Colours of the dashed reference lines of :func:`histogram`.
_VLINE_COLOURS = ("black", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def plain_number(value, _pos=None) -> str:
    """A tick label without exponent notation where it can: 60, 0.05, 2000, 1e-05."""
    return f"{value:g}"


def _ticks_inside(locator, lo, hi):
    return [t for t in locator.tick_values(lo, hi) if lo <= t <= hi]


def log_axis(axis, lo, hi) -> None:
    """Logarithmic ticks labelled as plain numbers, at least three of them in ``lo .. hi``."""
    decades = math.log10(hi / lo)
    subs = (1.0,) if decades >= 2.5 else (1.0, 2.0, 5.0) if decades >= 0.8 else np.arange(1.0, 10.0)
    locator = LogLocator(base=10.0, subs=subs)
    if len(_ticks_inside(locator, lo, hi)) < 3:
        locator = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    axis.set_major_locator(locator)
    axis.set_major_formatter(FuncFormatter(plain_number))
    axis.set_minor_locator(NullLocator())  # the labelled ticks are dense enough, and minor ones cost


def _check_logy(logy, n):
    if isinstance(logy, (bool, np.bool_)):
        return [bool(logy)] * n
    return check.sequence(logy, n, "logy", "panels", convert=bool, kind="bools (or one bool)")


def _legend(ax, n_entries, longest):
    """A legend inside the axes for a few short entries, else to the right of them."""
    if n_entries <= 3 and longest <= 32:
        ax.legend(frameon=False)
    else:
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def learning_curves(curves, *, title, xlabel="epoch", ylabel="loss", logy=False, panels=None,
                    path=None) -> Figure:
    """One or several learning curves, in one panel or side by side.

    ``curves``: ``label -> y`` (plotted against 1..n) or ``label -> (x, y)``; NaN values
    are gaps. ``panels``: ``(panel_title, ylabel, curves)`` per further panel (``curves``
    may then be None; given, it is the first panel). ``xlabel`` is shared, ``ylabel`` is
    ``curves``' axis label. ``logy``: a log y axis, one bool for every panel or one per
    panel (``curves`` first); log panels need positive values and are labelled in plain
    numbers. Whole-number x values (epochs) get whole-number ticks. ``path``: see
    :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    check.labels((xlabel, "xlabel"), (ylabel, "ylabel"))
    specs = []  # (panel_title, ylabel, parsed curves)
    if curves is not None:
        specs.append((None, ylabel, check.curves(curves, "curves")))
    if panels is not None:
        for i, item in enumerate(check.panel_list(panels, "panels", "(panel_title, ylabel, curves)")):
            ptitle, pylabel, pcurves = check.panel(item, i, "panels", "(panel_title, ylabel, curves)", (3,))
            check.labels((ptitle, f"panels[{i}] title"), (pylabel, f"panels[{i}] ylabel"))
            specs.append((ptitle, pylabel, check.curves(pcurves, f"panels[{i}] curves")))
    if not specs:
        raise ValueError("curves must be given when panels is None")
    logs = _check_logy(logy, len(specs))
    for (_, _, parsed), lg in zip(specs, logs):
        for key, _, y in parsed if lg else ():
            finite = y[np.isfinite(y)]
            if finite.size and finite.min() <= 0:
                raise ValueError(f"logy=True needs positive values, but curve {key!r} has {finite.min():g}")

    longest = max(len(k) for _, _, parsed in specs for k, _, _ in parsed)
    outside = [len(parsed) > 3 or longest > 32 for _, _, parsed in specs]
    panel_w = 5.2 if len(specs) > 1 else 6.4
    width = len(specs) * panel_w + sum(0.3 + 0.075 * longest for o in outside if o)
    fig = new_figure(width, 3.9 + title_height(title, width))
    axes = fig.subplots(1, len(specs), squeeze=False)[0]
    for ax, (ptitle, pylabel, parsed), lg in zip(axes, specs, logs):
        for key, x, y in parsed:
            style = {"marker": "o", "markersize": 3} if y.size <= 40 else {}
            ax.plot(x, y, label=key, linewidth=1.6, **style)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(pylabel)
        ax.grid(True, which="major", alpha=0.3)
        xs = np.unique(np.concatenate([x for _, x, _ in parsed]))
        if np.all(xs == np.round(xs)):  # whole epochs: whole-number ticks, every one when there are few
            ax.xaxis.set_major_locator(FixedLocator(xs) if np.ptp(xs) < 3 else
                                       MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10], min_n_ticks=2))
        if lg:
            ax.set_yscale("log")
            log_axis(ax.yaxis, *ax.get_ylim())
        if ptitle:
            ax.set_title(wrap(ptitle, panel_w - 0.6, 11.0), fontsize=11.0)
        if len(parsed) > 1:
            _legend(ax, len(parsed), longest)
    suptitle(fig, title)
    return finish(fig, target)


def _bin_edges(bins, values):
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        nb = check.positive_int(int(bins), "bins")
        allv = np.concatenate(values)
        lo, hi = float(allv.min()), float(allv.max())
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        return np.linspace(lo, hi, nb + 1)
    edges = check.float_array(bins, "bins")
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("bins must be a positive int or increasing bin edges")
    return edges


def histogram(series, *, title, xlabel, ylabel=None, bins=50, vlines=None, vline_fmt="{:.3g}", share=False,
              logy=False, path=None) -> Figure:
    """Histograms of several 1-D samples on common bins, overlaid as outlines.

    ``series``: ``label -> array`` (flattened). ``bins``: a number of bins over the
    combined range, or the edges. ``vlines``: ``label -> x`` dashed reference lines (a
    target rho), labelled ``label = x`` with ``x`` written by ``vline_fmt``. ``share``: each series' bars in percent of its own values, so that
    samples of different sizes compare (default: counts). ``logy``: a log y axis, so that
    a tall spike does not flatten the rest. ``ylabel``: default "count" or "share of
    values (%)". ``path``: see :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    check.label(xlabel, "xlabel")
    ylabel = check.label(ylabel, "ylabel", allow_none=True) or ("share of values (%)" if share else "count")
    if not isinstance(series, dict) or not series:
        raise ValueError("series must be a non-empty dict label -> 1-D array")
    parsed = []
    for key, value in series.items():
        a = check.float_array(value, f"series[{key!r}]").ravel()
        if a.size == 0:
            raise ValueError(f"series[{key!r}] is empty")
        parsed.append((str(key), a))
    if vlines is not None and not isinstance(vlines, dict):
        raise ValueError("vlines must be a dict label -> x")
    lines = [(str(k), check.finite_number(x, f"vlines[{k!r}]")) for k, x in (vlines or {}).items()]
    fmt_x = vline_fmt.format if isinstance(vline_fmt, str) else vline_fmt
    if not callable(fmt_x):
        raise ValueError(f"vline_fmt must be a format string or callable, got {vline_fmt!r}")
    edges = _bin_edges(bins, [a for _, a in parsed])

    fig = new_figure(6.8, 4.0 + title_height(title, 6.8))
    ax = fig.add_subplot()
    tops = []
    for key, a in parsed:
        weights = np.full(a.size, 100.0 / a.size) if share else None
        style = {"histtype": "stepfilled", "alpha": 0.85} if len(parsed) == 1 else {
            "histtype": "step", "linewidth": 1.8}
        heights, _, _ = ax.hist(a, bins=edges, weights=weights, label=key, **style)
        tops.append(heights)
    for i, (key, x) in enumerate(lines):
        ax.axvline(x, color=_VLINE_COLOURS[i % len(_VLINE_COLOURS)], linestyle="--", linewidth=1.5,
                   label=f"{key} = {fmt_x(x)}")
    if logy:
        positive = np.concatenate(tops)
        positive = positive[positive > 0]
        ax.set_yscale("log")
        if positive.size:
            ax.set_ylim(positive.min() / 1.5, positive.max() * 1.5)
            log_axis(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    if len(parsed) > 1 or lines:
        ax.legend(frameon=False, fontsize="small")
    suptitle(fig, title)
    return finish(fig, target)


def bar(values, *, title, xlabel, ylabel, labels, path=None) -> Figure:
    """A bar chart with each value printed on its bar.

    ``values``: the heights, ``labels``: one category label per bar. ``path``: see
    :mod:`fastae.plots`.
    """
    target = check_target(path)
    title = check.title(title)
    check.labels((xlabel, "xlabel"), (ylabel, "ylabel"))
    v = check.float_array(values, "values")
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {v.shape}")
    labels = check.str_list(labels, v.size, "labels", "values")
    longest = max(len(s) for s in labels)
    rotate = longest > 6 and v.size > 3 or longest > 14
    width = min(max(0.7 * v.size + 2.0, 5.0), 14.0)
    fig = new_figure(width, 3.9 + (0.085 * longest if rotate else 0) + title_height(title, width))
    ax = fig.add_subplot()
    x = np.arange(v.size)
    bars = ax.bar(x, v, color="tab:blue", width=0.7)
    if v.size <= 30:
        ax.bar_label(bars, labels=[f"{val:.3g}" for val in v], padding=2, fontsize="small")
        ax.margins(y=0.12)
    ax.set_xticks(x, labels, rotation=90 if rotate else 0)  # upright labels would overlap
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    suptitle(fig, title)
    return finish(fig, target)
