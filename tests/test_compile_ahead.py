"""The compile helper (``fastae.backends.compile_ahead``): its plan is current, a first
call beside it loads the kernels it compiled and trains the same model, it starts only
where it has work, and fastae's saves into numba's cache hold a lock."""
import base64
import json
import os
import pickle
import subprocess
import sys
import time

import pytest

from fastae import config
from fastae.backends import cache, compile_ahead, cpu_elementwise

fcntl = pytest.importorskip("fcntl")  # the cache's lock: the helper runs where it is


def decoded(items):
    return [(module, name, pickle.loads(base64.b64decode(sig))) for module, name, sig in items]


def test_the_plan_lists_what_a_first_fit_compiles_now():
    """A first fit's loops and kernels, recorded now in a process with an empty cache, are
    those of the plan: its first loop's list whole, the others' within the plan's (a loop
    compiled after another finds some of its kernels compiled already). When this fails,
    ``python -m fastae.backends.compile_ahead --write`` records the plan anew."""
    recorded = compile_ahead.record_in_process(compile_ahead.FIRST_CALLS["StackedClassifier Adam"])
    plan = compile_ahead.plan()
    assert recorded, "the fit compiled no loop"
    for i, (key, items) in enumerate(recorded.items()):
        assert key in plan, f"the plan lacks {key}: run python -m fastae.backends.compile_ahead --write"
        planned = decoded(plan[key])
        if i == 0:
            assert decoded(items) == planned
        else:
            assert all(item in planned for item in decoded(items))


FIT = """
import json, os, hashlib
import numpy as np
from numba.core.registry import CPUDispatcher
from fastae import StackedClassifier, config
config.COMPILE_AHEAD = {ahead}
rng = np.random.default_rng(3)
model = StackedClassifier([64, 32], 10, seed=0)
model.fit(rng.random((256, 64)), np.arange(256) % 10, 1, 0.1, 32, optimizer='sgd')
import gc
hits = sum(sum(d.stats.cache_hits.values()) for d in gc.get_objects()
           if isinstance(d, CPUDispatcher) and d.py_func.__module__.startswith('fastae.'))
try:
    os.waitpid(-1, os.WNOHANG)
    children = True
except ChildProcessError:
    children = False
digest = hashlib.sha256(b''.join(np.ascontiguousarray(a).tobytes() for a in (*model.weights, *model.biases)))
print(json.dumps(dict(hits=hits, children=children, model=digest.hexdigest())))
"""


def test_a_first_fit_beside_the_helper_loads_its_kernels_and_trains_the_same_model(tmp_path):
    """With an empty cache, a first fit beside the helper loads some kernels from the cache
    (only the helper can have saved them), leaves no process behind, and its model is
    bit for bit the one of a fit that compiled everything itself."""
    runs = {}
    for ahead in (True, False):
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / str(ahead)))
        out = subprocess.run([sys.executable, "-c", FIT.format(ahead=ahead)], env=env, check=True,
                             capture_output=True, text=True).stdout
        runs[ahead] = json.loads(out.splitlines()[-1])
    assert runs[True]["hits"] > 0
    assert runs[False]["hits"] == 0
    assert not runs[True]["children"]
    assert runs[True]["model"] == runs[False]["model"]


def test_the_helper_starts_only_for_a_planned_loop_that_the_cache_lacks(monkeypatch):
    loop = cpu_elementwise.sum64
    sig = (loop.typeof_pyval(__import__("numpy").zeros(3, "float32")),)
    monkeypatch.setattr(compile_ahead, "plan", lambda: {compile_ahead.plan_key(loop, sig): []})
    monkeypatch.setattr(compile_ahead, "_cpus", lambda: 2)
    monkeypatch.setattr(compile_ahead, "_on_disk", lambda d, s: False)
    helper = compile_ahead.start(loop, sig)
    assert helper is not None
    compile_ahead.stop(helper)
    assert helper.returncode is not None
    monkeypatch.setattr(config, "COMPILE_AHEAD", False)
    assert compile_ahead.start(loop, sig) is None
    monkeypatch.setattr(config, "COMPILE_AHEAD", True)
    monkeypatch.setattr(config, "KERNEL_THREADS", 2)
    assert compile_ahead.start(loop, sig) is None
    monkeypatch.setattr(config, "KERNEL_THREADS", 1)
    monkeypatch.setattr(compile_ahead, "_cpus", lambda: 1)
    assert compile_ahead.start(loop, sig) is None
    monkeypatch.setattr(compile_ahead, "_cpus", lambda: 2)
    monkeypatch.setattr(compile_ahead, "_on_disk", lambda d, s: True)
    assert compile_ahead.start(loop, sig) is None
    monkeypatch.setattr(compile_ahead, "_on_disk", lambda d, s: False)
    monkeypatch.setattr(compile_ahead, "plan", lambda: {})
    assert compile_ahead.start(loop, sig) is None


def test_a_planned_kernel_that_the_code_no_longer_has_is_skipped(monkeypatch):
    """The helper skips a kernel it cannot find or whose types do not unpickle, and goes on."""
    loop = cpu_elementwise.sum64
    sig = (loop.typeof_pyval(__import__("numpy").zeros(3, "float64")),)
    key = "k"
    items = [["fastae.backends.cpu_elementwise", "sum64", base64.b64encode(pickle.dumps(sig)).decode()],
             ["fastae.backends.cpu_elementwise", "no_such_kernel", base64.b64encode(pickle.dumps(sig)).decode()],
             ["fastae.backends.cpu_elementwise", "sum64", "not a pickle"]]
    monkeypatch.setattr(compile_ahead, "plan", lambda: {key: items})
    compiled = []
    monkeypatch.setattr(compile_ahead, "_on_disk", lambda d, s: False)
    monkeypatch.setattr(type(loop), "compile", lambda self, s: compiled.append((self.__name__, s)))
    compile_ahead.serve(key)
    assert compiled == [("sum64", sig)]


SAVE = """
import sys, time
from numba.core import caching
import fastae.backends  # installs the locator and the lock
from fastae.backends import cache
f = caching.IndexDataCacheFile(sys.argv[1], "kernel", ("numba's", cache.sources_stamp()))
f.save(sys.argv[2], sys.argv[2] + " data")
print("saved", flush=True)
"""


def test_a_save_of_a_fastae_kernel_waits_for_the_cache_lock(tmp_path):
    """A second process's save into the same cache directory waits while the lock is
    held, then saves; entries saved by two processes each load their own data."""
    with open(tmp_path / cache.LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saver = subprocess.Popen([sys.executable, "-c", SAVE, str(tmp_path), "one"], stdout=subprocess.PIPE,
                                 text=True)
        time.sleep(1.0)
        assert saver.poll() is None, "the save did not wait for the lock"
    assert saver.communicate(timeout=60)[0].strip() == "saved"
    subprocess.run([sys.executable, "-c", SAVE, str(tmp_path), "two"], check=True, capture_output=True)
    from numba.core import caching

    f = caching.IndexDataCacheFile(str(tmp_path), "kernel", ("numba's", cache.sources_stamp()))
    assert f.load("one") == "one data"
    assert f.load("two") == "two data"
