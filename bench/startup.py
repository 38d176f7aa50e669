"""Start-up costs: ``fastae --help``, and the first training call of each exercise's model
with numba's on-disk cache cold (compiling) and warm (loading).

Usage: ``python bench/startup.py``. Each measurement runs in a fresh process; the cache
lives in a temporary directory (NUMBA_CACHE_DIR), so nothing of yours is touched.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

FIRST_CALLS = {
    "Q1 (full batch, CE + KL)": "Autoencoder(9, 4, sparsity=(0.1, 0.5)).fit(np.random.rand(5, 9), 2, 0.1)",
    "Q3 layer 1 (mini-batch, noise, CE + KL)": (
        "Autoencoder(784, 625, corruption=0.1, sparsity=(0.02, 0.4)).fit(np.random.rand(256, 784), 1, 0.1, 128)"
    ),
    "Q3 fine-tuning (classifier, Adam)": (
        "StackedClassifier([784, 625, 100], 10).fit(np.random.rand(256, 784), np.arange(256) % 10, 1, 0.001,"
        " 128, optimizer='adam')"
    ),
}

PROGRAM = """
import time
t0 = time.perf_counter()
import numpy as np
from fastae import Autoencoder, StackedClassifier
t1 = time.perf_counter()
{call}
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def timed_process(args, env):
    t = time.perf_counter()
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def main():
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        script = shutil.which("fastae") or os.path.join(os.path.dirname(sys.executable), "fastae")
        help_times = [timed_process([script, "--help"], env)[0] for _ in range(3)]
        print(f"fastae --help: {min(help_times):.3f} s (best of 3 processes)")
    for name, call in FIRST_CALLS.items():
        program = PROGRAM.format(call=call)
        with tempfile.TemporaryDirectory() as cache:  # each model starts from an empty cache
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            (imp_cold, cold), (imp_warm, warm) = (
                [float(v) for v in timed_process([sys.executable, "-c", program], env)[1].split()] for _ in range(2)
            )
        print(
            f"{name}: first call {cold:.2f} s with the cache cold (compiling), {warm:.2f} s warm; "
            f"import fastae {imp_warm:.2f} s"
        )


if __name__ == "__main__":
    main()
