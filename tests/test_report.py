"""The per-run HTML report: self-contained, every figure embedded with its caption, text
escaped, Q1's tutorial values beside ours, Q3's questions as sections with the accuracy table
on top, one precision per quantity; rendered in headless Chromium where it is installed, with
no horizontal overflow at 1280 px and none under the print style at a page's width."""
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
    assert "98.77 %" in text and "12,345" in text and "nan" in text  # accuracy as a percentage, counts in full
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


# ------------------------------------------------------------------ numbers and sections


def sections(text):
    """``[(heading, body)]`` of the page's sections, in order."""
    import html
    import re

    return [(html.unescape(h), body) for h, body in
            re.findall(r'<section id="[^"]+"><h2>(.*?)</h2>(.*?)</section>', text, re.S)]


def captions(body):
    """``{file name: caption}`` of the figures in a piece of the page."""
    import html
    import re

    return {name: html.unescape(cap) for cap, name in
            re.findall(r'<figcaption>(.*?) <span class="key">\(([^)]+)\)</span></figcaption>', body, re.S)}


def test_numbers_keep_one_precision_per_quantity():
    from fastae.report import fmt, kind_of

    assert fmt(0.59998, "loss") == "0.6000" and fmt(171.9012, "loss") == "171.9" and fmt(1.0574, "loss") == "1.057"
    assert fmt(0.984, "accuracy") == "98.40 %" and fmt(1.0, "accuracy") == "100.00 %"
    assert fmt(0.0623, "level") == "0.062" and fmt(0.13, "share") == "13.0 %" and fmt(145.26, "seconds") == "145.3 s"
    assert fmt(12345, "count") == "12,345" and fmt(0.1, "setting") == "0.1" and fmt(5000, "setting") == "5000"
    assert fmt(None, "loss") == "\u2014" and fmt(float("nan"), "loss") == "nan" and fmt(True) == "yes"
    for key, kind in (("final_loss", "loss"), ("test_accuracy", "accuracy"), ("mse_fresh", "loss"),
                      ("test_accuracy_at_best_validation_epoch", "accuracy"), ("best_validation_epoch", "count"),
                      ("stage_seconds.layer1", "seconds"), ("mean_hidden_activation.layer1.mean_over_rho", "ratio"),
                      ("share_quiet", "share"), ("mean_activation", "level"), ("max_abs_error", "level")):
        assert kind_of(key) == kind, key
    with pytest.raises(ValueError, match="kind"):
        fmt(1.0, "percent")


def test_q1_report_numbers_keep_their_zeros(q1_run):
    _, metrics, text = q1_run
    from fastae.report import fmt

    for name in ("plain", "sparse"):
        r = metrics["runs"][name]
        assert f">{fmt(r['final_loss'], 'loss')}<" in text
        assert len(fmt(r["final_loss"], "loss").replace(".", "").lstrip("0")) == 4  # 4 significant digits
        assert f">{fmt(r['max_abs_error'], 'level')}<" in text


def test_q1_report_groups_the_figures_with_captions(q1_run):
    out, metrics, text = q1_run
    heads = [h for h, _ in sections(text)]
    assert heads[:3] == ["Summary", "Tutorial reference values (Q1)", "Learning curves"]
    assert "plain: no sparsity penalty" in heads and any(h.startswith("sparse: KL sparsity") for h in heads)
    found = {}
    for _, body in sections(text):
        found.update(captions(body))
    assert sorted(found) == sorted(p.name for p in out.glob("*.png")) == sorted(metrics["figures"])
    for name, caption in found.items():
        assert caption.count(" ") >= 10 and "Look for" in caption, (name, caption)


@pytest.fixture(scope="module")
def q3_run(tmp_path_factory):
    data = os.environ.get("FASTAE_DATA")
    if not (data and Path(data).is_dir()):
        pytest.skip("Q3 needs the real MNIST: set FASTAE_DATA")
    from fastae.experiments.q3 import Q3Config
    from fastae.experiments.q3 import run as run_q3

    out = tmp_path_factory.mktemp("q3")
    cfg = Q3Config(n_train=1000, n_val=200, n_test=500, n_hidden1=64, n_hidden2=16, epochs_layer1=2,
                   epochs_layer2=2, epochs_classifier=2)
    metrics = run_q3(cfg, out, data_dir=data, ablation=True)
    return out, metrics, (out / "report.html").read_text(encoding="utf-8")


def test_q3_report_puts_the_accuracy_table_first_and_the_questions_as_sections(q3_run):
    from fastae.experiments.q3 import ABLATION_MODELS
    from fastae.experiments.q3_report import QUESTIONS
    from fastae.report import esc, fmt

    _, metrics, text = q3_run
    secs = sections(text)
    heads = [h for h, _ in secs]
    assert heads[:5] == ["Summary", "Accuracy", "(a) Layer 1: denoising autoencoder 784-64",
                         "(b) Layer 2: autoencoder 64-16 on the layer-1 codes",
                         "(c) Classifier: softmax on the 16 codes, all layers fine-tuned"]
    assert "What pretraining buys (ablation)" in heads
    accuracy = secs[1][1]
    assert f">{fmt(metrics['test_accuracy'], 'accuracy')}<" in accuracy
    for name in ABLATION_MODELS[1:]:
        assert f"<td>{esc(name)}</td>" in accuracy
        assert f">{fmt(metrics['ablation']['models'][name]['test_accuracy'], 'accuracy')}<" in accuracy
    for (key, question), (_, body) in zip(QUESTIONS.items(), secs[2:5]):
        assert f"<strong>({key})</strong> {esc(question)}" in body


