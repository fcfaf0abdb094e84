"""``PageIndex``: page vectors kept as float32, int8 or binary; pooled prefetch, exact MaxSim rerank.

The pages live in a :class:`tessera_onnx.index.MultiVectorIndex` (the index package's
multi-vector core), with its ``storage`` for the three forms; scoring is late interaction
(``Σ_i max_j q_i·d_j``) on what it stores:

- ``float``: exact float32 MaxSim (:func:`tessera_onnx.ops.maxsim_scores`);
- ``int8`` / ``binary``: MaxSim on the codes
  (:func:`tessera_onnx.quantization.quantized_maxsim_scores`: the float query against int8 bin
  centres, or Hamming similarity of sign bits) — 4× / 32× less memory than float32.

``search(query, k, prefetch=N)`` first ranks every page by its **mean-pooled** vector
(``(Σ_i q_i) · mean_j d_j``: one ``[pages, dim]`` product), keeps the best ``N`` and reranks only
those with MaxSim; ``prefetch=None`` scores every page with MaxSim (exhaustive).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..arguments import CheckedArguments
from ..errors import InvalidInputError
from ..index.multi_vector import MultiVectorIndex
from ..quantization import topk

__all__ = ["PageIndex", "PageHits", "STORAGES"]

STORAGES = ("float", "int8", "binary")
_STORAGE = {"float": "float", "int8": "int8", "binary": "ubinary"}  # PageIndex name -> index storage


class PageHits(NamedTuple):
    """Top pages of one query: positions in the index, their ids, their MaxSim scores (best first)."""

    indices: np.ndarray
    ids: list[Any]
    scores: np.ndarray


def _as_pages(vectors: Any, dim: int | None) -> list[np.ndarray]:
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2:
        vectors = [vectors]
    if not isinstance(vectors, Sequence) or isinstance(vectors, (str, bytes)):
        raise InvalidInputError("page vectors must be a list of (tokens, dim) float arrays")
    out = []
    for i, v in enumerate(vectors):
        arr = np.asarray(v, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] == 0 or (dim is not None and arr.shape[1] != dim):
            raise InvalidInputError(
                f"pages[{i}] vectors have shape {arr.shape}; expected (tokens >= 1, {dim or 'dim'})"
            )
        out.append(arr)
    return out


class PageIndex(CheckedArguments):
    """An in-memory index of page multi-vectors with an optional pooled prefetch.

    ``storage``: ``"float"``, ``"int8"`` or ``"binary"``. ``int8`` needs per-dimension ranges:
    pass ``ranges`` (``[2, dim]``) or they are computed from the first pages added (L2-normalised
    vectors keep every dimension within [-1, 1]). Pages are stored in a
    :class:`~tessera_onnx.index.MultiVectorIndex` whose ids are the page positions.
    """

    def __init__(self, storage: str = "float", *, ranges: Any = None) -> None:
        if storage not in STORAGES:
            raise InvalidInputError(f"storage must be one of {STORAGES}, got {storage!r}")
        self.storage = storage
        self._ranges = None if ranges is None else np.asarray(ranges, np.float32)
        self._index: MultiVectorIndex | None = None
        self._pooled: list[np.ndarray] = []
        self.ids: list[Any] = []

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int | None:
        """Width of the page vectors (None until pages are added)."""
        return None if self._index is None else self._index.dim

    def add(self, vectors: Any, ids: Sequence[Any] | None = None) -> None:
        """Add pages (a list of ``(tokens, dim)`` arrays, e.g. ``encode_images`` output); ids default to positions."""
        pages = _as_pages(vectors, self.dim)
        if not pages:
            return
        if ids is not None and len(ids) != len(pages):
            raise InvalidInputError(f"{len(ids)} ids for {len(pages)} pages")
        if self._index is None:
            ranges = self._ranges
            if self.storage == "int8" and ranges is None:
                flat = np.concatenate(pages)
                ranges = np.stack([flat.min(axis=0), flat.max(axis=0)]).astype(np.float32)
            self._index = MultiVectorIndex(
                pages[0].shape[1],
                storage=_STORAGE[self.storage],
                ranges=ranges if self.storage == "int8" else None,
            )
        start = len(self.ids)
        self._index.add(list(range(start, start + len(pages))), pages)
        self._pooled.append(np.stack([p.mean(axis=0) for p in pages]).astype(np.float32))
        self.ids.extend(list(ids) if ids is not None else range(start, start + len(pages)))

    @property
    def memory_bytes(self) -> int:
        """Bytes of the stored page vectors (tokens), without the pooled vectors."""
        return 0 if self._index is None else self._index.memory_bytes()

    @property
    def pooled_bytes(self) -> int:
        """Bytes of the mean-pooled vectors used by the prefetch."""
        return int(sum(p.nbytes for p in self._pooled))

    # ------------------------------------------------------------------ scoring

    def maxsim(self, query: np.ndarray, docs: np.ndarray | None = None) -> np.ndarray:
        """MaxSim of one query ``(tokens, dim)`` against pages ``docs`` (positions; all by default)."""
        if self._index is None:
            raise InvalidInputError("the page index is empty; add() pages first")
        if docs is None:
            return self._index.scores(query)
        return self._index.scores(query, [int(d) for d in np.asarray(docs, np.int64).ravel()])

    def search(self, query: Any, k: int = 10, *, prefetch: int | None = None) -> PageHits | list[PageHits]:
        """Top-``k`` pages for one query ``(tokens, dim)`` (→ :class:`PageHits`) or a list of them.

        ``prefetch``: rerank only the ``prefetch`` pages whose pooled vectors score best
        (None: MaxSim over every page).
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if prefetch is not None and (
            isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) or prefetch < 1
        ):
            raise InvalidInputError(f"prefetch must be None or a positive integer, got {prefetch!r}")
        if len(self) == 0:
            raise InvalidInputError("the page index is empty; add() pages first")
        single = isinstance(query, np.ndarray) and query.ndim == 2
        queries = _as_pages([query] if single else query, self.dim)
        pooled = np.concatenate(self._pooled)
        out = []
        for q in queries:
            if prefetch is None or prefetch >= len(self):
                docs = np.arange(len(self))
                scores = self.maxsim(q)
            else:
                docs = topk((pooled @ q.sum(axis=0))[None, :], int(prefetch))[0]
                scores = self.maxsim(q, docs)
            best = topk(scores[None, :], min(int(k), len(docs)))[0]
            idx = docs[best]
            out.append(PageHits(idx, [self.ids[i] for i in idx], scores[best]))
        return out[0] if single else out
