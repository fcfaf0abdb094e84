"""The serving engine: several models, dynamic batching across callers, backpressure (no HTTP).

>>> engine = Engine([ModelConfig("artifacts/minilm", keep_alive=600)])     # doctest: +SKIP
>>> async with engine:                                                      # doctest: +SKIP
...     result = await engine.embed("all-minilm-l6-v2", ["hello", "world"])
...     result.data.shape, result.tokens                                    # ((2, 384), [3, 3])

Every request is tokenized once up front (to count and check its tokens), queued in the
model's :class:`~tessera_onnx.serving.batcher.Batcher` and merged with other callers' requests
into padded-token batches; each batch runs the embedder's public ``encode`` in a worker thread,
so onnxruntime never blocks the event loop. A text's vector does not depend on the batch it
ran in beyond onnxruntime's float rounding (the tests bound the difference by 1e-6).
:class:`SyncEngine` offers the same calls to synchronous code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArtifactError, InvalidInputError, LimitExceededError, UnsupportedDimensionError
from ..text.tokenize import validate_texts
from .admission import Admission, Ticket, current_ticket
from .batcher import Batcher
from .media import DEFAULT_MAX_IMAGE_PIXELS
from .offers import offers
from .pool import ModelConfig, ModelPool, ModelSlot
from .protocol import clip
from .rerank import CROSS_ENCODER, cross_encoder_rerank
from .series import parse_series_list

__all__ = ["Engine", "EngineLimits", "EmbedResult", "SyncEngine", "ModelConfig"]

# Observer signature: (model, items, tokens, padded_tokens, seconds) after every batch.
BatchObserver = Callable[[str, int, int, int, float], None]
# token-input (ids of the model's own tokenizer) is accepted by the text routes
_TOKEN_GROUPS = ("embed", "embed_sparse", "embed_all")
# what one image / page costs in the batcher's token budget (batch_tokens 1024: 4 images or 1 page
# per batch), so image batches stay as small as the text ones in time
IMAGE_COST = 256
PAGE_COST = 1024


@dataclass(frozen=True)
class EngineLimits:
    """Per-request and per-queue limits (a request over one fails with a message saying which).

    Admission (checked when a request arrives, before it is read or tokenized; 0 turns a limit
    off): ``max_in_flight`` requests being served at once, ``max_in_flight_tokens`` tokens they
    hold (the HTTP server estimates them from the body bytes received: bytes / 4),
    ``max_per_client`` HTTP requests in flight from one client address, and ``queue_timeout_s``:
    a request still waiting this long after it arrived is refused instead of run late
    (0 = off, the default). See :mod:`tessera_onnx.serving.admission`. ``max_image_pixels``:
    larger images are refused from their header, before decoding (decompression bombs).
    """

    max_inputs: int = 2048
    max_request_tokens: int = 131_072
    # 1,024 padded tokens per batch: on CPU, 8,192-token batches of MiniLM cost 1.8x the CPU time
    # per text (benchmarks/serve_batch_tokens.py; README serving section).
    batch_tokens: int = 1024
    max_queue_tokens: int = 262_144
    batch_window_ms: float = 2.0
    batch_concurrency: int = 1
    max_in_flight: int = 512
    max_in_flight_tokens: int = 1_048_576
    max_per_client: int = 128
    queue_timeout_s: float = 0.0
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


@dataclass
class EmbedResult:
    """What an engine call returns: ``data`` (vectors, sparse or multi-vector embeddings, scores,
    forecasts) and the token count of each input (``tokens``; empty for time series)."""

    data: Any
    tokens: list[int]

    @property
    def total_tokens(self) -> int:
        """Sum of :attr:`tokens` (OpenAI's ``usage.prompt_tokens``)."""
        return int(sum(self.tokens))


class Engine:
    """Serve several artifacts to many concurrent callers (see the module docstring).

    ``models``: :class:`ModelConfig` objects or artifact paths. ``memory_budget_mb``: the most
    memory the loaded models may take together (estimated from their file sizes); loading
    another evicts the least recently used idle model. ``limits``: :class:`EngineLimits`.
    ``workers``: threads running batches (default: ``batch_concurrency`` per model, at least 2). ``observer`` is
    called after every batch (metrics).
    """

    def __init__(
        self,
        models: Iterable[ModelConfig | str | os.PathLike[str]] = (),
        *,
        memory_budget_mb: float | None = None,
        limits: EngineLimits | None = None,
        workers: int | None = None,
        observer: BatchObserver | None = None,
        reap_interval_s: float = 1.0,
    ) -> None:
        self.limits = limits or EngineLimits()
        configs = [m if isinstance(m, ModelConfig) else ModelConfig(m) for m in models]
        self._executor = ThreadPoolExecutor(
            max(2, workers or len(configs)), thread_name_prefix="tessera-infer"
        )
        self._prep = ThreadPoolExecutor(2, thread_name_prefix="tessera-tokenize")
        budget = None if memory_budget_mb is None else int(float(memory_budget_mb) * 2**20)
        self.pool = ModelPool(self._executor, budget, busy=self._busy)
        self._observers: list[BatchObserver] = [observer] if observer is not None else []
        self._batchers: dict[str, Batcher] = {}
        self._decoders: dict[str, Any] = {}
        self._reap_interval = reap_interval_s
        self._reaper: asyncio.Task | None = None
        lim = self.limits
        self.admission = Admission(
            max_in_flight=lim.max_in_flight or None,
            max_in_flight_tokens=lim.max_in_flight_tokens or None,
            max_per_client=lim.max_per_client or None,
            queue_timeout_s=lim.queue_timeout_s or None,
        )
        for config in configs:
            self.pool.add(config)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Preload the models marked ``preload`` and start the ``keep_alive`` reaper."""
        for slot in list(self.pool.slots.values()):
            if slot.config.preload:
                await self.pool.ensure_loaded(slot.name)
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def close(self) -> None:
        """Stop the batchers and the reaper, unload every model, release the threads."""
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for batcher in self._batchers.values():
            await batcher.close()
        self._batchers.clear()
        for slot in self.pool.slots.values():
            slot.embedder = None
        self._executor.shutdown(wait=False)
        self._prep.shutdown(wait=False)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(self._reap_interval)
            self.pool.expire_idle()
            await self.pool.check_files()

    # ------------------------------------------------------------------ models

    def add_model(self, model: ModelConfig | str | os.PathLike[str], **kwargs: Any) -> str:
        """Register another model (``kwargs`` as :class:`ModelConfig` fields); returns its name."""
        config = model if isinstance(model, ModelConfig) else ModelConfig(model, **kwargs)
        return self.pool.add(config)

    def add_observer(self, observer: BatchObserver) -> None:
        """Call ``observer(model, items, tokens, padded_tokens, seconds)`` after every batch."""
        self._observers.append(observer)

    def list_models(self) -> list[dict[str, Any]]:
        """Every served model with its state (loaded or not, size, keep_alive, ...)."""
        return [slot.describe() for slot in self.pool.slots.values()]

    def info(self, model: str) -> dict[str, Any]:
        """One model's state, plus the embedder's ``info()`` when it is loaded."""
        slot = self.pool.slot(model)
        out = slot.describe()
        if slot.embedder is not None and hasattr(slot.embedder, "info"):
            out["model"] = slot.embedder.info()
        return out

    async def load(self, model: str) -> dict[str, Any]:
        """Load ``model`` now (it is also loaded on first use); returns :meth:`info`."""
        await self.pool.ensure_loaded(model)
        return self.info(model)

    async def unload(self, model: str) -> bool:
        """Unload ``model`` (it loads again on next use); False if it was not loaded."""
        return await self.pool.unload(model)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per model: queued items/tokens, batches, items, tokens, busy seconds, drops, rejections."""
        out = {}
        for name, slot in self.pool.slots.items():
            b = self._batchers.get(name)
            s = b.stats if b else None
            out[name] = {
                "loaded": slot.loaded,
                "queued_items": b.queued_items if b else 0,
                "queued_tokens": b.queued_tokens if b else 0,
                "batches": s.batches if s else 0,
                "items": s.items if s else 0,
                "tokens": s.tokens if s else 0,
                "padded_tokens": s.padded_tokens if s else 0,
                "busy_seconds": s.busy_seconds if s else 0.0,
                "dropped_items": s.dropped_items if s else 0,
                "rejected_requests": s.rejected_requests if s else 0,
            }
        return out

    def _busy(self, name: str) -> bool:
        b = self._batchers.get(name)
        return b is not None and not b.idle

    def _batcher(self, slot: ModelSlot) -> Batcher:
        b = self._batchers.get(slot.name)
        if b is None:
            lim = self.limits
            observers, name = self._observers, slot.name

            def observer(items: int, tokens: int, padded: int, seconds: float) -> None:
                for obs in observers:
                    obs(name, items, tokens, padded, seconds)

            b = Batcher(
                slot.name,
                lambda key, items: self._execute(slot, key, items),
                batch_tokens=lim.batch_tokens,
                max_queue_tokens=lim.max_queue_tokens,
                window_s=lim.batch_window_ms / 1000.0,
                concurrency=lim.batch_concurrency,
                observer=observer,
            )
            self._batchers[slot.name] = b
        return b

    # ------------------------------------------------------------------ execution

    async def _execute(self, slot: ModelSlot, key: Hashable, items: list[Any]) -> list[Any]:
        embedder = await self.pool.ensure_loaded(slot.name)
        slot.in_use += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._run_batch, embedder, key, items)
        except InvalidInputError:
            raise  # the request's fault, not the model's
        except Exception as exc:  # noqa: BLE001 - onnxruntime failed: unload this model only
            self.pool.mark_failed(slot, exc)
            raise ArtifactError(
                f"model {slot.name!r} failed while running a batch and was unloaded ({type(exc).__name__}: "
                f"{clip(str(exc), 300)}); it reloads on the next request"
            ) from exc
        finally:
            slot.in_use -= 1

    def _run_batch(self, embedder: Any, key: tuple, items: list[Any]) -> list[Any]:
        """One batch through the embedder's public API (runs in a worker thread)."""
        kind = key[0]
        # encode() cuts its own batches by a budget of batch_size x 32 tokens: make it at least
        # ours, so the batch the engine formed runs as one onnxruntime call.
        size = max(1, -(-self.limits.batch_tokens // 32))
        if kind == "dense":
            _, dimension, normalize, prompt_name, raw_pooled = key
            out = embedder.encode(
                items,
                batch_size=size,
                dimension=dimension,
                normalize=normalize,
                prompt_name=prompt_name,
                raw_pooled=raw_pooled,
            )
            return list(out)
        if kind == "sparse":
            return list(embedder.encode(items, batch_size=size, top_k=key[1]))
        if kind == "vision_text":
            return list(embedder.encode_texts(items, normalize=key[1]))
        if kind == "image":
            return list(embedder.encode_images(items, normalize=key[1]))
        if kind == "page":
            return list(embedder.encode_images(list(items)))
        if kind == "page_query":
            return list(embedder.encode_queries(list(items)))
        if kind == "multi_vector":
            return list(embedder.encode(items, batch_size=size, is_query=key[1]))
        if kind == "forecast":
            _, horizon, freq, _channels = key
            return [np.asarray(p) for p in embedder.forecast(list(items), horizon=horizon, freq=freq)]
        if kind == "series":
            return list(embedder.encode(list(items), freq=key[1]))
        raise InvalidInputError(f"unknown operation {kind!r}")

    async def _tokenize(self, slot: ModelSlot, texts: list[str], truncate: bool) -> list[int]:
        embedder = await self.pool.ensure_loaded(slot.name)
        loop = asyncio.get_running_loop()
        encoded = await loop.run_in_executor(self._prep, lambda: embedder.tokenizer.encode(texts, warn=False))
        lengths = [int(n) for n in encoded.lengths]
        if encoded.truncated and not truncate:
            limit = embedder.tokenizer.max_length
            first = next(i for i, n in enumerate(lengths) if n >= limit)
            raise LimitExceededError(
                f"input {first} is longer than the model's maximum of {limit} tokens; shorten it or "
                "set truncate=true to cut it to the maximum"
            )
        return lengths

    @staticmethod
    def _check_dimension(embedder: Any, dimension: int) -> None:
        """A server offers only the sizes the artifact lists (the library also accepts others, warning)."""
        manifest = embedder.manifest
        offered = sorted({int(d) for d in manifest.matryoshka_dims} | {int(manifest.dim)}, reverse=True)
        if isinstance(dimension, bool) or dimension not in offered:
            raise UnsupportedDimensionError(
                f"dimensions={clip(dimension)} is not offered by {manifest.model_id}: choose one of {offered}"
            )

    def _check_count(self, n: int) -> None:
        if n > self.limits.max_inputs:
            raise LimitExceededError(
                f"{n} inputs in one request; the limit is {self.limits.max_inputs}: split the request"
            )

    def _check_tokens(self, lengths: Sequence[int]) -> None:
        total = sum(lengths)
        limit = min(self.limits.max_request_tokens, self.limits.max_queue_tokens)
        if total > limit:
            raise LimitExceededError(
                f"the request holds {total} tokens; the limit is {limit} per request: split it into "
                "smaller requests"
            )

    def _slot(self, model: str, groups: str | Sequence[str], route: str) -> ModelSlot:
        """The slot of ``model`` if its paradigm offers one of the route ``groups`` (see :mod:`.offers`)."""
        slot = self.pool.slot(model)
        wanted = (groups,) if isinstance(groups, str) else tuple(groups)
        if not set(wanted) & set(offers(slot.paradigm)):
            able = sorted(
                {s.paradigm for s in self.pool.slots.values() if set(wanted) & set(offers(s.paradigm))}
            )
            raise InvalidInputError(
                f"model {model!r} is a {slot.paradigm} model, which {route} does not serve; "
                f"choose a model of paradigm {' or '.join(able) or '(none served here)'}"
            )
        return slot

    @contextlib.asynccontextmanager
    async def _admitted(self) -> AsyncIterator[Ticket]:
        """The current request's admission ticket: the caller's (HTTP) or a new one (library call).

        Raises :class:`OverloadedError` when the engine is at its in-flight limit.
        """
        ticket = current_ticket.get()
        if ticket is not None:
            yield ticket
            return
        ticket = self.admission.enter()
        reset = current_ticket.set(ticket)
        served = False
        try:
            yield ticket
            served = True
        finally:
            current_ticket.reset(reset)
            self.admission.leave(ticket, served)

    def _submit(self, slot: ModelSlot, key: Hashable, items: list[Any], lengths: list[int]) -> asyncio.Future:
        """Queue ``items`` in the model's batcher under the current request's deadline."""
        ticket = current_ticket.get()
        self.admission.check(ticket)
        if ticket is None or ticket.deadline is None:
            return self._batcher(slot).submit(key, items, lengths)
        return self._batcher(slot).submit(
            key,
            items,
            lengths,
            deadline=ticket.deadline,
            on_timeout=lambda: self.admission.timeout_error(ticket),
        )

    async def _submit_texts(
        self, slot: ModelSlot, key: tuple, texts: Any, truncate: bool
    ) -> tuple[list[Any], list[int], bool]:
        async with self._admitted() as ticket:
            items, single = validate_texts(texts)
            self._check_count(len(items))
            self.admission.check(ticket)
            lengths = await self._tokenize(slot, items, truncate) if items else []
            self._check_tokens(lengths)
            results = await self._submit(slot, key, items, lengths)
        return results, lengths, single

    # ------------------------------------------------------------------ public calls

    async def embed(
        self,
        model: str,
        texts: str | Sequence[str],
        *,
        dimension: int | None = None,
        normalize: bool | None = None,
        prompt_name: str | None = None,
        truncate: bool = True,
        raw_pooled: bool = False,
    ) -> EmbedResult:
        """Dense vectors ``(n, d)`` float32 (``(d,)`` for one str) of a dense model.

        ``dimension``: Matryoshka truncation + renormalisation, only to the full width or a size
        the artifact lists in ``matryoshka_dims`` (others raise
        :class:`~tessera_onnx.errors.UnsupportedDimensionError`); ``normalize``/``prompt_name``/
        ``raw_pooled`` as in :meth:`TesseraDense.encode` (``raw_pooled``: the pooling output,
        before the model's own Normalize); ``truncate=False`` refuses inputs longer than the
        model's maximum instead of cutting them.
        """
        slot = self._slot(model, "embeddings", "embed")
        if slot.paradigm == "vision":
            return await self._embed_vision_texts(slot, texts, dimension, normalize)
        if dimension is not None:
            self._check_dimension(await self.pool.ensure_loaded(model), dimension)
        key = ("dense", dimension, normalize, prompt_name, bool(raw_pooled))
        rows, lengths, single = await self._submit_texts(slot, key, texts, truncate)
        width = dimension or (slot.embedder.dimension if slot.embedder is not None else 0)
        data = np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, width), np.float32)
        return EmbedResult(data[0] if single else data, lengths)

    async def embed_sparse(
        self, model: str, texts: str | Sequence[str], *, top_k: int | None = None, truncate: bool = True
    ) -> EmbedResult:
        """SPLADE :class:`~tessera_onnx.SparseEmbedding` per text of a sparse model."""
        slot = self._slot(model, "embed_sparse", "embed_sparse")
        rows, lengths, single = await self._submit_texts(slot, ("sparse", top_k), texts, truncate)
        return EmbedResult(rows[0] if single else rows, lengths)

    async def embed_multi_vector(
        self, model: str, texts: str | Sequence[str], *, is_query: bool = False, truncate: bool = True
    ) -> EmbedResult:
        """ColBERT token matrices ``(tokens_i, d)`` per text of a multi-vector model."""
        slot = self._slot(model, "embed_all", "embed_all")
        rows, lengths, single = await self._submit_texts(
            slot, ("multi_vector", bool(is_query)), texts, truncate
        )
        return EmbedResult(rows[0] if single else rows, lengths)

    async def rerank(
        self, model: str, query: str, texts: Sequence[str], *, truncate: bool = True, raw: bool = False
    ) -> EmbedResult:
        """Scores ``(len(texts),)`` of ``query`` against each text: the cross-encoder's score for a
        cross-encoder (its logits with ``raw``), MaxSim for a multi-vector model, cosine for a
        dense one, dot product for a sparse one (``raw`` does not apply to those)."""
        async with self._admitted():
            if self.pool.slot(model).paradigm == CROSS_ENCODER:
                return EmbedResult(*await cross_encoder_rerank(self, model, query, texts, truncate, raw))
            return await self._rerank(model, query, texts, truncate)

    async def _rerank(self, model: str, query: str, texts: Sequence[str], truncate: bool) -> EmbedResult:
        slot = self._slot(model, "rerank", "rerank")
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        docs, _ = validate_texts(texts)
        if not docs:
            raise InvalidInputError("texts is empty: pass at least one candidate text")
        if slot.paradigm == "multi_vector":
            q, d = await asyncio.gather(
                self.embed_multi_vector(model, [query], is_query=True, truncate=truncate),
                self.embed_multi_vector(model, docs, truncate=truncate),
            )
        elif slot.paradigm == "sparse":
            q, d = await asyncio.gather(
                self.embed_sparse(model, [query], truncate=truncate),
                self.embed_sparse(model, docs, truncate=truncate),
            )
        else:
            q, d = await asyncio.gather(
                self.embed(model, [query], truncate=truncate), self.embed(model, docs, truncate=truncate)
            )
        embedder = slot.embedder or await self.pool.ensure_loaded(model)
        scores = np.asarray(embedder.similarity(q.data, d.data), dtype=np.float32)[0]
        return EmbedResult(scores, q.tokens + d.tokens)

    # ------------------------------------------------------------------ images and pages

    async def _embed_vision_texts(
        self, slot: ModelSlot, texts: Any, dimension: int | None, normalize: bool | None
    ) -> EmbedResult:
        embedder = await self.pool.ensure_loaded(slot.name)
        if dimension is not None:
            self._check_dimension(embedder, dimension)
        async with self._admitted() as ticket:
            items, single = validate_texts(texts)
            self._check_count(len(items))
            self.admission.check(ticket)
            lengths = await self._run_prep(lambda: [int(n) for n in embedder.tokenize(items)[1].sum(axis=1)])
            self._check_tokens(lengths)
            rows = await self._submit(slot, ("vision_text", normalize is not False), items, lengths)
        data = np.stack(rows).astype(np.float32) if rows else np.zeros((0, embedder.dimension), np.float32)
        if dimension is not None and dimension < data.shape[-1]:
            data = data[..., :dimension]
        return EmbedResult(data[0] if single else data, lengths)

    async def _run_prep(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._prep, fn)

    def _decode_images(self, images: Sequence[bytes]) -> list[Any]:
        """Decode encoded images (a prep thread); the pixel cap is checked from the header first."""
        from ..vision.load import load_image

        limit = self.limits.max_image_pixels or None
        return [load_image(bytes(data), i, limit) for i, data in enumerate(images)]

    async def _submit_images(
        self, slot: ModelSlot, key: tuple, images: Sequence[bytes], cost: int
    ) -> list[Any]:
        async with self._admitted() as ticket:
            if not images:
                raise InvalidInputError("no images: send at least one")
            self._check_count(len(images))
            self.admission.check(ticket)
            decoded = await self._run_prep(lambda: self._decode_images(images))
            return await self._submit(slot, key, decoded, [cost] * len(decoded))

    async def embed_images(
        self, model: str, images: Sequence[bytes], *, normalize: bool = True
    ) -> EmbedResult:
        """Image vectors ``(n, d)`` of an image–text model (SigLIP, CLIP) for encoded images
        (PNG/JPEG/... bytes). A bad image raises :class:`~tessera_onnx.errors.InvalidImageError`
        with the decoder's reason; one over ``max_image_pixels`` is refused before decoding."""
        slot = self._slot(model, "images", "image input")
        rows = await self._submit_images(slot, ("image", bool(normalize)), images, IMAGE_COST)
        return EmbedResult(np.stack(rows).astype(np.float32), [0] * len(rows))

    async def embed_items(
        self, model: str, items: Sequence[tuple[str, Any]], *, dimension: int | None = None
    ) -> EmbedResult:
        """Vectors for a mix of ``("text", str)`` and ``("image", bytes)`` items, in order, from one
        image–text model (texts and images share its embedding space)."""
        slot = self._slot(model, "images", "image input")
        texts = [i for i, (kind, _) in enumerate(items) if kind == "text"]
        images = [i for i, (kind, _) in enumerate(items) if kind == "image"]
        async with self._admitted():
            parts = await asyncio.gather(
                self._embed_vision_texts(slot, [items[i][1] for i in texts], dimension, True)
                if texts
                else _none(),
                self.embed_images(model, [items[i][1] for i in images]) if images else _none(),
            )
        t, im = parts
        width = (t or im).data.shape[-1]
        out = np.zeros((len(items), width), np.float32)
        tokens = [0] * len(items)
        if t is not None:
            out[texts] = t.data
            for i, n in zip(texts, t.tokens, strict=True):
                tokens[i] = n
        if im is not None:
            out[images] = im.data[..., :width]
        return EmbedResult(out, tokens)

    async def embed_pages(self, model: str, images: Sequence[bytes]) -> EmbedResult:
        """Page token vectors ``[(tokens_i, d), ...]`` of a ColPali-family model for page images."""
        slot = self._slot(model, "pages", "page embedding")
        rows = await self._submit_images(slot, ("page",), images, PAGE_COST)
        return EmbedResult([np.asarray(r, np.float32) for r in rows], [int(r.shape[0]) for r in rows])

    async def embed_page_queries(self, model: str, texts: str | Sequence[str]) -> EmbedResult:
        """Query token vectors ``[(tokens_i, d), ...]`` of a ColPali-family model."""
        slot = self._slot(model, "pages", "page queries")
        async with self._admitted() as ticket:
            items, single = validate_texts(texts)
            if not items:
                raise InvalidInputError("no queries: send at least one")
            self._check_count(len(items))
            self.admission.check(ticket)
            lengths = [max(1, len(t) // 4) for t in items]  # an estimate: queries are short
            rows = await self._submit(slot, ("page_query",), items, lengths)
        return EmbedResult(rows[0] if single else rows, lengths)

    async def page_search(
        self, model: str, queries: Sequence[str], pages: Sequence[bytes], *, k: int | None = None
    ) -> EmbedResult:
        """MaxSim scores of each query against each page image sent: ``data`` is a list (one per
        query) of ``[(page_index, score), ...]``, best first, at most ``k`` (default: all)."""
        slot = self._slot(model, "page_search", "page search")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise InvalidInputError(f"'k' must be a positive integer, got {clip(k)}")
        async with self._admitted():
            q, p = await asyncio.gather(
                self.embed_page_queries(model, list(queries)), self.embed_pages(model, pages)
            )
        embedder = slot.embedder or await self.pool.ensure_loaded(model)
        scores = np.asarray(embedder.similarity(q.data, p.data), dtype=np.float32)
        ranked = []
        for row in scores:
            order = np.argsort(-row, kind="stable")[: k or len(row)]
            ranked.append([(int(i), float(row[i])) for i in order])
        return EmbedResult(ranked, q.tokens)

    async def forecast(
        self, model: str, series: Sequence[Any], *, horizon: int | None = None, freq: Any = None
    ) -> EmbedResult:
        """Forecasts of a time-series model: one ``[H]`` (1-D input) or ``[H, C]`` array per series.

        ``series``: a list of series, each a list of numbers ``[L]`` or of ``[C]`` rows ``[L, C]``
        (``None`` marks a missing step; see :mod:`tessera_onnx.serving.series`).
        """
        slot = self._slot(model, "forecast", "forecast")
        async with self._admitted():
            arrays, _ = parse_series_list(series, "series")
            preds, _ = await self._submit_series(slot, ("forecast", horizon, freq), arrays)
        out = [p[:, 0] if a.ndim == 1 and p.ndim == 2 else p for a, p in zip(arrays, preds, strict=True)]
        return EmbedResult(out, [])

    async def embed_series(self, model: str, series: Any, *, freq: Any = None) -> EmbedResult:
        """Series embeddings ``(n, d)`` float32 (``(d,)`` for one flat series) of a time-series
        model: :meth:`TesseraTimeSeries.encode` of each series (mean-pooled backbone
        states, not normalised). ``series`` as in :meth:`forecast`, or one flat list of numbers.
        ``tokens``: the time steps the model read of each series (at most its context length)."""
        slot = self._slot(model, "series", "series input")
        async with self._admitted():
            arrays, single = parse_series_list(series, "input")
            rows, steps = await self._submit_series(slot, ("series", freq), arrays)
        data = np.stack(rows).astype(np.float32, copy=False)
        return EmbedResult(data[0] if single else data, steps)

    async def _submit_series(
        self, slot: ModelSlot, key: tuple, arrays: list[np.ndarray]
    ) -> tuple[list[Any], list[int]]:
        """Queue parsed series under ``key + (channels,)`` (a batch holds one channel count) and
        return one result per series, in order, and the time steps the model reads of each.

        Checked here, before batching, so that one bad series fails only its own request: the
        count, the model's fixed channel count, and that every channel has a value inside the
        context window."""
        self._check_count(len(arrays))
        embedder = await self.pool.ensure_loaded(slot.name)
        ctx = int(embedder.context_length)
        fixed = embedder.config.num_input_channels
        groups: dict[tuple, list[int]] = {}
        for i, a in enumerate(arrays):
            channels = 1 if a.ndim == 1 else a.shape[1]
            if fixed is not None and channels != fixed:
                raise InvalidInputError(
                    f"series {i} has {channels} channel(s); model {slot.name!r} mixes channels and needs "
                    f"exactly {fixed} per step: send [L, {fixed}] rows"
                )
            window = a[-ctx:].reshape(min(ctx, a.shape[0]), channels)
            empty = np.flatnonzero(~np.isfinite(window).any(axis=0))
            if empty.size:
                raise InvalidInputError(
                    f"series {i}, channel {int(empty[0])} has no values in its last {ctx} steps (all "
                    "null): drop it or fill the gap"
                )
            groups.setdefault((*key, channels), []).append(i)
        steps = [min(ctx, a.shape[0]) for a in arrays]
        futures = {
            k: self._submit(slot, k, [arrays[i] for i in idx], [steps[i] for i in idx])
            for k, idx in groups.items()
        }
        out: list[Any] = [None] * len(arrays)
        for k, fut in futures.items():
            for i, result in zip(groups[k], await fut, strict=True):
                out[i] = result
        return out, steps

    async def decode_tokens(self, model: str, ids: Sequence[Sequence[int]]) -> list[str]:
        """Token-id lists (the model's own vocabulary) back to text, for token-array inputs."""
        slot = self._slot(model, _TOKEN_GROUPS, "token input")
        embedder = await self.pool.ensure_loaded(model)
        decoder = self._decoders.get(model)
        if decoder is None:
            from tokenizers import Tokenizer

            decoder = Tokenizer.from_file(str(slot.path / embedder.text_config.tokenizer_file))
            self._decoders[model] = decoder
        vocab = decoder.get_vocab_size(with_added_tokens=True)
        for i, row in enumerate(ids):
            bad = next(
                (t for t in row if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab), None
            )
            if bad is not None or not row:
                raise InvalidInputError(
                    f"input {i} must be a non-empty list of token ids in [0, {vocab}) of this model's "
                    f"tokenizer; found {bad!r}"
                )
        return decoder.decode_batch([list(r) for r in ids], skip_special_tokens=True)


async def _none() -> None:
    return None


class SyncEngine:
    """Synchronous front of an :class:`Engine`: its event loop runs in a background thread.

    ``with SyncEngine(Engine([...])) as engine: engine.embed("model", ["text"])``. Every async
    call of :class:`Engine` is available with the same arguments, blocking until done.
    """

    _ASYNC = (
        "embed",
        "embed_sparse",
        "embed_multi_vector",
        "rerank",
        "forecast",
        "embed_series",
        "load",
        "unload",
        "decode_tokens",
        "embed_images",
        "embed_items",
        "embed_pages",
        "embed_page_queries",
        "page_search",
    )

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tessera-engine", daemon=True)
        self._thread.start()
        self._call(engine.start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        if name in self._ASYNC:
            method = getattr(self.engine, name)
            return lambda *args, **kwargs: self._call(method(*args, **kwargs))
        return getattr(self.engine, name)

    def close(self) -> None:
        """Close the engine and stop the background loop."""
        if self._loop.is_running():
            self._call(self.engine.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
