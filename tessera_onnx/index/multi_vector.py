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

``storage="int8"`` / ``"ubinary"`` keeps *only* quantized tokens (4× / 32× less memory than
float32; ``int8`` with fixed per-dimension ``ranges``) and scores every search with
:func:`tessera_onnx.quantization.quantized_maxsim_scores` on the codes (the float query against
int8 bin centres, or the Hamming similarity of sign bits): no float re-rank, since no float
tokens are kept. :class:`tessera_onnx.pages.PageIndex` is built on this.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidInputError, UnknownIdError
from ..ops.maxsim import maxsim_scores, pad_multivectors
from ..ops.normalize import l2_normalize
from ..quantization import QuantizedEmbeddings, quantize, quantized_maxsim_scores, search
from ..quantization.schemes import _check_ranges
from .base import VectorIndex, _State, check_finite, check_ids, order_hits, rank
from .dense import check_compression, check_dim, check_multiplier, float_matrix, quantize_rows
from .rows import RaggedRows

__all__ = [
    "MultiVectorIndex",
    "MULTI_VECTOR_COMPRESSIONS",
    "MULTI_VECTOR_STORAGES",
    "POOLED_RESCORE_MULTIPLIER",
]

MULTI_VECTOR_COMPRESSIONS = (None, "binary", "ubinary", "int8", "int4", "pooled")
#: What the index keeps per token: float32 vectors, int8 codes or packed sign bits.
MULTI_VECTOR_STORAGES = ("float", "int8", "ubinary")
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
    ``scores(query, ids)`` gives the MaxSim scores of chosen documents. ``storage``: ``"float"``
    (default), or ``"int8"`` (needs ``ranges``, ``[2, dim]`` per-dimension min and max) /
    ``"ubinary"`` to keep only quantized tokens (see the module doc; no ``compression`` then).
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
        storage: str = "float",
        ranges: Any = None,
    ) -> None:
        self.dim = check_dim(dim)
        self.compression = check_compression(compression, MULTI_VECTOR_COMPRESSIONS)
        self.rescore_multiplier = check_multiplier(rescore_multiplier)
        if storage not in MULTI_VECTOR_STORAGES:
            raise InvalidInputError(f"storage must be one of {MULTI_VECTOR_STORAGES}, got {storage!r}")
        if storage != "float" and self.compression is not None:
            raise InvalidInputError(
                f"compression={self.compression!r} re-ranks with float tokens, which storage={storage!r} "
                "does not keep: use storage='float' with it, or no compression"
            )
        if storage == "int8" and ranges is None:
            raise InvalidInputError(
                "storage='int8' needs ranges=[2, dim] (per-dimension min and max, e.g. "
                "tessera_onnx.quantization.calibration_ranges(sample_tokens))"
            )
        if storage != "int8" and ranges is not None:
            raise InvalidInputError("ranges go with storage='int8' only")
        self.storage = storage
        self.ranges = None if ranges is None else _check_ranges(ranges, self.dim)
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
            "storage": self.storage,
            "ranges": None if self.ranges is None else self.ranges.tolist(),
        }

    def __repr__(self) -> str:
        kept = "" if self.storage == "float" else f", storage={self.storage!r}"
        return f"MultiVectorIndex(n={len(self)}, dim={self.dim}, compression={self.compression!r}{kept})"

    def memory_bytes(self, search_structures: bool = False) -> int:
        """Bytes of the stored tokens (with ``storage="int8"``: codes and ranges); see :class:`VectorIndex`."""
        ranges = 0 if self.ranges is None else self.ranges.nbytes
        return super().memory_bytes(search_structures) + ranges

    def tokens(self, doc_id: Any) -> np.ndarray:
        """A copy of the stored token matrix of ``doc_id`` (decoded codes for quantized storage)."""
        state = self._state
        self.metadata(doc_id)  # raises UnknownIdError
        position = state.positions[doc_id]
        if self.storage == "float":
            return state.rows.doc(position, "tokens").copy()
        codes = state.rows.doc(position, "codes")
        return QuantizedEmbeddings(
            data=codes, scheme=self.storage, dim=self.dim, ranges=self.ranges
        ).dequantize()

    def scores(self, query: Any, ids: Any = None) -> np.ndarray:
        """MaxSim scores ``(n,)`` float32 of ``query`` against the documents ``ids`` (all, in order, by default).

        Computed on what the index stores (float tokens, or the codes of quantized storage).
        """
        state = self._state
        q = self._query(query)
        if ids is None:
            return self._scores(state, q, None)
        wanted = check_ids(ids)
        unknown = [i for i in wanted if i not in state.positions]
        if unknown:
            raise UnknownIdError(f"ids not in the index: {unknown[:5]!r}")
        return self._scores(state, q, np.asarray([state.positions[i] for i in wanted], np.int64))

    # ------------------------------------------------------------------ rows

    def _field(self) -> tuple[str, np.dtype, int]:
        """Name, dtype and width of the stored per-token array."""
        if self.storage == "float":
            return "tokens", np.dtype(np.float32), self.dim
        dtype = np.dtype(np.int8) if self.storage == "int8" else np.dtype(np.uint8)
        return "codes", dtype, QuantizedEmbeddings.bytes_per_row(self.storage, self.dim)

    def _empty_rows(self) -> RaggedRows:
        name, dtype, width = self._field()
        return RaggedRows({name: np.zeros((0, width), dtype)}, np.zeros(1, np.int64))

    def _rows_of(self, vectors: Any, n: int) -> RaggedRows:
        docs = token_matrices(vectors, self.dim, "vectors")
        if len(docs) != n:
            raise InvalidInputError(f"{len(docs)} documents for {n} ids")
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum([d.shape[0] for d in docs], out=offsets[1:])
        name, _, _ = self._field()
        if not docs or offsets[-1] == 0:
            return RaggedRows({name: self._empty_rows().arrays[name]}, offsets)
        flat = np.concatenate(docs)
        if self.storage != "float":
            flat = quantize(flat, self.storage, ranges=self.ranges).data
        return RaggedRows({name: flat}, offsets)

    def _check_loaded(self, rows: Any) -> None:
        name, dtype, width = self._field()
        tokens = rows.arrays.get(name)
        if tokens is None or tokens.dtype != dtype or tokens.ndim != 2 or tokens.shape[1] != width:
            raise ValueError(f"stored {name} are not {dtype} (n, {width})")
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
        q = self._query(query)
        rows: RaggedRows = state.rows  # type: ignore[assignment]
        allowed = None if mask is None else np.flatnonzero(mask)
        if self.storage != "float":
            return rank(self._scores(state, q, allowed), k, allowed)
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

    def _query(self, query: Any) -> np.ndarray:
        q = np.asarray(query)
        if q.ndim != 2:
            raise InvalidInputError(f"query must be one (tokens, {self.dim}) array, got shape {q.shape}")
        return check_finite(float_matrix(q, self.dim, "query"), "query")

    def _scores(self, state: _State, q: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
        """MaxSim of ``q`` against the documents at ``positions`` (all when None), on the stored form."""
        rows: RaggedRows = state.rows  # type: ignore[assignment]
        if self.storage == "float":
            if positions is None:
                scores = np.full(len(rows), -np.inf, np.float32)
                for docs, padded, pmask in state.cached("buckets", lambda: self._buckets(rows)):
                    scores[docs] = maxsim_scores(q[None], padded, document_mask=pmask)[0]
                return scores
            return maxsim_scores([q], [rows.doc(int(d), "tokens") for d in positions])[0]
        codes, offsets = rows.arrays["codes"], rows.offsets
        if positions is not None:
            items, offsets = rows.item_rows(positions)
            codes = codes[items]
        corpus = QuantizedEmbeddings(
            data=codes, scheme=self.storage, dim=self.dim, ranges=self.ranges, offsets=offsets
        )
        return quantized_maxsim_scores(q, corpus).astype(np.float32)

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
