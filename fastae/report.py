"""A run's HTML report: one self-contained page beside its figures and ``metrics.json``.

:func:`write_report` writes ``<run dir>/report.html``: the key metrics, the figures, the
hyper-parameters and the machine, in one file that opens offline in any browser. Nothing
is fetched: the style sheet is inline, there is no script, and every figure is embedded
as a base64 ``data:`` URI. All text taken from the run is escaped with :func:`html.escape`;
the only HTML taken as given are the ``sections`` fragments built by this module's
helpers (such as :func:`q1_reference_section`).
"""
import base64
import datetime
import html
import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: Keys of ``metrics`` that the page shows elsewhere (or not at all) rather than among the metrics.
NOT_METRICS = ("config", "environment", "metric_labels", "figures", "exercise")
#: A list of at most this many numbers is shown in place; a longer one is summarized.
INLINE_MAX = 10
#: A 2-D array of at most this many entries is shown as a table under its summary.
TABLE_MAX = 400
#: At most this many values of a long array are listed (the rest are in ``metrics.json``).
LIST_MAX = 200

_STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa;
        --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
       Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 64px; }
header { border-bottom: 2px solid var(--line); margin-bottom: 16px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 22px 0 8px; }
.meta, .note, figcaption, .muted { color: var(--muted); }
.meta { margin: 0 0 12px; font-size: 0.9em; }
nav { font-size: 0.92em; margin: 8px 0 0; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; }
code, pre, td.num, .key { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.highlights { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: var(--soft);
        min-width: 150px; }
.card .label { font-size: 0.82em; color: var(--muted); }
.card .value { font-size: 1.35em; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
.key { font-size: 0.85em; color: var(--muted); }
.scroll { overflow-x: auto; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
      font-size: 0.82em; white-space: pre-wrap; word-break: break-all; max-height: 320px; overflow: auto; }
figure { margin: 18px 0 26px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 0.9em; margin-top: 6px; }
table.grid { border-collapse: collapse; margin: 0; font-size: 0.8em; }
table.grid td { border: 1px solid #e5e9ee; padding: 1px 4px; min-width: 2.6em; text-align: center;
                font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table.ref td, table.ref th { vertical-align: middle; }
.warn { color: #9a6700; }
"""


# ------------------------------------------------------------------ formatting


def esc(value):
    """``str(value)``, HTML-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def _is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def _is_short(value):
    """A short list of scalars, shown in place (like ``[0.1, 0.5]``)."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.size <= INLINE_MAX
    return isinstance(value, (list, tuple)) and len(value) <= INLINE_MAX and all(
        _is_scalar(v) and not isinstance(v, str) for v in value
    )


def fmt_number(value):
    """A number for a table: integers in full, floats to 4 significant digits."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-4):
            return f"{value:.3e}"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _fmt_value(value):
    """Any scalar or short list as escaped text."""
    if isinstance(value, str):
        return esc(value)
    if _is_short(value):
        return esc("[" + ", ".join(fmt_number(v) for v in np.asarray(value).tolist()) + "]")
    return esc(fmt_number(value))


def _cell(value):
    cls = ' class="num"' if not isinstance(value, str) else ""
    return f"<td{cls}>{_fmt_value(value)}</td>"


def _label(key, labels):
    """A row heading: the label when one is known, with the metrics key beneath it."""
    label = (labels or {}).get(key)
    if label:
        return f'{esc(label)}<br><span class="key">{esc(key)}</span>'
    return f'<span class="key">{esc(key)}</span>'


def kv_table(mapping, labels=None):
    """A two-column table of the scalars (and short lists) of ``mapping``."""
    rows = "".join(
        f"<tr><th>{_label(k, labels)}</th>{_cell(v)}</tr>"
        for k, v in mapping.items()
        if _is_scalar(v) or _is_short(v)
    )
    return f'<table class="kv">{rows}</table>' if rows else ""


def _comparison_table(groups, labels=None):
    """One row per scalar key, one column per group (``runs.plain``, ``runs.sparse`` ...)."""
    keys = []
    for g in groups.values():
        keys += [k for k, v in g.items() if (_is_scalar(v) or _is_short(v)) and k not in keys]
    if not keys:
        return ""
    head = "<tr><th></th>" + "".join(f"<th>{esc(name)}</th>" for name in groups) + "</tr>"
    body = "".join(
        f"<tr><th>{_label(k, labels)}</th>"
        + "".join(_cell(g[k]) if k in g else "<td></td>" for g in groups.values())
        + "</tr>"
        for k in keys
    )
    return f'<div class="scroll"><table class="cmp">{head}{body}</table></div>'


def _arrays(path, value, out):
    """Collect the long arrays under ``value`` as ``(dotted path, ndarray)`` into ``out``."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _arrays(f"{path}.{k}" if path else str(k), v, out)
    elif not (_is_scalar(value) or _is_short(value)):
        try:
            arr = np.asarray(value)
            if not np.issubdtype(arr.dtype, np.integer):  # integers stay integers (counts)
                arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            arr = None
        out.append((path, arr if arr is not None else value))


def _array_block(path, arr):
    """A summary row for one array, and its values in a collapsed block."""
    if not isinstance(arr, np.ndarray):
        return (f"<tr><td class=\"key\">{esc(path)}</td><td colspan=\"5\">{esc(type(arr).__name__)}</td></tr>",
                f"<details><summary>{esc(path)}</summary><pre>{esc(arr)}</pre></details>")
    finite = arr[np.isfinite(arr)] if arr.size else arr
    stats = (
        [fmt_number(finite.min().item()), fmt_number(float(finite.mean())), fmt_number(finite.max().item())]
        if finite.size
        else ["\u2014"] * 3
    )
    last = fmt_number(arr.ravel()[-1].item()) if arr.size else "\u2014"
    shape = " x ".join(map(str, arr.shape)) or "scalar"
    row = (
        f'<tr><td class="key">{esc(path)}</td><td class="num">{esc(shape)}</td>'
        + "".join(f'<td class="num">{esc(s)}</td>' for s in stats)
        + f'<td class="num">{esc(last)}</td></tr>'
    )
    if arr.ndim == 2 and arr.size <= TABLE_MAX:
        body = "".join(
            f"<tr><th>{i}</th>" + "".join(f'<td class="num">{esc(fmt_number(v.item()))}</td>' for v in r) + "</tr>"
            for i, r in enumerate(arr)
        )
        head = "<tr><th></th>" + "".join(f"<th>{j}</th>" for j in range(arr.shape[1])) + "</tr>"
        values = f'<div class="scroll"><table>{head}{body}</table></div>'
    else:
        flat = arr.ravel()
        text = ", ".join(fmt_number(v.item()) for v in flat[:LIST_MAX])
        if flat.size > LIST_MAX:
            text += f", \u2026 ({flat.size:,} values in all, in metrics.json)"
        values = f"<pre>{esc(text)}</pre>"
    return row, f"<details><summary><code>{esc(path)}</code> ({esc(shape)})</summary>{values}</details>"


def metrics_html(metrics, labels=None, exclude=NOT_METRICS):
    """The metrics section: scalars in tables, groups of runs side by side, arrays collapsed."""
    metrics = {k: v for k, v in metrics.items() if k not in exclude}
    top = {k: v for k, v in metrics.items() if _is_scalar(v) or _is_short(v)}
    parts = [kv_table(top, labels)]
    arrays = []
    for key, value in metrics.items():
        if key in top:
            continue
        if isinstance(value, Mapping) and value:
            if all(isinstance(v, Mapping) for v in value.values()):
                table = _comparison_table(value, labels)
            else:
                table = kv_table(value, labels)
            if table:
                parts.append(f"<h3>{esc(key)}</h3>{table}")
        _arrays(key, value, arrays)
    if arrays:
        rows, blocks = zip(*(_array_block(p, a) for p, a in arrays))
        head = "<tr><th>array</th><th>shape</th><th>min</th><th>mean</th><th>max</th><th>last</th></tr>"
        parts.append(
            f"<details><summary>Arrays and histories ({len(arrays)}): summaries and values</summary>"
            f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>{"".join(blocks)}</details>'
        )
    return "".join(parts)


# ------------------------------------------------------------------- figures


def _caption_from_name(path):
    return Path(path).stem.replace("_", " ").capitalize()


def figure_html(path, caption=None):
    """One figure as an ``<img>`` with a base64 ``data:`` URI, its alt text and caption."""
    path = Path(path)
    caption = caption or _caption_from_name(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        return f'<p class="warn">Figure {esc(path.name)} could not be read: {esc(e.strerror or e)}</p>'
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f'<figure id="fig-{esc(path.stem)}"><img src="{uri}" alt="{esc(caption)}" loading="lazy">'
        f"<figcaption>{esc(caption)} <span class=\"key\">({esc(path.name)})</span></figcaption></figure>"
    )


# ----------------------------------------------------------------- Q1 reference


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
        from .reference import TUTORIAL_Q1 as tutorial
    X = np.asarray(patterns, dtype=float)
    note = (
        '<p class="note">The tutorial\'s values are its printed ones (two decimals). Hidden units are '
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
                + f'<td class="num">{err_t[p]:.2f}</td><td class="num">{err_o[p]:.2f}</td></tr>'
            )
        head = (
            "<tr><th>pattern</th><th>x</th><th>h, tutorial</th><th>h, ours</th><th>y, tutorial</th>"
            "<th>y, ours</th><th>max |y \u2212 x|, tutorial</th><th>max |y \u2212 x|, ours</th></tr>"
        )
        parts.append(
            f"<h3>{esc(name)}: max |y \u2212 x| over all patterns {err_t.max():.2f} (tutorial), "
            f"{err_o.max():.2f} (ours)</h3>"
            f'<div class="scroll"><table class="ref">{head}{"".join(rows)}</table></div>'
        )
    return "Tutorial reference values (Q1)", "".join(parts)


# ---------------------------------------------------------------------- page


def _section(anchor, heading, body):
    return f'<section id="{esc(anchor)}"><h2>{esc(heading)}</h2>{body}</section>'


def render_report(*, title, metrics, config, environment, figures, summary=None, highlights=(),
                  sections=(), labels=None, run_dir=None):
    """The page as a string; see :func:`write_report` for the arguments."""
    figures = [(f, None) if isinstance(f, (str, os.PathLike)) else tuple(f) for f in figures]
    blocks = [("summary", "Summary", "")]
    summary_parts = []
    if highlights:
        cards = "".join(
            f'<div class="card"><div class="label">{esc(k)}</div><div class="value">{esc(v)}</div></div>'
            for k, v in highlights
        )
        summary_parts.append(f'<div class="highlights">{cards}</div>')
    if summary:
        summary_parts.append(f"<p>{esc(summary)}</p>")
    blocks[0] = ("summary", "Summary", "".join(summary_parts))
    for i, (heading, body) in enumerate(sections):
        blocks.append((f"section-{i + 1}", heading, body))
    blocks.append(("metrics", "Metrics", metrics_html(metrics, labels)))
    blocks.append(
        ("figures", f"Figures ({len(figures)})", "".join(figure_html(p, c) for p, c in figures))
    )
    blocks.append(("config", "Hyper-parameters", kv_table(config) or "<p>none</p>"))
    blocks.append(("environment", "Machine and library versions", kv_table(environment) or "<p>none</p>"))
    blocks = [b for b in blocks if b[2]]
    nav = "".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in blocks)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = f"Written {esc(when)}" + (f" in <code>{esc(run_dir)}</code>" if run_dir else "")
    meta += "; the full values are in <code>metrics.json</code> beside this page."
    body = "".join(_section(a, h, b) for a, h, b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>"
        f'<body><main><header><h1>{esc(title)}</h1><p class="meta">{meta}</p><nav>{nav}</nav></header>'
        f"{body}</main></body></html>\n"
    )


def write_report(out, *, title, metrics, config, environment, figures, summary=None, highlights=(),
                 sections=(), labels=None, filename="report.html"):
    """Write ``out/report.html`` (atomically: a temporary file renamed over it); return its path.

    ``title``: the page's heading. ``metrics``: the run's metrics (as saved in
    ``metrics.json``; keys in :data:`NOT_METRICS` are left out of the metrics tables).
    ``config``, ``environment``: flat mappings shown as the hyper-parameters and the
    machine. ``figures``: PNG paths, or ``(path, caption)`` pairs, in the order shown.
    ``summary``: a sentence of plain text. ``highlights``: ``(label, value)`` pairs shown
    as cards at the top. ``sections``: ``(heading, html)`` pairs shown after the summary;
    their HTML is taken as given, so build it with this module's helpers. ``labels``: row
    labels for metric keys (like :data:`fastae.experiments.q2.METRICS`).
    """
    out = Path(out)
    page = render_report(
        title=title, metrics=metrics, config=config, environment=environment, figures=figures,
        summary=summary, highlights=highlights, sections=sections, labels=labels, run_dir=out,
    )
    path = out / filename
    tmp = out / f".{filename}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8") as f:  # created with the umask's mode, unlike mkstemp
            f.write(page)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
