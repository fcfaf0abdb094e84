"""``DenseIndex``: one float32 vector per document, dot-product search.

Exact search is one matrix-vector product over the stored float32 vectors. With
``compression="binary"`` / ``"ubinary"`` / ``"int8"`` / ``"int4"`` the search is the two-stage
search of :func:`tessera_onnx.quantization.search`: a first stage over quantized codes (Hamming
distance for binary, the float query against the int8/int4 bin centres) keeps
``k × rescore_multiplier`` candidates, which are re-scored with the stored float32 vectors, so
the returned scores are exact dot products. The codes are derived from the stored vectors on the
first search after a write (int8/int4 ranges: the per-dimension min/max of the indexed vectors).

Scores are plain dot products: store L2-normalised vectors (the dense embedders' default) for
cosine similarity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..quantization import SCALAR_SCHEMES, QuantizedEmbeddings, calibration_ranges, quantize, search
from .base import VectorIndex, _State, check_finite, order_hits, rank
from .rows import FixedRows

__all__ = ["DenseIndex", "DENSE_COMPRESSIONS"]

#: First-stage representations of the two-stage search (``None``: exact search only).
DENSE_COMPRESSIONS = (None, "binary", "ubinary", "int8", "int4")


def check_dim(dim: Any) -> int:
    """A positive integer vector width."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise InvalidInputError(f"dim must be a positive integer, got {dim!r}")
    return int(dim)


def float_matrix(x: Any, dim: int, what: str) -> np.ndarray:
    """``x`` as a finite float32 ``(n, dim)`` array (one 1-D vector becomes ``(1, dim)``)."""
    if isinstance(x, QuantizedEmbeddings):
        raise InvalidInputError(
            f"{what} must be float vectors, not quantized ones: the index quantizes itself"
        )
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise InvalidInputError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidInputError(f"{what} must have shape (n, {dim}), got {np.shape(x)}: wrong dimension")
    return check_finite(np.ascontiguousarray(arr, dtype=np.float32), what)


def check_compression(compression: Any, allowed: tuple[Any, ...]) -> Any:
    """``compression`` if it is one of ``allowed``."""
    if compression not in allowed:
        raise InvalidInputError(f"compression must be one of {allowed}, got {compression!r}")
    return compression


def check_multiplier(value: Any) -> int | None:
    """``None`` or a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"rescore_multiplier must be a positive integer, got {value!r}")
    return int(value)


def quantize_rows(vectors: np.ndarray, scheme: str, offsets: np.ndarray | None = None) -> QuantizedEmbeddings:
    """Quantize stored float rows (int8/int4 ranges from the rows themselves)."""
    ranges = calibration_ranges(vectors) if scheme in SCALAR_SCHEMES else None
    flat = quantize(vectors, scheme, ranges=ranges)
    return QuantizedEmbeddings(
        data=flat.data, scheme=scheme, dim=flat.dim, ranges=flat.ranges, offsets=offsets
    )


class DenseIndex(VectorIndex):
    """Dense vectors of width ``dim``; exact search, or two-stage with ``compression``.

    ``search(query, k, filter=..., exact=False, rescore_multiplier=None)``: ``query`` is one
    ``(dim,)`` vector; ``exact=True`` skips the compressed first stage for this search;
    ``rescore_multiplier`` overrides the index's (default per scheme:
    :data:`tessera_onnx.quantization.DEFAULT_RESCORE_MULTIPLIER`).
    """

    kind = "dense"
    search_options = ("exact", "rescore_multiplier")

    def __init__(
        self, dim: int, *, compression: str | None = None, rescore_multiplier: int | None = None
    ) -> None:
        self.dim = check_dim(dim)
        self.compression = check_compression(compression, DENSE_COMPRESSIONS)
        self.rescore_multiplier = check_multiplier(rescore_multiplier)
        super().__init__()

    def config(self) -> dict[str, Any]:
        """Constructor settings (saved with the index)."""
        return {
            "dim": self.dim,
            "compression": self.compression,
            "rescore_multiplier": self.rescore_multiplier,
        }

    def __repr__(self) -> str:
        return f"DenseIndex(n={len(self)}, dim={self.dim}, compression={self.compression!r})"

    def vector(self, doc_id: Any) -> np.ndarray:
        """A copy of the stored vector of ``doc_id``."""
        state = self._state
        self.metadata(doc_id)  # raises UnknownIdError
        return state.rows.arrays["vectors"][state.positions[doc_id]].copy()

    def _empty_rows(self) -> FixedRows:
        return FixedRows({"vectors": np.zeros((0, self.dim), np.float32)})

    def _rows_of(self, vectors: Any, n: int) -> FixedRows:
        arr = float_matrix(vectors, self.dim, "vectors")
        if arr.shape[0] != n:
            raise InvalidInputError(f"{arr.shape[0]} vectors for {n} ids")
        return FixedRows({"vectors": arr})

    def _check_loaded(self, rows: Any) -> None:
        vectors = rows.arrays.get("vectors")
        if (
            vectors is None
            or vectors.dtype != np.float32
            or vectors.ndim != 2
            or vectors.shape[1] != self.dim
        ):
            raise ValueError(f"stored vectors are not float32 (n, {self.dim})")

    def _search_rows(
        self, state: _State, query: Any, k: int, mask: np.ndarray | None, options: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        exact = bool(options.pop("exact", False))
        multiplier = check_multiplier(options.pop("rescore_multiplier", self.rescore_multiplier))
        if options:
            raise InvalidInputError(f"unknown search options {sorted(options)}")
        q = float_matrix(query, self.dim, "query")
        if q.shape[0] != 1:
            raise InvalidInputError("search() takes one query vector of shape (dim,)")
        vectors = state.rows.arrays["vectors"]
        rows = None if mask is None else np.flatnonzero(mask)
        if exact or self.compression is None:
            scores = (vectors if rows is None else vectors[rows]) @ q[0]
            return rank(scores, k, rows)
        scheme = self.compression
        codes = state.cached(f"quantized:{scheme}", lambda: quantize_rows(vectors, scheme))
        floats = vectors
        if rows is not None:
            codes = QuantizedEmbeddings(
                data=codes.data[rows], scheme=scheme, dim=self.dim, ranges=codes.ranges
            )
            floats = vectors[rows]
        found = search(q[0], codes, k, rescore_multiplier=multiplier, rescore_with=floats)
        idx = found.indices if rows is None else rows[found.indices]
        return order_hits(idx, found.scores)
