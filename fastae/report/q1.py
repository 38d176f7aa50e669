"""Q1's reference section: the tutorial's trained ``h`` and ``y`` beside ours."""
import numpy as np

from .numbers import fmt
from .tables import esc



def _grid(values, shape, attrs=""):
    """A small table of numbers in [0, 1], shaded by value."""
    values = np.asarray(values, dtype=float).reshape(shape)
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td style="background: rgba(9, 105, 218, {0.55 * min(max(v, 0.0), 1.0):.2f})">{v:.2f}</td>'
            for v in r
        )
        + "</tr>"
        for r in values
    )
    return f'<table class="grid"{attrs}>{rows}</table>'


def _ref_cell(values, shape, run, pattern, source, vector):
    """A table cell holding one ``h`` or ``y`` grid, tagged with where its values come from."""
    attrs = (f' data-run="{esc(run)}" data-pattern="{pattern}" data-source="{esc(source)}"'
             f' data-vector="{esc(vector)}"')
    return f"<td>{_grid(values, shape, attrs)}</td>"


def q1_reference_section(patterns, runs, tutorial=None, image_shape=(3, 3)):
    """``(heading, html)``: the tutorial's trained ``h`` and ``y`` of Q1 beside ours.

    ``patterns`` are the inputs ``x`` (one per row), ``runs`` maps a run name to its
    metrics (with ``h`` and ``y``), ``tutorial`` maps the same names to the tutorial's
    (default :data:`fastae.reference.TUTORIAL_Q1`).
    """
    if tutorial is None:
        from ..reference import TUTORIAL_Q1 as tutorial
    X = np.asarray(patterns, dtype=float)
    note = (
        '<p class="note">The tutorial\'s values are its printed ones, and ours are shown as it prints them '
        "(two decimals). Hidden units are "
        "unordered: any permutation of them gives the same network, so the <em>h</em> columns need "
        "not match the tutorial's one to one (a unit that is on for a pattern there may be another "
        "unit here). The outputs <em>y</em> should match: both should be close to <em>x</em>, "
        "which the max |y \u2212 x| columns measure.</p>"
    )
    parts = [note]
    for name, ref in tutorial.items():
        if name not in runs:
            continue
        ours = runs[name]
        H, Y = np.asarray(ours["h"], dtype=float), np.asarray(ours["y"], dtype=float)
        Ht, Yt = np.asarray(ref["h"], dtype=float), np.asarray(ref["y"], dtype=float)
        err_t, err_o = np.abs(Yt - X).max(axis=1), np.abs(Y - X).max(axis=1)
        rows = []
        for p in range(X.shape[0]):
            key = (name, p + 1)
            rows.append(
                f"<tr><th>x{p + 1}</th><td>{_grid(X[p], image_shape)}</td>"
                + _ref_cell(Ht[p], (1, -1), *key, "tutorial", "h")
                + _ref_cell(H[p], (1, -1), *key, "ours", "h")
                + _ref_cell(Yt[p], image_shape, *key, "tutorial", "y")
                + _ref_cell(Y[p], image_shape, *key, "ours", "y")
                + f'<td class="num">{fmt(err_t[p], "level")}</td><td class="num">{fmt(err_o[p], "level")}</td></tr>'
            )
        head = (
            "<tr><th>pattern</th><th>x</th><th>h, tutorial</th><th>h, ours</th><th>y, tutorial</th>"
            "<th>y, ours</th><th>max |y \u2212 x|, tutorial</th><th>max |y \u2212 x|, ours</th></tr>"
        )
        parts.append(
            f"<h3>{esc(name)}: max |y \u2212 x| over all patterns {fmt(err_t.max(), 'level')} (tutorial), "
            f"{fmt(err_o.max(), 'level')} (ours)</h3>"
            f'<div class="scroll"><table class="ref">{head}{"".join(rows)}</table></div>'
        )
    return "Tutorial reference values (Q1)", "".join(parts)


# ---------------------------------------------------------------------- page

