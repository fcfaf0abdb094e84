"""Hamming distances between packed bit vectors: XOR + popcount, vectorised over the corpus.

Popcount is :func:`numpy.bitwise_count` (numpy ≥ 2.0) or, on older numpy, a 256-entry lookup
table over the bytes. The corpus side is prepared once as :class:`PackedWords`: the packed bytes
are zero-padded to a multiple of 8 and stored transposed as ``(words, n)`` ``uint64``, so that one
query costs ``words`` contiguous XOR / popcount / add passes over ``n`` elements instead of a slow
reduction over a short last axis. Work is blocked over the corpus to bound temporary memory.

All functions take the ``uint8`` packed form (``ubinary``; see
:meth:`~tessera_onnx.quantization.QuantizedEmbeddings.bits` for the ``binary`` scheme).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..arguments import public
from ..errors import InvalidInputError

__all__ = ["HAS_BITWISE_COUNT", "popcount", "hamming_distances", "PackedWords"]

HAS_BITWISE_COUNT: bool = hasattr(np, "bitwise_count")
_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_BLOCK = 1 << 16  # corpus columns per block: 6 words x 65536 x 8 B = 3 MiB of temporaries
# Below this many rows one thread is faster: dispatching a slice to the pool costs about as much as
# the slice saves (100k x 384 bits: 0.50 ms on one thread, 0.46-0.62 ms on two).
_PARALLEL_MIN_ROWS = 4 * _BLOCK
_CPUS = os.cpu_count() or 1


def _use_lut() -> bool:
    """Indirection so tests can force the lookup-table path on numpy ≥ 2."""
    return not HAS_BITWISE_COUNT


@public
def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of every element of an unsigned-integer array (``uint8`` result)."""
    x = np.asarray(x)
    if x.dtype.kind != "u":
        raise InvalidInputError(f"popcount needs an unsigned integer array, got {x.dtype}")
    if not _use_lut():
        return np.bitwise_count(x)
    per_byte = _LUT[np.ascontiguousarray(x).view(np.uint8)]
    return per_byte.reshape(x.shape + (x.dtype.itemsize,)).sum(axis=-1, dtype=np.uint8)


def _check_packed(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != np.uint8:
        raise InvalidInputError(
            f"{what} must be packed bits as uint8 (ubinary), got {arr.dtype}; "
            "use QuantizedEmbeddings.bits() for the int8 'binary' form"
        )
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(f"{what} must be 2-D (n, bytes), got shape {arr.shape}")
    return arr


def _to_words(packed: np.ndarray) -> np.ndarray:
    """``(n, nbytes)`` uint8 → ``(ceil(nbytes/8), n)`` uint64, zero-padded, C-contiguous."""
    n, nbytes = packed.shape
    n_words = max(1, (nbytes + 7) // 8)
    padded = np.zeros((n, n_words * 8), np.uint8)
    padded[:, :nbytes] = packed
    return np.ascontiguousarray(padded.view(np.uint64).T)


class PackedWords:
    """A corpus of packed bit vectors laid out for fast one-query-against-all Hamming distances."""

    def __init__(self, packed: Any) -> None:
        packed = _check_packed(packed, "corpus bits")
        self.n, self.n_bytes = packed.shape
        self.words = _to_words(packed)  # (W, n) uint64

    @property
    def nbytes(self) -> int:
        """Memory of the prepared layout."""
        return int(self.words.nbytes)

    def query_words(self, packed_query: Any) -> np.ndarray:
        """``(q, nbytes)`` packed queries → ``(q, W)`` uint64 words (same padding as the corpus)."""
        q = _check_packed(packed_query, "query bits")
        if q.shape[1] != self.n_bytes:
            raise InvalidInputError(f"query has {q.shape[1]} bytes per vector, corpus has {self.n_bytes}")
        return np.ascontiguousarray(_to_words(q).T)

    def distances(self, query_words: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Hamming distance of one query (``(W,)`` uint64 words) to every corpus row (``uint16``).

        ``threads``: corpus slices computed in parallel (numpy releases the GIL in these loops);
        ``None`` picks ``min(4, cpu_count)`` for corpora of at least 262,144 rows, else 1.
        """
        out = np.empty(self.n, np.uint16)
        if threads is None:
            threads = min(4, _CPUS) if self.n >= _PARALLEL_MIN_ROWS else 1
        threads = max(1, min(int(threads), -(-self.n // 4096)))
        if threads == 1:
            self._distances_into(query_words, 0, self.n, out)
            return out
        bounds = [self.n * i // threads for i in range(threads + 1)]
        pool = _pool(threads)
        jobs = [
            pool.submit(self._distances_into, query_words, int(a), int(b), out)
            for a, b in zip(bounds[1:-1], bounds[2:], strict=True)
        ]
        self._distances_into(query_words, int(bounds[0]), int(bounds[1]), out)
        for job in jobs:
            job.result()
        return out

    def _distances_into(self, query_words: np.ndarray, start: int, stop: int, out: np.ndarray) -> None:
        w_count = self.words.shape[0]
        if _use_lut():
            for s in range(start, stop, _BLOCK):
                e = min(stop, s + _BLOCK)
                x = self.words[:, s:e] ^ query_words[:, None]
                per_byte = _LUT[x.view(np.uint8)].reshape(w_count, e - s, 8)
                out[s:e] = per_byte.sum(axis=(0, 2), dtype=np.uint16)
            return
        width = min(stop - start, _BLOCK)
        buf = np.empty((w_count, width), np.uint64)
        cnt = np.empty((w_count, width), np.uint8)
        for s in range(start, stop, _BLOCK):
            e = min(stop, s + _BLOCK)
            b, c = buf[:, : e - s], cnt[:, : e - s]
            np.bitwise_xor(self.words[:, s:e], query_words[:, None], out=b)
            np.bitwise_count(b, out=c)
            np.add.reduce(c, axis=0, dtype=np.uint16, out=out[s:e])


_POOLS: dict[int, ThreadPoolExecutor] = {}
# A forked child inherits the pool objects but not their threads: submitting to them would wait
# for ever. The child starts with no pools and makes fresh ones on first use.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOLS.clear)


def _pool(threads: int) -> ThreadPoolExecutor:
    """A process-wide pool per size (``threads - 1`` workers: the caller computes one slice)."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="tessera-hamming")
    return _POOLS[threads]


@public
def hamming_distances(a: Any, b: Any) -> np.ndarray:
    """Pairwise Hamming distances ``(len(a), len(b))`` (``uint16``) between packed ``uint8`` bit rows."""
    a = _check_packed(a, "a")
    words = b if isinstance(b, PackedWords) else PackedWords(b)
    qw = words.query_words(a)
    out = np.empty((a.shape[0], words.n), np.uint16)
    for i in range(a.shape[0]):
        out[i] = words.distances(qw[i])
    return out
