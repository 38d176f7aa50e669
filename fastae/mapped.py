"""Memory-mapped data (``np.memmap``, ``np.load(path, mmap_mode="r")``): read in place,
with the pages already read handed back to the page cache as the work goes on.

A process that reads a mapped file keeps every page it has touched mapped, and counted
in its resident memory, until the system needs the memory; reading a file bigger than
memory that way pushes everything else out first. While the training loops, the
encodings or the checks read a mapped array, :func:`reading` runs a thread that tells
the kernel that the pages read so far are not needed any more
(``madvise(MADV_DONTNEED)``): they leave this process's resident set and stay in the
page cache, from which the next read takes them again without touching the disk.

It does so each time the process's file pages have grown by ``RELEASE_BYTES`` (checked
every ``POLL_INTERVAL`` seconds; once more a little after such a release if they are
still that far above their lowest count, since the loop reads on while the release
runs), and every ``RELEASE_INTERVAL`` seconds in any case.
A time alone does not bound them: Linux keeps a file read or written in large steps in
the page cache as blocks of up to 2 MiB, and a fault maps a whole block, so a shuffled
epoch on a cached file maps up to 2 MiB per row read, the whole file in a second.

Shuffled batches read rows in no order, and a file not in the page cache then serves one
page at a time, each read waiting for the one before. Given the loop's rows
(:class:`ReadAhead`), a second thread asks the kernel for the rows of the next
``READ_AHEAD_BATCHES`` batches (``posix_fadvise(POSIX_FADV_WILLNEED)``), which it reads
many at once (README, "Data bigger than memory", measures what that gives an epoch); a
thread of its own, so that a request that waits for memory never holds back a release.

The data are never changed (a shared mapping's pages are the file's; a private,
copy-on-write mapping, ``mmap_mode="c"``, is left alone since dropping its pages would
drop the changes made to them).
"""
import contextlib
import mmap
import os
import platform
import sys
import threading
import time
import weakref

import numpy as np

#: Seconds between two releases of the pages read, at the most.
RELEASE_INTERVAL = 0.25
#: Growth of the process's resident file pages that releases them before that.
RELEASE_BYTES = 256 << 20
#: Seconds between two looks at that growth (and at the rows to read ahead).
POLL_INTERVAL = 0.005
#: Batches whose rows :class:`ReadAhead` has the kernel read before the loop needs them.
READ_AHEAD_BATCHES = 32


def _memmap_and_mapping(X):
    """``(np.memmap, mmap.mmap)`` under the array ``X`` (through its views), or Nones."""
    seen = 0
    while X is not None and seen < 64:
        m = getattr(X, "_mmap", None)
        if isinstance(m, mmap.mmap):
            return X, m
        if isinstance(X, mmap.mmap):
            return None, X
        X = getattr(X, "base", None)
        seen += 1
    return None, None


def mapping(X):
    """The ``mmap.mmap`` under the array ``X`` (through its views), or None."""
    return _memmap_and_mapping(X)[1]


def is_mapped(X):
    return mapping(X) is not None


def writable(X):
    """``X``, or, for a read-only memory-mapped file (``np.load(mmap_mode="r")``), the
    same bytes of the file mapped again copy-on-write: an array numba compiles as a
    writable one (one compiled variant of each loop instead of two). fastae never writes
    to its inputs, so the pages stay the file's and can be released as they are read.

    On Linux the mapping reserves no memory (``MAP_NORESERVE``): a copy-on-write mapping
    is otherwise charged its whole size, and the system refuses one of a file bigger
    than its memory. Where no copy-on-write mapping can be made, ``X`` stays as it is."""
    if X.flags.writeable or not X.flags.c_contiguous:
        return X
    memmap, m = _memmap_and_mapping(X)
    if memmap is None or getattr(memmap, "filename", None) is None:
        return X
    offset = _file_offset(memmap, m, X)
    if offset is None:
        return X
    try:
        again = _copy_on_write(memmap.filename, offset, X.nbytes)
    except (OSError, ValueError):
        return X
    key = id(again)
    _UNTOUCHED.add(key)
    _FILES[key] = (memmap.filename, offset - offset % mmap.ALLOCATIONGRANULARITY)
    weakref.finalize(again, _forget, key)
    return np.ndarray(X.shape, X.dtype, buffer=again, offset=offset % mmap.ALLOCATIONGRANULARITY)


