"""The server as an attacker or a careless client would use it: stalled and slow bodies, slow
headers, one client flooding, bad input that used to be a 500, disclosure, and SIGTERM.

Every test talks to the production uvicorn server (:func:`make_server`) over real loopback
sockets; raw sockets send exactly the bytes an attacker would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from http_server import (  # noqa: E402
    Gate,
    Server,  # noqa: E402
    wait_for,
)

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.serving import Engine, EngineLimits, ModelConfig, create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _serve(
    artifact, *, api_key=None, body_timeout_s=30.0, header_timeout_s=30.0, keep_alive_timeout_s=15.0, **limits
):
    engine = Engine(
        [ModelConfig(artifact, name="tiny", preload=True)], limits=EngineLimits(batch_window_ms=0, **limits)
    )
    app = create_app(engine, api_key=api_key, body_timeout_s=body_timeout_s)
    srv = Server(app, header_timeout_s=header_timeout_s, keep_alive_timeout_s=keep_alive_timeout_s)
    srv.engine = engine
    return srv


def _raw(srv, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(data)
    return s


def _read_all(s: socket.socket, timeout: float = 30) -> bytes:
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        out += chunk
    return out


def _head(route: str, length: int, version: str = "1.1", close: bool = False) -> bytes:
    return (
        f"POST {route} HTTP/{version}\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"{'Connection: close' + chr(13) + chr(10) if close else ''}Content-Length: {length}\r\n\r\n"
    ).encode()


BODY = {"model": "tiny", "input": ["hello there"], "encoding_format": "float"}


# ----------------------------------------------------------------------------- stalls and slow clients


@pytest.fixture(scope="module")
def tight(tiny_bert_dense_artifact):
    """A small token allowance (1 KiB of bodies), a per-client cap of 4, a 30 s body timeout."""
    srv = _serve(tiny_bert_dense_artifact, max_in_flight_tokens=256, max_per_client=4)
    yield srv
    srv.stop()


def test_a_declared_content_length_reserves_nothing(tight):
    """HTTP/1.0 POST declaring 4 MiB and sending one byte, left open: other POSTs are still served."""
    stalled = _raw(tight, _head("/v1/embeddings", 4 << 20, "1.0") + b"{")
    try:
        wait_for(lambda: tight.engine.admission.in_flight == 1)
        assert tight.engine.admission.in_flight_tokens == 0
        for _ in range(3):
            r = httpx.post(tight.url + "/v1/embeddings", json=BODY, timeout=30)
            assert r.status_code == 200, r.text
    finally:
        stalled.close()
    wait_for(lambda: tight.engine.admission.in_flight == 0)


def test_per_client_concurrency_cap(tight):
    gate = Gate(tight.engine.pool.slot("tiny").embedder)
    gate.hold()
    held = [_raw(tight, _head("/v1/embeddings", 10_000) + b'{"model"') for _ in range(3)]
    try:
        import threading

        results: list = []
        t = threading.Thread(
            target=lambda: results.append(httpx.post(tight.url + "/v1/embeddings", json=BODY, timeout=60))
        )
        t.start()
        wait_for(lambda: tight.engine.admission.in_flight == 4)
        r = httpx.post(tight.url + "/v1/embeddings", json=BODY, timeout=30)
        assert r.status_code == 429 and "this client already has 4 requests" in r.json()["error"]["message"]
        assert int(r.headers["Retry-After"]) >= 1
    finally:
        gate.release()
        for s in held:
            s.close()
        t.join(60)
    assert results[0].status_code == 200
    wait_for(lambda: tight.engine.admission.in_flight == 0)


@pytest.fixture(scope="module")
def hasty(tiny_bert_dense_artifact):
    """Bodies must arrive within 0.5 s of their headers, headers within 0.5 s of connecting."""
    srv = _serve(tiny_bert_dense_artifact, body_timeout_s=0.5, header_timeout_s=0.5, max_per_client=64)
    yield srv
    srv.stop()


def test_slow_bodies_get_408_and_release_their_slot(hasty):
    socks = [_raw(hasty, _head("/v1/embeddings", 200) + b'{"model": "ti') for _ in range(20)]
    start = time.monotonic()
    answers = [_read_all(s, timeout=20) for s in socks]
    for s in socks:
        s.close()
    assert time.monotonic() - start < 10  # not held for a default 30 s timeout
    for a in answers:
        assert a.startswith(b"HTTP/1.1 408"), a[:200]
        assert b"request_timeout" in a and b"within 0.5 s" in a
    wait_for(lambda: hasty.engine.admission.in_flight == 0)
    assert httpx.post(hasty.url + "/v1/embeddings", json=BODY, timeout=30).status_code == 200


def test_a_client_leaving_mid_body_is_499_not_500(hasty):
    s = _raw(hasty, _head("/v1/embeddings", 200) + b'{"model": "ti')
    time.sleep(0.1)
    s.close()
    wait_for(lambda: hasty.engine.admission.in_flight == 0)
    lines = [
        ln
        for ln in httpx.get(hasty.url + "/metrics", timeout=30).text.splitlines()
        if "requests_total{" in ln
    ]
    assert any('"499"' in ln for ln in lines) and not any('"500"' in ln for ln in lines), lines


def test_slow_headers_are_cut_off(hasty):
    s = _raw(hasty, b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
    start = time.monotonic()
    assert _read_all(s, timeout=20) == b""  # closed by the server
    assert time.monotonic() - start < 10
    s.close()
    idle = socket.create_connection(("127.0.0.1", hasty.port), timeout=30)  # sends nothing at all
    assert _read_all(idle, timeout=20) == b""
    idle.close()


def _read_response(s: socket.socket, timeout: float = 30) -> bytes:
    """One HTTP/1.1 response (status line, headers and a Content-Length body) from ``s``."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"the server closed the connection instead of answering: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def _request(body: dict = BODY) -> bytes:
    data = json.dumps(body).encode()
    return _head("/v1/embeddings", len(data)) + data


