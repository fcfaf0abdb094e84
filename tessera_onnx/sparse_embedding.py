"""``SparseEmbedding``: one SPLADE vector as ascending vocabulary ids and their weights.

Conversions: :meth:`SparseEmbedding.to_dict`, :meth:`~SparseEmbedding.decode` (vocabulary
tokens), :func:`to_scipy` (a CSR matrix; needs scipy, imported lazily), :func:`inverted_index`
(term → [(doc_id, weight)]) and :func:`sparse_dot` (score matrix, numpy only).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from .errors import InvalidInputError, MissingDependencyError

__all__ = ["SparseEmbedding", "to_scipy", "inverted_index", "sparse_dot"]


class SparseEmbedding:
    """A sparse vector: ``indices`` (int64, ascending, unique) and ``values`` (float32).

    ``vocabulary`` (optional, shared, not copied) maps ids to tokens for :meth:`decode`;
    ``dim`` is the vocabulary size when known.
    """

    __slots__ = ("indices", "values", "vocabulary", "dim")

    def __init__(
        self,
        indices: Any,
        values: Any,
        vocabulary: Sequence[str] | None = None,
        dim: int | None = None,
    ) -> None:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        val = np.asarray(values, dtype=np.float32).reshape(-1)
        if idx.shape != val.shape:
            raise InvalidInputError(f"indices ({idx.size}) and values ({val.size}) differ in length")
        if idx.size > 1 and np.any(np.diff(idx) <= 0):
            order = np.argsort(idx, kind="stable")
            idx, val = idx[order], val[order]
            if np.any(np.diff(idx) == 0):
                raise InvalidInputError("sparse indices must be unique")
        self.indices = idx
        self.values = val
        self.vocabulary = vocabulary
        self.dim = dim

    def __len__(self) -> int:
        return int(self.indices.size)

    @property
    def nnz(self) -> int:
        """Number of non-zero weights."""
        return int(self.indices.size)

    def __repr__(self) -> str:
        return f"SparseEmbedding(nnz={self.nnz}, dim={self.dim})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseEmbedding):
            return NotImplemented
        return np.array_equal(self.indices, other.indices) and np.array_equal(self.values, other.values)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays

    def to_dict(self) -> dict[int, float]:
        """``{vocabulary id: weight}``."""
        return dict(zip(self.indices.tolist(), self.values.tolist(), strict=True))

    @classmethod
    def from_dict(cls, data: dict[int, float], dim: int | None = None) -> SparseEmbedding:
        """Build from ``{vocabulary id: weight}`` (inverse of :meth:`to_dict`); ``dim`` is the vocabulary size."""
        return cls(list(data.keys()), list(data.values()), dim=dim)

    def top_k(self, k: int) -> SparseEmbedding:
        """The ``k`` largest weights (ties: lower id first), still in ascending id order."""
        from .ops.splade import top_k_sparse

        idx, val = top_k_sparse(self.indices, self.values, k)
        return SparseEmbedding(idx, val, self.vocabulary, self.dim)

    def decode(self, vocabulary: Sequence[str] | None = None, top_k: int | None = None) -> dict[str, float]:
        """``{token: weight}`` sorted by decreasing weight (``top_k`` of them if given).

        Uses the vocabulary attached by the embedder unless one is passed.
        """
        vocab = vocabulary if vocabulary is not None else self.vocabulary
        if vocab is None:
            raise InvalidInputError(
                "this SparseEmbedding has no vocabulary: pass one (embedder.tokenizer.vocabulary)"
            )
        order = np.argsort(-self.values, kind="stable")
        if top_k is not None:
            order = order[:top_k]
        return {vocab[int(self.indices[i])]: float(self.values[i]) for i in order}

    def to_dense(self, dim: int | None = None) -> np.ndarray:
        """A dense float32 vector of length ``dim`` (default: the vocabulary size)."""
        size = dim or self.dim or (int(self.indices.max()) + 1 if self.nnz else 0)
        out = np.zeros(size, dtype=np.float32)
        out[self.indices] = self.values
        return out

    def dot(self, other: SparseEmbedding) -> float:
        """Dot product with another sparse vector."""
        common, i, j = np.intersect1d(self.indices, other.indices, assume_unique=True, return_indices=True)
        del common
        return float(np.dot(self.values[i], other.values[j]))


def _require_scipy() -> Any:
    try:
        import scipy.sparse
    except ImportError:
        raise MissingDependencyError(
            "converting to scipy.sparse needs scipy: pip install scipy  (or tessera-onnx[sparse])"
        ) from None
    return scipy.sparse


def to_scipy(embeddings: Sequence[SparseEmbedding] | SparseEmbedding, dim: int | None = None) -> Any:
    """A ``scipy.sparse.csr_matrix`` ``(n, dim)`` float32 with one row per embedding."""
    sparse = _require_scipy()
    rows = [embeddings] if isinstance(embeddings, SparseEmbedding) else list(embeddings)
    if dim is None:
        dims = [e.dim for e in rows if e.dim]
        dim = max(dims) if dims else max((int(e.indices.max()) + 1 for e in rows if e.nnz), default=0)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([e.nnz for e in rows])
    indices = np.concatenate([e.indices for e in rows]) if rows else np.zeros(0, np.int64)
    data = np.concatenate([e.values for e in rows]) if rows else np.zeros(0, np.float32)
    if indices.size and int(indices.max()) >= dim:
        raise InvalidInputError(f"an index {int(indices.max())} does not fit dim {dim}")
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), dim))


def inverted_index(
    embeddings: Sequence[SparseEmbedding],
    doc_ids: Sequence[Hashable] | None = None,
    decode: bool = False,
) -> dict[Any, list[tuple[Hashable, float]]]:
    """Posting lists ``{term: [(doc_id, weight), ...]}`` in document order.

    Terms are vocabulary ids, or token strings with ``decode=True`` (needs the embeddings'
    vocabulary). ``doc_ids`` default to ``0..n-1``.
    """
    ids = list(range(len(embeddings))) if doc_ids is None else list(doc_ids)
    if len(ids) != len(embeddings):
        raise InvalidInputError(f"{len(ids)} doc_ids for {len(embeddings)} embeddings")
    index: dict[Any, list[tuple[Hashable, float]]] = {}
    for doc_id, emb in zip(ids, embeddings, strict=True):
        vocab = emb.vocabulary if decode else None
        if decode and vocab is None:
            raise InvalidInputError("decode=True needs embeddings that carry a vocabulary")
        for term, weight in zip(emb.indices.tolist(), emb.values.tolist(), strict=True):
            key = vocab[term] if vocab is not None else term
            index.setdefault(key, []).append((doc_id, weight))
    return index


def sparse_dot(a: Sequence[SparseEmbedding], b: Sequence[SparseEmbedding]) -> np.ndarray:
    """Dot-product score matrix ``(len(a), len(b))`` float32: a sparse product in numpy.

    The longer side is turned into posting lists (one array of ``(term, row, weight)`` sorted by
    term); each row of the shorter side looks its terms up and accumulates only the matching
    postings. Memory is ``O(nnz + len(a) × len(b))``, never ``× vocabulary`` or ``× distinct ids``.
    """
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    if len(a) > len(b):
        return np.ascontiguousarray(sparse_dot(b, a).T)
    terms = np.concatenate([e.indices for e in b])
    weights = np.concatenate([e.values for e in b])
    rows = np.repeat(np.arange(len(b), dtype=np.int64), [e.nnz for e in b])
    order = np.argsort(terms, kind="stable")
    terms, weights, rows = terms[order], weights[order], rows[order]
    out = np.zeros((len(a), len(b)), dtype=np.float32)
    for i, query in enumerate(a):
        lo = np.searchsorted(terms, query.indices, side="left")
        counts = np.searchsorted(terms, query.indices, side="right") - lo
        total = int(counts.sum())
        if not total:
            continue
        first = np.cumsum(counts) - counts  # where each term's postings start in the gathered list
        hits = np.repeat(lo - first, counts) + np.arange(total)
        contrib = np.repeat(query.values.astype(np.float64), counts) * weights[hits]
        out[i] = np.bincount(rows[hits], weights=contrib, minlength=len(b))
    return out
