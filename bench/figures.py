"""What figures cost in a warm ``fastae run q1`` (or ``q2``): the whole command, and in one
process the time spent drawing and saving its PNGs.

Usage: ``python bench/figures.py [--run q1|q2] [--rounds 5]``. Each round runs ``fastae run
q1 --quiet`` in a fresh process (numba's cache warm: run it once before), whose figures its
painter process draws (``fastae.plots.painter``); then one process runs the exercise
``rounds + 1`` times with every figure drawn in it (``config.FIGURE_PROCESS = False``; the
first run loads fonts and is left out) and times every call of the plotting functions and
of the saving (``Figure.savefig`` or ``FigureCanvasAgg.print_png``: layout, rendering and
PNG encoding), the outermost call counted once. Prints medians.
"""
import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time


def command_seconds(run, rounds):
    exe = [sys.executable, "-c", "import sys; from fastae_cli.main import main; sys.argv[0] = 'fastae'; main()"]
    out = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            subprocess.run(exe + ["run", run, "--quiet", "--out", d], check=True)
            out.append(time.perf_counter() - t)
    return out


def figure_seconds(run, rounds):
    import matplotlib.figure

    from fastae import config, plots
    from fastae.experiments import q1, q2

    config.FIGURE_PROCESS = False  # every figure drawn here, where it is timed

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    spent = {"save": 0.0, "figures": 0.0}
    depth = {"save": 0, "figures": 0}

    def timed(fn, key):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            outer = {k: depth[k] == 0 for k in depth}
            for k in depth if key == "save" else ("figures",):
                depth[k] += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t
                for k in depth if key == "save" else ("figures",):
                    depth[k] -= 1
                    spent[k] += dt if outer[k] else 0.0
        return wrapper

    matplotlib.figure.Figure.savefig = timed(matplotlib.figure.Figure.savefig, "save")
    FigureCanvasAgg.print_png = timed(FigureCanvasAgg.print_png, "save")
    for name in ("tiles", "image_rows", "activation_maps", "heatmap", "side_by_side", "histogram", "bar",
                 "learning_curves"):
        setattr(plots, name, timed(getattr(plots, name), "draw"))
    runs, saves, figures = [], [], []
    for i in range(rounds + 1):
        spent.update(save=0.0, figures=0.0)
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            {"q1": q1, "q2": q2}[run].run(out=d)
            dt = time.perf_counter() - t
            n_png = sum(name.endswith(".png") for name in os.listdir(d))
        if i:
            runs.append(dt)
            saves.append(spent["save"])
            figures.append(spent["figures"])
    return runs, saves, figures, n_png


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", choices=("q1", "q2"), default="q1")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    run, rounds = args.run, args.rounds
    walls = command_seconds(run, rounds)
    runs, saves, figures, n_png = figure_seconds(run, rounds)
    med = statistics.median
    print(f"fastae run {run} --quiet: median {med(walls):.2f} s of {rounds} ({', '.join(f'{w:.2f}' for w in walls)})")
    print(f"{run}.run in one process: median {med(runs):.2f} s; its {n_png} figures {med(figures):.2f} s, "
          f"of which saving the PNGs {med(saves):.2f} s")


if __name__ == "__main__":
    main()
