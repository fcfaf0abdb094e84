"""ColBERT late interaction: ``S(q, d) = Σ_i max_j q_i · d_j`` over real tokens only.

Ragged token matrices are padded into one array plus a boolean mask
(:func:`pad_multivectors`); scores come from one GEMM per chunk of documents, never from a
Python loop over tokens. Padded document positions are *excluded* from the max (the
Stanford ``-9999`` convention, exact whenever a document has a real token); a document with
no real token scores 0. Padded query positions (``query_mask`` false) contribute nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pad_multivectors", "maxsim", "maxsim_scores"]

# Chunk documents so one chunk's similarity block stays around this many float32 (64 MiB).
_BLOCK_ELEMENTS = 1 << 24


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


def _as_padded(
    x: np.ndarray | Sequence[np.ndarray], mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(x, np.ndarray) and x.ndim == 3:
        if mask is None:
            mask = np.ones(x.shape[:2], dtype=bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask shape {mask.shape} does not match embeddings {x.shape[:2]}")
        return x.astype(np.float32, copy=False), mask
    if isinstance(x, np.ndarray) and x.ndim == 2:
        return _as_padded(x[None], None if mask is None else np.asarray(mask)[None])
    if mask is not None:
        raise ValueError("a mask is only accepted with a padded [N, T, d] array")
    return pad_multivectors(list(x))


def maxsim_scores(
    queries: np.ndarray | Sequence[np.ndarray],
    documents: np.ndarray | Sequence[np.ndarray],
    query_mask: np.ndarray | None = None,
    document_mask: np.ndarray | None = None,
) -> np.ndarray:
    """MaxSim score matrix ``[n_queries, n_documents]`` (float32).

    ``queries``/``documents`` are either lists of ``(tokens_i, d)`` arrays or padded
    ``[N, T, d]`` arrays with optional ``[N, T]`` masks (true = real token). A single 2-D
    array is one query/document.
    """
    q, qm = _as_padded(queries, query_mask)
    d, dm = _as_padded(documents, document_mask)
    nq, tq, width = q.shape
    nd, td, dwidth = d.shape
    if nq == 0 or nd == 0:
        return np.zeros((nq, nd), dtype=np.float32)
    if width != dwidth:
        raise ValueError(f"query width {width} does not match document width {dwidth}")
    scores = np.empty((nq, nd), dtype=np.float32)
    if tq == 0 or td == 0:
        scores.fill(0)
        return scores
    q2 = np.ascontiguousarray(q.reshape(nq * tq, width))
    qweight = qm.astype(np.float32)  # [nq, tq]
    chunk = max(1, _BLOCK_ELEMENTS // max(1, nq * tq * td))
    neg = np.float32(-np.inf)
    for start in range(0, nd, chunk):
        stop = min(nd, start + chunk)
        block = d[start:stop].reshape(-1, width)
        sims = (q2 @ block.T).reshape(nq, tq, stop - start, td)
        real = dm[start:stop]
        padded = not real.all()
        if padded:  # two passes over the block that unpadded documents (the common case) skip
            np.copyto(sims, neg, where=~real[None, None, :, :])
        best = sims.max(axis=3)  # [nq, tq, chunk]
        if padded:
            best[np.isneginf(best)] = 0.0  # documents without any real token
        scores[:, start:stop] = np.einsum("qtc,qt->qc", best, qweight)
    return scores


def maxsim(query: np.ndarray, documents: np.ndarray | Sequence[np.ndarray]) -> np.ndarray | np.float32:
    """MaxSim of one query ``(Tq, d)`` against one document (2-D array) or many (list / padded).

    Returns a scalar for one document, else a ``[n_documents]`` array.
    """
    if query.ndim != 2:
        raise ValueError(f"query must be a (tokens, d) array, got shape {query.shape}")
    single = isinstance(documents, np.ndarray) and documents.ndim == 2
    scores = maxsim_scores(query[None], documents)
    return scores[0, 0] if single else scores[0]
