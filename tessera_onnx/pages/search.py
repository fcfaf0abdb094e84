"""``PageIndex``: page vectors kept as float32, int8 or binary; pooled prefetch, exact MaxSim rerank.

Scoring is late interaction (``Σ_i max_j q_i·d_j``) on what the index stores:

- ``float``: exact float32 MaxSim (:func:`tessera_onnx.ops.maxsim.maxsim_scores`);
- ``int8`` / ``binary``: the quantization module's MaxSim on the codes
  (:func:`tessera_onnx.quantization.quantized_maxsim_scores`: the float query against int8 bin centres,
  or Hamming similarity of sign bits) — 4× / 32× less memory than float32.

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
from ..ops.maxsim import maxsim_scores as float_maxsim_scores
from ..ops.maxsim import pad_multivectors
from ..quantization import QuantizedEmbeddings, quantize, quantized_maxsim_scores, topk

__all__ = ["PageIndex", "PageHits", "STORAGES"]

STORAGES = ("float", "int8", "binary")
_SCHEME = {"int8": "int8", "binary": "ubinary"}


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
    vectors keep every dimension within [-1, 1]).
    """

    def __init__(self, storage: str = "float", *, ranges: Any = None) -> None:
        if storage not in STORAGES:
            raise InvalidInputError(f"storage must be one of {STORAGES}, got {storage!r}")
        self.storage = storage
        self.dim: int | None = None
        self._ranges = None if ranges is None else np.asarray(ranges, np.float32)
        self._float = np.zeros((0, 0, 0), np.float32)  # padded [pages, tokens, dim]
        self._mask = np.zeros((0, 0), bool)
        self._codes: list[QuantizedEmbeddings] = []
        self._merged: QuantizedEmbeddings | None = None
        self._pooled: list[np.ndarray] = []
        self.ids: list[Any] = []

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, vectors: Any, ids: Sequence[Any] | None = None) -> None:
        """Add pages (a list of ``(tokens, dim)`` arrays, e.g. ``encode_images`` output); ids default to positions."""
        pages = _as_pages(vectors, self.dim)
        if not pages:
            return
        if ids is not None and len(ids) != len(pages):
            raise InvalidInputError(f"{len(ids)} ids for {len(pages)} pages")
        self.dim = pages[0].shape[1]
        self._pooled.append(np.stack([p.mean(axis=0) for p in pages]).astype(np.float32))
        if self.storage == "float":
            self._append_float(pages)
        else:
            scheme = _SCHEME[self.storage]
            if scheme == "int8" and self._ranges is None:
                flat = np.concatenate(pages)
                self._ranges = np.stack([flat.min(axis=0), flat.max(axis=0)]).astype(np.float32)
            q = quantize(pages, scheme, ranges=self._ranges if scheme == "int8" else None)
            self._codes.append(q)
            self._merged = None
        start = len(self.ids)
        self.ids.extend(list(ids) if ids is not None else range(start, start + len(pages)))

    # ------------------------------------------------------------------ storage

    def _append_float(self, pages: list[np.ndarray]) -> None:
        longest = max(self._float.shape[1], max(len(p) for p in pages))
        new, mask = pad_multivectors(pages, longest)
        if self._float.shape[1] < longest and len(self._float):
            grow = longest - self._float.shape[1]
            self._float = np.pad(self._float, ((0, 0), (0, grow), (0, 0)))
            self._mask = np.pad(self._mask, ((0, 0), (0, grow)))
        self._float = np.concatenate([self._float, new]) if len(self._float) else new
        self._mask = np.concatenate([self._mask, mask]) if len(self._mask) else mask

    def _corpus(self) -> QuantizedEmbeddings:
        if self._merged is None:
            parts = self._codes
            offsets = [np.zeros(1, np.int64)]
            base = 0
            for q in parts:
                assert q.offsets is not None
                offsets.append(q.offsets[1:] + base)
                base += q.n_rows
            self._merged = QuantizedEmbeddings(
                data=np.concatenate([q.data for q in parts]),
                scheme=parts[0].scheme,
                dim=parts[0].dim,
                ranges=parts[0].ranges,
                offsets=np.concatenate(offsets),
            )
        return self._merged

    def _subset(self, docs: np.ndarray) -> QuantizedEmbeddings:
        corpus = self._corpus()
        assert corpus.offsets is not None
        rows = [np.arange(corpus.offsets[d], corpus.offsets[d + 1]) for d in docs]
        lengths = np.array([len(r) for r in rows], np.int64)
        return QuantizedEmbeddings(
            data=corpus.data[np.concatenate(rows)],
            scheme=corpus.scheme,
            dim=corpus.dim,
            ranges=corpus.ranges,
            offsets=np.concatenate([[0], np.cumsum(lengths)]),
        )

    @property
    def memory_bytes(self) -> int:
        """Bytes of the stored page vectors (tokens), without the pooled vectors."""
        if self.storage == "float":
            return int(self._float.nbytes + self._mask.nbytes)
        return self._corpus().memory_bytes if self._codes else 0

    @property
    def pooled_bytes(self) -> int:
        """Bytes of the mean-pooled vectors used by the prefetch."""
        return int(sum(p.nbytes for p in self._pooled))

    # ------------------------------------------------------------------ scoring

    def maxsim(self, query: np.ndarray, docs: np.ndarray | None = None) -> np.ndarray:
        """MaxSim of one query ``(tokens, dim)`` against pages ``docs`` (positions; all by default)."""
        docs = np.arange(len(self)) if docs is None else np.asarray(docs, np.int64)
        every = len(docs) == len(self) and np.array_equal(docs, np.arange(len(self)))
        if self.storage == "float":
            stored, mask = (self._float, self._mask) if every else (self._float[docs], self._mask[docs])
            return float_maxsim_scores(query[None], stored, document_mask=mask)[0]
        corpus = self._corpus() if every else self._subset(docs)
        return quantized_maxsim_scores(query, corpus).astype(np.float32)

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
            else:
                docs = topk((pooled @ q.sum(axis=0))[None, :], int(prefetch))[0]
            scores = self.maxsim(q, docs)
            best = topk(scores[None, :], min(int(k), len(docs)))[0]
            idx = docs[best]
            out.append(PageHits(idx, [self.ids[i] for i in idx], scores[best]))
        return out[0] if single else out
