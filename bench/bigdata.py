"""Data bigger than memory: one epoch of a 784-625 denoising autoencoder on a uint8 ``.npy``
file of 1.5 times this machine's RAM, memory-mapped, then its codes; peak resident memory
and throughput, against the same model on an in-memory sample and on a file that fits
the page cache.

The files are made in a temporary directory (``--dir``, default the system's), written a
chunk at a time (MNIST's training images when ``$FASTAE_DATA`` or the cache has them,
each pass shifted by a pixel or two so that no two copies are equal; else random sparse
bytes), and removed afterwards, also on error, Ctrl-C or SIGTERM. Each measurement runs
in a process of its own, whose peak resident set (``ru_maxrss``: heap, stacks and the
mapped file's pages it holds) is reported:

* ``memory``: ``--sample`` rows in memory (uint8), one epoch of ``fit``, then ``encode``;
* ``cached``: the same on a mapped file of ``--cached-gb`` (read once before, so that it
  sits in the page cache): the throughput target is within 15 % of ``memory``;
* ``uncached``: the same file dropped from the page cache first (``fsync``, then
  ``posix_fadvise(POSIX_FADV_DONTNEED)``): the epoch reads its rows from the disk, in
  shuffled order (the codes then read the pages the epoch left in the cache);
* ``big``: the same on the file of ``--big-gb`` (default 1.5 x RAM): the memory target is
  a peak under 1.5 GB whatever the file's size.

The model: 784-625, 10 % masking noise, cross-entropy, KL (rho 0.02, beta 0.4), SGD lr
0.1, batch 128 (Q3's layer 1). ``encode`` writes each chunk of codes into one reused
buffer (the codes of the big file would not fit on the disk).

Usage::

    python bench/bigdata.py                      # all four; the big file takes long
    python bench/bigdata.py --big-gb 4 --steps memory,cached,big
    python bench/bigdata.py --cached-gb 0.5 --steps memory,uncached
"""
import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

V, HIDDEN, BATCH = 784, 625, 128
#: Rows written (and encoded) at a time.
CHUNK_ROWS = 65536


def ram_bytes():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def source_images():
    """MNIST's 60,000 training images as uint8 rows, or random sparse bytes."""
    try:
        from fastae.datasets import load_mnist

        return load_mnist(dtype=np.uint8).train_images, "MNIST training images (shifted copies)"
    except Exception:  # noqa: BLE001  (no MNIST here: any bytes will do)
        rng = np.random.default_rng(0)
        X = (rng.random((60000, V)) < 0.2) * rng.integers(1, 256, (60000, V))
        return X.astype(np.uint8), "random sparse bytes"


