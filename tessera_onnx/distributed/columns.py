"""Embedder results as Arrow columns, one row per input item.

The column layout depends only on what ``encode`` returned, not on the paradigm's name, so any
embedder whose ``encode`` returns one of these types (image embedders included) is written the
same way:

=====================================  ==========================================================
``encode`` result                      columns
=====================================  ==========================================================
``(n, d)`` float array (dense)         ``embedding``: ``fixed_size_list<float32>[d]``
list of ``(tokens_i, d)`` arrays       ``embedding``: ``list<fixed_size_list<float32>[d]>``
(multi-vector, ColBERT)                (one ``d``-vector per kept token)
list of :class:`SparseEmbedding`       ``sparse_indices``: ``list<int32>`` (ascending vocabulary
(SPLADE)                               ids), ``sparse_values``: ``list<float32>``
=====================================  ==========================================================

With a :class:`Quantization`, dense and multi-vector rows are quantized with
:func:`tessera_onnx.quantization.quantize` before they are written: ``embedding`` then holds
``fixed_size_list<uint8|int8>[bytes]`` per vector (per token), and the scheme, dimension and
ranges go into the Arrow schema metadata under ``tessera.quantization`` (see
:func:`quantization_from_schema`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..quantization import BINARY_SCHEMES, SCHEMES, QuantizedEmbeddings, quantize
from ..sparse_embedding import SparseEmbedding
from ._deps import require_pyarrow

__all__ = [
    "EMBEDDING_COLUMN",
    "SPARSE_INDICES_COLUMN",
    "SPARSE_VALUES_COLUMN",
    "QUANTIZATION_METADATA_KEY",
    "Quantization",
    "result_columns",
    "quantization_from_schema",
]

EMBEDDING_COLUMN = "embedding"
SPARSE_INDICES_COLUMN = "sparse_indices"
SPARSE_VALUES_COLUMN = "sparse_values"
QUANTIZATION_METADATA_KEY = b"tessera.quantization"


@dataclass(frozen=True)
class Quantization:
    """Quantize vectors before they are written: ``scheme`` is ``ubinary``, ``binary``, ``int8`` or ``int4``.

    Scalar schemes need fixed per-dimension ``ranges`` ``(2, dim)`` (min row, max row), e.g.
    ``tessera_onnx.quantization.calibration_ranges(sample_embeddings)``: ranges computed per batch
    would give codes that differ from batch to batch.
    """

    scheme: str
    ranges: Any = None

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise InvalidInputError(f"quantization scheme {self.scheme!r} is not one of {list(SCHEMES)}")
        if self.scheme in BINARY_SCHEMES and self.ranges is not None:
            raise InvalidInputError(f"{self.scheme} quantization takes no ranges (its threshold is 0)")
        if self.scheme not in BINARY_SCHEMES:
            if self.ranges is None:
                raise InvalidInputError(
                    f"{self.scheme} quantization needs fixed ranges: pass "
                    "Quantization(scheme, ranges=calibration_ranges(sample_embeddings)) so every batch "
                    "uses the same codes"
                )
            object.__setattr__(self, "ranges", np.asarray(self.ranges, dtype=np.float32))

    @classmethod
    def coerce(cls, value: Quantization | str | Mapping[str, Any] | None) -> Quantization | None:
        """Accept a :class:`Quantization`, a scheme name, a ``{"scheme", "ranges"}`` dict, or None."""
        if value is None or isinstance(value, Quantization):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping):
            unknown = set(value) - {"scheme", "ranges"}
            if unknown or "scheme" not in value:
                raise InvalidInputError(f"quantization dict takes 'scheme' and 'ranges', got {sorted(value)}")
            return cls(value["scheme"], value.get("ranges"))
        raise InvalidInputError(
            f"quantization must be a scheme name, a dict or Quantization, got {type(value).__name__}"
        )

    def describe(self, dim: int | None = None) -> dict[str, Any]:
        """JSON-able record of the scheme, the float dimension (when known) and the ranges."""
        ranges = None if self.ranges is None else np.asarray(self.ranges).tolist()
        record: dict[str, Any] = {"scheme": self.scheme, "ranges": ranges}
        if dim is not None:
            record["dim"] = int(dim)
        return record


def result_columns(
    result: Any,
    n: int,
    quantization: Quantization | None = None,
    *,
    empty_layout: str = "multi_vector",
    width: int = 0,
) -> tuple[dict[str, Any], dict]:
    """``(columns, schema_metadata)`` for the ``encode`` result of ``n`` items.

    An empty list is ambiguous: ``empty_layout`` (``"multi_vector"`` or ``"sparse"``) and
    ``width`` (the vector width) say which empty columns to make. Raises
    :class:`InvalidInputError` for a result type that has no column layout.
    """
    if isinstance(result, np.ndarray) and result.ndim == 2:
        return _check_rows(_vector_column(result, quantization), n)
    if isinstance(result, (list, tuple)) and not result:
        if empty_layout == "sparse":
            return _sparse_columns([])
        return _multi_vector_column([], quantization, width)
    if isinstance(result, (list, tuple)):
        if all(isinstance(r, SparseEmbedding) for r in result):
            if quantization is not None:
                raise InvalidInputError("sparse vectors cannot be quantized; drop the quantization option")
            return _check_rows(_sparse_columns(result), n)
        if all(isinstance(r, np.ndarray) and r.ndim == 2 for r in result):
            return _check_rows(_multi_vector_column(result, quantization), n)
    kind = (
        type(result).__name__
        if not isinstance(result, (list, tuple)) or not result
        else f"list of {type(result[0]).__name__}"
    )
    raise InvalidInputError(
        f"cannot write an encode() result of type {kind} as columns; expected an (n, d) array, a list of "
        "(tokens, d) arrays or a list of SparseEmbedding (pass output_columns= to handle other types)"
    )


def quantization_from_schema(schema: Any) -> dict[str, Any] | None:
    """The ``{"scheme", "dim", "ranges"}`` record a quantized output file carries, or None."""
    meta = schema.metadata or {}
    raw = meta.get(QUANTIZATION_METADATA_KEY)
    return None if raw is None else json.loads(raw)


# --------------------------------------------------------------------------- builders


def _check_rows(built: tuple[dict[str, Any], dict], n: int) -> tuple[dict[str, Any], dict]:
    columns, meta = built
    for name, column in columns.items():
        if len(column) != n:
            raise InvalidInputError(f"encode() returned {len(column)} rows for column {name!r}, expected {n}")
    return columns, meta


def _fixed_rows(flat: np.ndarray) -> Any:
    """A ``(rows, width)`` array as a ``fixed_size_list<dtype>[width]`` Arrow array."""
    pa = require_pyarrow()
    flat = np.ascontiguousarray(flat)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def _quantized_rows(x: Any, quantization: Quantization) -> tuple[QuantizedEmbeddings, dict]:
    q = quantize(x, quantization.scheme, ranges=quantization.ranges)
    meta = {QUANTIZATION_METADATA_KEY: json.dumps(quantization.describe(q.dim)).encode()}
    return q, meta


def _vector_column(matrix: np.ndarray, quantization: Quantization | None) -> tuple[dict, dict]:
    if quantization is None:
        return {EMBEDDING_COLUMN: _fixed_rows(matrix.astype(np.float32, copy=False))}, {}
    q, meta = _quantized_rows(matrix, quantization)
    return {EMBEDDING_COLUMN: _fixed_rows(q.data)}, meta


def _multi_vector_column(
    docs: Sequence[np.ndarray], quantization: Quantization | None, width: int = 0
) -> tuple[dict, dict]:
    pa = require_pyarrow()
    dims = {d.shape[1] for d in docs}
    if len(dims) > 1:
        raise InvalidInputError(f"multi-vector rows have different widths {sorted(dims)}")
    width = dims.pop() if dims else width
    offsets = np.zeros(len(docs) + 1, dtype=np.int32)
    np.cumsum([d.shape[0] for d in docs], out=offsets[1:])
    meta: dict = {}
    if not docs:
        rows = _fixed_rows(_empty_rows(quantization, width))
    elif quantization is None:
        rows = _fixed_rows(np.concatenate(docs, axis=0).astype(np.float32, copy=False))
    else:
        q, meta = _quantized_rows(list(docs), quantization)
        rows = _fixed_rows(q.data)
    return {EMBEDDING_COLUMN: pa.ListArray.from_arrays(pa.array(offsets), rows)}, meta


def _empty_rows(quantization: Quantization | None, width: int) -> np.ndarray:
    """Zero rows of the storage type and width a batch of ``width``-d vectors would have."""
    if quantization is None:
        return np.zeros((0, width), np.float32)
    scheme = quantization.scheme
    dtype = np.int8 if scheme in ("binary", "int8") else np.uint8
    return np.zeros((0, QuantizedEmbeddings.bytes_per_row(scheme, width)), dtype)


def _sparse_columns(vectors: Sequence[SparseEmbedding]) -> tuple[dict, dict]:
    pa = require_pyarrow()
    offsets = np.zeros(len(vectors) + 1, dtype=np.int32)
    np.cumsum([v.nnz for v in vectors], out=offsets[1:])
    indices = (
        np.concatenate([v.indices for v in vectors]).astype(np.int32) if vectors else np.zeros(0, np.int32)
    )
    values = (
        np.concatenate([v.values for v in vectors]).astype(np.float32) if vectors else np.zeros(0, np.float32)
    )
    pa_offsets = pa.array(offsets)
    return {
        SPARSE_INDICES_COLUMN: pa.ListArray.from_arrays(pa_offsets, pa.array(indices)),
        SPARSE_VALUES_COLUMN: pa.ListArray.from_arrays(pa_offsets, pa.array(values)),
    }, {}
