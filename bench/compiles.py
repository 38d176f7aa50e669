"""What a first call compiles: each compiled function's signatures and compile seconds.

Runs one Python statement (numpy as ``np``, fastae's ``Autoencoder`` and
``StackedClassifier`` imported) in this process, whose numba cache should be empty (a
fresh ``NUMBA_CACHE_DIR``), then lists every numba dispatcher with its signatures,
slowest first, each with numba's own timers from its metadata: ``compiler_lock`` (the
whole compile, including the callees it compiled while typing its calls) and
``llvm_lock`` (LLVM's part). A function compiled for more than one signature is marked
``x N``: each extra signature is a compile that matching the argument types at its call
sites (a literal int against an int64, a 1-D against a 2-D array) would save.

Usage::

    NUMBA_CACHE_DIR=$(mktemp -d) python bench/compiles.py \\
        "StackedClassifier([64, 32], 10).fit(np.random.rand(256, 64), np.arange(256) % 10, 1, 0.1, 32)" \\
        [--top 25] [--passes 3]

``--passes N`` also prints the compiler passes that took longest in the N slowest.
"""
import argparse
import collections
import gc
import time


def dispatchers():
    """Every live numba CPU dispatcher (a dead weak proxy among the objects is skipped)."""
    from numba.core.registry import CPUDispatcher

    found = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, CPUDispatcher):
                found.append(obj)
        except ReferenceError:
            continue
    return found


def overloads():
    """``(name, signature, compile seconds, LLVM seconds, pass times)`` of every compiled
    signature."""
    rows = []
    for d in dispatchers():
        name = f"{d.py_func.__module__}.{d.__name__}"
        for sig, compiled in d.overloads.items():
            meta = compiled.metadata or {}
            timers = meta.get("timers", {})
            rows.append((name, str(sig), timers.get("compiler_lock", 0.0), timers.get("llvm_lock", 0.0),
                         meta.get("pipeline_times", {})))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("statement", help="the first call, such as "
                        "\"Autoencoder(9, 4).fit(np.random.rand(5, 9), 2, 0.1)\"")
    parser.add_argument("--top", type=int, default=25, help="how many signatures to list")
    parser.add_argument("--passes", type=int, default=0, help="print the slowest passes of this many")
    args = parser.parse_args()

    start, cpu = time.perf_counter(), time.process_time()
    import numpy as np

    from fastae import Autoencoder, StackedClassifier

    exec(args.statement, {"np": np, "Autoencoder": Autoencoder, "StackedClassifier": StackedClassifier})
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu

    rows = sorted(overloads(), key=lambda r: -r[2])
    counts = collections.Counter(r[0] for r in rows)
    print(f"{wall:.2f} s wall, {cpu:.2f} s CPU (imports included); {len(rows)} signatures compiled or loaded")
    print(f"{'compile s':>9} {'LLVM s':>7}  function")
    for name, sig, seconds, llvm, _ in rows[: args.top]:
        times = f"  x {counts[name]}" if counts[name] > 1 else ""
        print(f"{seconds:9.2f} {llvm:7.2f}  {name}{times}")
    for name, n in counts.most_common():
        if n > 1 and name.startswith("fastae."):
            print(f"\n{name}, {n} signatures:")
            for r in rows:
                if r[0] == name:
                    print(f"  {r[2]:.2f} s  {r[1]}")
    for name, _, seconds, _, passes in rows[: args.passes]:
        print(f"\n{name} ({seconds:.2f} s), its slowest passes:")
        for pipeline, times in passes.items():
            slowest = sorted(times.items(), key=lambda kv: -kv[1].run)[:6]
            print(f"  {pipeline}: " + ", ".join(f"{p.split('_', 1)[-1]} {t.run:.2f} s" for p, t in slowest))


if __name__ == "__main__":
    main()