def write_npy(path, n_rows, images):
    """A uint8 ``(n_rows, 784)`` ``.npy`` at ``path``, written a chunk at a time (a header,
    then plain writes: the writer holds no more than a chunk)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (n_rows, V)})
        done, copy = 0, 0
        base = images.reshape(-1, 28, 28)
        while done < n_rows:
            dy, dx = copy % 3 - 1, (copy // 3) % 3 - 1
            shifted = np.roll(base, (dy, dx), axis=(1, 2)).reshape(len(base), V)
            for start in range(0, len(shifted), CHUNK_ROWS):
                rows = shifted[start : start + min(CHUNK_ROWS, n_rows - done)]
                f.write(rows.tobytes())
                done += len(rows)
                if done >= n_rows:
                    break
            copy += 1
    return path


class PeakWatch:
    """Where the peak resident set came: a thread that looks at ``/proc/self/status``
    every 10 ms and keeps the phase, the seconds into the run and the anonymous and file
    kB of the highest resident set it saw (the kernel's own peak, ``ru_maxrss``, can be
    higher between two looks)."""

    def __init__(self):
        self.phase, self.started, self.peak = "start", time.monotonic(), None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._done.wait(0.01):
            try:
                fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
                anon, file = (int(fields[k].split()[0]) for k in ("RssAnon", "RssFile"))
            except (OSError, KeyError, ValueError):
                return
            if self.peak is None or anon + file > self.peak["anon_kb"] + self.peak["file_kb"]:
                self.peak = {"phase": self.phase, "at_s": round(time.monotonic() - self.started, 2),
                             "anon_kb": anon, "file_kb": file}

    def stop(self):
        self._done.set()
        self._thread.join()
        return self.peak


def measure(kind, path, sample):
    """Child process: one epoch and the codes; JSON on stdout."""
    watch = PeakWatch()
    from fastae import Autoencoder

    model = Autoencoder(V, HIDDEN, corruption=0.1, sparsity=(0.02, 0.4), init="sigmoid_uniform")
    if kind == "memory":
        X = np.load(path, mmap_mode="r")[:sample].copy()
    else:
        X = np.load(path, mmap_mode="r")
    watch.phase = "compile"
    model.fit(np.asarray(X[:512]), 1, 0.1, batch_size=BATCH)  # compiled (or loaded) outside the timing
    watch.phase = "train"
    start = time.perf_counter()
    model.fit(X, 1, 0.1, batch_size=BATCH)
    train = time.perf_counter() - start
    watch.phase = "encode"
    buffer = np.empty((CHUNK_ROWS, HIDDEN), np.float32)
    start, total = time.perf_counter(), 0.0
    for first in range(0, X.shape[0], CHUNK_ROWS):
        rows = X[first : first + CHUNK_ROWS]
        codes = model.encode(rows, out=buffer[: rows.shape[0]])
        total += float(codes[:, 0].sum())
    encode = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rows": int(X.shape[0]), "bytes": int(X.nbytes), "train_s": train, "encode_s": encode,
                      "peak_rss": peak, "seen": watch.stop(), "checksum": total}))


def run_child(kind, path, sample):
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--file", str(path), "--sample", str(sample)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"the {kind} measurement failed (exit status {out.returncode}):\n{out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm(path):
    """Read the file once, so that it sits in the page cache."""
    with open(path, "rb") as f:
        while f.readinto(bytearray(1 << 24)):
            pass


def evict(path):
    """Drop the file's pages from the page cache (written back first: dirty pages stay)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def report(kind, r, base=None):
    train_rate, encode_rate = r["rows"] / r["train_s"], r["rows"] / r["encode_s"]
    line = (f"{kind:<8} {r['rows']:>11,} rows {r['bytes'] / 2**30:7.2f} GiB  train {train_rate:9,.0f} rows/s  "
            f"encode {encode_rate:9,.0f} rows/s  peak RSS {r['peak_rss'] / 2**30:5.2f} GiB")
    if base is not None:
        line += (f"  (train {train_rate / (base['rows'] / base['train_s']):.0%}, encode "
                 f"{encode_rate / (base['rows'] / base['encode_s']):.0%} of in-memory)")
    seen = r.get("seen")
    if seen:
        line += (f"\n{'':<8} highest resident set seen: {(seen['anon_kb'] + seen['file_kb']) / 2**20:.2f} GiB "
                 f"({seen['anon_kb'] / 2**20:.2f} anonymous, {seen['file_kb'] / 2**20:.2f} of files), "
                 f"{seen['at_s']:.1f} s into the run, during {seen['phase']}")
    print(line, flush=True)


def _terminated(signum, frame):
    sys.exit(f"stopped by signal {signum}")


@contextlib.contextmanager
def scratch(parent):
    """A temporary directory, removed on the way out; SIGTERM (``kill``) exits through
    here too, and kills the measuring child on its way (``subprocess.run`` does)."""
    directory = tempfile.mkdtemp(prefix="fastae-bigdata-", dir=parent)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield Path(directory)
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-gb", type=float, default=None, help="Size of the big file (default 1.5 x RAM).")
    parser.add_argument("--cached-gb", type=float, default=2.0, help="Size of the file that fits the page cache.")
    parser.add_argument("--sample", type=int, default=200_000, help="Rows of the in-memory sample.")
    parser.add_argument("--steps", default="memory,cached,uncached,big")
    parser.add_argument("--dir", default=None, help="Where the temporary directory goes.")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return measure(args.child, args.file, args.sample)
    steps = [s for s in args.steps.split(",") if s]
    big_gb = args.big_gb if args.big_gb is not None else 1.5 * ram_bytes() / 1e9
    images, source = source_images()
    print(f"RAM {ram_bytes() / 2**30:.1f} GiB; data: {source}; model {V}-{HIDDEN}, batch {BATCH}, one epoch")
    with scratch(args.dir) as tmp:
        cached_rows = max(args.sample, int(args.cached_gb * 1e9) // V)
        cached = write_npy(tmp / "cached.npy", cached_rows, images)
        results = {}
        if "memory" in steps:
            results["memory"] = run_child("memory", cached, args.sample)
            report("memory", results["memory"])
        if "cached" in steps:
            warm(cached)
            results["cached"] = run_child("cached", cached, args.sample)
            report("cached", results["cached"], results.get("memory"))
        if "uncached" in steps:
            evict(cached)
            results["uncached"] = run_child("uncached", cached, args.sample)
            report("uncached", results["uncached"], results.get("memory"))
        if "big" in steps:
            cached.unlink()
            started = time.perf_counter()
            big = write_npy(tmp / "big.npy", int(big_gb * 1e9) // V, images)
            print(f"wrote {big.stat().st_size / 2**30:.1f} GiB in {time.perf_counter() - started:.0f} s", flush=True)
            results["big"] = run_child("big", big, args.sample)
            report("big", results["big"], results.get("memory"))
    print("temporary files removed")


if __name__ == "__main__":
    main()