def _copy_on_write(filename, offset, length):
    """A private, writable ``mmap.mmap`` of ``length`` bytes of the file from ``offset``
    (rounded down to the allocation granularity, as the mapping needs)."""
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    with open(filename, "rb") as f:
        if _NORESERVE is not None:
            flags = mmap.MAP_PRIVATE | _NORESERVE
            return mmap.mmap(f.fileno(), offset - start + length, flags=flags,
                             prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
        return mmap.mmap(f.fileno(), offset - start + length, access=mmap.ACCESS_COPY, offset=start)


#: ``MAP_NORESERVE`` where the system has it: Python's ``mmap`` names it from 3.13 on;
#: before, Linux's value on the architectures that share it (asm-generic).
_NORESERVE = getattr(mmap, "MAP_NORESERVE", None)
if _NORESERVE is None and sys.platform.startswith("linux") and platform.machine() in (
        "x86_64", "i686", "aarch64", "armv7l", "riscv64", "s390x"):
    _NORESERVE = 0x4000


#: ``id`` of the copy-on-write mappings made by :func:`writable` (never written to, so
#: their pages can be released like a shared mapping's).
_UNTOUCHED = set()
#: The file and the file offset of each of those mappings, for the read-ahead.
_FILES = {}


def _forget(key):
    _UNTOUCHED.discard(key)
    _FILES.pop(key, None)


def _advise(m, option):
    try:
        m.madvise(option)
    except (ValueError, OSError):  # closed, or an option this kernel lacks
        pass


class ReadAhead:
    """The rows a training loop will read next from a mapped array, for :func:`reading`
    to have the kernel read ahead of it.

    Before each loop call, :meth:`follow` gives the call's epoch orders, the row of the
    first epoch it starts at and its ``stop`` array, whose ``stop[1]`` the loop counts
    down once a batch (``fastae.stopping``): the batches run so far say where it is.
    """

    def __init__(self, X, batch_size, batches=None):
        self.X = X
        self.batch_size = int(batch_size)
        self.rows_ahead = self.batch_size * (READ_AHEAD_BATCHES if batches is None else batches)
        self._call = None

    def follow(self, orders, first_row, stop):
        """The loop is about to run over ``orders`` (epochs x rows) from ``first_row`` of
        its first epoch, counting batches down in ``stop[1]``."""
        self._call = _Call(orders.reshape(-1), orders.shape[1], int(first_row), stop, int(stop[1]))

    def next_rows(self):
        """The rows of the next batches that were not asked for yet."""
        call = self._call
        if call is None:
            return None
        n, bs = call.n, self.batch_size
        run = call.count_at_start - int(call.stop[1])  # batches the loop has started
        first_epoch = -(-(n - call.first_row) // bs)
        if run < first_epoch:
            at = call.first_row + run * bs
        else:
            epoch, batch = divmod(run - first_epoch, -(-n // bs))
            at = (epoch + 1) * n + batch * bs
        lo, hi = max(call.issued, at), min(call.flat.shape[0], at + self.rows_ahead)
        if hi <= lo:
            return None
        call.issued = hi
        return call.flat[lo:hi]


class _Call:
    __slots__ = ("flat", "n", "first_row", "stop", "count_at_start", "issued")

    def __init__(self, flat, n, first_row, stop, count_at_start):
        self.flat, self.n, self.first_row, self.stop = flat, n, first_row, stop
        self.count_at_start, self.issued = count_at_start, first_row


def _row_reader(ahead, maps, done):
    """``(read_ahead, fd)``: a function that asks the kernel for ``ahead``'s next rows (it
    stops early once ``done`` is set), and the file descriptor it reads through, for the
    caller to close (None when it needs none); ``(None, None)`` when there is nothing to
    do. The advice goes through ``os.posix_fadvise`` where the file is known, which lets
    go of the GIL while the kernel works (``mmap.madvise`` holds it): asking for pages
    that are not in memory can wait for the kernel to free some (for seconds while a
    large write is written back). Elsewhere (no ``posix_fadvise``, as on macOS, or a
    mapping of no known file) ``mmap.madvise(MADV_WILLNEED)`` asks for them."""
    if ahead is None:
        return None, None
    X = ahead.X
    m = mapping(X)
    if m is None or not any(m is other for other in maps) or X.ndim != 2 or not X.flags.c_contiguous:
        return None, None
    row = X.shape[1] * X.itemsize  # C-contiguous: a row's bytes
    if row == 0:
        return None, None
    where = _file_of(X, m) if hasattr(os, "posix_fadvise") else None
    fd = None
    if where is not None:
        try:
            fd = os.open(where[0], os.O_RDONLY)
        except OSError:
            fd = None
    if fd is not None:
        start = where[1]

        def advise(offset):
            os.posix_fadvise(fd, offset, row, os.POSIX_FADV_WILLNEED)
    else:
        first = _address(m)
        if first is None or not hasattr(mmap, "MADV_WILLNEED"):
            return None, None
        start, page = X.ctypes.data - first, mmap.PAGESIZE

        def advise(offset):
            aligned = offset - offset % page
            m.madvise(mmap.MADV_WILLNEED, aligned, offset + row - aligned)

    def read_ahead():
        rows = ahead.next_rows()
        if rows is None:
            return
        for offset in (start + rows.astype(np.int64) * row).tolist():
            if done.is_set():
                return
            try:
                advise(offset)
            except (ValueError, OSError):  # closed, or a system without it
                return

    return read_ahead, fd


def _file_of(X, m):
    """``(filename, offset)``: the file under the mapped ``X`` (its mapping ``m``) and the
    offset of ``X``'s first byte in it, or None where that is not known."""
    memmap, _ = _memmap_and_mapping(X)
    if memmap is not None and getattr(memmap, "filename", None) is not None:
        offset = _file_offset(memmap, m, X)
        return None if offset is None else (memmap.filename, offset)
    known, first = _FILES.get(id(m)), _address(m)
    if known is None or first is None:
        return None
    return known[0], known[1] + (X.ctypes.data - first)


def _file_offset(memmap, m, X):
    """The offset in the file of ``X``'s first byte, ``X`` a view of ``memmap`` (whose
    mapping ``m`` starts at its ``offset`` rounded down to the allocation granularity, as
    ``np.memmap`` maps it; a slice of a memmap keeps the ``offset`` of the whole)."""
    first = _address(m)
    if first is None:
        return None
    return memmap.offset - memmap.offset % mmap.ALLOCATIONGRANULARITY + (X.ctypes.data - first)


def _address(m):
    """The address of the mapping ``m``'s first byte, or None (closed)."""
    try:
        return np.frombuffer(m, np.uint8).ctypes.data
    except (ValueError, TypeError):
        return None


@contextlib.contextmanager
def reading(*arrays, random=False, interval=None, ahead=None):
    """While the block runs, release the pages read from the mapped ones of ``arrays``
    each time they grow by ``RELEASE_BYTES``, every ``interval`` seconds (default
    ``RELEASE_INTERVAL``) in any case, and once more at the end. ``random=True`` also tells
    the kernel that the rows are read in no order (shuffled batches): no read-ahead
    around each page, which would read many times the rows a batch needs from a file
    that is not in the page cache. ``ahead``: a :class:`ReadAhead` of one of ``arrays``,
    whose rows are then read ahead of the loop."""
    maps = []
    for X in arrays:
        m = mapping(X)
        if m is not None and not m.closed and all(m is not other for other in maps):
            maps.append(m)
    maps = [m for m in maps if _shared(m)]
    if not maps or not hasattr(mmap, "MADV_DONTNEED"):
        yield
        return
    for m in maps:
        _advise(m, mmap.MADV_RANDOM if random else mmap.MADV_SEQUENTIAL)
    done = threading.Event()
    wait = RELEASE_INTERVAL if interval is None else interval
    pages, fd, workers = _FilePages(), None, []
    try:
        read_ahead, fd = _row_reader(ahead, maps, done)
        start = pages.count(), time.monotonic()  # here: the block may read before the thread runs

        def release():
            poll = min(wait, POLL_INTERVAL) if pages.readable else wait
            limit = RELEASE_BYTES // mmap.PAGESIZE
            base, last = start
            # The count after a release can include pages that the block mapped while it
            # ran: ``settle`` seconds after a release that their growth asked for, the
            # pages are released once more if they are still ``limit`` above the lowest
            # count after a release (the process's other file pages).
            floor, settle, again = base, 10 * poll, False
            while not done.wait(poll):
                now = time.monotonic()
                count = pages.count()
                grown = count - base > limit
                kept = again and now - last >= settle and count - floor > limit
                if now - last >= wait or grown or kept:
                    for m in maps:
                        _advise(m, mmap.MADV_DONTNEED)
                    base, last = pages.count(), now
                    floor = min(floor, base)
                    again = grown and not kept  # one follow-up each
                elif again and now - last >= settle:
                    again = False

        def read_ahead_loop():
            while not done.wait(POLL_INTERVAL):
                read_ahead()

        # Two threads: a read-ahead that waits for the kernel must not hold back a release.
        workers.append(threading.Thread(target=release, name="fastae-release-pages", daemon=True))
        if read_ahead is not None:
            workers.append(threading.Thread(target=read_ahead_loop, name="fastae-read-ahead", daemon=True))
        for worker in workers:
            worker.start()
        yield
    finally:
        done.set()
        for worker in workers:
            if worker.ident is not None:  # started
                worker.join()
        pages.close()
        if fd is not None:
            os.close(fd)
        for m in maps:
            _advise(m, mmap.MADV_DONTNEED)
            _advise(m, mmap.MADV_NORMAL)


class _FilePages:
    """The process's resident pages of mapped files, from ``/proc/self/statm`` (its third
    field, "shared"; about 2 us a look), or 0 where there is no such file."""

    def __init__(self):
        try:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None

    @property
    def readable(self):
        return self._fd is not None

    def count(self):
        if self._fd is None:
            return 0
        try:
            return int(os.pread(self._fd, 128, 0).split()[2])
        except (OSError, ValueError, IndexError):
            return 0

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _shared(m):
    """True unless ``m`` is a private (copy-on-write) mapping that may have been written
    to (one made by :func:`writable` never is)."""
    try:
        m.madvise(mmap.MADV_NORMAL)
    except (ValueError, OSError, AttributeError):
        return False
    # mmap.mmap keeps its access mode to itself but for its repr.
    return "ACCESS_COPY" not in repr(m) or id(m) in _UNTOUCHED


def open_npy(path):
    """``np.load(path, mmap_mode="r")``: a ``.npy`` file's array, read in place."""
    return np.load(path, mmap_mode="r", allow_pickle=False)
