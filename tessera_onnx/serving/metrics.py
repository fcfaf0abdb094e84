"""Prometheus metrics of the HTTP server (``GET /metrics``), on a registry of its own per app."""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    """Request counts and latencies by model and route, queue depth, batch sizes, tokens/s.

    ``tessera_tokens_total`` counts tokens embedded (``rate()`` of it is tokens/s);
    ``tessera_tokens_per_second`` is the throughput of the last batch of each model.
    """

    def __init__(self, engine: Any) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:  # pragma: no cover - the [serve] extra installs it
            raise MissingDependencyError(
                "metrics need prometheus-client: pip install 'tessera-onnx[serve]'"
            ) from exc
        self._prom = prom
        self.engine = engine
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.requests = prom.Counter(
            "tessera_requests",
            "HTTP requests by model, route and status",
            ["model", "route", "status"],
            registry=r,
        )
        self.latency = prom.Histogram(
            "tessera_request_seconds",
            "request latency by model and route",
            ["model", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = prom.Histogram(
            "tessera_batch_size", "inputs per batch", ["model"], buckets=_BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = prom.Histogram(
            "tessera_batch_seconds", "time per batch", ["model"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.tokens = prom.Counter("tessera_tokens", "tokens embedded", ["model"], registry=r)
        self.padded_tokens = prom.Counter(
            "tessera_padded_tokens", "tokens including batch padding", ["model"], registry=r
        )
        self.tokens_per_s = prom.Gauge(
            "tessera_tokens_per_second", "throughput of the last batch", ["model"], registry=r
        )
        self.queue_items = prom.Gauge("tessera_queue_items", "inputs waiting", ["model"], registry=r)
        self.queue_tokens = prom.Gauge("tessera_queue_tokens", "tokens waiting", ["model"], registry=r)
        self.loaded = prom.Gauge(
            "tessera_model_loaded", "1 when the model is in memory", ["model"], registry=r
        )
        self.rejected = prom.Gauge(
            "tessera_rejected_requests", "requests refused because the queue was full", ["model"], registry=r
        )
        self.in_flight = prom.Gauge(
            "tessera_in_flight_requests", "requests admitted and not yet answered", registry=r
        )
        self.admission_rejected = prom.Gauge(
            "tessera_admission_rejected_requests",
            "requests refused on arrival (in-flight request or token limit)",
            registry=r,
        )
        self.queue_timeouts = prom.Gauge(
            "tessera_queue_timeout_requests",
            "requests refused after waiting past the queue timeout",
            registry=r,
        )
        self.dropped = prom.Gauge(
            "tessera_dropped_inputs", "inputs dropped because their caller went away", ["model"], registry=r
        )

    def on_batch(self, model: str, items: int, tokens: int, padded: int, seconds: float) -> None:
        """Engine observer: record one finished batch."""
        self.batch_size.labels(model).observe(items)
        self.batch_seconds.labels(model).observe(seconds)
        self.tokens.labels(model).inc(tokens)
        self.padded_tokens.labels(model).inc(padded)
        if seconds > 0:
            self.tokens_per_s.labels(model).set(tokens / seconds)

    def observe_request(self, model: str, route: str, status: int, seconds: float) -> None:
        """Record one finished HTTP request."""
        self.requests.labels(model, route, str(status)).inc()
        self.latency.labels(model, route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text (gauges refreshed from the engine) and its content type."""
        for name, s in self.engine.stats().items():
            self.queue_items.labels(name).set(s["queued_items"])
            self.queue_tokens.labels(name).set(s["queued_tokens"])
            self.loaded.labels(name).set(1 if s["loaded"] else 0)
            self.rejected.labels(name).set(s["rejected_requests"])
            self.dropped.labels(name).set(s["dropped_items"])
        admission = self.engine.admission
        self.in_flight.set(admission.in_flight)
        self.admission_rejected.set(admission.rejected)
        self.queue_timeouts.set(admission.timed_out)
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST
