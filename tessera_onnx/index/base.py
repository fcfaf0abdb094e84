"""What every index shares: ids, JSON metadata, filters, snapshots, save/load, ranking.

An index holds one immutable :class:`_State` (ids, metadata, the stored vectors, and search
structures derived from them on first use). A write builds a new state and swaps one reference
under a lock, so searches running meanwhile keep working on the state they started with: a reader
sees the index before or after a write, never in between. Writes copy the stored arrays, so add
documents in batches rather than one at a time.

Ids are ``str`` or ``int``; metadata is a JSON object (``dict`` with ``str`` keys, values that
``json.dumps`` accepts, no NaN). Ties in score rank the document stored first first (insertion
order; an upsert keeps a document's place, a delete closes the gap).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..arguments import CheckedArguments, check_keywords, public
from ..errors import DuplicateIdError, IndexStoreError, InvalidInputError, UnknownIdError
from ..quantization.retrieval import _check_k, topk
from .rows import FixedRows, RaggedRows
from .store import read_index_file, write_index_file

__all__ = ["Hit", "VectorIndex", "Filter", "DocId", "load_index", "rank"]

DocId = str | int
#: ``{"key": value}`` (equality), ``{"key": [v1, v2]}`` (any of), or a callable ``metadata -> bool``.
Filter = Mapping[str, Any] | Callable[[Mapping[str, Any]], bool]
Rows = FixedRows | RaggedRows
_I = TypeVar("_I", bound="VectorIndex")


@dataclass(frozen=True)
class Hit:
    """One search result: the document ``id``, its ``score`` (higher is better) and ``metadata``."""

    id: DocId
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class _State:
    ids: tuple[DocId, ...]
    positions: Mapping[DocId, int]
    metadata: tuple[dict[str, Any], ...]
    rows: Rows
    derived: dict[str, Any] = field(default_factory=dict)  # search structures, built on first use
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, name: str, build: Callable[[], Any]) -> Any:
        """A derived structure of this state, built once (thread-safe)."""
        value = self.derived.get(name)
        if value is None:
            with self.lock:
                value = self.derived.get(name)
                if value is None:
                    value = self.derived[name] = build()
        return value


# --------------------------------------------------------------------------- validation


def _check_id(value: Any) -> DocId:
    if isinstance(value, bool) or not isinstance(value, (str, int, np.integer)):
        raise InvalidInputError(f"ids must be str or int, got {type(value).__name__} {value!r}")
    return int(value) if isinstance(value, np.integer) else value


def check_ids(ids: Any, what: str = "ids") -> list[DocId]:
    """``ids`` as a list of str/int ids, each given once (one id alone is a batch of one)."""
    if isinstance(ids, (str, int, np.integer)) and not isinstance(ids, bool):
        ids = [ids]
    checked = [_check_id(i) for i in ids]
    seen: set[DocId] = set()
    dupes = set()
    for i in checked:
        if i in seen:
            dupes.add(i)
        seen.add(i)
    if dupes:
        raise DuplicateIdError(
            f"{what} repeat {sorted(set(map(repr, dupes)))[:5]} in one batch: give each id once"
        )
    return checked


def check_metadata(metadata: Any, n: int) -> list[dict[str, Any]]:
    """One JSON-safe dict per document (``None`` entries become ``{}``), copied via a JSON round trip."""
    if metadata is None:
        return [{} for _ in range(n)]
    if isinstance(metadata, Mapping):
        raise InvalidInputError("metadata must be a list with one dict per document, not one dict")
    items = list(metadata)
    if len(items) != n:
        raise InvalidInputError(f"{len(items)} metadata entries for {n} documents")
    out = []
    for i, m in enumerate(items):
        m = {} if m is None else m
        if not isinstance(m, Mapping) or not all(isinstance(k, str) for k in m):
            raise InvalidInputError(f"metadata[{i}] must be a dict with str keys, got {type(m).__name__}")
        try:
            out.append(json.loads(json.dumps(dict(m), allow_nan=False)))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"metadata[{i}] is not JSON-safe ({exc}); store plain JSON values"
            ) from exc
    return out


def check_finite(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` unchanged, or an error when it holds NaN or infinity."""
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"{what} contains NaN or infinite values; fix or drop those vectors")
    return x


def _filter_mask(state: _State, flt: Filter | None) -> np.ndarray | None:
    """Boolean mask of the documents ``flt`` keeps (``None``: all)."""
    if flt is None:
        return None
    if callable(flt):
        test = flt
    elif isinstance(flt, Mapping):
        wanted = {k: (v if isinstance(v, (list, tuple, set, frozenset)) else [v]) for k, v in flt.items()}
        missing = object()

        def test(meta: Mapping[str, Any]) -> bool:
            return all(meta.get(k, missing) in vs for k, vs in wanted.items())

    else:
        raise InvalidInputError(
            "filter must be a dict {key: value or [values]} or a callable(metadata) -> bool"
        )
    return np.fromiter((bool(test(m)) for m in state.metadata), dtype=bool, count=len(state.metadata))


