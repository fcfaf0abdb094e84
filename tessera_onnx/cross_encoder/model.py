"""``TesseraCrossEncoder``: score (query, passage) pairs with a cross-encoder, as sentence-transformers.

A cross-encoder reads both texts of a pair in one sequence (``[CLS] query [SEP] passage [SEP]``)
and returns ``num_labels`` logits; one-label rerankers (ms-marco MiniLM, bge-reranker, gte/mxbai
rerankers) give a relevance score. Results equal sentence-transformers' ``CrossEncoder``
(``predict`` and ``rank``): pairs truncated ``longest_first`` to the model's ``max_length``,
the saved ``activation_fn`` (default: sigmoid for one label, identity otherwise) applied to the
logits, ``prompt``/``prompt_name`` prepended to the first text of each pair.

Pairs are tokenized a window at a time (:data:`~tessera_onnx.text.tokenize.WINDOW` pairs),
sorted by length inside the window and cut into token-budget batches like the text embedders',
so memory does not grow with the number of pairs; :meth:`TesseraCrossEncoder.predict_iter`
and :meth:`~TesseraCrossEncoder.rank` take any iterable (a generator of candidates streams).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..text.base import TextEmbedder
from ..text.batching import ProgressBar
from ..text.tokenize import iter_windows
from .config import ACTIVATIONS, CrossEncoderConfig, apply_activation, softmax

__all__ = ["TesseraCrossEncoder", "check_pair"]

Activation = str | Callable[[np.ndarray], np.ndarray] | None


def check_pair(index: int, item: Any) -> None:
    """Raise :class:`InvalidInputError` unless ``item`` is a ``(str, str)`` pair (list or tuple)."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise InvalidInputError(
            f"pairs[{index}] is {type(item).__name__} ({item!r:.60}); expected a (query, passage) pair of two str"
        )
    for side, text in zip(("first", "second"), item, strict=True):
        if not isinstance(text, str):
            hint = "; decode bytes first" if isinstance(text, (bytes, bytearray)) else ""
            raise InvalidInputError(
                f"pairs[{index}]: the {side} text is {type(text).__name__} ({text!r:.40}), expected str{hint}"
            )


def _is_single_pair(pairs: Any) -> bool:
    return isinstance(pairs, (tuple, list)) and len(pairs) == 2 and all(isinstance(t, str) for t in pairs)


