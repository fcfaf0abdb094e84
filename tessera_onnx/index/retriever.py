"""``Retriever``: texts in, ranked ids + scores + metadata out, over one or more indexes.

Each *source* pairs an embedder with the index of its paradigm (``TesseraDense`` →
:class:`DenseIndex`, ``TesseraMultiVector`` → :class:`MultiVectorIndex`, ``TesseraSparse`` →
:class:`SparseIndex`). ``add`` embeds documents with every source's document encoder;
``search`` embeds the query with every source's query encoder (prefixes, ColBERT query markers),
searches each index for ``candidates`` hits and, with more than one source, fuses the lists
(:mod:`tessera_onnx.index.fusion`).

    from tessera_onnx import Tessera
    from tessera_onnx.index import DenseIndex, SparseIndex, Retriever

    dense, sparse = Tessera("all-minilm-l6-v2"), Tessera("splade-model")
    retriever = Retriever({
        "dense": (dense, DenseIndex(dense.dimension)),
        "sparse": (sparse, SparseIndex(sparse.dimension)),
    }, fusion="rrf", rrf_k=60)
    retriever.add(["a", "b"], ["first text", "second text"], [{"lang": "en"}, {"lang": "en"}])
    retriever.search("a question", k=5, filter={"lang": "en"})
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..arguments import CheckedArguments
from ..errors import DuplicateIdError, InvalidInputError, UnknownIdError
from .base import DocId, Filter, Hit, VectorIndex, load_index
from .fusion import DEFAULT_RRF_K, FUSION_METHODS, reciprocal_rank_fusion, weighted_score_fusion

__all__ = ["Retriever"]


def _check_source(name: str, embedder: Any, index: Any) -> None:
    if not isinstance(index, VectorIndex):
        raise InvalidInputError(f"source {name!r}: {type(index).__name__} is not a tessera index")
    paradigm = getattr(embedder, "paradigm", None)
    if paradigm != index.kind:
        raise InvalidInputError(
            f"source {name!r}: a {paradigm!r} embedder cannot fill a {index.kind!r} index; "
            "pair dense/multi_vector/sparse embedders with the index of the same kind"
        )
    dim = getattr(index, "dim", None)
    if dim is not None and getattr(embedder, "dimension", dim) != dim:
        raise InvalidInputError(
            f"source {name!r}: the embedder gives {embedder.dimension}-d vectors, the index holds {dim}-d ones"
        )


class Retriever(CheckedArguments):
    """Search one or more ``{name: (embedder, index)}`` sources with text queries.

    ``fusion``: ``"rrf"`` (reciprocal rank fusion, ``rrf_k``) or ``"weighted"`` (min-max
    normalised score sum); ``weights``: per-source weights (default 1 each); ``candidates``:
    hits taken from each source before fusing (at least ``k``).
    """

    def __init__(
        self,
        sources: Mapping[str, tuple[Any, VectorIndex]],
        *,
        fusion: str = "rrf",
        rrf_k: float = DEFAULT_RRF_K,
        weights: Mapping[str, float] | None = None,
        candidates: int = 100,
    ) -> None:
        if not sources:
            raise InvalidInputError("a Retriever needs at least one (embedder, index) source")
        for name, pair in sources.items():
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise InvalidInputError(f"source {name!r} must be an (embedder, index) pair")
            _check_source(name, *pair)
        if fusion not in FUSION_METHODS:
            raise InvalidInputError(f"fusion must be one of {FUSION_METHODS}, got {fusion!r}")
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise InvalidInputError(f"candidates must be a positive integer, got {candidates!r}")
        self.sources = dict(sources)
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.weights = dict(weights) if weights else None
        self.candidates = candidates
        reciprocal_rank_fusion({n: [] for n in self.sources}, k=rrf_k, weights=self.weights)  # validates

    @property
    def indexes(self) -> dict[str, VectorIndex]:
        """``{source name: index}``."""
        return {name: index for name, (_, index) in self.sources.items()}

    def __len__(self) -> int:
        return len(next(iter(self.indexes.values())))

    def add(
        self, ids: Sequence[DocId], texts: Sequence[str], metadata: Sequence[Any] | None = None, **encode: Any
    ) -> None:
        """Embed ``texts`` as documents with every source and :meth:`~VectorIndex.add` them."""
        self._write(ids, texts, metadata, "add", encode)

    def upsert(
        self, ids: Sequence[DocId], texts: Sequence[str], metadata: Sequence[Any] | None = None, **encode: Any
    ) -> None:
        """Like :meth:`add`, replacing documents whose id is stored."""
        self._write(ids, texts, metadata, "upsert", encode)

    def delete(self, ids: Sequence[DocId]) -> None:
        """Remove ``ids`` from every index (all must be known to every index)."""
        unknown = [i for i in ids for index in self.indexes.values() if i not in index]
        if unknown:
            raise UnknownIdError(f"cannot delete ids that are not in the index: {unknown[:5]!r}")
        for index in self.indexes.values():
            index.delete(ids)

    def _write(
        self, ids: Sequence[DocId], texts: Sequence[str], metadata: Any, how: str, encode: Any
    ) -> None:
        if isinstance(texts, str) or len(texts) != len(ids):
            raise InvalidInputError(f"{len(ids)} ids need as many texts (a list), got {type(texts).__name__}")
        if how == "add":  # refuse before embedding anything, and before any index changed
            known = [i for i in ids for index in self.indexes.values() if i in index]
            if known:
                raise DuplicateIdError(
                    f"ids already in the index: {known[:5]!r}; use upsert() to replace them"
                )
        vectors = {
            name: emb.encode_documents(list(texts), **encode) for name, (emb, _) in self.sources.items()
        }
        for name, index in self.indexes.items():
            getattr(index, how)(ids, vectors[name], metadata)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filter: Filter | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` best documents for the text ``query``: fused over ``sources`` (default: all)."""
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        names = list(self.sources) if sources is None else list(sources)
        unknown = set(names) - set(self.sources)
        if unknown or not names:
            raise InvalidInputError(
                f"unknown sources {sorted(unknown)}; this retriever has {list(self.sources)}"
            )
        lists = self.search_sources(query, max(k, self.candidates), filter=filter, sources=names)
        if len(lists) == 1:
            return next(iter(lists.values()))[:k]
        weights = {n: w for n, w in (self.weights or {}).items() if n in lists} or None
        if self.fusion == "rrf":
            return reciprocal_rank_fusion(lists, k=self.rrf_k, weights=weights, limit=k)
        return weighted_score_fusion(lists, weights=weights, limit=k)

    def search_sources(
        self, query: str, k: int, *, filter: Filter | None = None, sources: Sequence[str] | None = None
    ) -> dict[str, list[Hit]]:
        """Each source's own top ``k`` for ``query``, unfused."""
        out = {}
        for name in sources or list(self.sources):
            embedder, index = self.sources[name]
            out[name] = index.search(embedder.encode_queries(query), k, filter=filter)
        return out

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Save every index as ``<directory>/<source name>.tidx`` (each written atomically)."""
        root = Path(directory)
        for name, index in self.indexes.items():
            index.save(root / f"{name}.tidx")
        return root

    def load_indexes(self, directory: str | os.PathLike[str]) -> None:
        """Replace every source's index by the one saved under ``directory`` by :meth:`save`."""
        loaded = {name: load_index(Path(directory) / f"{name}.tidx") for name in self.sources}
        for name, index in loaded.items():
            _check_source(name, self.sources[name][0], index)
        self.sources = {name: (emb, loaded[name]) for name, (emb, _) in self.sources.items()}
