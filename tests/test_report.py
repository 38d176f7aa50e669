"""The per-run HTML report: self-contained, every figure embedded, text escaped, Q1's
tutorial values beside ours; rendered in headless Chromium where it is installed."""
import base64
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import numpy as np
import pytest

from fastae.experiments.q1 import Q1Config, run
from fastae.reference import TUTORIAL_Q1
from fastae.report import write_report

#: Few epochs: the report's content, not the training, is under test.
SHORT_EPOCHS = 200


class Page(HTMLParser):
    """What the tests look at in a page: tags, URL attributes, the images, the Q1 grids."""

    URL_ATTRS = frozenset({"src", "href", "srcset", "action", "formaction", "poster", "data", "background"})

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.urls, self.images, self.grids = [], [], [], {}
        self._grid = None
        self._cell = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.urls += [(tag, k, v) for k, v in attrs.items() if k in self.URL_ATTRS]
        if tag == "img":
            self.images.append(attrs)
        if tag == "table" and "data-source" in attrs:
            key = (attrs["data-run"], int(attrs["data-pattern"]), attrs["data-source"], attrs["data-vector"])
            self._grid = self.grids.setdefault(key, [])
        if tag == "td" and self._grid is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._grid.append("".join(self._cell).strip())
            self._cell = None
        if tag == "table":
            self._grid = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def assert_self_contained(text):
    """No URL that a browser would fetch, and nothing that could fetch one."""
    page = Page(text)
    for tag, attr, value in page.urls:
        if tag == "img" and attr == "src":
            assert value.startswith("data:image/png;base64,"), value[:80]
        else:
            assert value.startswith("#"), (tag, attr, value)
    assert "http://" not in text and "https://" not in text
    assert "url(" not in text and "@import" not in text
    assert not {"script", "link", "iframe", "object", "embed", "base"} & set(page.tags)
    return page


@pytest.fixture(scope="module")
def q1_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("q1")
    metrics = run(Q1Config(epochs=SHORT_EPOCHS), out=out)
    return out, metrics, (out / "report.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------------ Q1


def test_q1_report_is_written_and_self_contained(q1_run):
    out, _, text = q1_run
    assert text.startswith("<!DOCTYPE html>")
    assert_self_contained(text)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_q1_report_embeds_every_figure(q1_run):
    out, _, text = q1_run
    page = Page(text)
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 7
    assert len(page.images) == len(pngs)
    sources = {img["src"] for img in page.images}
    for png in pngs:
        assert "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode() in sources, png.name
    for img in page.images:
        assert img.get("alt"), "every figure has alt text"
    assert text.count("<figcaption>") == len(pngs)
    assert page.images[0]["src"] == "data:image/png;base64," + base64.b64encode(
        (out / "learning_curves.png").read_bytes()
    ).decode()


def test_q1_report_shows_the_tutorial_values_beside_ours(q1_run):
    _, metrics, text = q1_run
    grids = Page(text).grids
    for name, ref in TUTORIAL_Q1.items():
        ours = metrics["runs"][name]
        for p in range(5):
            for vector in ("h", "y"):
                expected = [f"{v:.2f}" for v in ref[vector][p]]
                assert grids[(name, p + 1, "tutorial", vector)] == expected, (name, p, vector)
                mine = [f"{v:.2f}" for v in np.asarray(ours[vector][p]).ravel()]
                assert grids[(name, p + 1, "ours", vector)] == mine, (name, p, vector)
    assert grids[("plain", 1, "tutorial", "y")][0] == "0.99"  # the tutorial's y1, first pixel
    assert "Hidden units are unordered" in text


def test_q1_report_shows_metrics_config_and_environment(q1_run):
    _, metrics, text = q1_run
    for key in metrics["config"]:
        assert f">{key}<" in text, key
    for key, value in metrics["environment"].items():
        assert f">{key}<" in text and f">{value}<" in text, key
    for name in ("plain", "sparse"):
        assert f"<th>{name}</th>" in text
        assert f"{metrics['runs'][name]['final_loss']:.4g}" in text
    assert "<details>" in text  # the loss curves, h and y are collapsed, not spelled out in the tables


# ------------------------------------------------------------------ write_report


def tiny_png(path):
    matplotlib.image.imsave(path, np.array([[0.0, 1.0], [1.0, 0.0]]), cmap="gray")
    return path


def test_write_report_escapes_and_embeds(tmp_path):
    png = tiny_png(tmp_path / "tiny.png")
    hostile = '<script>alert("x")</script> & <b>'
    path = write_report(
        tmp_path,
        title=f"fastae {hostile}",
        summary=f"summary {hostile}",
        highlights=[(f"label {hostile}", f"value {hostile}")],
        metrics={
            "accuracy": 0.98765,
            "note": hostile,
            "count": 12345,
            "missing": None,
            "bad": float("nan"),
            "runs": {"a": {"loss": 0.5, "curve": np.linspace(1, 0, 500)}, "b": {"loss": 0.25}},
            "grid": np.eye(3),
        },
        config={"lr": 0.1, hostile: hostile},
        environment={"python": "3.x", "os": hostile},
        figures=[(png, f"caption {hostile}")],
        labels={"accuracy": f"accuracy {hostile}"},
    )
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    page = assert_self_contained(text)
    assert "<b>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in text
    assert "<title>fastae &lt;script&gt;" in text and "<h1>fastae &lt;script&gt;" in text
    assert [img["src"] for img in page.images] == [
        "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    ]
    assert page.images[0]["alt"] == f"caption {hostile}"
    assert "0.9877" in text and "12,345" in text and "nan" in text
    assert "<th>a</th><th>b</th>" in text  # runs side by side
    assert "runs.a.curve" in text and "500 values in all" in text  # long arrays summarized and cut
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_report_replaces_the_old_page_and_survives_a_missing_figure(tmp_path):
    kwargs = {"metrics": {}, "config": {}, "environment": {}}
    write_report(tmp_path, title="first", figures=[], **kwargs)
    path = write_report(tmp_path, title="second", figures=[tmp_path / "absent.png"], **kwargs)
    text = path.read_text(encoding="utf-8")
    assert "second" in text and "first" not in text
    assert "absent.png could not be read" in text


# -------------------------------------------------------------------- Chromium


def _chromium():
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    return found


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (Debian package: chromium)")
def test_q1_report_renders_in_headless_chromium(q1_run, tmp_path):
    out, _, _ = q1_run
    shot = tmp_path / "shot.png"
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing resolves: the page must need no network
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
        (out / "report.html").resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180, env=env)
    assert shot.is_file(), f"no screenshot; chromium said:\n{result.stderr[-3000:]}"
    assert shot.stat().st_size > 20_000
    img = matplotlib.image.imread(shot)[..., :3]
    assert img.shape[:2] == (2000, 1200)
    colors = np.unique((img.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colors) > 100, "the screenshot is (nearly) blank"
    assert (img < 0.5).mean() > 0.01, "no text or figures drawn"
