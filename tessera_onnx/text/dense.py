"""Dense sentence embeddings: sentence-transformers pooling (+ Normalize) after the encoder."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arguments import ST_ALIASES, accepts
from ..errors import InvalidInputError
from ..ops.normalize import l2_normalize, layer_norm
from ..ops.pooling import pool
from ..text.batching import ProgressBar
from .base import TextEmbedder
from .config import DenseConfig

__all__ = ["TesseraDense"]

_OPTIONS = ("batch_size", "show_progress", "prompt", "prompt_name", "dimension", "normalize", "raw_pooled")


@dataclass(frozen=True)
class _Plan:
    """What one encode call does after the encoder (resolved once per call)."""

    prefix: str
    skip: int  # leading prompt tokens left out of pooling (include_prompt=False)
    truncate: int | None
    normalize: bool | None
    raw_pooled: bool
    batch_size: int | None
    width: int


class TesseraDense(TextEmbedder):
    """Dense embedder: ``encode(texts) -> (n, d) float32``.

    The pipeline is sentence-transformers' (see docs/reference-semantics.md): prompt prepended
    as text, text stripped, encoder, pooling over real tokens (``cls``/``mean``/``max``/...),
    then the model's own modules — its Normalize, or nomic-embed's recipe (layer norm without
    affine, eps 1e-5, truncate, L2) — which always apply, as they are part of the model.

    ``batch_size``: texts per batch at 32 tokens, a token budget (see :class:`TextEmbedder`).

    Extra keyword options (also per call):

    - ``dimension``: keep the first ``dimension`` features (any ``1..dim``, like
      sentence-transformers' ``truncate_dim``; a size outside ``info()["matryoshka_dims"]``
      warns once).
    - ``normalize``: ``True`` L2-normalises the final vectors (sentence-transformers
      ``normalize_embeddings=True``); ``False`` adds nothing to the model's pipeline (its own
      Normalize still applies, as in sentence-transformers); ``None`` (default) is ``False``,
      except that a truncated vector of a normalising model is renormalised.
    - ``raw_pooled``: return the pooling output before the model's Normalize / layer norm.
    """

    paradigm = "dense"

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        dimension: int | None = None,
        normalize: bool | None = None,
        raw_pooled: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        self.config = DenseConfig.from_dict(self.manifest.config.get("dense"))
        self._truncate = self._check_dimension(dimension)
        self.normalize = None if normalize is None else bool(normalize)
        self.raw_pooled = bool(raw_pooled)
        preferred = (
            ("sentence_embedding",)
            if self.config.pooled_in_graph
            else ("last_hidden_state", "token_embeddings")
        )
        self._output = self._output_name(preferred)

    @property
    def dimension(self) -> int:
        """Width of the returned vectors: the ``dimension=`` if set, else the full width."""
        return self._truncate or self.manifest.dim

    @accepts(aliases=ST_ALIASES)
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
        raw_pooled: bool | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` (a str or an iterable of str) into ``(n, d)`` float32 (``(d,)`` for one str).

        ``prompt`` / ``prompt_name`` prepend a prompt (``prompt_name`` from the model's
        ``prompts``); ``dimension``, ``normalize`` and ``raw_pooled`` override the embedder's
        settings. Inputs are processed in windows, so memory beyond the returned array does
        not grow with the number of texts; see :meth:`encode_iter` to stream.
        sentence-transformers' ``normalize_embeddings``, ``show_progress_bar`` and
        ``convert_to_numpy=True`` are accepted for ``normalize``, ``show_progress`` and the default.
        """
        plan = self._plan(
            self._resolve_prompt(prompt, prompt_name), batch_size, dimension, normalize, raw_pooled
        )
        return self._encode(texts, plan, show_progress)

    @accepts(*_OPTIONS, aliases=ST_ALIASES)
    def encode_iter(self, texts: Any, **kwargs: Any) -> Iterator[np.ndarray]:
        """Yield one ``(d,)`` float32 vector per text, in input order, from any iterable of str.

        Takes :meth:`encode`'s keywords. Texts are read a window at a time, so a generator of
        millions of texts runs in constant memory. Each vector is its own array (not a view into
        its window), so keeping some of them keeps only those. Arguments are checked now; texts as
        they stream.
        """
        plan = self._plan_from(kwargs, self._resolve_prompt(kwargs.get("prompt"), kwargs.get("prompt_name")))
        chunks, _, _ = self._windowed(
            texts, plan.prefix, kwargs.get("show_progress", False), self._window(plan)
        )
        # copies, so that a caller keeping a few vectors does not pin each window's whole block
        return (row.copy() for chunk in chunks for row in chunk)

    @accepts(*_OPTIONS, aliases=ST_ALIASES)
    def encode_queries(self, texts: str | Any, **kwargs: Any) -> np.ndarray:
        """:meth:`encode` with the model's query prefix (e.g. bge's instruction, e5 ``"query: "``).

        ``prompt`` / ``prompt_name`` replace that prefix, as in sentence-transformers' ``encode_query``.
        """
        return self._encode_with(texts, self._query_prefix(), kwargs)

    @accepts(*_OPTIONS, aliases=ST_ALIASES)
    def encode_documents(self, texts: str | Any, **kwargs: Any) -> np.ndarray:
        """:meth:`encode` with the model's document prefix (e.g. nomic ``"search_document: "``).

        ``prompt`` / ``prompt_name`` replace that prefix, as in sentence-transformers' ``encode_document``.
        """
        return self._encode_with(texts, self._document_prefix(), kwargs)

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        """Cosine similarity matrix ``(len(a), len(b))``; ``a``/``b`` are embeddings or texts."""
        x = self._as_matrix(a)
        y = self._as_matrix(b)
        if x.shape[1] != y.shape[1]:
            raise InvalidInputError(f"embedding widths differ: {x.shape[1]} vs {y.shape[1]}")
        return l2_normalize(x) @ l2_normalize(y).T

    # ------------------------------------------------------------------ internals

    def _plan_from(self, kwargs: dict[str, Any], prefix: str) -> _Plan:
        return self._plan(
            prefix,
            kwargs.get("batch_size"),
            kwargs.get("dimension"),
            kwargs.get("normalize"),
            kwargs.get("raw_pooled"),
        )

    def _plan(
        self,
        prefix: str,
        batch_size: int | None,
        dimension: int | None,
        normalize: bool | None,
        raw_pooled: bool | None,
    ) -> _Plan:
        truncate = self._truncate if dimension is None else self._check_dimension(dimension)
        skip = 0
        if prefix and not self.config.include_prompt:
            skip = self._tokenizer.special_prefix_length(prefix.strip() if self.text_config.strip else prefix)
        return _Plan(
            prefix=prefix,
            skip=skip,
            truncate=truncate,
            normalize=self.normalize if normalize is None else bool(normalize),
            raw_pooled=self.raw_pooled if raw_pooled is None else bool(raw_pooled),
            batch_size=self._check_batch_size(batch_size),
            width=truncate or self.manifest.dim,
        )

    def _encode_with(self, texts: Any, prefix: str, kwargs: dict[str, Any]) -> np.ndarray:
        if kwargs.get("prompt") is not None or kwargs.get("prompt_name") is not None:
            prefix = self._resolve_prompt(kwargs.get("prompt"), kwargs.get("prompt_name"))
        return self._encode(texts, self._plan_from(kwargs, prefix), kwargs.get("show_progress", False))

    def _as_matrix(self, x: Any) -> np.ndarray:
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            x = self.encode(x)
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise InvalidInputError(f"expected embeddings of shape (n, d), got {arr.shape}")
        return arr

    def _encode(self, texts: Any, plan: _Plan, show_progress: bool) -> np.ndarray:
        chunks, single, total = self._windowed(texts, plan.prefix, show_progress, self._window(plan))
        first = next(chunks, None)
        if first is None:
            return np.zeros((0, plan.width), dtype=np.float32)
        if single:
            return first[0]
        second = next(chunks, None)
        if second is None:  # one window: no copy
            return first
        if total is None:
            return np.concatenate([first, second, *chunks])
        out = np.empty((total, plan.width), dtype=np.float32)
        start = 0
        for chunk in itertools.chain((first, second), chunks):
            out[start : start + len(chunk)] = chunk
            start += len(chunk)
        return out

    def _window(self, plan: _Plan) -> Any:
        def work(items: list[str], bar: ProgressBar) -> np.ndarray:
            tokens = self._tokenize(items)
            out = np.empty((len(items), self.manifest.dim), dtype=np.float32)
            for index, ids, mask in self._batches(tokens, plan.batch_size, bar):
                result = self._run(self._output, ids, mask)
                if not self.config.pooled_in_graph:
                    pool_mask = mask
                    if plan.skip:
                        pool_mask = mask.copy()
                        pool_mask[:, : plan.skip] = 0
                    result = pool(result, pool_mask, self.config.pooling)
                out[index] = result
            return self._postprocess(out, plan)

        return work

    def _postprocess(self, out: np.ndarray, plan: _Plan) -> np.ndarray:
        """The model's modules after pooling, truncation, then the caller's normalisation."""
        cfg = self.config
        model_l2 = False  # the model's recipe ends with an L2 after truncation
        if not plan.raw_pooled:
            if cfg.layer_norm:  # nomic-embed: layer norm (no affine, eps 1e-5), truncate, L2
                out = layer_norm(out)
                model_l2 = True
            elif cfg.normalize:
                l2_normalize(out, out=out)
        if plan.truncate:
            out = np.ascontiguousarray(out[:, : plan.truncate])
        if plan.normalize is None:
            final = model_l2 or (bool(plan.truncate) and cfg.normalize and not plan.raw_pooled)
        else:
            final = plan.normalize or model_l2
        if final:
            l2_normalize(out, out=out)
        return out
