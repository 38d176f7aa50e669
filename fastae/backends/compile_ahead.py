"""A first compile on two cores: a helper process compiles a loop's kernels while this
process compiles the loop.

numba compiles one function at a time in a process. Typing a training loop compiles
each kernel it calls (about 25 for a first fit, 0.1-0.4 s each, about half of the
call's compile), then the loop itself. The plan, ``compile_ahead.json`` beside this
file, lists for each loop and argument types that the exercises and the first API calls
compile (``FIRST_CALLS``, ``PLAN_RUNS``) the kernels it calls, with their argument
types, in the order numba compiles them. When :func:`start` is asked for a loop the plan
lists and numba's on-disk cache lacks, it starts a helper: a second Python process that
compiles those kernels in reverse order into the same cache, skipping each one the
cache already holds, while this process compiles them in order as it types the loop.
Each process loads from the cache what the other has saved, so they meet about halfway;
:func:`stop` ends the helper once the loop is ready. The compiled code is the same as
without the helper: numba saves and loads the same libraries (with their LLVM modules,
which the loop links in).

Both processes save into the same index file of each function, so fastae's saves take
a lock in the cache's directory (``cache.py``): numba's own save reads the index, adds
its entry and writes it back, and two processes saving two signatures of one function
at once could otherwise give both the same data file.

A plan that no longer matches the code costs nothing but the helper's work: a kernel it
compiled for types the loop does not call is never loaded. ``python -m
fastae.backends.compile_ahead --write`` records the plan anew (``tests/test_compile_ahead.py``
checks that it is current); ``fastae.config.COMPILE_AHEAD = False`` turns the helper off.
"""
import base64
import functools
import hashlib
import importlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import config

PLAN = Path(__file__).with_name("compile_ahead.json")

#: The public API's first calls (numpy as np, fastae's models imported): the plan's
#: loops, and what ``bench/startup.py`` times.
FIRST_CALLS = {
    "Autoencoder float32, cross-entropy": "Autoencoder(9, 4, sparsity=(0.1, 0.5)).fit(np.random.rand(5, 9), 2, 0.1)",
    "Autoencoder float64, cross-entropy": (
        "Autoencoder(9, 4, sparsity=(0.1, 0.5), dtype='float64').fit(np.random.rand(5, 9), 2, 0.1)"
    ),
    "Autoencoder float32, squared error, mini-batch": (
        "Autoencoder(100, 49, loss='mse').fit(np.random.rand(100, 100), 2, 0.1, 32)"
    ),
    "StackedClassifier SGD": (
        "StackedClassifier([64, 32], 10).fit(np.random.rand(256, 64), np.arange(256) % 10, 1, 0.1, 32, "
        "optimizer='sgd')"
    ),
    "StackedClassifier Adam": (
        "StackedClassifier([64, 32], 10).fit(np.random.rand(256, 64), np.arange(256) % 10, 1, 0.001, 32, "
        "optimizer='adam')"
    ),
}

#: The exercises' runs the plan covers (``fastae`` arguments; Q3's, which read MNIST,
#: are left out when ``FASTAE_DATA`` is not set). Fewer epochs than the defaults: each
#: epoch is one call of the same loop, so the loops and their types are the same.
PLAN_RUNS = (
    ("run", "q1"),
    ("run", "q2", "--epochs", "10"),
    ("run", "q3", "--quick"),
    ("run", "q3", "--epochs", "1"),
)

#: The helper's program: fastae from the same place as the process that starts it.
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from fastae.backends.compile_ahead import serve; serve(sys.argv[2])")


def plan_key(loop, sig):
    """The plan's name for ``loop`` compiled for the argument types ``sig``."""
    f = loop.py_func
    digest = hashlib.sha256(str(tuple(sig)).encode()).hexdigest()[:16]
    return f"{f.__module__}.{f.__qualname__} {digest}"


