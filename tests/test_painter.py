"""Figures drawn by the painter process: the same PNGs as drawn in the run's own process,
nothing lost when the painter fails, dies or is interrupted, the last figures drawn by the
run beside it, and a run that leaves them all to it never imports matplotlib."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastae import plots
from fastae.experiments.record import RunRecord
from fastae.plots import painter

PNG = b"\x89PNG\r\n\x1a\n"


def sketch(title="weights"):
    return plots.later.tiles(np.random.default_rng(0).random((4, 9)), (3, 3), title=title, colorbar=True,
                             labels=["a", "b", "c", "d"])


def run_python(code, **kwargs):
    """Run ``code`` in a fresh interpreter; returns its standard output."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=600, **kwargs)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    return done.stdout


def test_a_sketch_records_the_call_and_draws_what_the_function_draws(tmp_path):
    s = sketch()
    assert s.kind == "tiles" and s.args[1] == (3, 3) and s.kwargs["title"] == "weights"
    s.draw(tmp_path / "later.png")
    plots.tiles(*s.args, **s.kwargs, path=tmp_path / "now.png")
    assert (tmp_path / "later.png").read_bytes() == (tmp_path / "now.png").read_bytes()
    with pytest.raises(ValueError, match="no figure of fastae.plots"):
        plots.Sketch("save")
    with pytest.raises(AttributeError, match="has no figure 'pie'"):
        plots.later.pie


def test_every_figure_and_the_mosaic_can_be_sketched():
    from fastae.plots.sketch import KINDS

    assert set(KINDS) == {name for name in plots.__all__ if callable(getattr(plots, name))} - {
        "Figure", "Sketch", "save"}


def test_a_sketch_inside_the_arguments_is_drawn_first(tmp_path):
    W = np.random.default_rng(1).random((4, 9))
    panels = [("weights", plots.later.mosaic(W, (3, 3)), {"tile_shape": (3, 3), "colorbar": False})]
    plots.later.side_by_side(panels, ncols=1, title="t").draw(tmp_path / "later.png")
    plots.side_by_side([("weights", plots.mosaic(W, (3, 3)), {"tile_shape": (3, 3), "colorbar": False})], ncols=1,
                       title="t", path=tmp_path / "now.png")
    assert (tmp_path / "later.png").read_bytes() == (tmp_path / "now.png").read_bytes()


def test_the_painter_draws_the_same_png_as_this_process(tmp_path):
    p = painter.shared()
    assert p is not None and p.alive
    s = sketch()
    number = p.submit(s, tmp_path / "painted.png")
    assert number is not None
    assert p.wait([number]) == []
    s.draw(tmp_path / "here.png")
    assert (tmp_path / "painted.png").read_bytes() == (tmp_path / "here.png").read_bytes()


def test_what_the_painter_cannot_draw_is_drawn_here_and_its_error_raises_here(tmp_path):
    rec = RunRecord(tmp_path)
    rec.figure("bad.png", plots.later.tiles(np.ones((2, 5)), (3, 3), title="t"), "Tiles of the wrong shape.")
    with pytest.raises(ValueError, match=r"tile_shape \(3, 3\) needs 9 values per row but vectors has 5 columns"):
        rec.finish_figures()
    assert not (tmp_path / "bad.png").exists()


def test_a_sketch_that_does_not_pickle_is_drawn_here(tmp_path):
    rec = RunRecord(tmp_path)
    s = plots.later.histogram({"a": np.linspace(0, 1, 50)}, title="t", xlabel="x", vlines={"rho": 0.1},
                              vline_fmt=lambda x: f"{x:.2f}")
    assert rec._painter.submit(s, tmp_path / "unsent.png") is None
    rec.figure("h.png", s, "A histogram with a formatter that does not pickle.")
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG  # drawn at once, in this process
    rec.write({}, title="t")


def test_a_dead_painter_leaves_its_figures_to_this_process_and_is_replaced(tmp_path, monkeypatch):
    p = painter.Painter()
    monkeypatch.setattr(painter, "_shared", p)
    p._proc.kill()
    p._proc.wait()
    s = sketch()
    number = p.submit(s, tmp_path / "w.png")
    assert number is None or p.wait([number]) == [(s, tmp_path / "w.png")]
    assert not p.alive
    p.close()
    fresh = painter.shared()
    assert fresh is not p and fresh.alive


def test_ctrl_c_does_not_reach_the_painter(tmp_path):
    p = painter.shared()
    assert os.getpgid(p._proc.pid) != os.getpgrp()  # not in the terminal's foreground group
    assert p.wait([p.submit(sketch(), tmp_path / "first.png")]) == []  # it is up and serving
    os.kill(p._proc.pid, signal.SIGINT)  # sent to it alone, it is ignored
    number = p.submit(sketch(), tmp_path / "w.png")
    assert p.wait([number]) == [] and (tmp_path / "w.png").read_bytes()[:8] == PNG
    assert p.alive and p._proc.poll() is None


