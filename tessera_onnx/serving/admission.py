"""Admission control: refuse work early, before it is read, tokenized or queued.

The batcher's queue bound (``max_queue_tokens``) applies only once a request has been read and
tokenized; under overload, requests pile up before that point (reading bodies, waiting for the
tokenizer threads) and wait there unbounded. :class:`Admission` counts every request from the
moment it arrives (the HTTP server asks before it reads the body; a library call asks on
entry) and refuses at once, with :class:`~tessera_onnx.errors.OverloadedError`, when

- ``max_in_flight`` requests are already being served, or
- one client (its IP address) already has ``max_per_client`` requests in flight, or
- the requests in flight already hold ``max_in_flight_tokens`` tokens, estimated from the body
  bytes actually received so far (:func:`estimate_tokens`: bytes / 4, no parsing; the HTTP layer
  calls :meth:`Admission.reserve` as each chunk arrives). A declared ``Content-Length`` reserves
  nothing, so a client that announces a large body and stalls holds no tokens; a request holding
  tokens while nothing else does is never refused, so a large request cannot be refused forever.

``retry_after`` comes from the measured service rate: the requests in flight divided by the
requests served per second over the last ``rate_window_s`` seconds.

With ``queue_timeout_s`` a request that has waited longer than that since it arrived is refused
(:class:`~tessera_onnx.errors.QueueTimeoutError`, HTTP 503) when its turn comes, instead of being
served late; once its batch runs, it is served.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import OverloadedError, QueueTimeoutError, ShuttingDownError

__all__ = ["Admission", "Ticket", "current_ticket", "estimate_tokens"]

# Bytes of a JSON request per token, for the cheap estimate: English WordPiece/BPE tokens
# average about 4-5 characters, so bytes / 4 errs on the high side.
BYTES_PER_TOKEN = 4


def estimate_tokens(body_bytes: int) -> int:
    """A cheap upper estimate of the tokens in a request body of ``body_bytes`` bytes."""
    return max(0, int(body_bytes)) // BYTES_PER_TOKEN


@dataclass
class Ticket:
    """One admitted request: when it arrived, its estimated tokens, its deadline (or None)."""

    arrived: float
    tokens: int
    deadline: float | None
    client: str | None = None

    def expired(self, now: float) -> bool:
        """True once the request has waited past its deadline."""
        return self.deadline is not None and now > self.deadline


# The ticket of the request being served in this context (set by the HTTP layer or the engine),
# so nested engine calls (rerank -> embed) count once and see the arrival time of the request.
current_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar(
    "tessera_admission_ticket", default=None
)


class Admission:
    """In-flight request and token caps, queue-time deadline, service-rate ``Retry-After``.

    Limits of ``None`` are off. ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self,
        *,
        max_in_flight: int | None = 512,
        max_in_flight_tokens: int | None = None,
        max_per_client: int | None = None,
        queue_timeout_s: float | None = None,
        rate_window_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("max_in_flight", max_in_flight),
            ("max_in_flight_tokens", max_in_flight_tokens),
            ("max_per_client", max_per_client),
            ("queue_timeout_s", queue_timeout_s),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None (off), got {value}")
        self.max_in_flight = max_in_flight
        self.max_in_flight_tokens = max_in_flight_tokens
        self.max_per_client = max_per_client
        self.queue_timeout_s = queue_timeout_s
        self.rate_window_s = float(rate_window_s)
        self.clock = clock
        self.in_flight = 0
        self.in_flight_tokens = 0
        self.rejected = 0
        self.timed_out = 0
        self._served: deque[float] = deque()
        self._per_client: dict[str, int] = {}
        self.draining = False  # set on shutdown: no new requests, the admitted ones finish

    # ------------------------------------------------------------------ rate

    def service_rate(self) -> float:
        """Requests served per second over the last ``rate_window_s`` seconds (0 if none)."""
        now = self.clock()
        while self._served and self._served[0] < now - self.rate_window_s:
            self._served.popleft()
        if not self._served:
            return 0.0
        span = max(now - self._served[0], 1.0)
        return len(self._served) / span

    def retry_after(self) -> int:
        """Whole seconds until the requests in flight are served at the measured rate (≥ 1)."""
        rate = self.service_rate()
        if rate <= 0:
            return 1
        return max(1, math.ceil(self.in_flight / rate))

    # ------------------------------------------------------------------ admission

    def enter(self, tokens: int = 0, client: str | None = None) -> Ticket:
        """Admit one request of ``tokens`` estimated tokens from ``client`` (an address, or None),
        or raise :class:`OverloadedError` (:class:`ShuttingDownError` while draining)."""
        if self.draining:
            raise ShuttingDownError(
                "the server is shutting down and accepts no new requests; retry on another instance "
                "or once it is back",
                retry_after=5,
            )
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            raise self._refuse(
                f"{self.in_flight} requests are in flight (limit {self.max_in_flight})", "retry"
            )
        cap = self.max_per_client
        if cap is not None and client is not None and self._per_client.get(client, 0) >= cap:
            raise self._refuse(
                f"this client already has {cap} requests in flight (the per-client limit)",
                "wait for one of them to finish, then retry",
            )
        now = self.clock()
        deadline = None if self.queue_timeout_s is None else now + self.queue_timeout_s
        ticket = Ticket(now, 0, deadline, client)
        self.in_flight += 1
        if client is not None:
            self._per_client[client] = self._per_client.get(client, 0) + 1
        if tokens:
            try:
                self.reserve(ticket, tokens)
            except OverloadedError:
                self.leave(ticket, served=False)
                raise
        return ticket

    def reserve(self, ticket: Ticket, tokens: int) -> None:
        """Add ``tokens`` to what ``ticket`` holds, or raise :class:`OverloadedError` when the
        requests in flight would then hold more than ``max_in_flight_tokens`` (never when the
        others hold none)."""
        cap = self.max_in_flight_tokens
        others = self.in_flight_tokens - ticket.tokens
        if cap is not None and others > 0 and self.in_flight_tokens + tokens > cap:
            raise self._refuse(
                f"the requests in flight hold about {self.in_flight_tokens} tokens and this one would "
                f"add about {tokens} (limit {cap}, estimated from body bytes received)",
                "retry or send a smaller request",
            )
        ticket.tokens += tokens
        self.in_flight_tokens += tokens

    def _refuse(self, why: str, advice: str) -> OverloadedError:
        self.rejected += 1
        wait = self.retry_after()
        return OverloadedError(f"the server is overloaded: {why}; {advice} after {wait} s", retry_after=wait)

    def leave(self, ticket: Ticket, served: bool) -> None:
        """Release ``ticket``; ``served`` (a successful answer) counts toward the service rate."""
        self.in_flight -= 1
        self.in_flight_tokens -= ticket.tokens
        ticket.tokens = 0
        if ticket.client is not None:
            left = self._per_client.get(ticket.client, 1) - 1
            if left > 0:
                self._per_client[ticket.client] = left
            else:
                self._per_client.pop(ticket.client, None)
        if served:
            self._served.append(self.clock())

    def check(self, ticket: Ticket | None) -> None:
        """Raise :class:`QueueTimeoutError` if ``ticket`` has waited past its deadline."""
        if ticket is not None and ticket.expired(self.clock()):
            raise self.timeout_error(ticket)

    def timeout_error(self, ticket: Ticket) -> QueueTimeoutError:
        """The error for a request that waited past its deadline (counted in :attr:`timed_out`)."""
        self.timed_out += 1
        waited = self.clock() - ticket.arrived
        wait = self.retry_after()
        return QueueTimeoutError(
            f"the request waited {waited:.1f} s, longer than the queue timeout of {self.queue_timeout_s:g} s, "
            f"and was not run: the server is overloaded; retry after {wait} s",
            retry_after=wait,
        )
