"""ColBERT multi-vector embeddings and MaxSim scoring (Stanford and PyLate rules, docs/reference-semantics.md §1).

Queries: tokenize with specials truncated to ``query_length - 1``, insert the query marker at
position 1 (after [CLS]), pad to ``query_length`` with the mask token (attention 0 unless
``attend_to_expansion_tokens``) and keep every row when ``do_query_expansion``.
Documents: truncate to ``document_length - 1``, insert the document marker at position 1, pad
to the longest in the bucket, and drop rows that are padding or whose id is in the skiplist
([CLS], [D] and [SEP] stay). Every kept row is L2-normalised.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arguments import accepts, st_aliases
from ..errors import InvalidInputError
from ..ops.maxsim import maxsim_scores, pad_multivectors
from ..ops.normalize import l2_normalize
from ..text.batching import ProgressBar
from .base import TextEmbedder
from .config import MultiVectorConfig

__all__ = ["TesseraMultiVector", "MultiVectorBatch"]

_OPTIONS = ("batch_size", "show_progress", "dimension", "padded")
_ALIASES = st_aliases("show_progress_bar", "convert_to_numpy")


@dataclass(frozen=True)
class MultiVectorBatch:
    """Padded multi-vector form for fast scoring: ``embeddings`` ``[N, T, d]`` (zeros at padding)
    and ``mask`` ``[N, T]`` (True = real token row)."""

    embeddings: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    def to_list(self) -> list[np.ndarray]:
        """The ragged form: one ``(tokens_i, d)`` array per item."""
        return [e[m] for e, m in zip(self.embeddings, self.mask, strict=True)]

    @classmethod
    def from_list(cls, arrays: list[np.ndarray]) -> MultiVectorBatch:
        """Zero-pad ragged ``(tokens_i, d)`` arrays into a batch with its mask (inverse of :meth:`to_list`)."""
        return cls(*pad_multivectors(arrays))


class TesseraMultiVector(TextEmbedder):
    """ColBERT late-interaction embedder.

    ``encode_queries(texts)`` / ``encode_documents(texts)`` return one ``(tokens_i, d)``
    float32 array per text (``padded=True``: a :class:`MultiVectorBatch`);
    ``similarity(queries, documents)`` is the MaxSim score matrix. ``encode(texts)`` encodes
    documents unless ``is_query=True``. ``dimension=`` slices the un-normalised projection,
    then renormalises (any ``1..dim``; sizes outside the manifest's ``matryoshka_dims`` warn once).
    ``encode_iter(texts)`` streams one array per text from any iterable, in constant memory.
    ``batch_size``: texts per batch at 32 tokens, a token budget (see :class:`TextEmbedder`).
    The encode methods accept PyLate's / sentence-transformers' ``show_progress_bar`` and
    ``convert_to_numpy=True``; a keyword they do not take (e.g. ``prompt_name``) raises
    :class:`~tessera_onnx.errors.UnknownOptionError` listing those they do.
    """

    paradigm = "multi_vector"

    def __init__(
        self, model: str | os.PathLike[str], *, dimension: int | None = None, **options: Any
    ) -> None:
        super().__init__(model, **options)
        self.config = MultiVectorConfig.from_dict(self.manifest.config.get("multi_vector"))
        self._truncate = self._check_dimension(dimension)
        self._output = self._output_name(("token_embeddings", "last_hidden_state"))
        self._skiplist = np.asarray(sorted(self.config.skiplist_ids), dtype=np.int64)
        limit = self.max_length
        self.query_length = min(self.config.query_length, limit)
        self.document_length = min(self.config.document_length, limit)

    @property
    def dimension(self) -> int:
        """Width of each token vector: the Matryoshka ``dimension=`` if set, else the full width."""
        return self._truncate or self.manifest.dim

    # ------------------------------------------------------------------ public

    @accepts(*_OPTIONS, aliases=_ALIASES)
    def encode(self, texts: Any, *, is_query: bool = False, **kwargs: Any) -> list[np.ndarray] | Any:
        """Encode documents (or queries with ``is_query=True``); see :meth:`encode_documents`."""
        return self._encode(texts, is_query, **kwargs)

    @accepts(*_OPTIONS, aliases=_ALIASES)
    def encode_queries(self, texts: Any, **kwargs: Any) -> list[np.ndarray] | Any:
        """Query token matrices: ``query_length`` rows each when query expansion is on."""
        return self._encode(texts, True, **kwargs)

    @accepts(*_OPTIONS, aliases=_ALIASES)
    def encode_documents(self, texts: Any, **kwargs: Any) -> list[np.ndarray] | Any:
        """Document token matrices (punctuation and padding rows dropped).

        Keywords: ``batch_size``, ``show_progress``, ``dimension``, ``padded`` (return a
        :class:`MultiVectorBatch` instead of a list). A single str gives a single array.
        """
        return self._encode(texts, False, **kwargs)

    def similarity(self, queries: Any, documents: Any) -> np.ndarray:
        """MaxSim scores ``(n_queries, n_documents)``.

        Each side is a list of ``(tokens, d)`` arrays, a :class:`MultiVectorBatch`, a single
        2-D array, or texts (encoded as queries / documents respectively).
        """
        q, qm = self._as_padded(queries, is_query=True)
        d, dm = self._as_padded(documents, is_query=False)
        return maxsim_scores(q, d, query_mask=qm, document_mask=dm)

    def score(self, query: Any, documents: Any) -> np.ndarray:
        """MaxSim scores of one query against ``documents``: shape ``(n_documents,)``."""
        if isinstance(query, str):
            query = self.encode_queries(query)
        if not (isinstance(query, np.ndarray) and query.ndim == 2):
            raise InvalidInputError("score() takes one query: a str or a (tokens, d) array")
        return self.similarity([query], documents)[0]

    # ------------------------------------------------------------------ internals

    def _as_padded(self, x: Any, is_query: bool) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(x, MultiVectorBatch):
            return x.embeddings, x.mask
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            batch = self._encode(x if not isinstance(x, str) else [x], is_query, padded=True)
            return batch.embeddings, batch.mask
        if isinstance(x, np.ndarray) and x.ndim == 2:
            x = [x]
        if isinstance(x, np.ndarray) and x.ndim == 3:
            return x.astype(np.float32, copy=False), np.ones(x.shape[:2], dtype=bool)
        try:
            arrays = [np.asarray(a, dtype=np.float32) for a in x]
            return pad_multivectors(arrays)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"cannot score {type(x).__name__}: {exc}") from exc

    @accepts(*_OPTIONS[:3], aliases=_ALIASES)
    def encode_iter(self, texts: Any, *, is_query: bool = False, **kwargs: Any) -> Iterator[np.ndarray]:
        """Yield one ``(tokens_i, d)`` float32 array per text, in input order, from any iterable.

        Takes ``batch_size``, ``show_progress`` and ``dimension``; documents unless
        ``is_query=True``. Texts are read a window at a time (constant memory).
        """
        work = self._window(is_query, kwargs.get("batch_size"), kwargs.get("dimension"))
        chunks, _, _ = self._windowed(texts, "", kwargs.get("show_progress", False), work)
        return (row for chunk in chunks for row in chunk)

    def _encode(
        self,
        texts: Any,
        is_query: bool,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        dimension: int | None = None,
        padded: bool = False,
    ) -> Any:
        work = self._window(is_query, batch_size, dimension)
        chunks, single, _ = self._windowed(texts, "", show_progress, work)
        rows: list[np.ndarray] = []
        for chunk in chunks:
            rows.extend(chunk)
        if padded:
            if rows:
                return MultiVectorBatch.from_list(rows)
            width = self._check_dimension(dimension) or self._truncate or self.manifest.dim
            return MultiVectorBatch(np.zeros((0, 0, width), np.float32), np.zeros((0, 0), bool))
        return rows[0] if single else rows

    def _window(self, is_query: bool, batch_size: int | None, dimension: int | None) -> Any:
        """The per-window encoder: ``work(texts, bar) -> list of (tokens_i, d) arrays``."""
        truncate = self._truncate if dimension is None else self._check_dimension(dimension)
        batch_size = self._check_batch_size(batch_size)
        cfg = self.config
        length = self.query_length if is_query else self.document_length
        marker = cfg.query_marker_id if is_query else cfg.document_marker_id
        expand = is_query and cfg.do_query_expansion
        pad_id = self.text_config.pad_token_id

        def work(items: list[str], bar: ProgressBar) -> list[np.ndarray]:
            tokens = self._tokenize(items, length - 1)
            marked = tokens.with_token(marker, 1)
            rows: list[np.ndarray] = [np.zeros((0, truncate or self.manifest.dim), np.float32)] * len(items)
            for index, _, _ in self._batches(tokens, batch_size, bar, pad_ids=False):
                if expand:
                    ids, mask = marked.pad(index, cfg.mask_token_id, length=length)
                    if cfg.attend_to_expansion_tokens:
                        mask[:] = 1
                else:
                    ids, mask = marked.pad(index, pad_id)
                hidden = self._run(self._output, ids, mask)
                if truncate:
                    hidden = hidden[..., :truncate]
                if expand:
                    keep = np.ones(ids.shape, dtype=bool)
                else:
                    keep = mask.astype(bool)
                    if not is_query and self._skiplist.size:
                        keep &= ~np.isin(ids, self._skiplist)
                for row, i in enumerate(index):
                    vectors = np.ascontiguousarray(hidden[row][keep[row]], dtype=np.float32)
                    rows[i] = l2_normalize(vectors, out=vectors) if cfg.normalize else vectors
            return rows

        return work
