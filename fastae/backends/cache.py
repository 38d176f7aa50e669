"""numba's on-disk cache for fastae's kernels, stamped with every backend source file.

numba stamps a cached function with its own source file only. The kernels in ``cpu.py``
inline ``mathfn.py`` and call ``blas.py``, so a change to those alone (an upgrade of
fastae, an edit) would leave stale compiled kernels that still look valid, and loading
them can crash. The locator installed here wraps whichever locator numba would pick for
fastae's backend modules and adds a hash of all of their sources (and ``config.py``) to
the stamp: any change there recompiles every kernel once. Other code's caching is left
alone.

fastae's saves also take a lock in the cache directory (``locked_saves``): a second
process may compile fastae's kernels into the same cache at the same time
(``compile_ahead.py``).
"""
import functools
import hashlib
import os
from pathlib import Path

_BACKENDS = Path(__file__).resolve().parent
_SOURCES = sorted(_BACKENDS.glob("*.py")) + [_BACKENDS.parent / "config.py"]


def sources_stamp():
    """A hash of fastae's backend sources."""
    digest = hashlib.sha256()
    for path in _SOURCES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def install():
    """Put fastae's locator in front of numba's own (once); a numba without this hook
    keeps its default caching."""
    try:
        from numba.core import caching
    except ImportError:
        return
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if classes is None or any(getattr(c, "fastae", False) for c in classes):
        return
    stamp = sources_stamp()
    fallbacks = list(classes)

    class FastaeLocator(caching._CacheLocator):
        fastae = True

        def __init__(self, inner):
            self._inner = inner

        def ensure_cache_path(self):
            self._inner.ensure_cache_path()

        def get_cache_path(self):
            return self._inner.get_cache_path()

        def get_source_stamp(self):
            return (self._inner.get_source_stamp(), stamp)

        def get_disambiguator(self):
            return self._inner.get_disambiguator()

        @classmethod
        def from_function(cls, py_func, py_file):
            if Path(py_file).resolve().parent != _BACKENDS:
                return None
            for fallback in fallbacks:
                inner = fallback.from_function(py_func, py_file)
                if inner is not None:
                    return cls(inner)
            return None

    classes.insert(0, FastaeLocator)
    locked_saves(caching, stamp)


#: The lock file that fastae's cache saves take, in the cache's directory.
LOCK_NAME = "fastae-save.lock"


def locked_saves(caching, stamp):
    """Make each save of a fastae kernel into numba's cache hold an exclusive ``fcntl``
    lock on ``LOCK_NAME`` in its directory. numba's save reads the function's index, adds
    the entry (a new data file's name) and writes the index back: two processes saving
    two signatures of one function at once could both take the same data file, and
    one's index entry would then load the other's code. Other code's saves, and a
    platform without ``fcntl``, keep numba's own."""
    try:
        import fcntl
    except ImportError:
        return
    cache_file = getattr(caching, "IndexDataCacheFile", None)
    save = getattr(cache_file, "save", None)
    if save is None or getattr(save, "fastae", False):
        return

    @functools.wraps(save)
    def locked(self, key, data):
        own = getattr(self, "_source_stamp", None)  # fastae's locator stamps (numba's stamp, stamp)
        if not (isinstance(own, tuple) and own[-1:] == (stamp,)):
            return save(self, key, data)
        with open(os.path.join(self._cache_path, LOCK_NAME), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return save(self, key, data)

    locked.fastae = True
    cache_file.save = locked
