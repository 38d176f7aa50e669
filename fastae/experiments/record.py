"""The record of a run: each figure registered as it is written, then ``metrics.json`` and
``report.html`` made from the same record, so that the page shows what the run wrote.

::

    rec = RunRecord(out)
    rec.figure("weights.png", plots.tiles(W.T, (28, 28), title="..."), "what it shows", section="(a) ...")
    ...
    rec.write(metrics, title="...", sections=[("(a) ...", html)])   # metrics.json + report.html
"""
from dataclasses import dataclass
from pathlib import Path

from .. import io, plots
from ..report import write_report


@dataclass(frozen=True)
class FigureEntry:
    """One written figure: its file name in the run directory, its caption, and the heading
    of the report section it belongs to (None: the page's "Figures" section)."""

    name: str
    caption: str
    section: str | None = None


class RunRecord:
    """What a run writes besides its models, in the order it writes it."""

    def __init__(self, out):
        self.out = Path(out)
        self.figures = []

    def figure(self, name, fig, caption, *, section=None):
        """Save ``fig`` (a matplotlib Figure) as ``<out>/<name>`` (atomically) and register
        it with its caption and report section; returns the path written."""
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"caption: give a sentence saying what {name} shows, got {caption!r}")
        if any(entry.name == name for entry in self.figures):
            raise ValueError(f"name: {name} is already written by this run; give each figure its own name")
        path = plots.save(fig, self.out / name)
        self.figures.append(FigureEntry(path.name, caption, section))
        return path

    @property
    def names(self):
        """The file names of the figures written so far, in order."""
        return [entry.name for entry in self.figures]

    def write(self, metrics, *, title, summary=None, highlights=(), sections=(), labels=None):
        """Write ``metrics.json`` (``metrics`` with ``figures``: the names of the figures
        written) and ``report.html`` (every figure with its caption, in its section; see
        :func:`fastae.report.write_report` for the other arguments). Returns ``metrics``."""
        metrics["figures"] = self.names
        io.save_json(self.out / "metrics.json", metrics)
        write_report(
            self.out,
            title=title,
            metrics=metrics,
            config=metrics.get("config", {}),
            environment=metrics.get("environment", {}),
            figures=[(self.out / e.name, e.caption, e.section) for e in self.figures],
            summary=summary,
            highlights=highlights,
            sections=sections,
            labels=labels,
        )
        return metrics
