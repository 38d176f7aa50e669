"""A run's HTML report: one self-contained page beside its figures and ``metrics.json``.

:func:`write_report` writes ``<run dir>/report.html``: the key metrics, the sections of the
exercise with their figures and captions, the metrics, the hyper-parameters and the
machine, in one file that opens offline in any browser. Nothing is fetched: the style
sheet is inline (with a print style that keeps tables and figures within the page), there
is no script, and every figure is embedded as a base64 ``data:`` URI. All text taken from
the run is escaped; the only HTML taken as given are the ``sections`` fragments built with
this package's helpers (:func:`html_table`, :func:`kv_table`, :func:`q1_reference_section`).
Numbers are written one precision per quantity (:mod:`fastae.report.numbers`).

Modules: :mod:`~fastae.report.page` (the page), :mod:`~fastae.report.tables` (metrics and
other tables), :mod:`~fastae.report.numbers` (number formats), :mod:`~fastae.report.style`
(the style sheet), :mod:`~fastae.report.q1` (Q1's tutorial values beside ours).
"""
from .numbers import fmt, fmt_key, kind_of
from .page import figure_html, render_report, write_report
from .q1 import q1_reference_section
from .tables import (
    INLINE_MAX,
    LIST_MAX,
    NOT_METRICS,
    TABLE_MAX,
    esc,
    fmt_number,
    html_table,
    kv_table,
    metrics_html,
)

__all__ = [
    "INLINE_MAX",
    "LIST_MAX",
    "NOT_METRICS",
    "TABLE_MAX",
    "esc",
    "figure_html",
    "fmt",
    "fmt_key",
    "fmt_number",
    "html_table",
    "kind_of",
    "kv_table",
    "metrics_html",
    "q1_reference_section",
    "render_report",
    "write_report",
]
