"""SPLADE sparse embeddings: ``max_t log1p(relu(z_t)) · m_t`` over the MLM logits (docs/reference-semantics.md §2)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..arguments import accepts, st_aliases
from ..errors import InvalidInputError
from ..ops.splade import dense_to_sparse, splade_pool, top_k_sparse
from ..sparse_embedding import SparseEmbedding, inverted_index, sparse_dot, to_scipy
from ..text.batching import ProgressBar
from .base import TextEmbedder
from .config import SparseConfig

__all__ = ["TesseraSparse"]

# Keep one batch's [B, T, vocab] float32 logits (in the graph or in numpy) near 128 MiB.
_LOGIT_BYTES = 128 << 20

_OPTIONS = ("batch_size", "show_progress", "top_k", "prompt", "prompt_name")
_ALIASES = st_aliases("show_progress_bar")


class TesseraSparse(TextEmbedder):
    """SPLADE embedder: ``encode(texts) -> list[SparseEmbedding]`` over the vocabulary.

    The graph returns either the pooled ``sparse_embedding`` ``[B, V]`` or the MLM ``logits``
    ``[B, T, V]``, pooled here in numpy (mask, relu, max, log1p). ``top_k=`` keeps the largest
    weights per text (as sentence-transformers ``max_active_dims``). ``dimension`` is the
    vocabulary size. ``batch_size``: texts per batch at 32 tokens, a token budget (see
    :class:`TextEmbedder`), further capped so one batch's logits stay near 128 MiB.
    """

    paradigm = "sparse"

    def __init__(self, model: str | os.PathLike[str], *, top_k: int | None = None, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = SparseConfig.from_dict(self.manifest.config.get("sparse"))
        self.top_k = _check_top_k(top_k)
        names = [o.name for o in self._session.get_outputs()]
        if "sparse_embedding" in names:
            self._pooled = True
        elif "logits" in names:
            self._pooled = False
        else:
            self._pooled = self.config.pooled_in_graph
        self._output = self._output_name(("sparse_embedding",) if self._pooled else ("logits",))
        self._vocab_size = self.manifest.dim or self.config.vocab_size
        self._budget = max(1, _LOGIT_BYTES // (4 * self._vocab_size))

    @property
    def dimension(self) -> int:
        """Vocabulary size: the length of a densified vector."""
        return self._vocab_size

    @property
    def vocabulary(self) -> list[str]:
        """``vocabulary[id]`` is the token of a dimension."""
        return self._tokenizer.vocabulary

    @accepts(aliases=_ALIASES)
    def encode(
        self,
        texts: Any,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        top_k: int | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
    ) -> list[SparseEmbedding] | SparseEmbedding:
        """One :class:`SparseEmbedding` per text (a single one for a str)."""
        prefix = self._resolve_prompt(prompt, prompt_name)
        return self._encode(texts, prefix, batch_size, show_progress, top_k)

    @accepts(*_OPTIONS, aliases=_ALIASES)
    def encode_queries(self, texts: Any, **kwargs: Any) -> list[SparseEmbedding] | SparseEmbedding:
        """:meth:`encode` with the model's query prompt, if it has one."""
        return self._encode_with(texts, self._query_prefix(), kwargs)

    @accepts(*_OPTIONS, aliases=_ALIASES)
    def encode_documents(self, texts: Any, **kwargs: Any) -> list[SparseEmbedding] | SparseEmbedding:
        """:meth:`encode` with the model's document prompt, if it has one."""
        return self._encode_with(texts, self._document_prefix(), kwargs)

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        """Dot-product matrix ``(len(a), len(b))``; each side is embeddings or texts."""
        return sparse_dot(self._as_list(a, True), self._as_list(b, False))

    def decode(self, embedding: SparseEmbedding, top_k: int | None = None) -> dict[str, float]:
        """``{token: weight}`` by decreasing weight."""
        return embedding.decode(self.vocabulary, top_k=top_k)

    def to_scipy(self, embeddings: list[SparseEmbedding]) -> Any:
        """``scipy.sparse.csr_matrix`` ``(n, vocab)`` (needs scipy)."""
        return to_scipy(embeddings, self._vocab_size)

    def inverted_index(
        self, embeddings: list[SparseEmbedding], doc_ids: Any = None, decode: bool = False
    ) -> dict:
        """``{term: [(doc_id, weight)]}``; terms are ids, or tokens with ``decode=True``."""
        return inverted_index(embeddings, doc_ids, decode=decode)

    # ------------------------------------------------------------------ internals

    @accepts(*_OPTIONS, aliases=_ALIASES)
    def encode_iter(self, texts: Any, **kwargs: Any) -> Iterator[SparseEmbedding]:
        """Yield one :class:`SparseEmbedding` per text, in input order, from any iterable of str.

        Takes :meth:`encode`'s keywords; texts are read a window at a time (constant memory).
        """
        prefix = self._resolve_prompt(kwargs.get("prompt"), kwargs.get("prompt_name"))
        work = self._window(*self._options(kwargs))
        chunks, _, _ = self._windowed(texts, prefix, kwargs.get("show_progress", False), work)
        return (item for chunk in chunks for item in chunk)

    def _options(self, kwargs: dict[str, Any]) -> tuple[int | None, int | None]:
        return kwargs.get("batch_size"), kwargs.get("top_k")

    def _encode_with(self, texts: Any, prefix: str, kwargs: dict[str, Any]) -> Any:
        if kwargs.get("prompt") is not None or kwargs.get("prompt_name") is not None:
            prefix = self._resolve_prompt(kwargs.get("prompt"), kwargs.get("prompt_name"))
        batch_size, top_k = self._options(kwargs)
        return self._encode(texts, prefix, batch_size, kwargs.get("show_progress", False), top_k)

    def _as_list(self, x: Any, query: bool) -> list[SparseEmbedding]:
        if isinstance(x, SparseEmbedding):
            return [x]
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            out = self.encode_queries(x) if query else self.encode_documents(x)
            return [out] if isinstance(out, SparseEmbedding) else out
        items = list(x)
        bad = next((i for i, e in enumerate(items) if not isinstance(e, SparseEmbedding)), None)
        if bad is not None:
            raise InvalidInputError(
                f"item {bad} is {type(items[bad]).__name__}, expected SparseEmbedding or str"
            )
        return items

    def _encode(
        self, texts: Any, prefix: str, batch_size: int | None, show_progress: bool, top_k: int | None
    ) -> Any:
        chunks, single, _ = self._windowed(texts, prefix, show_progress, self._window(batch_size, top_k))
        out: list[SparseEmbedding] = []
        for chunk in chunks:
            out.extend(chunk)
        return out[0] if single else out

    def _window(self, batch_size: int | None, top_k: int | None) -> Any:
        """The per-window encoder: ``work(texts, bar) -> list[SparseEmbedding]``."""
        k = self.top_k if top_k is None else _check_top_k(top_k)
        batch_size = self._check_batch_size(batch_size)
        vocab = self._tokenizer.vocabulary

        def work(items: list[str], bar: ProgressBar) -> list[SparseEmbedding]:
            tokens = self._tokenize(items)
            out: list[SparseEmbedding | None] = [None] * len(items)
            for index, ids, mask in self._batches(tokens, batch_size, bar, token_budget=self._budget):
                result = self._run(self._output, ids, mask)
                if not self._pooled:
                    result = splade_pool(
                        result, mask, self.config.activation, self.config.aggregation, inplace=True
                    )
                for row, i in enumerate(index):
                    idx, val = dense_to_sparse(result[row])
                    if k is not None:
                        idx, val = top_k_sparse(idx, val, k)
                    out[i] = SparseEmbedding(idx, val, vocab, self._vocab_size)
            return out  # type: ignore[return-value]

        return work


def _check_top_k(top_k: Any) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive integer, got {top_k!r}")
    return int(top_k)
