"""Qdrant adapter: one collection holding the runtime's dense, multi-vector and sparse outputs.

Needs ``pip install "tessera-onnx[qdrant]"`` (qdrant-client). Field mapping, all in one point
per document:

============================  ==========================================================
tessera                       Qdrant
============================  ==========================================================
document id (str or int)      point id ``uuid5(TESSERA_NAMESPACE, json.dumps(id))``; the
                              original id in the payload under ``"tessera_id"``
metadata (JSON dict)          the rest of the payload (``"tessera_id"`` is reserved)
dense ``(dim,)`` float32      named vector ``"dense"``: ``VectorParams(size=dim, DOT)``
multi-vector ``(tokens, dim)``  named vector ``"multi_vector"``: ``VectorParams(size=dim, DOT,
                              multivector_config=MultiVectorConfig(MAX_SIM))``
``SparseEmbedding``           named sparse vector ``"sparse"``: ``SparseVectorParams()``,
                              ``SparseVector(indices, values)``
filter ``{"k": v}`` / lists   ``Filter(must=[FieldCondition(key, MatchValue / MatchAny)])``
============================  ==========================================================

Distances are dot products, as in the embedded indexes (:mod:`tessera_onnx.index`), so the
scores agree; the embedders L2-normalise dense and ColBERT vectors already. Pass any
``QdrantClient``: ``QdrantClient(":memory:")`` or ``QdrantClient(path="./qdrant")`` (local mode,
no server), or ``QdrantClient(url="http://localhost:6333", api_key=...)`` for a Qdrant server.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..index.base import Hit, check_ids, check_metadata
from ..index.dense import float_matrix
from ..index.multi_vector import token_matrices
from ..index.sparse import as_sparse
from . import require

__all__ = ["QdrantIndex", "TESSERA_NAMESPACE", "ID_FIELD", "VECTOR_NAMES", "point_id"]

#: Namespace of the uuid5 point ids derived from tessera document ids.
TESSERA_NAMESPACE = uuid.UUID("6b0f5a52-9a54-4c3b-9a1e-7e55e0a8d1c4")
#: Payload key holding the original document id.
ID_FIELD = "tessera_id"
#: Default names of the collection's vectors, by paradigm.
VECTOR_NAMES = {"dense": "dense", "multi_vector": "multi_vector", "sparse": "sparse"}


def point_id(doc_id: str | int) -> str:
    """The Qdrant point id (a UUID string) of a tessera document id."""
    return str(uuid.uuid5(TESSERA_NAMESPACE, json.dumps(doc_id)))


def _models() -> Any:
    return require("qdrant_client.models", "qdrant", "the Qdrant adapter")


class QdrantIndex:
    """A Qdrant collection with named ``dense`` / ``multi_vector`` / ``sparse`` vectors.

    Give the widths of the representations you store (``dense_dim``, ``multi_vector_dim``) and
    ``sparse=True`` for SPLADE vectors; the collection is created if it does not exist
    (``create=False``: it must exist already).
    """

    def __init__(
        self,
        client: Any,
        collection: str,
        *,
        dense_dim: int | None = None,
        multi_vector_dim: int | None = None,
        sparse: bool = False,
        create: bool = True,
    ) -> None:
        self.models = _models()
        self.client = client
        self.collection = collection
        self.dense_dim = dense_dim
        self.multi_vector_dim = multi_vector_dim
        self.sparse = bool(sparse)
        if dense_dim is None and multi_vector_dim is None and not sparse:
            raise InvalidInputError("give dense_dim, multi_vector_dim and/or sparse=True")
        if create and not client.collection_exists(collection):
            self._create()

    def _create(self) -> None:
        m = self.models
        vectors: dict[str, Any] = {}
        if self.dense_dim is not None:
            vectors[VECTOR_NAMES["dense"]] = m.VectorParams(size=self.dense_dim, distance=m.Distance.DOT)
        if self.multi_vector_dim is not None:
            vectors[VECTOR_NAMES["multi_vector"]] = m.VectorParams(
                size=self.multi_vector_dim,
                distance=m.Distance.DOT,
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
            )
        sparse = {VECTOR_NAMES["sparse"]: m.SparseVectorParams()} if self.sparse else None
        self.client.create_collection(self.collection, vectors_config=vectors, sparse_vectors_config=sparse)

    # ------------------------------------------------------------------ writing

    def upsert(
        self,
        ids: Sequence[str | int],
        *,
        dense: Any = None,
        multi_vector: Any = None,
        sparse: Any = None,
        metadata: Sequence[Any] | None = None,
        batch_size: int = 256,
    ) -> None:
        """Insert or replace documents from the runtime's outputs, ``batch_size`` points per request.

        ``dense``: ``(n, dim)`` array; ``multi_vector``: list of ``(tokens, dim)`` arrays (or a
        ``MultiVectorBatch``); ``sparse``: list of ``SparseEmbedding`` (or ``{term: weight}``).
        Give every representation the collection holds.
        """
        doc_ids = check_ids(ids)
        n = len(doc_ids)
        meta = check_metadata(metadata, n)
        if any(ID_FIELD in m for m in meta):
            raise InvalidInputError(f"metadata key {ID_FIELD!r} is reserved for the document id")
        columns = self._columns(n, dense, multi_vector, sparse)
        m = self.models
        points = []
        for i, doc_id in enumerate(doc_ids):
            vector = {name: col[i] for name, col in columns.items()}
            points.append(
                m.PointStruct(id=point_id(doc_id), vector=vector, payload={**meta[i], ID_FIELD: doc_id})
            )
        for s in range(0, n, max(1, int(batch_size))):
            self.client.upsert(self.collection, points=points[s : s + batch_size], wait=True)

    def _columns(self, n: int, dense: Any, multi_vector: Any, sparse: Any) -> dict[str, list[Any]]:
        m = self.models
        wanted = {
            "dense": self.dense_dim is not None,
            "multi_vector": self.multi_vector_dim is not None,
            "sparse": self.sparse,
        }
        given = {
            "dense": dense is not None,
            "multi_vector": multi_vector is not None,
            "sparse": sparse is not None,
        }
        if wanted != given:
            raise InvalidInputError(
                f"this collection holds {[k for k, v in wanted.items() if v]}; got vectors for "
                f"{[k for k, v in given.items() if v]}"
            )
        columns: dict[str, list[Any]] = {}
        if dense is not None:
            assert self.dense_dim is not None
            columns[VECTOR_NAMES["dense"]] = float_matrix(dense, self.dense_dim, "dense").tolist()
        if multi_vector is not None:
            assert self.multi_vector_dim is not None
            docs = token_matrices(multi_vector, self.multi_vector_dim, "multi_vector")
            if any(d.shape[0] == 0 for d in docs):
                raise InvalidInputError("Qdrant cannot store a multi-vector document without tokens")
            columns[VECTOR_NAMES["multi_vector"]] = [d.tolist() for d in docs]
        if sparse is not None:
            rows = [as_sparse(v, None, f"sparse[{i}]") for i, v in enumerate(sparse)]
            columns[VECTOR_NAMES["sparse"]] = [
                m.SparseVector(indices=r.indices.tolist(), values=r.values.tolist()) for r in rows
            ]
        for name, col in columns.items():
            if len(col) != n:
                raise InvalidInputError(f"{len(col)} {name} vectors for {n} ids")
        return columns

    def delete(self, ids: Sequence[str | int]) -> None:
        """Delete documents by id (ids not stored are ignored, as Qdrant does)."""
        m = self.models
        points = [point_id(i) for i in check_ids(ids)]
        self.client.delete(self.collection, points_selector=m.PointIdsList(points=points), wait=True)

    def __len__(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    # ------------------------------------------------------------------ search

    def _query(self, using: str, query: Any) -> Any:
        if using == "dense":
            assert self.dense_dim is not None
            return float_matrix(query, self.dense_dim, "query")[0].tolist()
        if using == "multi_vector":
            assert self.multi_vector_dim is not None
            q = np.asarray(query)
            if q.ndim != 2:
                raise InvalidInputError(
                    f"a multi-vector query is one (tokens, dim) array, got shape {q.shape}"
                )
            return float_matrix(q, self.multi_vector_dim, "query").tolist()
        if using == "sparse":
            s = as_sparse(query, None, "query")
            return self.models.SparseVector(indices=s.indices.tolist(), values=s.values.tolist())
        raise InvalidInputError(f"using must be one of {list(VECTOR_NAMES)}, got {using!r}")

    def _filter(self, flt: Mapping[str, Any] | None) -> Any:
        if flt is None:
            return None
        if not isinstance(flt, Mapping):
            raise InvalidInputError("the Qdrant adapter takes dict filters {key: value or [values]}")
        m = self.models
        must = []
        for key, value in flt.items():
            match = (
                m.MatchAny(any=list(value))
                if isinstance(value, (list, tuple, set))
                else m.MatchValue(value=value)
            )
            must.append(m.FieldCondition(key=key, match=match))
        return m.Filter(must=must)

    def _hits(self, response: Any) -> list[Hit]:
        out = []
        for p in response.points:
            payload = dict(p.payload or {})
            doc_id = payload.pop(ID_FIELD)
            out.append(Hit(doc_id, float(p.score), payload))
        return out

    def search(
        self,
        query: Any,
        k: int = 10,
        *,
        using: str = "dense",
        filter: Mapping[str, Any] | None = None,
        prefetch: Mapping[str, Any] | None = None,
        prefetch_limit: int = 100,
    ) -> list[Hit]:
        """Top ``k`` by the ``using`` vector (``"dense"``, ``"multi_vector"`` or ``"sparse"``).

        ``prefetch={name: query}`` first gathers ``prefetch_limit`` candidates per named vector
        and ranks only those with ``query`` (e.g. a dense prefetch re-ranked by MaxSim).
        """
        m = self.models
        pre = None
        if prefetch:
            pre = [
                m.Prefetch(
                    query=self._query(name, q),
                    using=VECTOR_NAMES[name],
                    limit=prefetch_limit,
                    filter=self._filter(filter),
                )
                for name, q in prefetch.items()
            ]
        response = self.client.query_points(
            self.collection,
            query=self._query(using, query),
            using=VECTOR_NAMES[using],
            prefetch=pre,
            query_filter=self._filter(filter),
            limit=k,
            with_payload=True,
        )
        return self._hits(response)

    def hybrid_search(
        self,
        queries: Mapping[str, Any],
        k: int = 10,
        *,
        fusion: str = "rrf",
        rrf_k: int = 60,
        weights: Mapping[str, float] | None = None,
        prefetch_limit: int = 100,
        filter: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Fuse ``{vector name: query}`` searches server-side: one prefetch per name (``prefetch_limit``
        candidates each), then ``fusion="rrf"`` (``rrf_k``, per-source ``weights``) or ``"dbsf"``.

        Qdrant scores RRF as ``1 / (rank / w + k_qdrant - 1)`` (1-based rank); the adapter passes
        ``k_qdrant = rrf_k + 1``, so without weights the fused scores equal
        :func:`tessera_onnx.index.reciprocal_rank_fusion` with ``k=rrf_k`` exactly. With weights the
        two differ by design: Qdrant divides the rank by the weight, the embedded fusion multiplies
        the term ``w / (k + rank)``.
        """
        m = self.models
        names = list(queries)
        pre = [
            m.Prefetch(
                query=self._query(n, queries[n]),
                using=VECTOR_NAMES[n],
                limit=prefetch_limit,
                filter=self._filter(filter),
            )
            for n in names
        ]
        if fusion == "rrf":
            w = None if weights is None else [float(weights.get(n, 1.0)) for n in names]
            query: Any = m.RrfQuery(rrf=m.Rrf(k=int(rrf_k) + 1, weights=w))
        elif fusion == "dbsf":
            query = m.FusionQuery(fusion=m.Fusion.DBSF)
        else:
            raise InvalidInputError(f"fusion must be 'rrf' or 'dbsf', got {fusion!r}")
        response = self.client.query_points(
            self.collection, prefetch=pre, query=query, limit=k, with_payload=True
        )
        return self._hits(response)