@pytest.fixture(scope="module")
def keeping(tiny_bert_dense_artifact):
    """Headers within 0.5 s, idle keep-alive connections closed after 2 s."""
    srv = _serve(tiny_bert_dense_artifact, header_timeout_s=0.5, keep_alive_timeout_s=2.0, max_per_client=64)
    yield srv
    srv.stop()


def test_idle_keep_alive_is_governed_by_keep_alive_not_the_header_timeout(keeping):
    """Idle between requests longer than the header timeout but shorter than keep-alive: the
    connection is reused; idle past keep-alive: the server closes it."""
    s = _raw(keeping, _request())
    assert _read_response(s).startswith(b"HTTP/1.1 200")
    time.sleep(1.2)  # > header_timeout_s, < keep_alive_timeout_s
    s.sendall(_request())
    assert _read_response(s).startswith(b"HTTP/1.1 200")
    start = time.monotonic()
    assert _read_all(s, timeout=20) == b""  # closed by the server once idle for keep_alive_timeout_s
    assert 1.5 < time.monotonic() - start < 10
    s.close()


def test_trickled_headers_after_a_first_request_are_cut_off(keeping):
    """The header deadline applies to every request of a connection, not only the first: a client
    that finishes one request quickly and then stalls mid-headers is closed, not held forever."""
    s = _raw(keeping, _request())
    assert _read_response(s).startswith(b"HTTP/1.1 200")
    s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")  # never finishes these headers
    start = time.monotonic()
    assert _read_all(s, timeout=8) == b""
    assert time.monotonic() - start < 5  # cut off by the 0.5 s header timeout, not by the test's 8 s
    s.close()


