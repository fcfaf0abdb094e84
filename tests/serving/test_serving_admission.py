"""Admission control: in-flight request and token caps (429 before the body is read), service-rate
``Retry-After``, and the queue-time deadline (503 instead of a late answer).

The model is blocked deterministically: a real tiny artifact whose ``encode`` waits on a
``threading.Event`` the test holds (:class:`Gate`), so "requests in flight" is a state the
test sets up and observes, not a race against the clock.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import numpy as np
import pytest
from http_server import Gate, wait_for

from tessera_onnx import Tessera
from tessera_onnx.errors import OverloadedError, QueueTimeoutError
from tessera_onnx.serving import Engine, EngineLimits, ModelConfig
from tessera_onnx.serving.admission import Admission, estimate_tokens
from tessera_onnx.serving.batcher import Batcher

TOL = 1e-6


class Clock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ----------------------------------------------------------------------------- Admission alone


def test_in_flight_cap_refuses_with_retry_after_from_the_service_rate():
    clock = Clock()
    adm = Admission(max_in_flight=2, rate_window_s=30, clock=clock)
    a, b = adm.enter(), adm.enter()
    with pytest.raises(OverloadedError) as err:
        adm.enter()
    assert err.value.retry_after == 1 and "2 requests are in flight (limit 2)" in str(
        err.value
    )  # no rate yet
    adm.leave(a, served=False)
    adm.leave(b, served=False)
    for _ in range(10):  # one request served per second
        ticket = adm.enter()
        clock.now += 1.0
        adm.leave(ticket, served=True)
    assert adm.service_rate() == pytest.approx(10 / 9)  # 10 served between t=101 and t=110
    a, b = adm.enter(), adm.enter()
    with pytest.raises(OverloadedError) as err:
        adm.enter()
    assert err.value.retry_after == 2  # 2 in flight at 1.1 requests/s
    adm.leave(a, served=True)
    c = adm.enter()  # room again
    adm.leave(b, served=True)
    adm.leave(c, served=False)
    assert adm.in_flight == 0 and adm.rejected == 2
    clock.now += 60
    assert adm.service_rate() == 0.0  # the window forgets old traffic


def test_estimated_token_cap_always_admits_into_an_idle_server():
    adm = Admission(max_in_flight=None, max_in_flight_tokens=100)
    assert estimate_tokens(400) == 100
    big = adm.enter(estimate_tokens(4000))  # nothing in flight: admitted however large
    adm.leave(big, served=True)
    small = adm.enter(60)
    with pytest.raises(OverloadedError, match="about 60 tokens and this one would add about 50"):
        adm.enter(50)
    also = adm.enter(40)  # 60 + 40 fits
    adm.leave(small, served=True)
    adm.leave(also, served=True)
    assert adm.in_flight_tokens == 0


def test_deadline_check():
    clock = Clock()
    adm = Admission(queue_timeout_s=2.0, clock=clock)
    ticket = adm.enter()
    clock.now += 1.5
    adm.check(ticket)  # 1.5 s <= 2 s: fine
    clock.now += 1.0
    with pytest.raises(QueueTimeoutError, match="waited 2.5 s, longer than the queue timeout of 2 s"):
        adm.check(ticket)
    assert adm.timed_out == 1
    with pytest.raises(ValueError):
        Admission(max_in_flight=0)


def test_batcher_fails_inputs_whose_deadline_passed_without_running_them():
    calls: list = []

    async def main():
        gate = asyncio.Event()

        async def execute(key, items):
            calls.append(list(items))
            await gate.wait()
            return [f"{key}:{x}" for x in items]

        b = Batcher("test", execute, batch_tokens=10, window_s=0.0)
        first = b.submit("k", ["first"], [10])
        while not calls:  # "first" is running, held by the gate
            await asyncio.sleep(0)
        late = b.submit(
            "k", ["late"], [5], deadline=time.monotonic() + 0.05, on_timeout=lambda: QueueTimeoutError("late")
        )
        on_time = b.submit("k", ["on-time"], [5], deadline=time.monotonic() + 600)
        await asyncio.sleep(0.1)  # past the first deadline, far from the second
        gate.set()
        assert await first == ["k:first"]
        with pytest.raises(QueueTimeoutError):
            await late
        result = await on_time
        await b.close()
        return result

    assert run(main()) == ["k:on-time"]
    assert all("late" not in item for call in calls for item in call)


def run(coro):
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- engine (no HTTP)


def test_engine_in_flight_limit_applies_to_library_calls(tiny_bert_dense_artifact):
    reference = Tessera(tiny_bert_dense_artifact).encode(["held", "second"])

    async def main():
        engine = Engine(
            [ModelConfig(tiny_bert_dense_artifact, name="tiny", preload=True)],
            limits=EngineLimits(max_in_flight=1, batch_window_ms=0),
        )
        async with engine:
            gate = Gate(engine.pool.slot("tiny").embedder)
            gate.hold()
            held = asyncio.ensure_future(engine.embed("tiny", ["held"]))
            while engine.admission.in_flight < 1:
                await asyncio.sleep(0.01)
            with pytest.raises(OverloadedError, match="limit 1"):
                await engine.embed("tiny", ["refused"])
            gate.release()
            first = await held
            second = await engine.embed("tiny", ["second"])  # room again
            return first.data, second.data, engine.admission.in_flight, gate.calls

    first, second, in_flight, calls = run(main())
    assert np.abs(first[0] - reference[0]).max() <= TOL and np.abs(second[0] - reference[1]).max() <= TOL
    assert in_flight == 0 and ["refused"] not in calls


# ----------------------------------------------------------------------------- HTTP

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from http_server import Server  # noqa: E402

from tessera_onnx.serving import create_app  # noqa: E402


def _gated_server(artifact, **limits):
    engine = Engine(
        [ModelConfig(artifact, name="tiny", preload=True)], limits=EngineLimits(batch_window_ms=0, **limits)
    )
    srv = Server(create_app(engine))
    srv.engine = engine
    srv.gate = Gate(engine.pool.slot("tiny").embedder)
    return srv


@pytest.fixture(scope="module")
def capped(tiny_bert_dense_artifact):
    """At most 2 requests / about 256 estimated tokens (1 KiB of bodies) in flight."""
    srv = _gated_server(tiny_bert_dense_artifact, max_in_flight=2, max_in_flight_tokens=256)
    yield srv
    srv.stop()


def _post_in_background(srv, body, results: list) -> threading.Thread:
    def go():
        results.append(httpx.post(srv.url + "/v1/embeddings", json=body, timeout=60))

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def _raw_post_headers_only(srv, content_length: int) -> bytes:
    """Send a POST's headers but none of its body: the answer must not wait for the body."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(
            (
                "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {content_length}\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_http_429_before_the_body_is_read_when_requests_in_flight_are_at_the_limit(capped):
    gate, adm = capped.gate, capped.engine.admission
    gate.hold()
    results: list = []
    threads = [
        _post_in_background(capped, {"model": "tiny", "input": [t], "encoding_format": "float"}, results)
        for t in ("one", "two")
    ]
    try:
        wait_for(lambda: adm.in_flight == 2)
        head = _raw_post_headers_only(capped, 64)
        assert head.startswith(b"HTTP/1.1 429") and b"retry-after: " in head.lower()
        r = httpx.post(capped.url + "/v1/embeddings", json={"model": "tiny", "input": "x"}, timeout=30)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        err = r.json()["error"]
        assert err["type"] == "rate_limit_error" and "2 requests are in flight (limit 2)" in err["message"]
        assert httpx.get(capped.url + "/health", timeout=30).status_code == 200  # GETs are not counted
    finally:
        gate.release()
        for t in threads:
            t.join(60)
    assert [r.status_code for r in results] == [200, 200]
    wait_for(lambda: adm.in_flight == 0)
    metrics = httpx.get(capped.url + "/metrics", timeout=30).text
    assert "tessera_admission_rejected_requests" in metrics


@pytest.mark.filterwarnings("ignore::tessera_onnx.errors.TruncationWarning")  # 200 words > 64 tokens
def test_http_429_when_estimated_tokens_in_flight_are_at_the_limit(capped, tiny_bert_dense_artifact):
    gate, adm = capped.gate, capped.engine.admission
    big = {"model": "tiny", "input": ["word " * 200], "encoding_format": "float"}  # > 1 KiB: ~260 tokens
    assert estimate_tokens(len(json.dumps(big))) > 256
    gate.hold()
    results: list = []
    thread = _post_in_background(
        capped, {"model": "tiny", "input": ["small"], "encoding_format": "float"}, results
    )
    try:
        wait_for(lambda: adm.in_flight == 1)
        r = httpx.post(capped.url + "/v1/embeddings", json=big, timeout=30)
        assert r.status_code == 429 and "estimated from body bytes received" in r.json()["error"]["message"]
    finally:
        gate.release()
        thread.join(60)
    assert results[0].status_code == 200
    wait_for(lambda: adm.in_flight == 0)
    r = httpx.post(capped.url + "/v1/embeddings", json=big, timeout=60)  # alone: admitted
    expected = Tessera(tiny_bert_dense_artifact).encode(big["input"])
    assert r.status_code == 200
    assert np.abs(np.array(r.json()["data"][0]["embedding"]) - expected[0]).max() <= TOL


@pytest.fixture(scope="module")
def deadline(tiny_bert_dense_artifact):
    """Requests still waiting 2 s after they arrived are refused."""
    srv = _gated_server(tiny_bert_dense_artifact, queue_timeout_s=2.0)
    yield srv
    srv.stop()


def test_http_503_for_a_request_that_waited_past_the_queue_timeout(deadline):
    gate, adm = deadline.gate, deadline.engine.admission
    gate.hold()
    results: list = []
    first = _post_in_background(deadline, {"model": "tiny", "input": ["running"]}, results)
    try:
        assert gate.entered.wait(30)  # "running" is in the worker, held by the gate
        late: list = []
        second = _post_in_background(deadline, {"model": "tiny", "input": ["queued"]}, late)
        wait_for(lambda: adm.in_flight == 2)
        time.sleep(2.2)  # "queued" has now waited more than 2 s
    finally:
        gate.release()
        first.join(60)
        second.join(60)
    assert results[0].status_code == 200
    r = late[0]
    assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
    err = r.json()["error"]
    assert err["code"] == "queue_timeout" and "longer than the queue timeout of 2 s" in err["message"]
    assert ["queued"] not in gate.calls  # refused, never run
    assert adm.timed_out == 1