@functools.cache
def plan():
    """The plan's loops: key -> ``[(module, name, pickled argument types), ...]``; empty
    when the file is missing or unreadable."""
    try:
        return json.loads(PLAN.read_text())["loops"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _on_disk(dispatcher, sig):
    """Whether numba's on-disk cache holds ``dispatcher``'s code for ``sig`` (False for a
    function that numba does not cache)."""
    from numba.core.caching import FunctionCache

    cache = getattr(dispatcher, "_cache", None)
    if not isinstance(cache, FunctionCache):
        return False
    key = cache._index_key(sig, dispatcher.targetctx.codegen())
    return key in cache._cache_file._load_index()


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def start(loop, sig):
    """A helper process compiling the kernels of ``loop`` for ``sig`` (``Popen``), or None:
    when ``config.COMPILE_AHEAD`` is False, the elementwise kernels run on threads of
    their own (``config.KERNEL_THREADS > 1``: twins that are not cached), the process
    has one CPU, the platform has no ``fcntl`` locks, the plan does not list the loop, or
    the cache already holds it (it loads, nothing compiles)."""
    if not config.COMPILE_AHEAD or config.KERNEL_THREADS > 1 or _cpus() < 2 or not sys.executable:
        return None
    try:
        import fcntl  # noqa: F401  (the cache's lock: cache.py)
    except ImportError:
        return None
    key = plan_key(loop, sig)
    try:
        if key not in plan() or _on_disk(loop, sig):
            return None
    except AttributeError:  # a numba whose cache is laid out otherwise: compile alone
        return None
    import numba

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    if numba.config.CACHE_DIR:
        env["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR
    try:
        # A session of its own: the terminal's Ctrl-C goes to this process only.
        return subprocess.Popen([sys.executable, "-c", _BOOT, root, key], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    except OSError:
        return None


def stop(helper):
    """End ``helper`` (from :func:`start`; None does nothing) and wait for it. Killing it
    mid-save leaves the cache whole: numba writes each file under a temporary name and
    renames it, and an index entry whose data file is missing is compiled again."""
    if helper is None:
        return
    helper.kill()
    helper.wait()


def serve(key):
    """The helper's work (in the helper process): compile the plan's kernels of ``key``,
    last first, each one the cache does not hold yet; stop early when the process that
    started it has ended."""
    from numba.core.errors import NumbaError

    from . import cpu  # noqa: F401  (the kernels, and the cache's locator and lock)

    parent = os.getppid()
    for module, name, sig in reversed(plan().get(key, ())):
        if os.getppid() != parent:
            return
        try:
            dispatcher = getattr(importlib.import_module(module), name)
            sig = pickle.loads(base64.b64decode(sig))
            if not _on_disk(dispatcher, sig):
                dispatcher.compile(sig)
        except (ImportError, AttributeError, ValueError, TypeError, pickle.UnpicklingError, NumbaError):
            continue  # a kernel the code no longer has, or types it no longer takes


def record(statement):
    """Run ``statement`` (numpy as np, fastae's models imported) in this process, whose
    numba cache should be empty, with the helper off; returns the plan of every loop it
    compiled: key -> ``[[module, name, pickled argument types], ...]``, the kernels that
    typing the loop compiled, in their order (the outermost fastae kernel of each chain
    of calls: it compiles the ones it calls)."""
    from numba.core import event
    from numba.core.registry import CPUDispatcher

    import numpy as np

    from fastae import Autoencoder, StackedClassifier

    config.COMPILE_AHEAD = False
    loops, stack = {}, []  # stack: (its loop's list, a kernel above it recorded) of each compile in progress

    def kernel(dispatcher):
        f = dispatcher.py_func
        found = getattr(sys.modules.get(f.__module__), f.__qualname__, None)
        return found is dispatcher and f.__module__.startswith("fastae.")

    class Listener(event.Listener):
        def on_start(self, ev):
            d, sig = ev.data["dispatcher"], ev.data["args"]
            if not stack:
                items = loops.setdefault(plan_key(d, sig), [])
                stack.append((items, False))
                return
            items, covered = stack[0][0], stack[-1][1]
            if not covered and isinstance(d, CPUDispatcher) and kernel(d):
                f = d.py_func
                items.append([f.__module__, f.__qualname__, base64.b64encode(pickle.dumps(tuple(sig))).decode()])
                covered = True
            stack.append((items, covered))

        def on_end(self, ev):
            stack.pop()

    listener = Listener()
    event.register("numba:compile", listener)
    try:
        exec(statement, {"np": np, "Autoencoder": Autoencoder, "StackedClassifier": StackedClassifier})
    finally:
        event.unregister("numba:compile", listener)
    return loops


_RECORD = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
           "from fastae.backends.compile_ahead import record; print(json.dumps(record(sys.argv[2])))")


def record_in_process(statement):
    """:func:`record` in a fresh Python process with an empty numba cache."""
    root = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as cwd:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "MPLBACKEND": "Agg"}
        out = subprocess.run([sys.executable, "-c", _RECORD, root, statement], env=env, cwd=cwd, check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def run_statement(args):
    """The Python statement that runs ``fastae ARGS`` quietly into ``run/`` (in the
    recording process's temporary directory)."""
    return (f"from fastae_cli.main import cli; "
            f"cli.main([*{list(args)!r}, '--out', 'run', '--quiet'], standalone_mode=False)")


def write():
    """Record the plan of ``FIRST_CALLS`` and ``PLAN_RUNS`` (each in its own process, with
    an empty cache) into ``PLAN``. A loop recorded more than once keeps its longest list
    (a later run of the same process found some kernels compiled already)."""
    import numba

    statements = list(FIRST_CALLS.values())
    for args in PLAN_RUNS:
        if "q3" in args and not os.environ.get("FASTAE_DATA"):
            print(f"skipped `fastae {' '.join(args)}`: set FASTAE_DATA to the MNIST directory", file=sys.stderr)
            continue
        statements.append(run_statement(args))
    loops = {}
    for statement in statements:
        print(f"recording {statement}", file=sys.stderr)
        for key, items in record_in_process(statement).items():
            if len(items) > len(loops.get(key, ())):
                loops[key] = items
    PLAN.write_text(json.dumps({"numba": numba.__version__, "loops": dict(sorted(loops.items()))}, indent=1)
                    + "\n")
    print(f"wrote {PLAN}: {len(loops)} loops", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m fastae.backends.compile_ahead --write")
    write()
