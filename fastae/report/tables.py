"""The report's tables: metrics by kind of quantity, runs side by side, per-epoch histories,
long arrays summarized and collapsed."""
import html
from collections.abc import Mapping

import numpy as np

from .numbers import DASH, fmt, fmt_key

#: Keys of ``metrics`` that the page shows elsewhere (or not at all) rather than among the metrics.
NOT_METRICS = ("config", "environment", "metric_labels", "figures", "exercise")
#: A list of at most this many numbers is shown in place; a longer one is summarized.
INLINE_MAX = 10
#: A 2-D array of at most this many entries is shown as a table under its summary.
TABLE_MAX = 400
#: At most this many values of a long array are listed (the rest are in ``metrics.json``).
LIST_MAX = 200


def esc(value):
    """``str(value)``, HTML-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def fmt_number(value):
    """A number for a table when its quantity is not known: 4 significant digits."""
    return fmt(value, "number")


def is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def is_short(value):
    """A short list of scalars, shown in place (like ``[0.1, 0.5]`` or ``[layer1, layer2]``)."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.size <= INLINE_MAX
    return isinstance(value, (list, tuple)) and len(value) <= INLINE_MAX and all(is_scalar(v) for v in value)


def _numbers(value):
    return np.asarray(value).tolist() if isinstance(value, np.ndarray) else list(value)


def cell(value, key="", kind=None):
    """One ``<td>``: the value written as its quantity (by ``kind``, else by ``key``)."""
    write = (lambda v: fmt(v, kind)) if kind else (lambda v: fmt_key(v, key))
    if isinstance(value, str):
        return f"<td>{esc(value)}</td>"
    if is_short(value):
        return f'<td class="num list">{esc("[" + ", ".join(write(v) for v in _numbers(value)) + "]")}</td>'
    return f'<td class="num">{esc(write(value))}</td>'


def row_label(key, labels):
    """A row heading: the label (or the key in words), with the metrics key beneath it when it
    reads otherwise."""
    label = (labels or {}).get(key) or str(key).replace("_", " ")
    return esc(label) if label == str(key) else f'{esc(label)}<br><span class="key">{esc(key)}</span>'


def kv_table(mapping, labels=None, kind=None, prefix=""):
    """A two-column table of the scalars (and short lists) of ``mapping`` (under the dotted key
    ``prefix``, which tells the kind of its numbers with their own keys)."""
    rows = "".join(
        f"<tr><th>{row_label(k, labels)}</th>{cell(v, prefix + str(k), kind)}</tr>"
        for k, v in mapping.items()
        if is_scalar(v) or is_short(v)
    )
    return f'<table class="kv">{rows}</table>' if rows else ""


