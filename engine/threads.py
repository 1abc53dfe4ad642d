"""The engine's thread pool, and the one threading scheme per process.

Convolutions split their work across a small pool of Python threads (NumPy releases the GIL
inside BLAS and most array loops). BLAS itself is then held to one thread with threadpoolctl,
so that ``n`` Python threads never run on top of ``n`` OpenBLAS threads each: mixing the two
oversubscribes the cores and halves matrix-product speed.

Two ways of splitting a convolution are offered (:func:`set_parallel_mode`):

``"batch"`` (default)
    the batch is cut into fixed chunks of images small enough to stay in cache, and each
    thread takes the next free chunk and does all its work (im2col, matrix products and
    col2im, or Winograd transforms) (:func:`parallel_chunks`).
``"filters"``
    the output filters are split into batches, one per thread, over shared im2col columns
    (im2col layers only; Winograd layers always split by batch).

Measured with ``python -m engine.fast.bench --mode both --conv-algorithm im2col`` (2 threads,
OPENBLAS_CORETYPE=Haswell, batch 64 training steps, on a shared 2-core machine):
seed-cifar-1epoch 3,227 img/s by batch against 1,582 by filters, vgg-cifar 351 against 205.
Filter batches make every thread read all the columns and leave the col2im to one thread;
batch shares keep each thread's columns in its own core's cache.

Products whose output is small (a Gram matrix, a weight gradient with few filters, column
sums) use ``np.dot``, not ``np.matmul``: NumPy 2's matmul keeps the GIL for outputs of at most
500 values, and a long product of that kind (a reduction over a whole chunk) then stalls every
other engine thread for its duration (measured: vgg-cifar's first conv, 3 -> 16 filters, ran
its weight gradient on one thread, the other unable to start). np.dot releases the GIL
whatever the size.

Element-wise passes inside chunks use few, large NumPy calls: each call takes the GIL back
when it ends, and two threads issuing small calls spend their time handing it over
(measured: np.add on 16k float32 values ran at 0.7x the aggregate speed on two threads that it
did on one; 1.6x at 64k values, 2.0x at 256k).

On glibc (Linux) the allocator is also told to keep freed memory instead of handing large
blocks back to the kernel: a training step allocates and frees arrays of many sizes, and
every fresh block costs page faults on first touch (measured: 12 % of a vgg-cifar step).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

PARALLEL_MODES = ("batch", "filters")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
# Below this many elements an element-wise pass over a batch runs on the calling thread only.
_PARALLEL_MIN_SIZE = 1 << 16

_lock = threading.Lock()
_num_threads: int | None = None
_parallel_mode = "batch"
_pool: ThreadPoolExecutor | None = None
_blas_limiter: Any = None
_worker = threading.local()


def _default_num_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _keep_freed_memory() -> None:
    """glibc: serve large arrays from the heap and do not trim it (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 31)
    except (OSError, AttributeError):  # not glibc
        pass


def _limit_blas() -> None:
    """Hold BLAS to one thread for the whole process (our pool supplies the parallelism)."""
    global _blas_limiter
    if _blas_limiter is not None:
        return
    _keep_freed_memory()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in requirements.txt
        _blas_limiter = False
        return
    _blas_limiter = threadpool_limits(limits=1, user_api="blas")


def set_num_threads(n: int) -> None:
    """Use ``n`` Python threads for convolutions (BLAS stays single-threaded)."""
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of threads must be a positive integer, got {n!r}")
    with _lock:
        _limit_blas()
        if n != _num_threads:
            # Dropped, not shut down: a call in flight on another thread may still submit to
            # it; its idle workers exit once it is garbage collected.
            _pool = None
        _num_threads = n


def get_num_threads() -> int:
    """The number of threads convolutions use (default: the CPUs this process may run on)."""
    global _num_threads
    with _lock:
        if _num_threads is None:
            _num_threads = _default_num_threads()
        return _num_threads


def set_parallel_mode(mode: str) -> None:
    """Choose how convolutions split work across threads: ``"batch"`` or ``"filters"``."""
    global _parallel_mode
    if mode not in PARALLEL_MODES:
        raise ValueError(f"parallel mode must be one of {PARALLEL_MODES}, got {mode!r}")
    _parallel_mode = mode


def get_parallel_mode() -> str:
    return _parallel_mode


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        _limit_blas()
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="cnn-engine")
        return _pool


def _run_in_worker(fn: Callable[..., T], args: tuple) -> T:
    _worker.active = True
    try:
        return fn(*args)
    finally:
        _worker.active = False


def parallel_map(fn: Callable[..., T], arg_lists: Sequence[tuple]) -> list[T]:
    """Call ``fn(*args)`` for each tuple of ``arg_lists`` on the pool; results in order.

    The calling thread takes the first task itself, so one task costs no thread hop, and a
    call made from inside a pool worker runs serially (no nested waiting on the pool).
    """
    if len(arg_lists) <= 1 or getattr(_worker, "active", False):
        _limit_blas()
        return [fn(*args) for args in arg_lists]
    pool = _get_pool(get_num_threads())
    futures = [pool.submit(_run_in_worker, fn, args) for args in arg_lists[1:]]
    first = fn(*arg_lists[0])
    return [first, *(f.result() for f in futures)]


def parallel_chunks(task: Callable[[int, int], Any], n_chunks: int) -> None:
    """Call ``task(part, i)`` for every chunk i in ``range(n_chunks)`` on the engine's threads,
    each thread taking the next chunk nobody has taken as soon as it is done with one.

    ``part`` numbers the thread (for its scratch buffers). A thread slowed by other load on
    its core then does fewer chunks instead of holding the other one up at the end; which
    thread does which chunk varies, so a chunk's results must depend on the chunk alone.
    """
    counter = itertools.count()  # next() on it is atomic under the GIL

    def run(part: int) -> None:
        for i in iter(counter.__next__, None):
            if i >= n_chunks:
                return
            task(part, i)

    parallel_map(run, [(part,) for part in range(min(get_num_threads(), n_chunks))])


def split_range(n: int, parts: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``parts`` contiguous, near-equal (start, stop) pieces."""
    parts = max(1, min(parts, n))
    bounds = [n * k // parts for k in range(parts + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(parts) if bounds[k] < bounds[k + 1]]


def fixed_chunks(n: int, per_item_bytes: int, target_bytes: int) -> list[tuple[int, int]]:
    """Fixed (start, stop) chunks of ``range(n)``, independent of the thread count, of about
    ``target_bytes`` of work arrays each (``per_item_bytes`` per item).

    Their number is rounded up to a multiple of 6 so that 1, 2 or 3 threads get equal shares;
    results summed over chunks in chunk order are then the same for any thread count.
    """
    count = -(-n // max(1, target_bytes // max(per_item_bytes, 1)))
    if count > 1:
        count = min(n, -(-count // 6) * 6)
    return split_range(n, count)


def over_batch(part: Callable[[int, int], Any], x: Any) -> None:
    """Run ``part(i0, i1)`` over contiguous shares of the batch (first axis) of the array
    ``x``, one per engine thread when ``x`` is large enough to pay for the hand-off."""
    n = x.shape[0]
    pieces = 1 if x.size < _PARALLEL_MIN_SIZE else get_num_threads()
    parallel_map(part, split_range(n, pieces))