def test_q3_report_captions_every_figure_in_its_section(q3_run):
    out, metrics, text = q3_run
    by_section = {h: captions(body) for h, body in sections(text)}
    every = {name: cap for caps in by_section.values() for name, cap in caps.items()}
    assert sorted(every) == sorted(metrics["figures"]) == sorted(p.name for p in out.glob("*.png"))
    assert text.count("<figure ") == len(metrics["figures"])
    a, b, c = (next(caps for h, caps in by_section.items() if h.startswith(f"({k})")) for k in "abc")
    assert set(a) == {"learning_curves_layer1.png", "weights_layer1.png", "reconstructions_layer1.png",
                      "activations_layer1.png"}
    assert set(b) == {"learning_curves_layer2.png", "weights_layer2.png", "reconstructions_layer2.png",
                      "activations_layer2_pretrained.png"}
    assert set(c) == {"learning_curves_classifier.png", "weights_softmax.png", "confusion_matrix.png",
                      "activations_layer2_finetuned.png"}
    for name, tutorial in (("learning_curves_layer1.png", "Training hidden-layer 1"),
                           ("weights_layer1.png", "Weights learned by the hidden layer 1"),
                           ("activations_layer1.png", "Hidden layer 1 activation on test patterns"),
                           ("weights_layer2.png", "Weights learned by the hidden layer 2"),
                           ("reconstructions_layer2.png", "Output of the hidden layer 1"),
                           ("learning_curves_classifier.png", "Training the classifier"),
                           ("weights_softmax.png", "Weights learned by the output layer")):
        assert every[name].startswith(tutorial), (name, every[name])
    for name, caption in every.items():
        assert "Look for" in caption and caption != name, name


def test_q3_report_metrics_have_readable_names(q3_run):
    from fastae.experiments.q3_report import LABELS
    from fastae.report import esc

    _, _, text = q3_run
    metrics_body = dict(sections(text))["Metrics"]
    for key in ("mean_over_rho", "unit_mean_median", "test_accuracy_at_best_validation_epoch", "share_below_0.05"):
        assert f'{esc(LABELS[key])}<br><span class="key">{key}</span>' in metrics_body, key
    assert "<h3>per-epoch history</h3>" in metrics_body and 'class="history"' in metrics_body


# -------------------------------------------------------------------- Chromium


def _chromium():
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    return found


#: Run in a copy of the page (the report itself has no script): the page's scroll width against
#: its viewport's, and every element that hides content behind a scroll bar or a clip.
MEASURE = """<script>
window.addEventListener("load", () => {
  const de = document.documentElement;
  const hidden = [...document.querySelectorAll("*")].filter(e => {
    const s = getComputedStyle(e);
    return ["auto", "scroll", "hidden"].includes(s.overflowX) && e.scrollWidth > e.clientWidth + 1;
  }).map(e => `${e.tagName}.${e.className} ${e.scrollWidth} > ${e.clientWidth}`);
  const wide = [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > de.clientWidth + 1).slice(0, 5)
    .map(e => `${e.tagName}.${e.className} to ${Math.round(e.getBoundingClientRect().right)}`);
  document.title = JSON.stringify({scroll: de.scrollWidth, client: de.clientWidth, hidden, wide});
});
</script>"""


def measure_in_chromium(page, width, tmp_path, print_style=False):
    """``{"scroll", "client", "hidden", "wide"}`` of ``page`` laid out at ``width`` px; with
    ``print_style`` its ``@media print`` rules apply as they do on paper."""
    import html
    import json
    import re

    text = Path(page).read_text(encoding="utf-8")
    if print_style:
        assert "@media print {" in text
        text = text.replace("@media print {", "@media all {")
    copy = tmp_path / f"measure_{width}_{print_style}.html"
    copy.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom",
           "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
           f"--window-size={width},1000", "--virtual-time-budget=10000", copy.resolve().as_uri()]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180,
                            env={**os.environ, "HOME": str(tmp_path)})
    found = re.search(r"<title>(\{.*?\})</title>", result.stdout, re.S)
    assert found, f"no measurement; chromium said:\n{result.stderr[-3000:]}"
    return json.loads(html.unescape(found.group(1)))


#: A4 paper (210 mm at 96 px per inch) less the print style's 14 mm margins.
PRINT_WIDTH_PX = round((210 - 2 * 14) / 25.4 * 96)


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (Debian package: chromium)")
@pytest.mark.parametrize("run_fixture", ["q1_run", "q3_run", "q2_run"])
def test_reports_fit_1280_px_and_the_printed_page_in_chromium(run_fixture, request, tmp_path):
    out = request.getfixturevalue(run_fixture)[0]
    screen = measure_in_chromium(out / "report.html", 1280, tmp_path)
    assert screen["scroll"] == screen["client"] and not screen["hidden"], screen
    assert 1200 <= screen["client"] <= 1280, screen
    paper = measure_in_chromium(out / "report.html", PRINT_WIDTH_PX, tmp_path, print_style=True)
    assert paper["scroll"] == paper["client"] and not paper["hidden"], paper


@pytest.fixture(scope="module")
def q2_run(tmp_path_factory):
    from fastae.experiments.q2 import Q2Config
    from fastae.experiments.q2 import run as run_q2

    out = tmp_path_factory.mktemp("q2")
    return out, run_q2(Q2Config(epochs=20), out=out), None


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