def test_the_painter_holds_a_core_while_it_has_figures_to_draw(tmp_path):
    """From a figure's hand-over until none is left to draw: drawn, taken back, or left
    undone by a painter that ended."""
    from fastae import cores

    p, before = painter.Painter(), cores.held()
    number = p.submit(sketch(), tmp_path / "w.png")
    assert cores.held() == before + 1
    assert p.wait([number]) == [] and cores.held() == before
    numbers = [p.submit(sketch(f"t{i}"), tmp_path / f"t{i}.png") for i in range(2)]
    assert cores.held() == before + 1
    while p.take(numbers) is not None:
        pass
    assert p.wait(numbers) == [] and cores.held() == before  # drawn there, or taken back
    number = p.submit(sketch(), tmp_path / "x.png")
    p._proc.kill()
    p._proc.wait()
    p.wait([number])
    assert not p.alive and cores.held() == before
    p.close()


def test_the_caller_takes_back_the_last_waiting_jobs(tmp_path):
    p = painter.Painter()  # just started: busy importing matplotlib for a while
    jobs = [(sketch(f"t{i}"), tmp_path / f"w{i}.png") for i in range(4)]
    numbers = [p.submit(s, path) for s, path in jobs]
    taken = [p.take(numbers, at_least=3)]
    assert taken == [jobs[3]]  # the last one first
    while (job := p.take(numbers)) is not None:
        taken.append(job)
    assert taken == jobs[::-1][: len(taken)] and len(taken) in (3, 4)  # the painter may have begun the first
    assert p.take(numbers) is None and p.wait(numbers) == []
    assert all(path.exists() == ((s, path) not in taken) for s, path in jobs)  # the painter drew the rest
    p.close()


def test_a_record_ending_with_figures_waiting_draws_some_itself(tmp_path, monkeypatch):
    from fastae.plots.sketch import Sketch

    here = []
    draw = Sketch.draw
    monkeypatch.setattr(Sketch, "draw", lambda self, path=None: here.append(path) or draw(self, path))
    rec = RunRecord(tmp_path)
    rec._painter = painter.Painter()  # just started: the figures wait for it
    for i in range(6):
        rec.figure(f"w{i}.png", sketch(f"t{i}"), "Tiles.")
    rec.finish_figures()
    assert 1 <= len(here) <= 6 and here == [tmp_path / f"w{i}.png" for i in range(6)][::-1][: len(here)]
    assert all((tmp_path / f"w{i}.png").read_bytes()[:8] == PNG for i in range(6))
    rec._painter.close()


def test_a_run_that_leaves_its_figures_to_the_painter_never_imports_matplotlib(tmp_path):
    out = tmp_path / "q1"
    printed = run_python(f"""
        import sys
        from fastae.experiments import q1, record
        from fastae.plots import painter
        record.HELP_AFTER = 100  # the painter draws them all
        q1.run(q1.Q1Config(epochs=30), out={str(out)!r})
        print("matplotlib" in sys.modules, painter.shared()._proc.pid)
    """)
    imported, pid = printed.split()
    assert imported == "False"
    names = sorted(p.name for p in out.glob("*.png"))
    assert len(names) == 7 and all((out / n).read_bytes()[:8] == PNG for n in names)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temporary file left
    with pytest.raises(ProcessLookupError):  # ended, and waited for, with the run's process
        os.kill(int(pid), 0)


def test_figures_handed_over_are_written_before_the_process_ends(tmp_path):
    """A run that stops (Ctrl-C, an error) after handing figures over still leaves them
    written when its process has ended."""
    run_python(f"""
        import numpy as np
        from fastae import plots
        from fastae.experiments.record import RunRecord
        rec = RunRecord({str(tmp_path)!r})
        for i in range(3):
            rec.figure(f"w{{i}}.png", plots.later.tiles(np.random.rand(4, 9), (3, 3), title="t"), "Tiles.")
    """)  # no rec.write: the process ends with the figures handed over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w0.png", "w1.png", "w2.png"]


def test_without_the_figure_process_figures_are_drawn_here(tmp_path, monkeypatch):
    from fastae import config

    monkeypatch.setattr(config, "FIGURE_PROCESS", False)
    assert painter.shared() is None
    rec = RunRecord(tmp_path)
    rec.figure("w.png", sketch(), "Tiles.")
    assert (tmp_path / "w.png").read_bytes()[:8] == PNG


def test_the_sketch_and_painter_modules_need_no_matplotlib():
    printed = run_python("""
        import sys
        import fastae.plots
        from fastae.plots import painter, sketch
        fastae.plots.later.tiles
        print("matplotlib" in sys.modules, "tiles" in dir(fastae.plots))
    """)
    assert printed.split() == ["False", "True"]