class TesseraCrossEncoder(TextEmbedder):
    """Cross-encoder reranker: ``predict(pairs)`` scores, ``rank(query, documents)`` sorted hits.

    Takes the keyword options of the text embedders (``device``, ``threads``, ``max_length``,
    ``batch_size``, ``verify``, ...) plus ``activation``: the default activation of this
    instance (a name from :data:`~tessera_onnx.cross_encoder.config.ACTIVATIONS`, or a
    callable on a ``(n, num_labels)`` float32 array), overriding the artifact's.
    """

    paradigm = "cross_encoder"

    def __init__(
        self, model: str | os.PathLike[str], *, activation: Activation = None, **options: Any
    ) -> None:
        super().__init__(model, **options)
        self.config = CrossEncoderConfig.from_dict(self.manifest.config.get("cross_encoder"))
        self._output = self._output_name(("scores", "logits"))
        self.activation = (
            self._check_activation(activation) if activation is not None else self.config.activation
        )

    # ------------------------------------------------------------------ properties

    @property
    def num_labels(self) -> int:
        """Number of classifier outputs (1 for a relevance reranker)."""
        return self.config.num_labels

    @property
    def labels(self) -> tuple[str, ...]:
        """The classifier's label names, in output order."""
        return self.config.labels

    @property
    def prompts(self) -> dict[str, str]:
        """The saved prompts (``{name: text}``) usable as ``prompt_name``."""
        return dict(self.text_config.prompts)

    # ------------------------------------------------------------------ public surface

    def predict(
        self,
        pairs: Any,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        activation_fn: Activation = None,
        apply_softmax: bool = False,
        prompt: str | None = None,
        prompt_name: str | None = None,
        raw: bool = False,
        truncate: bool = True,
    ) -> np.ndarray:
        """Scores of ``(first, second)`` text pairs, as sentence-transformers' ``CrossEncoder.predict``.

        ``pairs``: one pair (a 2-tuple/list of str) or a sequence/iterable of pairs. Returns
        float32 ``(n,)`` for a one-label model and ``(n, num_labels)`` otherwise (one pair: a
        0-d array, resp. ``(num_labels,)``). ``activation_fn`` (a name or a callable) replaces the
        model's activation for this call; ``apply_softmax`` normalises several labels' scores
        after it; ``raw=True`` returns the logits (no activation, no softmax).
        ``prompt``/``prompt_name`` prepend a prompt to the first text of every pair (default: the
        model's ``default_prompt_name``, if any). Over-long pairs are truncated ``longest_first``
        with a :class:`~tessera_onnx.errors.TruncationWarning`; ``truncate=False`` raises
        :class:`~tessera_onnx.errors.InvalidInputError` instead. An empty list gives an empty array.
        """
        if isinstance(pairs, np.ndarray):  # a (2,) or (n, 2) array of str, as sentence-transformers takes
            pairs = pairs.tolist()
        single = _is_single_pair(pairs)
        chunks = self._score_windows(
            [tuple(pairs)] if single else pairs, batch_size, show_progress, prompt, prompt_name, truncate
        )
        blocks = [self._finish(chunk, activation_fn, apply_softmax, raw) for chunk in chunks]
        if not blocks:
            shape = (0,) if self.num_labels == 1 else (0, self.num_labels)
            return np.zeros(shape, dtype=np.float32)
        out = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        return out[0] if single else out

    def predict_iter(self, pairs: Any, **kwargs: Any) -> Iterator[np.ndarray]:
        """Yield each pair's score (a 0-d array, or ``(num_labels,)``), in order, from any iterable of pairs.

        Takes :meth:`predict`'s keywords; pairs are read a window at a time, so a generator of
        millions of pairs runs in constant memory.
        """
        finish = {k: kwargs.pop(k) for k in ("activation_fn", "apply_softmax", "raw") if k in kwargs}
        chunks = self._score_windows(
            pairs,
            kwargs.pop("batch_size", None),
            kwargs.pop("show_progress", False),
            kwargs.pop("prompt", None),
            kwargs.pop("prompt_name", None),
            kwargs.pop("truncate", True),
        )
        if kwargs:
            raise InvalidInputError(f"unexpected keyword arguments {sorted(kwargs)}")
        for chunk in chunks:
            yield from self._finish(
                chunk,
                finish.get("activation_fn"),
                finish.get("apply_softmax", False),
                finish.get("raw", False),
            )

    def rank(
        self,
        query: str,
        documents: Any,
        top_k: int | None = None,
        return_documents: bool = False,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        activation_fn: Activation = None,
        apply_softmax: bool = False,
        prompt: str | None = None,
        prompt_name: str | None = None,
        raw: bool = False,
        truncate: bool = True,
    ) -> list[dict[str, Any]]:
        """Documents sorted by their score for ``query``, as sentence-transformers' ``CrossEncoder.rank``.

        Returns ``[{"corpus_id": i, "score": s}, ...]`` (plus ``"text"`` with
        ``return_documents``), best first, ties in input order, the first ``top_k`` if given.
        ``documents`` may be any iterable of str; with ``top_k`` only the best ``top_k`` so far
        are kept while it streams. One-label models only (sentence-transformers refuses others
        too). Raises :class:`InvalidInputError` for an empty or blank query, no documents, a
        non-str document or a bad ``top_k``.
        """
        if self.num_labels != 1:
            raise InvalidInputError(
                f"rank() needs a one-label cross-encoder; this one has {self.num_labels} labels "
                f"{list(self.labels)}: use predict() on (query, document) pairs"
            )
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        if not query.strip():
            raise InvalidInputError("query is empty: pass the text to rank the documents against")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InvalidInputError(f"top_k must be a positive integer or None, got {top_k!r}")
        if isinstance(documents, str):
            raise InvalidInputError("documents must be a list of str, not one str")
        windows, _, _ = iter_windows(documents)
        kept_ids = np.zeros(0, dtype=np.int64)
        kept_scores = np.zeros(0, dtype=np.float32)
        kept_texts: list[str] = []
        offset = 0
        bar = ProgressBar(show_progress, len(documents) if hasattr(documents, "__len__") else None)
        try:
            for window in windows:
                scores = self.predict(
                    [(query, d) for d in window],
                    batch_size=batch_size,
                    activation_fn=activation_fn,
                    apply_softmax=apply_softmax,
                    prompt=prompt,
                    prompt_name=prompt_name,
                    raw=raw,
                    truncate=truncate,
                ).reshape(-1)
                ids = np.concatenate([kept_ids, np.arange(offset, offset + len(window))])
                all_scores = np.concatenate([kept_scores, scores])
                texts = kept_texts + list(window) if return_documents else []
                order = np.lexsort((ids, -all_scores.astype(np.float64)))  # score desc, then input order
                if top_k is not None:
                    order = order[:top_k]
                kept_ids, kept_scores = ids[order], all_scores[order]
                if return_documents:
                    kept_texts = [texts[i] for i in order.tolist()]
                offset += len(window)
                bar.update(len(window))
        finally:
            bar.close()
        if offset == 0:
            raise InvalidInputError("documents is empty: pass at least one document to rank")
        hits: list[dict[str, Any]] = []
        for rank_index, (cid, score) in enumerate(zip(kept_ids.tolist(), kept_scores.tolist(), strict=True)):
            hit: dict[str, Any] = {"corpus_id": cid, "score": score}
            if return_documents:
                hit["text"] = kept_texts[rank_index]
            hits.append(hit)
        return hits

    def info(self) -> dict[str, Any]:
        """:meth:`TextEmbedder.info` plus ``num_labels``, ``labels``, ``activation`` and ``prompts``."""
        data = super().info()
        data.update(
            num_labels=self.num_labels,
            labels=list(self.labels),
            activation=self.activation if isinstance(self.activation, str) else repr(self.activation),
            prompts=self.prompts,
            default_prompt_name=self.config.default_prompt_name,
        )
        return data

    def __repr__(self) -> str:
        return f"TesseraCrossEncoder({self.manifest.model_id!r}, num_labels={self.num_labels}, device={self.device!r})"

    # ------------------------------------------------------------------ internals

    def _check_activation(self, activation: Activation) -> Activation:
        if callable(activation) or activation in ACTIVATIONS:
            return activation
        raise InvalidInputError(f"activation must be one of {ACTIVATIONS} or a callable, got {activation!r}")

    def _prefix(self, prompt: str | None, prompt_name: str | None) -> str:
        default = ""
        name = self.config.default_prompt_name
        if name is not None:
            default = dict(self.text_config.prompts).get(name, "")
        return self._resolve_prompt(prompt, prompt_name, default)

    def _score_windows(
        self,
        pairs: Any,
        batch_size: int | None,
        show_progress: bool,
        prompt: str | None,
        prompt_name: str | None,
        truncate: bool,
    ) -> Iterator[np.ndarray]:
        """Raw logits ``(n, num_labels)`` float32 per window of ``pairs``, in input order."""
        if isinstance(pairs, (str, bytes, dict)) or pairs is None:
            raise InvalidInputError(
                f"pairs must be a (query, passage) pair or a list of pairs, got {type(pairs).__name__}"
            )
        prefix = self._prefix(prompt, prompt_name)
        windows, _, total = iter_windows(pairs, check=check_pair)

        def run() -> Iterator[np.ndarray]:
            bar = ProgressBar(show_progress, total)
            try:
                for window in windows:
                    items = [(prefix + a, b) for a, b in window] if prefix else [(a, b) for a, b in window]
                    yield self._score(items, batch_size, bar, truncate)
            finally:
                bar.close()

        return run()

    def _score(
        self, pairs: list[tuple[str, str]], batch_size: int | None, bar: ProgressBar, truncate: bool
    ) -> np.ndarray:
        ids, types = self._tokenizer.encode_pairs(pairs, self.max_length, warn=truncate)
        if ids.truncated and not truncate:
            raise InvalidInputError(
                f"{ids.truncated} of {len(pairs)} pairs are longer than max_length={self.max_length} tokens; "
                "shorten them or pass truncate=True to cut them (longest_first, as sentence-transformers)"
            )
        out = np.empty((len(pairs), self.num_labels), dtype=np.float32)
        pad = self.text_config.pad_token_id
        for index, _, _ in self._batches(ids, batch_size, bar, pad_ids=False):
            batch_ids, mask = ids.pad(index, pad)
            batch_types, _ = types.pad(index, 0)
            out[index] = self._run(self._output, batch_ids, mask, batch_types).reshape(len(index), -1)
        return out

    def _finish(
        self, logits: np.ndarray, activation_fn: Activation, apply_softmax: bool, raw: bool
    ) -> np.ndarray:
        """Activation, optional softmax, and the one-label squeeze of sentence-transformers."""
        if raw:
            scores = logits
        else:
            act = self.activation if activation_fn is None else self._check_activation(activation_fn)
            if callable(act):
                scores = np.asarray(act(logits.copy()), dtype=np.float32)
                if scores.shape != logits.shape:
                    raise InvalidInputError(
                        f"activation_fn returned shape {scores.shape}; it must keep the logits' shape {logits.shape}"
                    )
            else:
                scores = apply_activation(logits, act)
            if apply_softmax and self.num_labels > 1:
                scores = softmax(scores.astype(np.float32, copy=False))
        return scores[:, 0].copy() if self.num_labels == 1 else scores
