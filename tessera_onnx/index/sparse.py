"""``SparseIndex``: SPLADE-style sparse vectors in an inverted index, exact dot-product scoring.

Documents are stored doc-major in CSR form (``indices`` int32 + ``values`` float32 per document,
grouped by offsets). The first search after a write builds the inverted index: the same entries
sorted by term (a CSR matrix of terms × documents, stable so each posting list is in document
order). A query then reads only the posting lists of its own terms and accumulates
``Σ_t q_t · d_t`` per document in float64 (:func:`numpy.bincount`): the exact dot product.

Only documents that share at least one term with the query are returned, as in Qdrant and other
sparse engines; documents without any shared term score nothing and are not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..sparse_embedding import SparseEmbedding
from .base import VectorIndex, _State, check_finite, rank
from .dense import check_dim
from .rows import RaggedRows

__all__ = ["SparseIndex", "as_sparse"]

_MAX_TERM = np.iinfo(np.int32).max


def as_sparse(x: Any, dim: int | None, what: str) -> SparseEmbedding:
    """A :class:`SparseEmbedding` from itself, ``{term: weight}`` or ``(indices, values)``, validated."""
    if isinstance(x, SparseEmbedding):
        emb = x
    elif isinstance(x, Mapping):
        try:
            emb = SparseEmbedding(list(x.keys()), list(x.values()))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{what}: {exc}") from exc
    elif isinstance(x, tuple) and len(x) == 2:
        emb = SparseEmbedding(x[0], x[1])
    else:
        raise InvalidInputError(
            f"{what} must be a SparseEmbedding, a {{term id: weight}} dict or an (indices, values) pair, "
            f"got {type(x).__name__}"
        )
    check_finite(emb.values, what)
    if emb.nnz and (int(emb.indices[0]) < 0 or int(emb.indices[-1]) > _MAX_TERM):
        raise InvalidInputError(f"{what} has a term id outside 0..{_MAX_TERM}")
    if dim is not None and emb.nnz and int(emb.indices[-1]) >= dim:
        raise InvalidInputError(f"{what} has term id {int(emb.indices[-1])}, beyond the index's dim {dim}")
    return emb


class SparseIndex(VectorIndex):
    """Sparse vectors over a vocabulary of ``dim`` terms (``None``: any non-negative term id).

    ``search(query, k, filter=...)``: ``query`` is one sparse vector (e.g.
    ``TesseraSparse.encode_queries(text)``), a ``{term id: weight}`` dict or an
    ``(indices, values)`` pair.
    """

    kind = "sparse"

    def __init__(self, dim: int | None = None) -> None:
        self.dim = None if dim is None else check_dim(dim)
        super().__init__()

    def config(self) -> dict[str, Any]:
        """Constructor settings (saved with the index)."""
        return {"dim": self.dim}

    def __repr__(self) -> str:
        return f"SparseIndex(n={len(self)}, dim={self.dim})"

    def vector(self, doc_id: Any) -> SparseEmbedding:
        """The stored sparse vector of ``doc_id``."""
        state = self._state
        self.metadata(doc_id)  # raises UnknownIdError
        pos = state.positions[doc_id]
        return SparseEmbedding(state.rows.doc(pos, "indices"), state.rows.doc(pos, "values"), dim=self.dim)

    def _empty_rows(self) -> RaggedRows:
        return RaggedRows(
            {"indices": np.zeros(0, np.int32), "values": np.zeros(0, np.float32)}, np.zeros(1, np.int64)
        )

    def _rows_of(self, vectors: Any, n: int) -> RaggedRows:
        if isinstance(vectors, (SparseEmbedding, Mapping)):
            vectors = [vectors]
        docs = [as_sparse(v, self.dim, f"vectors[{i}]") for i, v in enumerate(vectors)]
        if len(docs) != n:
            raise InvalidInputError(f"{len(docs)} sparse vectors for {n} ids")
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum([d.nnz for d in docs], out=offsets[1:])
        empty = self._empty_rows().arrays
        indices = np.concatenate([d.indices for d in docs]).astype(np.int32) if docs else empty["indices"]
        values = np.concatenate([d.values for d in docs]).astype(np.float32) if docs else empty["values"]
        return RaggedRows({"indices": indices, "values": values}, offsets)

    def _check_loaded(self, rows: Any) -> None:
        idx, val = rows.arrays.get("indices"), rows.arrays.get("values")
        if idx is None or val is None or idx.dtype != np.int32 or val.dtype != np.float32:
            raise ValueError("stored sparse rows are not int32 indices + float32 values")
        if idx.shape != val.shape or rows.offsets[-1] != idx.size or rows.offsets[0] != 0:
            raise ValueError("stored offsets do not describe the stored entries")

    def _postings(self, rows: RaggedRows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(terms, starts, docs, values)``: posting list of ``terms[i]`` is ``starts[i]:starts[i+1]``."""
        flat = rows.arrays["indices"]
        order = np.argsort(flat, kind="stable")
        by_term = flat[order]
        terms, starts = np.unique(by_term, return_index=True)
        starts = np.append(starts, by_term.size).astype(np.int64)
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), rows.lengths)
        return terms, starts, owner[order], rows.arrays["values"][order]

    def _search_rows(
        self, state: _State, query: Any, k: int, mask: np.ndarray | None, options: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        if options:
            raise InvalidInputError(f"unknown search options {sorted(options)}")
        q = as_sparse(query, self.dim, "query")
        rows: RaggedRows = state.rows  # type: ignore[assignment]
        terms, starts, docs, values = state.cached("postings", lambda: self._postings(rows))
        pos = np.searchsorted(terms, q.indices)
        hit = (
            (pos < terms.size) & (terms[np.minimum(pos, terms.size - 1)] == q.indices)
            if terms.size
            else pos < 0
        )
        if not hit.any():
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        pieces = [(starts[p], starts[p + 1], float(w)) for p, w in zip(pos[hit], q.values[hit], strict=True)]
        cand = np.concatenate([docs[a:b] for a, b, _ in pieces])
        weights = np.concatenate([values[a:b].astype(np.float64) * w for a, b, w in pieces])
        n = len(rows)
        scores = np.bincount(cand, weights=weights, minlength=n)
        matched = np.bincount(cand, minlength=n) > 0
        if mask is not None:
            matched &= mask
        keep = np.flatnonzero(matched)
        best, best_scores = rank(scores[keep], k, keep)
        return best, best_scores.astype(np.float32)