async def _reuse_near_expiry(url: str, expiry: float, rounds: int) -> list[str]:
    """Bursts of 10 requests separated by idle gaps just under the client's ``expiry``, the client's
    event loop stalling 0.15 s as each burst starts (a busy load generator): the client takes pooled
    connections it still deems fresh, and writes to them later. The error kinds met, with the
    connection kind."""
    import asyncio
    import random

    errors: list[str] = []
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20, keepalive_expiry=expiry)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as c:

        async def one() -> None:
            fresh = []

            async def trace(event: str, info: dict) -> None:
                fresh.append(event == "connection.connect_tcp.complete")

            try:
                r = await c.post("/v1/embeddings", json=BODY, extensions={"trace": trace})
                assert r.status_code == 200, r.text
            except httpx.TransportError as exc:
                errors.append(f"{type(exc).__name__} ({'fresh' if any(fresh) else 'reused'})")

        rng = random.Random(3)
        for _ in range(rounds):
            tasks = [asyncio.ensure_future(one()) for _ in range(10)]
            await asyncio.sleep(0)
            time.sleep(0.15)  # the loop stalls after the requests took their connections
            await asyncio.gather(*tasks)
            await asyncio.sleep(rng.uniform(0.85, 0.98) * expiry)
    return errors


def test_clients_reusing_connections_near_their_idle_expiry_get_answers(keeping):
    """With the server's keep-alive (2 s) above the client's idle expiry (1 s) no reused connection
    is reset. (With both at 1 s, uvicorn's default and httpx's being both 5 s, this harness meets
    ReadErrors on reused connections in most rounds: the soak's transport errors.)"""
    import asyncio

    assert asyncio.run(_reuse_near_expiry(keeping.url, 1.0, rounds=8)) == []


def test_default_keep_alive_outlasts_common_client_idle_expiry():
    """A client reusing a connection just before its own idle expiry (httpx: 5 s) must never meet a
    server closing it at that moment (uvicorn's own default is also 5 s: a race, reset connections)."""
    from tessera_onnx.serving.config import ServerSettings
    from tessera_onnx.serving.server import make_server

    settings = ServerSettings()
    assert settings.keep_alive_timeout_s >= 2 * httpx.Limits().keepalive_expiry
    app = create_app(Engine([]))
    assert make_server(app, port=0).config.timeout_keep_alive == 15.0
    assert make_server(app, port=0, keep_alive_timeout_s=7.5).config.timeout_keep_alive == 7.5


def test_slow_and_idle_connections_do_not_fail_normal_traffic(hasty):
    """50 slow or idle connections while normal requests run: every normal request succeeds."""
    slow = [_raw(hasty, _head("/v1/embeddings", 500) + b"{") for _ in range(25)]
    idle = [socket.create_connection(("127.0.0.1", hasty.port), timeout=30) for _ in range(25)]
    try:
        codes = [
            httpx.post(hasty.url + "/v1/embeddings", json=BODY, timeout=30).status_code for _ in range(20)
        ]
    finally:
        for s in slow + idle:
            s.close()
    assert codes == [200] * 20


# ----------------------------------------------------------------------------- bad input, disclosure


@pytest.fixture(scope="module")
def keyed(tiny_bert_dense_artifact):
    srv = _serve(tiny_bert_dense_artifact, api_key="sekret")
    yield srv
    srv.stop()


AUTH = {"Authorization": "Bearer sekret"}


def test_bad_input_is_4xx_never_500(keyed):
    url = keyed.url + "/v1/embeddings"
    r = httpx.post(url, json={"model": ["x"], "input": "a"}, headers=AUTH, timeout=30)
    assert r.status_code == 422 and "'model' must be str" in r.json()["error"]["message"]
    r = httpx.post(url, content=b"[" * 100_000, headers=AUTH, timeout=30)
    assert r.status_code == 422 and "too deeply" in r.json()["error"]["message"]
    r = httpx.post(url, content=b'{"model": "tiny", "input": "\xff\xfe"}', headers=AUTH, timeout=30)
    assert r.status_code == 422
    for bad in ("", ["", ""], ["ok", ""]):
        r = httpx.post(url, json={"model": "tiny", "input": bad}, headers=AUTH, timeout=30)
        assert r.status_code == 422 and "empty string" in r.json()["error"]["message"], bad
        r = httpx.post(keyed.url + "/embed", json={"inputs": bad}, headers=AUTH, timeout=30)
        assert r.status_code == 422 and "empty string" in r.json()["error"], bad