def html_table(header, rows, cls=""):
    """A table of ready cells: ``header`` names, ``rows`` of escaped text or ``<td>`` HTML."""
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
    body = "".join(
        "<tr>" + "".join(c if str(c).startswith("<td") else f"<td>{esc(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table class="{esc(cls)}">{head}{body}</table></div>'


def comparison_table(groups, labels=None, prefix=""):
    """One row per scalar key, one column per group (``runs.plain``, ``runs.sparse`` ...)."""
    keys = []
    for g in groups.values():
        keys += [k for k, v in g.items() if (is_scalar(v) or is_short(v)) and k not in keys]
    if not keys:
        return ""
    head = "<tr><th></th>" + "".join(f"<th>{esc(name)}</th>" for name in groups) + "</tr>"
    body = "".join(
        f"<tr><th>{row_label(k, labels)}</th>"
        + "".join(cell(g[k], f"{prefix}{name}.{k}") if k in g else "<td></td>" for name, g in groups.items())
        + "</tr>"
        for k in keys
    )
    return f'<div class="scroll"><table class="cmp">{head}{body}</table></div>'


def is_history(value):
    """Per-epoch series: a mapping of two or more equally long lists of numbers."""
    if not isinstance(value, Mapping) or len(value) < 2:
        return False
    lengths = {len(v) if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) == 1 else -1
               for v in value.values()}
    return len(lengths) == 1 and lengths.pop() > 0


def history_tables(groups, labels=None):
    """One narrow table per group of per-epoch series (rows: epochs), side by side as space allows."""
    parts = []
    for name, series in groups.items():
        keys = list(series)
        n = len(series[keys[0]])
        rows = [[f'<td class="num">{i + 1}</td>'] + [cell(series[k][i], k) for k in keys] for i in range(n)]
        header = ["epoch"] + [(labels or {}).get(k) or k.replace("_", " ") for k in keys]
        parts.append(f"<div><h3>{esc(name)}</h3>{html_table(header, rows, 'history')}</div>")
    return f'<div class="tables">{"".join(parts)}</div>'


def _arrays(path, value, out):
    """Collect the long arrays under ``value`` as ``(dotted path, ndarray)`` into ``out``."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _arrays(f"{path}.{k}" if path else str(k), v, out)
    elif not (is_scalar(value) or is_short(value)):
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
        return (f'<tr><td class="key">{esc(path)}</td><td colspan="5">{esc(type(arr).__name__)}</td></tr>',
                f"<details><summary>{esc(path)}</summary><pre>{esc(arr)}</pre></details>")
    key = path
    finite = arr[np.isfinite(arr)] if arr.size else arr
    stats = [finite.min().item(), float(finite.mean()), finite.max().item()] if finite.size else [None] * 3
    last = arr.ravel()[-1].item() if arr.size else None
    shape = " x ".join(map(str, arr.shape)) or "scalar"
    row = (f'<tr><td class="key">{esc(path)}</td><td class="num">{esc(shape)}</td>'
           + "".join(cell(s, key) for s in stats) + cell(last, key) + "</tr>")
    if arr.ndim == 2 and arr.size <= TABLE_MAX:
        rows = [[f"<td>{i}</td>"] + [cell(v.item(), key) for v in r] for i, r in enumerate(arr)]
        values = html_table([""] + [str(j) for j in range(arr.shape[1])], rows)
    else:
        flat = arr.ravel()
        text = ", ".join(fmt_key(v.item(), key) for v in flat[:LIST_MAX])
        if flat.size > LIST_MAX:
            text += f", \u2026 ({flat.size:,} values in all, in metrics.json)"
        values = f"<pre>{esc(text)}</pre>"
    return row, f"<details><summary><code>{esc(path)}</code> ({esc(shape)})</summary>{values}</details>"


def metrics_html(metrics, labels=None, exclude=NOT_METRICS):
    """The metrics section: scalars in tables, groups of runs side by side, per-epoch histories
    as tables, other arrays summarized and collapsed."""
    metrics = {k: v for k, v in metrics.items() if k not in exclude}
    top = {k: v for k, v in metrics.items() if is_scalar(v) or is_short(v)}
    parts = [kv_table(top, labels)]
    arrays = []
    for key, value in metrics.items():
        if key in top:
            continue
        heading = f"<h3>{esc((labels or {}).get(key) or key.replace('_', ' '))}</h3>"
        if isinstance(value, Mapping) and value and all(is_history(v) for v in value.values()):
            parts.append(heading + history_tables(value, labels))
            continue
        if isinstance(value, Mapping) and value:
            if all(isinstance(v, Mapping) for v in value.values()):
                table = comparison_table(value, labels, prefix=f"{key}.")
            else:
                table = kv_table(value, labels, prefix=f"{key}.")
            if table:
                parts.append(heading + table)
        _arrays(key, value, arrays)
    if arrays:
        rows, blocks = zip(*(_array_block(p, a) for p, a in arrays))
        head = "<tr><th>array</th><th>shape</th><th>min</th><th>mean</th><th>max</th><th>last</th></tr>"
        parts.append(
            f"<details><summary>Arrays ({len(arrays)}): summaries and values</summary>"
            f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>{"".join(blocks)}</details>'
        )
    return "".join(parts)

