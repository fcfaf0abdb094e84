"""``Retriever``: texts in, ranked ids + scores + metadata out, over one or more indexes.

Each *source* pairs an embedder with the index of its paradigm (``TesseraDense`` →
:class:`DenseIndex`, ``TesseraMultiVector`` → :class:`MultiVectorIndex`, ``TesseraSparse`` →
:class:`SparseIndex`). ``add`` embeds documents with every source's document encoder;
``search`` embeds the query with every source's query encoder (prefixes, ColBERT query markers),
searches each index for ``candidates`` hits and, with more than one source, fuses the lists
(:mod:`tessera_onnx.index.fusion`). Two optional second stages follow: a cross-encoder
``reranker`` rescores the fused top ``candidates`` (first stage top-N → cross-encoder → top-k),
and ``mmr=λ`` picks the final ``k`` by maximal marginal relevance over a dense source's vectors
(:mod:`tessera_onnx.index.rerank`).

    from tessera_onnx import Tessera
    from tessera_onnx.index import DenseIndex, SparseIndex, Retriever

    dense, sparse = Tessera("all-minilm-l6-v2"), Tessera("splade-model")
    retriever = Retriever({
        "dense": (dense, DenseIndex(dense.dimension)),
        "sparse": (sparse, SparseIndex(sparse.dimension)),
    }, fusion="rrf", rrf_k=60)
    retriever.add(["a", "b"], ["first text", "second text"], [{"lang": "en"}, {"lang": "en"}])
    retriever.search("a question", k=5, filter={"lang": "en"})

    reranking = Retriever({"dense": (dense, DenseIndex(dense.dimension))},
                          reranker=Tessera("ms-marco-minilm-l-6-v2"), candidates=50)
    reranking.add(ids, texts)
    reranking.search("a question", k=10, mmr=0.7)   # top-50 → cross-encoder → MMR top-10
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..arguments import CheckedArguments
from ..errors import DuplicateIdError, InvalidInputError, UnknownIdError
from .base import DocId, Filter, Hit, VectorIndex, load_index
from .fusion import DEFAULT_RRF_K, FUSION_METHODS, reciprocal_rank_fusion, weighted_score_fusion
from .rerank import check_reranker, diversify_hits, rerank_hits

_TEXTS_FILE = "texts.json"

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
    hits taken from each source before fusing (at least ``k``), and the number of fused hits the
    second stages see.

    ``reranker``: a one-label cross-encoder (``Tessera`` of a ``cross_encoder`` artifact) that
    rescores the top ``candidates``; it needs the documents' texts: ``keep_texts`` (default: on
    when there is a reranker) keeps the texts given to :meth:`add`/:meth:`upsert` (saved with the
    indexes), or ``text_of(id) -> str`` looks them up elsewhere.
    """

    def __init__(
        self,
        sources: Mapping[str, tuple[Any, VectorIndex]],
        *,
        fusion: str = "rrf",
        rrf_k: float = DEFAULT_RRF_K,
        weights: Mapping[str, float] | None = None,
        candidates: int = 100,
        reranker: Any = None,
        keep_texts: bool | None = None,
        text_of: Callable[[DocId], str] | None = None,
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
        if reranker is not None:
            check_reranker(reranker)
        if text_of is not None and not callable(text_of):
            raise InvalidInputError(f"text_of must be a callable id -> str, got {type(text_of).__name__}")
        self.reranker = reranker
        self.keep_texts = (
            (reranker is not None and text_of is None) if keep_texts is None else bool(keep_texts)
        )
        self._texts: dict[DocId, str] = {}
        self._text_of = text_of
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
        for i in ids:
            self._texts.pop(i, None)

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
        if self.keep_texts:
            self._texts.update(zip(ids, texts, strict=True))

    def text(self, doc_id: DocId) -> str:
        """The text of ``doc_id`` (kept by :meth:`add`, or looked up with ``text_of``)."""
        if self._text_of is not None:
            return self._text_of(doc_id)
        return self._texts[doc_id]

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filter: Filter | None = None,
        sources: Sequence[str] | None = None,
        rerank: bool | None = None,
        mmr: float | None = None,
        mmr_source: str | None = None,
    ) -> list[Hit]:
        """The ``k`` best documents for the text ``query``: fused over ``sources`` (default: all).

        With a ``reranker`` (and ``rerank`` not False) the fused top ``candidates`` are rescored
        by it and the scores are the cross-encoder's. ``mmr=λ`` (in ``[0, 1]``) then picks the
        ``k`` hits by maximal marginal relevance over the vectors of the dense source
        ``mmr_source`` (default: the first dense source).
        """
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        use_reranker = self.reranker is not None if rerank is None else bool(rerank)
        if use_reranker and self.reranker is None:
            raise InvalidInputError("rerank=True needs a Retriever built with reranker=")
        vector_of = self._mmr_vectors(mmr_source) if mmr is not None else None
        if not (use_reranker or mmr is not None):
            return self._first_stage(query, k, filter, sources)
        hits = self._first_stage(query, max(k, self.candidates), filter, sources)
        if use_reranker:
            hits = rerank_hits(self.reranker, query, hits, self.text)
        if vector_of is not None:
            return diversify_hits(hits, vector_of, k, mmr)  # type: ignore[arg-type]
        return hits[:k]

    def _mmr_vectors(self, name: str | None) -> Callable[[DocId], Any]:
        dense = [n for n, index in self.indexes.items() if index.kind == "dense"]
        if name is None and dense:
            name = dense[0]
        if name not in dense:
            raise InvalidInputError(
                f"mmr needs the vectors of a dense source; dense sources here: {dense or 'none'}"
                + (f", not {name!r}" if name is not None else "")
            )
        return self.indexes[name].vector  # type: ignore[attr-defined]

    def _first_stage(
        self, query: str, k: int, filter: Filter | None, sources: Sequence[str] | None
    ) -> list[Hit]:
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
        """Save every index as ``<directory>/<source name>.tidx`` (each written atomically), and
        the kept texts as ``texts.json``."""
        root = Path(directory)
        for name, index in self.indexes.items():
            index.save(root / f"{name}.tidx")
        if self.keep_texts:
            tmp = root / f".{_TEXTS_FILE}.tmp"
            pairs = [[doc_id, text] for doc_id, text in self._texts.items()]
            tmp.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, root / _TEXTS_FILE)
        return root

    def load_indexes(self, directory: str | os.PathLike[str]) -> None:
        """Replace every source's index by the one saved under ``directory`` by :meth:`save`."""
        loaded = {name: load_index(Path(directory) / f"{name}.tidx") for name in self.sources}
        for name, index in loaded.items():
            _check_source(name, self.sources[name][0], index)
        self.sources = {name: (emb, loaded[name]) for name, (emb, _) in self.sources.items()}
        texts = Path(directory) / _TEXTS_FILE
        if self.keep_texts and texts.is_file():
            self._texts = {doc_id: text for doc_id, text in json.loads(texts.read_text(encoding="utf-8"))}
