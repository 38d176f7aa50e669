"""The run record: each figure saved atomically as it is registered, then metrics.json and
report.html made from the record (what was written, with its caption and section)."""
import json
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fastae import plots  # noqa: E402
from fastae.experiments.record import FigureEntry, RunRecord  # noqa: E402


def small_figure(title="t"):
    return plots.tiles(np.random.default_rng(0).random((4, 9)), (3, 3), title=title)


def test_record_saves_registers_and_writes_metrics_and_report(tmp_path):
    rec = RunRecord(tmp_path)
    path = rec.figure("first.png", small_figure(), "What the first figure shows. Look for it.", section="Part A")
    assert path == tmp_path / "first.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec.figure("second.png", small_figure(), "The second one, in no section.")
    assert rec.figures == [FigureEntry("first.png", "What the first figure shows. Look for it.", "Part A"),
                           FigureEntry("second.png", "The second one, in no section.", None)]
    metrics = {"config": {"lr": 0.1}, "environment": {"python": "3"}, "loss": 0.59998}
    returned = rec.write(metrics, title="a run", sections=[("Part A", "<p>intro</p>")])
    assert returned is metrics and metrics["figures"] == ["first.png", "second.png"]
    assert json.loads((tmp_path / "metrics.json").read_text())["figures"] == ["first.png", "second.png"]
    text = (tmp_path / "report.html").read_text()
    part_a = text[text.index("<h2>Part A</h2>"):text.index("</section>", text.index("<h2>Part A</h2>"))]
    assert "<p>intro</p>" in part_a and "What the first figure shows. Look for it." in part_a
    assert "second.png" not in part_a and "<h2>Figures (1)</h2>" in text
    assert ">0.6000<" in text  # the loss to 4 significant digits, zeros kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.png", "metrics.json", "report.html", "second.png"]


def test_record_rejects_a_missing_caption_and_a_second_figure_of_one_name(tmp_path):
    rec = RunRecord(tmp_path)
    with pytest.raises(ValueError, match="caption"):
        rec.figure("a.png", small_figure(), "  ")
    rec.figure("a.png", small_figure(), "A figure.")
    with pytest.raises(ValueError, match="name: a.png is already written"):
        rec.figure("a.png", small_figure(), "Again.")
    assert rec.names == ["a.png"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        rec = RunRecord(tmp_path)
        rec.figure("a.png", small_figure(), "A figure.")
        rec.write({"config": {}, "environment": {}}, title="t")
    finally:
        os.umask(old)
    for name in ("a.png", "metrics.json", "report.html"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
