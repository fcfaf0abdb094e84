"""Run one onnxruntime session on slices of a batch at once, one thread per slice.

onnxruntime parallelises *inside* each operator (intra-op threads). That pays for large matrix
products, but a graph made of many small operators - TinyTimeMixer's MLP-mixer blocks are ~200
kernels of well under a millisecond each for a batch of 64 - spends a large part of every
operator waking the threads and waiting for the slowest. Splitting the batch instead, and running
the halves concurrently on a session with *one* intra-op thread (``InferenceSession.run`` releases
the GIL and may be called from several threads), needs no synchronisation until the halves are
joined, since the rows of a batch are independent: on a 2-core AMD EPYC a batch of 64 took 9.3 ms
this way against 12.3 ms with 2 intra-op threads (``python -m benchmarks.paradigms``).

For transformer encoders the opposite holds (their GEMMs scale well across intra-op threads and
two concurrent batches compete for the caches), so the text embedders keep intra-op threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["available_cores", "split_rows", "BatchParallelRunner"]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux, ``os.cpu_count()`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def split_rows(n: int, parts: int, min_rows: int = 1) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges cutting ``n`` rows into at most ``parts`` contiguous slices of near-equal size.

    No slice gets fewer than ``min_rows`` rows (so fewer slices are made for small ``n``); the
    sizes differ by at most one. ``n == 0`` gives no slices.
    """
    if n <= 0:
        return []
    count = max(1, min(parts, n // max(1, min_rows)))
    base, extra = divmod(n, count)
    bounds, lo = [], 0
    for i in range(count):
        hi = lo + base + (1 if i < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds


class BatchParallelRunner:
    """``run(outputs, feeds)`` like ``InferenceSession.run``, with the batch split over ``workers`` threads.

    ``session`` should have ``intra_op_num_threads = 1``; every feed's first axis is the batch
    axis, and every output's first axis must be too (the slices' outputs are concatenated along
    it, in order). Batches smaller than ``2 * min_rows`` run in the calling thread. The worker
    threads are started on first use and shared by every caller (instances are thread-safe).
    """

    def __init__(self, session: Any, workers: int, *, min_rows: int = 4) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.session = session
        self.workers = int(workers)
        self.min_rows = int(min_rows)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():  # a forked child has no workers
                self._pool_pid = os.getpid()
                # the calling thread computes one slice itself
                self._pool = ThreadPoolExecutor(max(1, self.workers - 1), thread_name_prefix="tessera-batch")
            return self._pool

    def run(self, outputs: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The session's ``outputs`` for ``feeds``, computed slice by slice in parallel."""
        names = list(outputs)
        n = len(next(iter(feeds.values())))
        slices = split_rows(n, self.workers, self.min_rows)
        if len(slices) <= 1:
            return list(self.session.run(names, dict(feeds)))

        def part(bounds: tuple[int, int]) -> list[np.ndarray]:
            lo, hi = bounds
            return list(self.session.run(names, {k: v[lo:hi] for k, v in feeds.items()}))

        pool = self._executor()
        futures = [pool.submit(part, b) for b in slices[1:]]
        first = part(slices[0])  # the calling thread takes a slice too
        results = [first, *(f.result() for f in futures)]
        return [np.concatenate([r[i] for r in results], axis=0) for i in range(len(names))]

    def close(self) -> None:
        """Stop the worker threads (they are also stopped when the interpreter exits)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