def test_long_model_names_are_truncated(keyed):
    name = "m" * 1_000_000
    r = httpx.post(keyed.url + "/v1/embeddings", json={"model": name, "input": "a"}, headers=AUTH, timeout=60)
    assert r.status_code == 404 and len(r.content) < 2000
    assert "1000002 characters" in r.json()["error"]["message"]
    r = httpx.get(keyed.url + "/v1/models/" + "n" * 5000, headers=AUTH, timeout=30)
    assert r.status_code == 404 and len(r.content) < 2000


def test_health_needs_the_key_and_discloses_no_paths(keyed, tiny_bert_dense_artifact):
    assert httpx.get(keyed.url + "/health", timeout=30).status_code == 401
    r = httpx.get(keyed.url + "/health", headers=AUTH, timeout=30)
    assert r.status_code == 200 and r.json()["models"] == [
        {"name": "tiny", "paradigm": "dense", "loaded": True}
    ]
    assert str(tiny_bert_dense_artifact) not in r.text and "size" not in r.text
    models = httpx.get(keyed.url + "/v1/models", headers=AUTH, timeout=30).text
    assert str(tiny_bert_dense_artifact) not in models


def test_the_key_is_compared_in_constant_time(keyed, monkeypatch):
    import hmac

    seen = []

    def spy(a, b):
        seen.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr("tessera_onnx.serving.app.hmac", type("H", (), {"compare_digest": staticmethod(spy)}))
    r = httpx.get(keyed.url + "/v1/models", headers={"Authorization": "Bearer sekreX"}, timeout=30)
    assert r.status_code == 401 and seen == [(b"Bearer sekreX", b"Bearer sekret")]


