"""Dynamic batching for one model: merge the items of concurrent requests into padded-token batches.

Callers :meth:`Batcher.submit` a request (a list of items with their token counts and a *key*:
requests are merged only with requests of the same key, i.e. the same operation and options).
A background task waits a short window for more requests, takes the oldest queued items of one
key up to the token budget, sorts them by length and cuts a batch around the oldest item whose
padded size (``items × longest``) fits ``batch_tokens``. That batch is prepared while the previous one still
runs; at most ``concurrency`` batches of one model run at once (1 by default: the onnxruntime
session already uses every thread it was given; with single-threaded sessions, 2 or more keep
several cores busy with different batches).

Backpressure: the queue holds at most ``max_queue_tokens`` tokens; a request that does not fit
fails at once with :class:`~tessera_onnx.errors.OverloadedError`. A request whose caller went
away (its future was cancelled) is dropped before it runs; so is a request submitted with a
``deadline`` that has passed by the time its batch is cut or starts (it fails with the error its
``on_timeout`` returns).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import OverloadedError

__all__ = ["Batcher", "BatchStats"]

Execute = Callable[[Hashable, list[Any]], Awaitable[list[Any]]]


@dataclass
class BatchStats:
    """Counters of one batcher (read by metrics and tests)."""

    batches: int = 0
    items: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    busy_seconds: float = 0.0
    dropped_items: int = 0
    rejected_requests: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class _Job:
    __slots__ = ("key", "future", "results", "remaining", "deadline", "on_timeout")

    def __init__(
        self,
        key: Hashable,
        n: int,
        future: asyncio.Future,
        deadline: float | None,
        on_timeout: Callable[[], BaseException] | None,
    ) -> None:
        self.key = key
        self.future = future
        self.results: list[Any] = [None] * n
        self.remaining = n
        self.deadline = deadline
        self.on_timeout = on_timeout

    def stale(self, now: float) -> bool:
        """Done already (cancelled by its caller), or past its deadline (failed here)."""
        if self.future.done():
            return True
        if self.deadline is not None and now > self.deadline:
            exc = self.on_timeout() if self.on_timeout is not None else TimeoutError("queue deadline passed")
            self.future.set_exception(exc)
            return True
        return False


class Batcher:
    """Queue + batch loop of one model (see the module docstring).

    ``execute(key, items)`` runs one batch and returns one result per item, in order.
    ``observer(items, tokens, padded_tokens, seconds)`` is called after each batch.
    """

    def __init__(
        self,
        name: str,
        execute: Execute,
        *,
        batch_tokens: int = 1024,
        max_queue_tokens: int = 262_144,
        window_s: float = 0.002,
        concurrency: int = 1,
        observer: Callable[[int, int, int, float], None] | None = None,
    ) -> None:
        if batch_tokens < 1 or max_queue_tokens < 1:
            raise ValueError("batch_tokens and max_queue_tokens must be positive")
        self.name = name
        self._execute = execute
        self.batch_tokens = int(batch_tokens)
        self.max_queue_tokens = int(max_queue_tokens)
        self.window_s = float(window_s)
        self._observer = observer
        self._entries: deque[tuple[_Job, int, int, Any]] = deque()  # (job, index, tokens, item)
        self.queued_tokens = 0
        self.stats = BatchStats()
        self._wakeup = asyncio.Event()
        self._free = asyncio.Semaphore(max(1, int(concurrency)))
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._tokens_per_s = 0.0

    # ------------------------------------------------------------------ public

    @property
    def queued_items(self) -> int:
        """Items waiting (not yet running)."""
        return len(self._entries)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        return not self._entries and not self._running

    def retry_after(self) -> float:
        """Seconds until the queue has drained, from the recent token throughput (at least 1)."""
        rate = self._tokens_per_s or 1000.0
        return max(1.0, round(self.queued_tokens / rate, 1))

    def submit(
        self,
        key: Hashable,
        items: Sequence[Any],
        lengths: Sequence[int],
        *,
        deadline: float | None = None,
        on_timeout: Callable[[], BaseException] | None = None,
    ) -> asyncio.Future:
        """Queue ``items`` (with their token counts); the future resolves to their results, in order.

        Raises :class:`OverloadedError` at once when the queue cannot take them. ``deadline``
        (``time.monotonic()`` seconds): if it passes before the items run, the future fails
        with ``on_timeout()`` instead.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        n = len(items)
        if n == 0:
            future.set_result([])
            return future
        tokens = [max(1, int(t)) for t in lengths]
        total = sum(tokens)
        if self.queued_tokens + total > self.max_queue_tokens:
            self.stats.rejected_requests += 1
            raise OverloadedError(
                f"model {self.name!r} is overloaded: {self.queued_tokens} tokens are queued and this request "
                f"adds {total} (limit {self.max_queue_tokens}); retry after {self.retry_after():.0f} s or send "
                "fewer/shorter inputs",
                retry_after=self.retry_after(),
            )
        job = _Job(key, n, future, deadline, on_timeout)
        for index, (item, length) in enumerate(zip(items, tokens, strict=True)):
            self._entries.append((job, index, length, item))
        self.queued_tokens += total
        self._ensure_loop()
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Stop the loop; queued requests fail with a cancellation."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for task in list(self._running):
            try:
                await task
            except Exception:  # noqa: BLE001 - errors went to the callers' futures
                pass
        while self._entries:
            job = self._entries.popleft()[0]
            if not job.future.done():
                job.future.cancel()
        self.queued_tokens = 0

    # ------------------------------------------------------------------ loop

    def _ensure_loop(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher:{self.name}")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._entries:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.queued_tokens < self.batch_tokens and self.window_s > 0:
                await asyncio.sleep(self.window_s)
            batch = self._cut()
            if not batch:
                continue
            await self._free.acquire()  # the batch is ready; wait for the previous one to finish
            task = loop.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _drop_stale(self) -> None:
        now = time.monotonic()
        if any(job.stale(now) for job, *_ in self._entries):
            kept: deque = deque()
            for entry in self._entries:
                if entry[0].stale(now):
                    self.queued_tokens -= entry[2]
                    self.stats.dropped_items += 1
                else:
                    kept.append(entry)
            self._entries = kept

    def _cut(self) -> list[tuple[_Job, int, int, Any]]:
        """The next batch: the oldest queued input plus the inputs nearest to it in length.

        Candidates are the oldest inputs of the oldest input's key, up to ``batch_tokens`` tokens;
        sorted by length, the batch is the run of neighbours around the oldest input whose padded
        size (``count × longest``) fits the budget. Including the oldest input every time bounds
        how long any input waits (short queries are never starved by a stream of long passages).
        """
        self._drop_stale()
        if not self._entries:
            return []
        head = self._entries[0]
        key = head[0].key
        chosen: list[tuple[_Job, int, int, Any]] = []
        total = 0
        for entry in self._entries:
            if entry[0].key != key:
                continue
            chosen.append(entry)
            total += entry[2]
            if total >= self.batch_tokens:
                break
        chosen.sort(key=lambda e: -e[2])
        start = next(i for i, e in enumerate(chosen) if e is head)
        end = start + 1
        budget = self.batch_tokens
        while end < len(chosen) and (end - start + 1) * chosen[start][2] <= budget:
            end += 1  # shorter neighbours: the longest (and so the padded length) stays the same
        while start > 0 and (end - start + 1) * chosen[start - 1][2] <= budget:
            start -= 1  # longer neighbours, while the padded size still fits
        batch = chosen[start:end]
        taken = {id(e) for e in batch}
        self._entries = deque(e for e in self._entries if id(e) not in taken)
        self.queued_tokens -= sum(e[2] for e in batch)
        return batch

    async def _run(self, batch: list[tuple[_Job, int, int, Any]]) -> None:
        try:
            now = time.monotonic()
            live = [e for e in batch if not e[0].stale(now)]
            self.stats.dropped_items += len(batch) - len(live)
            if not live:
                return
            key = live[0][0].key
            start = time.perf_counter()
            try:
                results = await self._execute(key, [e[3] for e in live])
            except Exception as exc:  # noqa: BLE001 - delivered to every caller of the batch
                for job, *_ in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
                return
            seconds = time.perf_counter() - start
            tokens = sum(e[2] for e in live)
            padded = len(live) * max(e[2] for e in live)
            self._record(len(live), tokens, padded, seconds)
            for (job, index, _, _), result in zip(live, results, strict=True):
                job.results[index] = result
                job.remaining -= 1
                if job.remaining == 0 and not job.future.done():
                    job.future.set_result(job.results)
        finally:
            self._free.release()

    def _record(self, items: int, tokens: int, padded: int, seconds: float) -> None:
        s = self.stats
        s.batches += 1
        s.items += items
        s.tokens += tokens
        s.padded_tokens += padded
        s.busy_seconds += seconds
        s.batch_sizes.append(items)
        if len(s.batch_sizes) > 1024:
            del s.batch_sizes[:512]
        if seconds > 0:
            rate = tokens / seconds
            self._tokens_per_s = rate if not self._tokens_per_s else 0.8 * self._tokens_per_s + 0.2 * rate
        if self._observer is not None:
            self._observer(items, tokens, padded, seconds)
