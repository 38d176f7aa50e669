"""The page: summary, sections with their figures, metrics, hyper-parameters, machine."""
import base64
import datetime
import os
from pathlib import Path

from .. import io
from .style import STYLE
from .tables import esc, kv_table, metrics_html


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
        f'<figcaption>{esc(caption)} <span class="key">({esc(path.name)})</span></figcaption></figure>'
    )


def _figures(figures):
    """``[(path, caption, section)]`` from paths, ``(path, caption)`` or ``(path, caption, section)``."""
    out = []
    for f in figures:
        f = (f,) if isinstance(f, (str, os.PathLike)) else tuple(f)
        if not 1 <= len(f) <= 3:
            raise ValueError(f"figures: expected a path, (path, caption) or (path, caption, section), got {f!r}")
        out.append((f + (None, None))[:3])
    return out


def _section(anchor, heading, body):
    return f'<section id="{esc(anchor)}"><h2>{esc(heading)}</h2>{body}</section>'


def _summary(summary, highlights):
    cards = "".join(
        f'<div class="card"><div class="label">{esc(k)}</div><div class="value">{esc(v)}</div></div>'
        for k, v in highlights
    )
    return (f'<div class="highlights">{cards}</div>' if cards else "") + (f"<p>{esc(summary)}</p>" if summary else "")


def render_report(*, title, metrics, config, environment, figures, summary=None, highlights=(),
                  sections=(), labels=None, run_dir=None):
    """The page as a string; see :func:`write_report` for the arguments."""
    figures = _figures(figures)
    bodies = {heading: [body] for heading, body in sections}
    for _, _, section in figures:
        if section is not None:
            bodies.setdefault(section, [])
    loose = [(p, c) for p, c, s in figures if s is None]
    for path, caption, section in figures:
        if section is not None:
            bodies[section].append(figure_html(path, caption))
    blocks = [("summary", "Summary", _summary(summary, highlights))]
    blocks += [(f"section-{i + 1}", heading, "".join(parts)) for i, (heading, parts) in enumerate(bodies.items())]
    blocks.append(("figures", f"Figures ({len(loose)})", "".join(figure_html(p, c) for p, c in loose)))
    blocks.append(("metrics", "Metrics", metrics_html(metrics, labels)))
    blocks.append(("config", "Hyper-parameters", kv_table(config, kind="setting") or "<p>none</p>"))
    blocks.append(("environment", "Machine and library versions",
                   kv_table(environment, kind="setting") or "<p>none</p>"))
    blocks = [b for b in blocks if b[2]]
    nav = " ".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in blocks)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = f"Written {esc(when)}" + (f" in <code>{esc(run_dir)}</code>" if run_dir else "")
    meta += "; the full values are in <code>metrics.json</code> beside this page."
    body = "".join(_section(a, h, b) for a, h, b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f'<body><main><header><h1>{esc(title)}</h1><p class="meta">{meta}</p><nav>{nav}</nav></header>'
        f"{body}</main></body></html>\n"
    )


def write_report(out, *, title, metrics, config, environment, figures, summary=None, highlights=(),
                 sections=(), labels=None, filename="report.html"):
    """Write ``out/report.html`` (atomically, with :func:`fastae.io.atomic_write`); return its path.

    ``title``: the page's heading. ``metrics``: the run's metrics (as saved in
    ``metrics.json``; keys in :data:`NOT_METRICS` are left out of the metrics tables), each
    number written as the quantity its key names (:mod:`fastae.report.numbers`).
    ``config``, ``environment``: flat mappings shown as the hyper-parameters and the
    machine. ``figures``: PNG paths, ``(path, caption)`` or ``(path, caption, section)``,
    in the order shown; a figure with a section is shown at the end of the section of that
    heading (made after the given ones when there is none), the others under "Figures".
    ``summary``: a sentence of plain text. ``highlights``: ``(label, value)`` pairs shown
    as cards at the top. ``sections``: ``(heading, html)`` pairs shown after the summary;
    their HTML is taken as given, so build it with this package's helpers. ``labels``: row
    labels for metric keys (like :data:`fastae.experiments.q2.METRICS`).
    """
    out = Path(out)
    page = render_report(
        title=title, metrics=metrics, config=config, environment=environment, figures=figures,
        summary=summary, highlights=highlights, sections=sections, labels=labels, run_dir=out,
    )
    data = page.encode("utf-8")
    return io.atomic_write(out / filename, lambda f: f.write(data))
