"""Dense sentence embeddings: sentence-transformers pooling (+ Normalize) after the encoder."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..configs import DenseConfig
from ..errors import InvalidInputError
from ..ops.normalize import l2_normalize, layer_norm
from ..ops.pooling import pool
from .base import TextEmbedder

__all__ = ["TesseraDense"]


class TesseraDense(TextEmbedder):
    """Dense embedder: ``encode(texts) -> (n, d) float32``.

    The pipeline is sentence-transformers' (PARADIGMS.md §3): prompt prepended as text,
    text stripped, encoder, pooling over real tokens (``cls``/``mean``/``max``/...), the
    model's Normalize, optional nomic layer norm, Matryoshka truncation, renormalisation.

    Extra keyword options: ``dimension`` (a Matryoshka size from ``info()["matryoshka_dims"]``:
    truncate then renormalise) and ``normalize`` (default: the model's own setting; False
    returns the raw pooled vectors).
    """

    paradigm = "dense"

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        dimension: int | None = None,
        normalize: bool | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        self.config = DenseConfig.from_dict(self.manifest.config.get("dense"))
        self._truncate = self._check_dimension(dimension)
        self.normalize = self.config.normalize if normalize is None else bool(normalize)
        preferred = ("sentence_embedding",) if self.config.pooled_in_graph else ("last_hidden_state", "token_embeddings")
        self._output = self._output_name(preferred)

    @property
    def dimension(self) -> int:
        """Width of the returned vectors: the Matryoshka ``dimension=`` if set, else the full width."""
        return self._truncate or self.manifest.dim

    def encode(
        self,
        texts: str | Any,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        prompt: str | None = None,
        prompt_name: str | None = None,
        dimension: int | None = None,
        normalize: bool | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` (a str or a sequence of str) into ``(n, d)`` float32 (``(d,)`` for one str).

        ``prompt`` / ``prompt_name`` prepend a prompt (``prompt_name`` from the model's
        ``prompts``); ``dimension`` and ``normalize`` override the embedder's settings.
        """
        prefix = self._resolve_prompt(prompt, prompt_name)
        return self._encode(texts, prefix, batch_size, show_progress, dimension, normalize)

    def encode_queries(self, texts: str | Any, **kwargs: Any) -> np.ndarray:
        """:meth:`encode` with the model's query prefix (e.g. bge's instruction, e5 ``"query: "``)."""
        return self._encode_with(texts, self._query_prefix(), kwargs)

    def encode_documents(self, texts: str | Any, **kwargs: Any) -> np.ndarray:
        """:meth:`encode` with the model's document prefix (e.g. nomic ``"search_document: "``)."""
        return self._encode_with(texts, self._document_prefix(), kwargs)

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        """Cosine similarity matrix ``(len(a), len(b))``; ``a``/``b`` are embeddings or texts."""
        x = self._as_matrix(a)
        y = self._as_matrix(b)
        if x.shape[1] != y.shape[1]:
            raise InvalidInputError(f"embedding widths differ: {x.shape[1]} vs {y.shape[1]}")
        return l2_normalize(x) @ l2_normalize(y).T

    # ------------------------------------------------------------------ internals

    def _encode_with(self, texts: Any, prefix: str, kwargs: dict[str, Any]) -> np.ndarray:
        allowed = {"batch_size", "show_progress", "dimension", "normalize"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"unexpected keyword arguments {sorted(unknown)}")
        return self._encode(
            texts,
            prefix,
            kwargs.get("batch_size"),
            kwargs.get("show_progress", False),
            kwargs.get("dimension"),
            kwargs.get("normalize"),
        )

    def _as_matrix(self, x: Any) -> np.ndarray:
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            x = self.encode(x)
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise InvalidInputError(f"expected embeddings of shape (n, d), got {arr.shape}")
        return arr

    def _encode(
        self,
        texts: Any,
        prefix: str,
        batch_size: int | None,
        show_progress: bool,
        dimension: int | None,
        normalize: bool | None,
    ) -> np.ndarray:
        truncate = self._truncate if dimension is None else self._check_dimension(dimension)
        do_norm = self.normalize if normalize is None else bool(normalize)
        items, single = self._prepare(texts, prefix)
        width = truncate or self.manifest.dim
        if not items:
            return np.zeros((0, width), dtype=np.float32)
        skip = 0
        if prefix and not self.config.include_prompt:
            skip = self._tokenizer.special_prefix_length(prefix.strip() if self.text_config.strip else prefix)
        tokens = self._tokenize(items)
        out = np.empty((len(items), self.manifest.dim), dtype=np.float32)
        for index, ids, mask in self._batches(tokens, batch_size, show_progress):
            result = self._run(self._output, ids, mask)
            if not self.config.pooled_in_graph:
                pool_mask = mask
                if skip:
                    pool_mask = mask.copy()
                    pool_mask[:, :skip] = 0
                result = pool(result, pool_mask, self.config.pooling)
            out[index] = result
        if self.config.layer_norm:
            if self.config.normalize:
                l2_normalize(out, out=out)
            out = layer_norm(out)
        if truncate:
            out = np.ascontiguousarray(out[:, :truncate])
        if do_norm:
            l2_normalize(out, out=out)
        return out[0] if single else out
