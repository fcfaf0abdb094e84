"""Retrieval: an embedded (numpy-only, serverless) index per paradigm, fusion, and a text retriever.

    from tessera_onnx.index import DenseIndex, MultiVectorIndex, SparseIndex, load_index
    from tessera_onnx.index import reciprocal_rank_fusion, weighted_score_fusion, Retriever

- :class:`DenseIndex`: exact dot product, or binary/int8/int4 first stage + float re-scoring.
- :class:`MultiVectorIndex`: ColBERT MaxSim over length buckets, or a quantized / pooled first
  stage + exact MaxSim re-rank; ``storage="int8"``/``"ubinary"`` keeps only quantized tokens
  (the core of :class:`tessera_onnx.pages.PageIndex`).
- :class:`SparseIndex`: inverted index (CSR posting lists), exact dot products.

All share ``add`` / ``upsert`` / ``delete`` by id with JSON metadata, ``search(query, k,
filter=...)`` returning :class:`Hit` lists, and ``save`` / :func:`load_index` (one file, no
pickle, sha256-checked, written atomically; see :mod:`tessera_onnx.index.store`).
"""

from __future__ import annotations

from .base import DocId, Filter, Hit, VectorIndex, load_index
from .dense import DENSE_COMPRESSIONS, DenseIndex
from .fusion import DEFAULT_RRF_K, fuse, reciprocal_rank_fusion, weighted_score_fusion
from .multi_vector import MULTI_VECTOR_COMPRESSIONS, MULTI_VECTOR_STORAGES, MultiVectorIndex
from .retriever import Retriever
from .sparse import SparseIndex

__all__ = [
    "Hit",
    "DocId",
    "Filter",
    "VectorIndex",
    "DenseIndex",
    "MultiVectorIndex",
    "SparseIndex",
    "DENSE_COMPRESSIONS",
    "MULTI_VECTOR_COMPRESSIONS",
    "MULTI_VECTOR_STORAGES",
    "load_index",
    "reciprocal_rank_fusion",
    "weighted_score_fusion",
    "fuse",
    "DEFAULT_RRF_K",
    "Retriever",
]
