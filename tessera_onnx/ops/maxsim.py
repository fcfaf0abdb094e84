"""ColBERT late interaction: ``S(q, d) = Σ_i max_j q_i · d_j`` over real tokens only.

Scores come from one GEMM per small block of documents, oriented ``D_block (rows × d) @ Qᵀ
(d × query tokens)`` so the skinny side (the query's 32 tokens) is the GEMM's narrow output
width, never a Python loop over tokens. Each block's similarity matrix stays in the core's L2
cache and is reduced right away: ``np.maximum.reduceat`` over each document's run of rows
(documents are a contiguous token matrix + offsets; padded input is read in place). Blocks are
spread over a few worker threads, each calling a single-threaded BLAS (through ``threadpoolctl``
when it is installed), so the cores never wait on each other inside one small GEMM.

Padded document positions are *excluded* from the max (the Stanford ``-9999`` convention, exact
whenever a document has a real token); a document with no real token scores 0. Padded query
positions (``query_mask`` false) contribute nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..arguments import public
from ..batch_parallel import available_cores
from .blas import single_threaded_blas

__all__ = ["pad_multivectors", "maxsim", "maxsim_scores", "maxsim_scores_packed"]

# One block's similarity matrix (rows x query tokens) holds about this many float32: 256 KiB,
# so it is reduced while still in L2 (1 MiB per core on the EPYC it was tuned on).
_BLOCK_ELEMENTS = 1 << 16
# Below this many multiply-adds a call runs on the calling thread only.
_PARALLEL_MIN_MACS = 1 << 26
# Indexes larger than this come from memory rather than the last-level cache: their blocks are
# read once before the GEMM (see _score_block).
_PREREAD_MIN_BYTES = 32 << 20


@public
def pad_multivectors(
    arrays: Sequence[np.ndarray], length: int | None = None, dtype: np.dtype | type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged ``(tokens_i, d)`` arrays into ``[N, T, d]`` zeros-padded plus a ``[N, T]`` mask."""
    if len(arrays) == 0:
        return np.zeros((0, length or 0, 0), dtype=dtype), np.zeros((0, length or 0), dtype=bool)
    dims = {a.shape[-1] for a in arrays}
    if len(dims) != 1 or any(a.ndim != 2 for a in arrays):
        raise ValueError(f"multi-vector arrays must all be 2-D with one width, got widths {sorted(dims)}")
    lengths = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
    longest = int(lengths.max()) if length is None else length
    out = np.zeros((len(arrays), longest, dims.pop()), dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a[:longest]
    mask = np.arange(longest)[None, :] < lengths[:, None]
    return out, mask


# ----------------------------------------------------------------------------- the kernel


class _Documents:
    """Documents as rows of one token matrix: document ``i`` is ``rows[starts[i]:starts[i] + lengths[i]]``.

    Rows between documents (padding) are allowed and never scored.
    """

    def __init__(self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        self.rows, self.starts, self.lengths = rows, starts, lengths

    def __len__(self) -> int:
        return len(self.starts)

    def blocks(self, query_width: int) -> list[tuple[int, int]]:
        """``(first, stop)`` document ranges whose rows x query tokens fit :data:`_BLOCK_ELEMENTS`."""
        span = self.starts + self.lengths
        budget = max(1, _BLOCK_ELEMENTS // max(1, query_width))
        out, first, n = [], 0, len(self)
        while first < n:
            # the block's rows run from starts[first] to span[stop - 1]; grow while within budget
            stop = int(np.searchsorted(span, self.starts[first] + budget, side="right"))
            stop = min(n, max(stop, first + 1))
            out.append((first, stop))
            first = stop
        return out


def _score_block(
    docs: _Documents,
    first: int,
    stop: int,
    query_t: np.ndarray,
    best: np.ndarray,
    buf: np.ndarray,
    preread: bool = False,
) -> None:
    """``best[first:stop]`` = per document, per query token, the max similarity over its real rows."""
    starts, lengths = docs.starts[first:stop], docs.lengths[first:stop]
    real = lengths > 0
    if not real.any():
        best[first:stop] = 0.0
        return
    lo = int(starts[real][0])
    hi = int((starts + lengths)[real][-1])
    rows = docs.rows[lo:hi]
    if preread:
        # Read the block once with a streaming reduction before the GEMM: BLAS's packing of rows
        # that come from memory runs at ~2/3 of its rate on rows already in cache, and a plain read
        # brings them in at full bandwidth (one thread: 52 -> 61 GFLOP/s on a 921 MB index)
        rows.max(axis=0)
    sims = np.matmul(rows, query_t, out=buf[: hi - lo])
    local = starts[real] - lo
    contiguous = bool(np.array_equal(local[1:], (local + lengths[real])[:-1]))
    if contiguous:  # packed documents: each run ends where the next begins
        reduced = np.maximum.reduceat(sims, local, axis=0)
    else:  # padding between documents: reduce [start, end) pairs and keep every other one
        pairs = np.empty(2 * len(local), dtype=np.intp)
        pairs[0::2], pairs[1::2] = local, local + lengths[real]
        reduced = np.maximum.reduceat(sims, pairs[:-1], axis=0)[0::2]
    if real.all():
        best[first:stop] = reduced
    else:
        out = best[first:stop]
        out[real] = reduced
        out[~real] = 0.0  # a document without real tokens scores 0


def _best_similarities(docs: _Documents, query_t: np.ndarray, threads: int | None) -> np.ndarray:
    """``[n_documents, query tokens]``: each query token's best similarity in each document."""
    width = query_t.shape[1]
    best = np.empty((len(docs), width), dtype=np.float32)
    blocks = docs.blocks(width)
    workers = available_cores() if threads is None else max(1, int(threads))
    macs = int(docs.lengths.sum()) * width * query_t.shape[0]
    workers = min(workers, len(blocks)) if macs >= _PARALLEL_MIN_MACS else 1
    cap = max(1, max(int(docs.starts[b - 1] + docs.lengths[b - 1] - docs.starts[a]) for a, b in blocks))
    preread = docs.rows.nbytes > _PREREAD_MIN_BYTES

    def run(part: list[tuple[int, int]]) -> None:
        buf = np.empty((cap, width), dtype=np.float32)
        for a, b in part:
            _score_block(docs, a, b, query_t, best, buf, preread)

    if workers == 1:
        with single_threaded_blas():
            run(blocks)
        return best
    # tasks of a few blocks, taken by whichever worker is free: a core slowed by other processes
    # does less of the work instead of holding the others up at the end
    tasks = [blocks[i : i + 8] for i in range(0, len(blocks), 8)]
    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(run, t) for t in tasks]:
            f.result()
    return best


def _query_matrix(queries: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real query tokens of all queries as one ``(d, tokens)`` matrix, + each query's start and count."""
    counts = np.fromiter((len(q) for q in queries), dtype=np.intp, count=len(queries))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    query_t = np.ascontiguousarray(np.concatenate(queries, axis=0).T, dtype=np.float32)
    return query_t, starts, counts


def _sum_per_query(best: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``[n_queries, n_documents]``: sum of each query's own token columns of ``best``."""
    scores = np.zeros((len(counts), best.shape[0]), dtype=np.float32)
    real = counts > 0
    if real.any() and best.shape[0]:
        scores[real] = np.add.reduceat(best, starts[real], axis=1).T
    return scores


def _check_width(width: int, dwidth: int) -> None:
    if width != dwidth:
        raise ValueError(f"query width {width} does not match document width {dwidth}")


def _as_batch(
    x: np.ndarray | Sequence[np.ndarray], mask: np.ndarray | None
) -> tuple[np.ndarray | list[np.ndarray], np.ndarray | None]:
    """A padded ``[N, T, d]`` float32 array with its checked mask (or None), else a checked float32 list."""
    if isinstance(x, np.ndarray) and x.ndim == 2:  # one item
        x, mask = x[None], None if mask is None else np.asarray(mask)[None]
    if isinstance(x, np.ndarray) and x.ndim == 3:
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != x.shape[:2]:
                raise ValueError(f"mask shape {mask.shape} does not match embeddings {x.shape[:2]}")
        return x.astype(np.float32, copy=False), mask
    if mask is not None:
        raise ValueError("a mask is only accepted with a padded [N, T, d] array")
    arrays = [np.asarray(a, dtype=np.float32) for a in x]
    widths = {a.shape[-1] for a in arrays}
    if any(a.ndim != 2 for a in arrays) or len(widths) > 1:
        raise ValueError(f"multi-vector arrays must all be 2-D with one width, got widths {sorted(widths)}")
    return arrays, None


def _ragged_queries(queries: np.ndarray | Sequence[np.ndarray], mask: np.ndarray | None) -> list[np.ndarray]:
    """Queries as a list of ``(real tokens, d)`` float32 arrays."""
    q, mask = _as_batch(queries, mask)
    if isinstance(q, list):
        return q
    return list(q) if mask is None else [x[m] for x, m in zip(q, mask, strict=True)]


def _documents(documents: np.ndarray | Sequence[np.ndarray], mask: np.ndarray | None) -> _Documents:
    """Documents as rows + starts + lengths, reading a padded array in place where its mask allows."""
    d, mask = _as_batch(documents, mask)
    if isinstance(d, list):
        lengths = np.fromiter((len(a) for a in d), dtype=np.intp, count=len(d))
        return _packed(np.concatenate(d, axis=0) if d else np.zeros((0, 0), np.float32), lengths)
    n, t, width = d.shape
    rows = np.ascontiguousarray(d).reshape(n * t, width)
    starts = np.arange(n, dtype=np.intp) * t
    if mask is None:
        return _Documents(rows, starts, np.full(n, t, dtype=np.intp))
    lengths = mask.sum(axis=1).astype(np.intp)
    if np.array_equal(mask, np.arange(t)[None, :] < lengths[:, None]):
        return _Documents(rows, starts, lengths)  # real tokens first: read in place
    return _packed(rows[mask.reshape(-1)], lengths)  # holes in the mask: gather the real rows


def _packed(rows: np.ndarray, lengths: np.ndarray) -> _Documents:
    starts = np.zeros(len(lengths), dtype=np.intp)
    if len(lengths):
        np.cumsum(lengths[:-1], out=starts[1:])
    return _Documents(np.ascontiguousarray(rows, dtype=np.float32), starts, lengths.astype(np.intp))


def _scores(queries: list[np.ndarray], docs: _Documents, threads: int | None) -> np.ndarray:
    if not queries or len(docs) == 0:
        return np.zeros((len(queries), len(docs)), dtype=np.float32)
    _check_width(queries[0].shape[1], docs.rows.shape[1])
    query_t, starts, counts = _query_matrix(queries)
    if query_t.shape[1] == 0:
        return np.zeros((len(queries), len(docs)), dtype=np.float32)
    return _sum_per_query(_best_similarities(docs, query_t, threads), starts, counts)


@public
def maxsim_scores(
    queries: np.ndarray | Sequence[np.ndarray],
    documents: np.ndarray | Sequence[np.ndarray],
    query_mask: np.ndarray | None = None,
    document_mask: np.ndarray | None = None,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """MaxSim score matrix ``[n_queries, n_documents]`` (float32).

    ``queries``/``documents`` are either lists of ``(tokens_i, d)`` arrays or padded
    ``[N, T, d]`` arrays with optional ``[N, T]`` masks (true = real token). A single 2-D
    array is one query/document. ``threads``: worker threads for large calls (None = the cores
    this process may use).
    """
    return _scores(_ragged_queries(queries, query_mask), _documents(documents, document_mask), threads)


@public
def maxsim_scores_packed(
    queries: np.ndarray | Sequence[np.ndarray],
    tokens: np.ndarray,
    offsets: np.ndarray,
    query_mask: np.ndarray | None = None,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """MaxSim scores ``[n_queries, n_documents]`` of documents stored as one token matrix.

    Document ``i`` is ``tokens[offsets[i]:offsets[i + 1]]`` (``offsets`` has ``n_documents + 1``
    non-decreasing entries from 0), the layout of a multi-vector index; nothing is copied or padded.
    """
    tokens = np.asarray(tokens)
    offsets = np.asarray(offsets, dtype=np.intp)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be a (rows, d) array, got shape {tokens.shape}")
    if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(tokens):
        raise ValueError("offsets must run from 0 to len(tokens), one more entry than documents")
    lengths = np.diff(offsets)
    if np.any(lengths < 0):
        raise ValueError("offsets must be non-decreasing")
    docs = _Documents(np.ascontiguousarray(tokens, dtype=np.float32), offsets[:-1].copy(), lengths)
    return _scores(_ragged_queries(queries, query_mask), docs, threads)


@public
def maxsim(query: np.ndarray, documents: np.ndarray | Sequence[np.ndarray]) -> np.ndarray | np.float32:
    """MaxSim of one query ``(Tq, d)`` against one document (2-D array) or many (list / padded).

    Returns a scalar for one document, else a ``[n_documents]`` array.
    """
    if query.ndim != 2:
        raise ValueError(f"query must be a (tokens, d) array, got shape {query.shape}")
    single = isinstance(documents, np.ndarray) and documents.ndim == 2
    scores = maxsim_scores(query[None], documents)
    return scores[0, 0] if single else scores[0]
