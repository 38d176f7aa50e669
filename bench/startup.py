"""Time to first result: what a user waits for, cold (numba compiling) and warm (cached).

Usage::

    python bench/startup.py [--runs 5] [--quick-q3] [--warm-only] [--against OTHER_CHECKOUT]

Every measurement runs in a fresh process. Cold runs get a fresh, empty
``NUMBA_CACHE_DIR`` each; the warm runs of a checkout share one, which an untimed run
before each fills (the first one compiles). Each line
prints the median of ``--runs`` runs and its target on a quiet 2-core machine:

* cold ``fastae run q1`` (target under 10 s) and, with ``--quick-q3``, cold ``fastae run
  q3 --quick`` (under 45 s; it needs MNIST in ``$FASTAE_DATA``);
* the cold first call of each public API path (under 8 s each), timed around the call,
  after the imports;
* warm ``fastae run q1`` (under 1.5 s) and warm ``fastae run q2`` (under 3 s);
* ``import fastae`` (under 0.4 s) and ``fastae --help`` (under 0.2 s).

With ``--against``, every measurement alternates between this checkout and another one
(each with its own ``.venv``), so that the two are compared side by side on the same,
possibly busy, machine. Besides wall seconds each line shows the CPU seconds of the
process and of the compile helper it starts (``fastae/backends/compile_ahead.py``), which
a busy machine inflates less. Nothing outside temporary directories is written.
"""
import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from fastae.backends.compile_ahead import FIRST_CALLS  # noqa: E402

#: The public API's first calls: name -> the call (numpy as np, fastae's models imported).
API_CALLS = FIRST_CALLS

API_PROGRAM = """
import time
import numpy as np
from fastae import Autoencoder, StackedClassifier
t = time.perf_counter()
{call}
print(time.perf_counter() - t)
"""

IMPORT_PROGRAM = "import time; t = time.perf_counter(); import fastae; print(time.perf_counter() - t)"


def timed(args, env, cwd):
    """``(wall seconds, CPU seconds, stdout)`` of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(args, env=env, cwd=cwd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


class Checkout:
    def __init__(self, root):
        self.root = Path(root).resolve()
        venv = self.root / ".venv" / "bin"
        self.python = str(venv / "python") if (venv / "python").exists() else sys.executable
        self.fastae = str(venv / "fastae") if (venv / "fastae").exists() else "fastae"

    def env(self, cache):
        return {**os.environ, "NUMBA_CACHE_DIR": cache, "MPLBACKEND": "Agg"}


def measure(checkouts, runs, what, one, shared_cache=False):
    """Median over ``runs`` of ``one(checkout, cache_dir) -> (seconds, cpu)``, alternating
    between the checkouts; prints one line per checkout. Each run gets a fresh cache
    directory, or with ``shared_cache`` each checkout one for all its runs (warm runs:
    the first run's untimed fill compiles, the others' load)."""
    results = {c.root: [] for c in checkouts}
    with contextlib.ExitStack() as stack:
        shared = {c.root: stack.enter_context(tempfile.TemporaryDirectory()) for c in checkouts}
        for _ in range(runs):
            for c in checkouts:
                if shared_cache:
                    results[c.root].append(one(c, shared[c.root]))
                    continue
                with tempfile.TemporaryDirectory() as cache:
                    results[c.root].append(one(c, cache))
    for c in checkouts:
        seconds = statistics.median(s for s, _ in results[c.root])
        cpu = statistics.median(p for _, p in results[c.root])
        where = f" [{c.root}]" if len(checkouts) > 1 else ""
        print(f"{what}: {seconds:.2f} s (CPU {cpu:.2f} s){where}", flush=True)


def cli_run(args, warm):
    def one(c, cache):
        with tempfile.TemporaryDirectory() as out:
            command = [c.fastae, *args, "--out", os.path.join(out, "run"), "--quiet"]
            if warm:  # fill the cache (and matplotlib's font cache), untimed
                subprocess.run(command, env=c.env(cache), cwd=out, check=True, capture_output=True)
            wall, cpu, _ = timed(command, c.env(cache), out)
        return wall, cpu

    return one


def api_call(call):
    def one(c, cache):
        _, cpu, out = timed([c.python, "-c", API_PROGRAM.format(call=call)], c.env(cache), c.root)
        return float(out.split()[-1]), cpu

    return one


def import_time(c, cache):
    subprocess.run([c.python, "-c", "import fastae"], env=c.env(cache), check=True)
    _, cpu, out = timed([c.python, "-c", IMPORT_PROGRAM], c.env(cache), c.root)
    return float(out.split()[-1]), cpu


def help_time(c, cache):
    wall, cpu, _ = timed([c.fastae, "--help"], c.env(cache), c.root)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--quick-q3", action="store_true", help="also time a cold `fastae run q3 --quick`")
    parser.add_argument("--against", default=None, help="another checkout to alternate with")
    parser.add_argument("--warm-only", action="store_true", help="skip the cold runs (minutes each round)")
    args = parser.parse_args()
    checkouts = [Checkout(HERE)] + ([Checkout(args.against)] if args.against else [])
    runs = args.runs
    if not args.warm_only:
        measure(checkouts, runs, "cold `fastae run q1` (target < 10 s)", cli_run(["run", "q1"], warm=False))
        if args.quick_q3:
            measure(checkouts, runs, "cold `fastae run q3 --quick` (target < 45 s)",
                    cli_run(["run", "q3", "--quick"], warm=False))
        for name, call in API_CALLS.items():
            measure(checkouts, runs, f"cold first call, {name} (target < 8 s)", api_call(call))
    measure(checkouts, runs, "warm `fastae run q1` (target < 1.5 s)", cli_run(["run", "q1"], warm=True),
            shared_cache=True)
    measure(checkouts, runs, "warm `fastae run q2` (target < 3 s)", cli_run(["run", "q2"], warm=True),
            shared_cache=True)
    measure(checkouts, runs, "import fastae (target < 0.4 s)", import_time)
    measure(checkouts, runs, "fastae --help (target < 0.2 s)", help_time)


if __name__ == "__main__":
    main()