def _nbytes(obj: Any) -> int:
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(o) for o in obj)
    if isinstance(obj, Mapping):
        return sum(_nbytes(o) for o in obj.values())
    return int(getattr(obj, "memory_bytes", 0))


def rank(scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``scores`` as ``(rows, scores)``: highest score first, ties by lower row.

    ``rows`` (ascending) names the row of each score when ``scores`` covers a subset.
    """
    if scores.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, scores.dtype)
    pos = topk(scores[None, :], k)[0]
    return (pos if rows is None else rows[pos]), scores[pos]


def order_hits(rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort candidate ``rows`` by decreasing score, ties by lower row (for re-scored candidates)."""
    order = np.lexsort((rows, -scores.astype(np.float64)))
    return rows[order], scores[order]


# --------------------------------------------------------------------------- the index


class VectorIndex(CheckedArguments):
    """Base class of :class:`DenseIndex`, :class:`MultiVectorIndex` and :class:`SparseIndex`.

    Subclasses define how a batch of vectors is validated into rows (:meth:`_rows_of`), how
    rows are scored (:meth:`_search_rows`) and their settings (:meth:`config`).
    """

    kind: ClassVar[str] = ""
    #: keyword options :meth:`search` takes besides ``filter`` (per kind)
    search_options: ClassVar[tuple[str, ...]] = ()
    _registry: ClassVar[dict[str, type[VectorIndex]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            VectorIndex._registry[cls.kind] = cls

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._state = _State((), {}, (), self._empty_rows())

    # ------------------------------------------------------------------ subclass hooks

    def _empty_rows(self) -> Rows:
        raise NotImplementedError

    def _rows_of(self, vectors: Any, n: int) -> Rows:
        """Validate a batch of ``n`` documents' vectors into rows (typed errors on bad input)."""
        raise NotImplementedError

    def _search_rows(
        self, state: _State, query: Any, k: int, mask: np.ndarray | None, options: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` ``(rows, scores)`` of the documents ``mask`` keeps, best first."""
        raise NotImplementedError

    def _check_loaded(self, rows: Rows) -> None:
        """Raise ``ValueError`` when rows read from a file do not fit this index's settings."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Constructor settings, saved with the index (``type(self)(**config())`` rebuilds it empty)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._state.ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._state.positions

    @property
    def ids(self) -> list[DocId]:
        """Stored ids in insertion order."""
        return list(self._state.ids)

    def metadata(self, doc_id: DocId) -> dict[str, Any]:
        """A copy of the metadata of ``doc_id``."""
        state = self._state
        if doc_id not in state.positions:
            raise UnknownIdError(f"id {doc_id!r} is not in the index")
        return dict(state.metadata[state.positions[doc_id]])

    def memory_bytes(self, search_structures: bool = False) -> int:
        """Bytes of the stored vectors (ids and metadata excluded).

        ``search_structures=True`` adds what searches built so far (quantized codes, length
        buckets, posting lists), which live in memory only.
        """
        state = self._state
        return state.rows.nbytes + (_nbytes(list(state.derived.values())) if search_structures else 0)

    def bytes_per_document(self) -> float:
        """:meth:`memory_bytes` divided by the number of documents (0 when empty)."""
        n = len(self)
        return self.memory_bytes() / n if n else 0.0

    def search(self, query: Any, k: int = 10, *, filter: Filter | None = None, **options: Any) -> list[Hit]:
        """The ``k`` best documents for ``query`` (fewer if fewer match), best first.

        ``filter`` keeps documents whose metadata matches: ``{"key": value}``,
        ``{"key": [v1, v2]}`` (any of) or a callable ``metadata -> bool``. ``options`` are
        per-kind search settings (see the subclass).
        """
        check_keywords(f"{type(self).__name__}.search()", options, ("filter", *self.search_options))
        k = _check_k(k)
        state = self._state  # one snapshot for the whole search
        if not state.ids:
            return []
        mask = _filter_mask(state, filter)
        if mask is not None and not mask.any():
            return []
        rows, scores = self._search_rows(state, query, k, mask, options)
        return [
            Hit(state.ids[r], float(s), dict(state.metadata[r]))
            for r, s in zip(rows.tolist(), scores.tolist(), strict=True)
        ]

    def variant(self: _I, **settings: Any) -> _I:
        """A new index over the *same* stored documents with other settings (e.g. ``compression``).

        No copy is made: stored rows are immutable and shared; writes to either index afterwards
        affect only that index. Search structures are built separately for the variant.
        """
        index = type(self)(**{**self.config(), **settings})
        state = self._state
        index._state = _State(state.ids, state.positions, state.metadata, state.rows)
        return index

    # ------------------------------------------------------------------ writing

    def add(self, ids: Iterable[DocId], vectors: Any, metadata: Sequence[Any] | None = None) -> None:
        """Insert new documents; an id already stored raises :class:`DuplicateIdError` (use :meth:`upsert`)."""
        self._write(ids, vectors, metadata, replace=False)

    def upsert(self, ids: Iterable[DocId], vectors: Any, metadata: Sequence[Any] | None = None) -> None:
        """Insert documents, replacing those whose id is stored (they keep their place in the order)."""
        self._write(ids, vectors, metadata, replace=True)

    def delete(self, ids: Iterable[DocId]) -> None:
        """Remove documents; nothing is removed when any id is unknown (:class:`UnknownIdError`)."""
        doomed = check_ids(ids)
        with self._write_lock:
            state = self._state
            unknown = [i for i in doomed if i not in state.positions]
            if unknown:
                raise UnknownIdError(f"cannot delete ids that are not in the index: {unknown[:5]!r}")
            gone = np.zeros(len(state.ids), bool)
            gone[[state.positions[i] for i in doomed]] = True
            keep = np.flatnonzero(~gone)
            self._state = self._make_state(
                [state.ids[r] for r in keep], [state.metadata[r] for r in keep], state.rows.take(keep)
            )

    def _write(self, ids: Any, vectors: Any, metadata: Any, replace: bool) -> None:
        new_ids = check_ids(ids)
        if not new_ids:
            return
        meta = check_metadata(metadata, len(new_ids))
        batch = self._rows_of(vectors, len(new_ids))
        with self._write_lock:
            state = self._state
            known = [i for i in new_ids if i in state.positions]
            if known and not replace:
                raise DuplicateIdError(
                    f"ids already in the index: {known[:5]!r}; use upsert() to replace them"
                )
            n_old = len(state.ids)
            combined = state.rows.concat(batch)
            order = np.arange(n_old, dtype=np.int64)
            out_ids, out_meta = list(state.ids), list(state.metadata)
            fresh = []
            for j, doc_id in enumerate(new_ids):
                pos = state.positions.get(doc_id)
                if pos is None:
                    fresh.append(j)
                    out_ids.append(doc_id)
                    out_meta.append(meta[j])
                else:
                    order[pos] = n_old + j
                    out_meta[pos] = meta[j]
            order = np.concatenate([order, n_old + np.asarray(fresh, np.int64)])
            rows = combined if len(known) == 0 else combined.take(order)
            self._state = self._make_state(out_ids, out_meta, rows)

    @staticmethod
    def _make_state(ids: Sequence[DocId], metadata: Sequence[dict[str, Any]], rows: Rows) -> _State:
        return _State(tuple(ids), {d: i for i, d in enumerate(ids)}, tuple(metadata), rows)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to one file, atomically (see :mod:`tessera_onnx.index.store`)."""
        state = self._state
        records = {"ids": list(state.ids), "metadata": list(state.metadata)}
        return write_index_file(path, self.kind, self.config(), records, state.rows.to_arrays())

    @classmethod
    def load(cls: type[_I], path: str | os.PathLike[str]) -> _I:
        """Read an index written by :meth:`save` (checksums verified; no code executed)."""
        index = load_index(path)
        if not isinstance(index, cls):
            raise IndexStoreError(
                f"{path} holds a {index.kind} index, not a {cls.kind} one: use load_index()"
            )
        return index


@public
def load_index(path: str | os.PathLike[str]) -> VectorIndex:
    """Read any index written by ``save()``: returns a :class:`DenseIndex`, :class:`MultiVectorIndex`
    or :class:`SparseIndex`."""
    manifest, records, arrays = read_index_file(path)
    kind = manifest.get("kind")
    cls = VectorIndex._registry.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise IndexStoreError(f"{path} holds an index of unknown kind {kind!r}; upgrade tessera-onnx")
    try:
        index = cls(**manifest["config"])
        ids = [_check_id(i) for i in records["ids"]]
        meta = [dict(m) for m in records["metadata"]]
        empty = index._state.rows
        rows = type(empty).from_arrays(arrays)
        if len(rows) != len(ids) or len(meta) != len(ids):
            raise ValueError(f"{len(ids)} ids, {len(meta)} metadata entries, {len(rows)} stored rows")
        index._check_loaded(rows)
    except (KeyError, TypeError, ValueError, InvalidInputError) as exc:
        raise IndexStoreError(f"{path}: inconsistent index contents ({exc}); rebuild the index") from exc
    index._state = index._make_state(ids, meta, rows)
    return index
