"""``MultiVectorIndex``: ColBERT documents as token matrices, MaxSim search.

Documents of any length are stored flat (all token vectors in one ``(tokens, dim)`` float32
array plus per-document offsets). Exact search groups documents into length buckets, each a
padded block whose lengths differ by at most ``bucket_ratio`` (default 1.25: padding is at most
25 % of a block), and scores every block with :func:`tessera_onnx.ops.maxsim.maxsim_scores`.

Faster, approximate first stages (``compression=``), each followed by an exact MaxSim re-rank of
``k × rescore_multiplier`` candidates with the stored float32 tokens:

- ``"binary"`` / ``"ubinary"`` / ``"int8"`` / ``"int4"``: MaxSim over quantized tokens, the
  first stage of :func:`tessera_onnx.quantization.search`;
- ``"pooled"``: one mean-pooled, L2-normalised vector per document, searched by dot product with
  the query's pooled vector (the "prefetch with pooled vectors, re-rank with multi-vectors"
  pattern); default multiplier :data:`POOLED_RESCORE_MULTIPLIER`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..ops.maxsim import maxsim_scores, pad_multivectors
from ..ops.normalize import l2_normalize
from ..quantization import QuantizedEmbeddings, search
from .base import VectorIndex, _State, check_finite, order_hits, rank
from .dense import check_compression, check_dim, check_multiplier, float_matrix, quantize_rows
from .rows import RaggedRows

__all__ = ["MultiVectorIndex", "MULTI_VECTOR_COMPRESSIONS", "POOLED_RESCORE_MULTIPLIER"]

MULTI_VECTOR_COMPRESSIONS = (None, "binary", "ubinary", "int8", "int4", "pooled")
#: Candidates per result the pooled first stage keeps for the exact MaxSim re-rank.
POOLED_RESCORE_MULTIPLIER = 10


def token_matrices(x: Any, dim: int, what: str) -> list[np.ndarray]:
    """A list of finite float32 ``(tokens_i, dim)`` arrays (one 2-D array is one document)."""
    if isinstance(x, np.ndarray) and x.ndim == 2:
        x = [x]
    elif isinstance(x, np.ndarray) and x.ndim != 3:
        raise InvalidInputError(f"{what} must be (tokens, {dim}) arrays, got shape {x.shape}")
    elif hasattr(x, "to_list"):  # MultiVectorBatch
        x = x.to_list()
    out = []
    for i, doc in enumerate(x):
        arr = np.asarray(doc)
        if arr.ndim != 2:
            raise InvalidInputError(f"{what}[{i}] must be a (tokens, {dim}) array, got shape {arr.shape}")
        if arr.shape[0] == 0 and arr.shape[1] != dim:
            raise InvalidInputError(f"{what}[{i}] has width {arr.shape[1]}, the index has dim {dim}")
        out.append(float_matrix(arr, dim, f"{what}[{i}]") if arr.shape[0] else np.zeros((0, dim), np.float32))
    return out


class MultiVectorIndex(VectorIndex):
    """Token-matrix documents of width ``dim``; exact bucketed MaxSim, or a first stage plus re-rank.

    ``search(query, k, filter=..., exact=False, rescore_multiplier=None)``: ``query`` is one
    ``(query_tokens, dim)`` array (e.g. ``TesseraMultiVector.encode_queries(text)``).
    """

    kind = "multi_vector"
    search_options = ("exact", "rescore_multiplier")

    def __init__(
        self,
        dim: int,
        *,
        compression: str | None = None,
        rescore_multiplier: int | None = None,
        bucket_ratio: float = 1.25,
    ) -> None:
        self.dim = check_dim(dim)
        self.compression = check_compression(compression, MULTI_VECTOR_COMPRESSIONS)
        self.rescore_multiplier = check_multiplier(rescore_multiplier)
        if not isinstance(bucket_ratio, (int, float)) or not bucket_ratio > 1.0:
            raise InvalidInputError(f"bucket_ratio must be a number > 1, got {bucket_ratio!r}")
        self.bucket_ratio = float(bucket_ratio)
        super().__init__()

    def config(self) -> dict[str, Any]:
        """Constructor settings (saved with the index)."""
        return {
            "dim": self.dim,
            "compression": self.compression,
            "rescore_multiplier": self.rescore_multiplier,
            "bucket_ratio": self.bucket_ratio,
        }

    def __repr__(self) -> str:
        return f"MultiVectorIndex(n={len(self)}, dim={self.dim}, compression={self.compression!r})"

    def tokens(self, doc_id: Any) -> np.ndarray:
        """A copy of the stored token matrix of ``doc_id``."""
        state = self._state
        self.metadata(doc_id)  # raises UnknownIdError
        return state.rows.doc(state.positions[doc_id], "tokens").copy()

    # ------------------------------------------------------------------ rows

    def _empty_rows(self) -> RaggedRows:
        return RaggedRows({"tokens": np.zeros((0, self.dim), np.float32)}, np.zeros(1, np.int64))

    def _rows_of(self, vectors: Any, n: int) -> RaggedRows:
        docs = token_matrices(vectors, self.dim, "vectors")
        if len(docs) != n:
            raise InvalidInputError(f"{len(docs)} documents for {n} ids")
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum([d.shape[0] for d in docs], out=offsets[1:])
        return RaggedRows(
            {"tokens": np.concatenate(docs) if docs else self._empty_rows().arrays["tokens"]}, offsets
        )

    def _check_loaded(self, rows: Any) -> None:
        tokens = rows.arrays.get("tokens")
        if tokens is None or tokens.dtype != np.float32 or tokens.ndim != 2 or tokens.shape[1] != self.dim:
            raise ValueError(f"stored tokens are not float32 (n, {self.dim})")
        off = rows.offsets
        if off.ndim != 1 or off[0] != 0 or off[-1] != tokens.shape[0] or np.any(np.diff(off) < 0):
            raise ValueError("stored offsets do not describe the stored tokens")

    # ------------------------------------------------------------------ search structures

    def _buckets(self, rows: RaggedRows) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(documents, padded [n_b, L_b, dim], mask)`` per length bucket."""
        lengths = rows.lengths
        keys = np.where(
            lengths > 0, np.floor(np.log(np.maximum(lengths, 1)) / math.log(self.bucket_ratio)), -1
        )
        out = []
        for key in np.unique(keys):
            docs = np.flatnonzero(keys == key)
            padded, mask = pad_multivectors([rows.doc(int(d), "tokens") for d in docs])
            out.append((docs, padded, mask))
        return out

    def _pooled(self, rows: RaggedRows) -> np.ndarray:
        tokens, lengths = rows.arrays["tokens"], rows.lengths
        pooled = np.zeros((len(rows), self.dim), np.float32)
        full = np.flatnonzero(lengths > 0)
        if full.size:
            sums = np.add.reduceat(tokens, rows.offsets[full], axis=0)
            pooled[full] = sums / lengths[full, None].astype(np.float32)
        return l2_normalize(pooled)

    # ------------------------------------------------------------------ search

    def _search_rows(
        self, state: _State, query: Any, k: int, mask: np.ndarray | None, options: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        exact = bool(options.pop("exact", False))
        multiplier = check_multiplier(options.pop("rescore_multiplier", self.rescore_multiplier))
        if options:
            raise InvalidInputError(f"unknown search options {sorted(options)}")
        q = np.asarray(query)
        if q.ndim != 2:
            raise InvalidInputError(f"query must be one (tokens, {self.dim}) array, got shape {q.shape}")
        q = check_finite(float_matrix(q, self.dim, "query"), "query")
        rows: RaggedRows = state.rows  # type: ignore[assignment]
        allowed = None if mask is None else np.flatnonzero(mask)
        if exact or self.compression is None:
            return self._exact(state, rows, q, k, mask, allowed)
        if self.compression == "pooled":
            pooled = state.cached("pooled", lambda: self._pooled(rows))
            qp = l2_normalize(q.mean(axis=0))
            first = (pooled if allowed is None else pooled[allowed]) @ qp
            cand, _ = rank(first, k * (multiplier or POOLED_RESCORE_MULTIPLIER), allowed)
            docs = [rows.doc(int(d), "tokens") for d in cand]
            best, scores = order_hits(cand, maxsim_scores([q], docs)[0])
            return best[:k], scores[:k]
        return self._quantized(state, rows, q, k, allowed, multiplier)

    def _exact(
        self,
        state: _State,
        rows: RaggedRows,
        q: np.ndarray,
        k: int,
        mask: np.ndarray | None,
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full(len(rows), -np.inf, np.float32)
        for docs, padded, pmask in state.cached("buckets", lambda: self._buckets(rows)):
            if mask is not None:
                keep = mask[docs]
                if not keep.any():
                    continue
                docs, padded, pmask = docs[keep], padded[keep], pmask[keep]
            scores[docs] = maxsim_scores(q[None], padded, document_mask=pmask)[0]
        return rank(scores if allowed is None else scores[allowed], k, allowed)

    def _quantized(
        self,
        state: _State,
        rows: RaggedRows,
        q: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        multiplier: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        scheme = str(self.compression)
        tokens = rows.arrays["tokens"]
        codes = state.cached(f"quantized:{scheme}", lambda: quantize_rows(tokens, scheme, rows.offsets))
        floats = tokens
        if allowed is not None:
            items, offsets = rows.item_rows(allowed)
            codes = QuantizedEmbeddings(
                data=codes.data[items], scheme=scheme, dim=self.dim, ranges=codes.ranges, offsets=offsets
            )
            floats = tokens[items]
        found = search(q, codes, k, rescore_multiplier=multiplier, rescore_with=floats)
        idx = found.indices if allowed is None else allowed[found.indices]
        return order_hits(idx, found.scores)