def test_unknown_routes_and_methods_use_the_openai_envelope(keyed):
    r = httpx.get(keyed.url + "/v1/nothing", headers=AUTH, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(keyed.url + "/v1/embeddings", headers=AUTH, timeout=30)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(keyed.url + "/embed", headers=AUTH, timeout=30)  # TEI route: TEI's shape
    assert r.status_code == 405 and r.json()["error_type"] == "method_not_allowed"


# ----------------------------------------------------------------------------- semantics (the tiny dense artifact)


@pytest.fixture(scope="module")
def minilm_server(tiny_bert_dense_artifact):
    engine = Engine(
        [ModelConfig(tiny_bert_dense_artifact, name="minilm", preload=True, options={"threads": 1})]
    )
    srv = Server(create_app(engine))
    yield srv
    srv.stop()


def test_tei_normalize_false_is_the_raw_pooled_vector(minilm_server, tiny_bert_dense_artifact):
    model = Tessera(tiny_bert_dense_artifact, threads=1)
    texts = ["How do plants make food?", "Stocks fell."]
    r = httpx.post(minilm_server.url + "/embed", json={"inputs": texts, "normalize": False}, timeout=60)
    got = np.array(r.json())
    ref = model.encode(texts, raw_pooled=True)
    assert np.abs(got - ref).max() <= 1e-5
    assert np.all(np.abs(np.linalg.norm(got, axis=1) - 1) > 0.05)  # not unit vectors
    unit = np.array(httpx.post(minilm_server.url + "/embed", json={"inputs": texts}, timeout=60).json())
    assert np.abs(unit - model.encode(texts)).max() <= 1e-6


def test_tei_similarity(minilm_server, tiny_bert_dense_artifact):
    model = Tessera(tiny_bert_dense_artifact, threads=1)
    body = {
        "inputs": {
            "source_sentence": "How do plants make food?",
            "sentences": ["Photosynthesis.", "Stocks fell."],
        }
    }
    r = httpx.post(minilm_server.url + "/similarity", json=body, timeout=60)
    assert r.status_code == 200, r.text
    ref = model.similarity(["How do plants make food?"], ["Photosynthesis.", "Stocks fell."])[0]
    assert np.abs(np.array(r.json()) - ref).max() <= 1e-5


def test_undeclared_dimensions_are_422(minilm_server, tiny_bert_dense_artifact):
    dim = Tessera(tiny_bert_dense_artifact).dimension
    r = httpx.post(
        minilm_server.url + "/v1/embeddings",
        json={"model": "minilm", "input": "x", "dimensions": 100},
        timeout=60,
    )
    assert r.status_code == 422 and f"choose one of [{dim}]" in r.json()["error"]["message"]
    r = httpx.post(
        minilm_server.url + "/v1/embeddings",
        json={"model": "minilm", "input": "x", "dimensions": dim},
        timeout=60,
    )
    assert r.status_code == 200


# ----------------------------------------------------------------------------- serverless handler


@pytest.mark.parametrize(
    "event",
    [
        {"body": "!!not base64!!", "isBase64Encoded": True, "requestContext": {}},
        {"body": "//79", "isBase64Encoded": True, "requestContext": {}},  # base64 of non-UTF-8 bytes
        {"body": "[" * 100_000, "requestContext": {}},
        {"body": '{"input": ""}', "requestContext": {}},
    ],
)
def test_serverless_handler_bad_events_are_4xx(event, tiny_bert_dense_artifact, monkeypatch):
    from tessera_onnx.serving import lambda_handler

    monkeypatch.setenv("TESSERA_MODEL", str(tiny_bert_dense_artifact))
    out = lambda_handler.handler(event, None)
    assert 400 <= out["statusCode"] < 500, out
    assert json.loads(out["body"])["error"]["type"] == "invalid_request_error"


# ----------------------------------------------------------------------------- graceful shutdown


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_finishes_admitted_requests_and_refuses_new_ones(tiny_bert_dense_artifact):
    """A real `tessera serve` process: a request half-sent before SIGTERM is answered in full; a new
    one gets 503; the process then exits on its own."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = "from tessera_onnx.cli import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "serve",
            f"tiny={tiny_bert_dense_artifact}",
            "--port",
            str(port),
            "--threads",
            "1",
            "--shutdown-timeout",
            "30",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
            time.sleep(0.2)
        body = json.dumps(BODY).encode()
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(_head("/v1/embeddings", len(body), close=True) + body[:10])

        def in_flight() -> float:
            for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
                if line.startswith("tessera_in_flight_requests "):
                    return float(line.split()[1])
            return 0.0

        wait_for(lambda: in_flight() >= 1)
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: httpx.post(url + "/v1/embeddings", json=BODY, timeout=5).status_code == 503)
        refused = httpx.post(url + "/v1/embeddings", json=BODY, timeout=5)
        assert refused.json()["error"]["code"] == "shutting_down" and "Retry-After" in refused.headers
        assert proc.poll() is None  # still draining: the half-sent request is in flight
        s.sendall(body[10:])
        answer = _read_all(s, timeout=30)
        s.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:300]
        assert len(json.loads(payload)["data"][0]["embedding"]) > 0  # complete JSON
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _doc_serve_curls() -> list[tuple[str, dict]]:
    """(route, body) of the curl examples in README.md that call the quickstart's MiniLM."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        m = re.search(r"curl -s (?:http://)?localhost:8000(/\S+).*?-d '(\{.*?\})'", line)
        if m and "minilm" in m.group(2):
            out.append((m.group(1), json.loads(m.group(2))))
    return out


def test_readme_serve_examples_work_after_the_quickstart(tiny_bert_dense_artifact):
    """README serves the quickstart's artifact (``minilm=artifacts/all-minilm-l6-v2``): its curl
    examples must answer 200 with that name (or the manifest's, when served unnamed). The tiny dense
    artifact stands in for MiniLM under both names."""
    examples = _doc_serve_curls()
    assert examples
    models = [
        ModelConfig(tiny_bert_dense_artifact, name=n, options={"threads": 1})
        for n in ("minilm", "all-minilm-l6-v2")
    ]
    srv = Server(create_app(Engine(models)))
    try:
        for route, body in examples:
            r = httpx.post(srv.url + route, json=body, timeout=60)
            assert r.status_code == 200, (route, body, r.text)
    finally:
        srv.stop()
