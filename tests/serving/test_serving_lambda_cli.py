"""The serverless handler (direct and API-Gateway events) and the ``tessera serve`` command."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tessera_onnx import Tessera
from tessera_onnx.serving import lambda_handler
from tessera_onnx.serving.config import load_settings

TEXTS = ["How do plants make food?", "stocks fell"]


@pytest.fixture()
def handler(tiny_bert_dense_artifact, monkeypatch):
    monkeypatch.setenv("TESSERA_MODEL", str(tiny_bert_dense_artifact))
    monkeypatch.setenv("TESSERA_THREADS", "1")
    lambda_handler._STATE.clear()
    yield lambda_handler.handler
    engine = lambda_handler._STATE.pop("engine", None)
    if engine is not None:
        engine.close()
    lambda_handler._STATE.clear()


def test_lambda_direct_and_api_gateway_events(handler, tiny_bert_dense_artifact):
    ref = Tessera(tiny_bert_dense_artifact, threads=1).encode(TEXTS)
    out = handler({"input": TEXTS, "model": "anything", "encoding_format": "float"}, None)
    assert out["model"] == "tiny-bert-dense" and out["usage"]["prompt_tokens"] > 0
    assert np.abs(np.array([d["embedding"] for d in out["data"]]) - ref).max() <= 1e-6
    engine = lambda_handler._STATE["engine"]
    body = base64.b64encode(json.dumps({"input": TEXTS[0]}).encode()).decode()
    http = handler({"body": body, "isBase64Encoded": True, "requestContext": {}}, None)
    assert http["statusCode"] == 200 and http["headers"]["content-type"] == "application/json"
    emb = json.loads(http["body"])["data"][0]["embedding"]  # default float
    assert np.abs(np.array(emb) - ref[0]).max() <= 1e-6
    assert lambda_handler._STATE["engine"] is engine  # loaded once per container
    b64 = handler({"input": TEXTS, "encoding_format": "base64"}, None)
    vec = np.frombuffer(base64.b64decode(b64["data"][1]["embedding"]), dtype="<f4")
    assert np.abs(vec - ref[1]).max() <= 1e-6


def test_lambda_errors(handler):
    bad = handler({"input": []}, None)
    assert bad["statusCode"] == 422 and "non-empty" in bad["error"]["message"]
    http = handler({"body": "{oops", "headers": {}}, None)
    assert http["statusCode"] == 422 and "JSON" in json.loads(http["body"])["error"]["message"]


def test_config_file(tmp_path, tiny_bert_dense_artifact):
    cfg = tmp_path / "serve.json"
    cfg.write_text(
        json.dumps(
            {
                "port": 9100,
                "memory_budget_mb": 512,
                "limits": {"max_inputs": 10, "max_in_flight": 32, "queue_timeout_s": 5},
                "models": [
                    {"path": str(tiny_bert_dense_artifact), "name": "m", "keep_alive": 30, "threads": 1}
                ],
            }
        )
    )
    s = load_settings(cfg)
    assert s.port == 9100 and s.limits.max_inputs == 10 and s.limits.batch_tokens == 1024
    assert s.limits.max_in_flight == 32 and s.limits.queue_timeout_s == 5
    assert s.limits.max_in_flight_tokens == 1_048_576  # the default
    assert s.models[0].name == "m" and s.models[0].keep_alive == 30 and s.models[0].options == {"threads": 1}
    cfg.write_text(json.dumps({"limits": {"max_imputs": 1}}))
    with pytest.raises(Exception, match="max_imputs"):
        load_settings(cfg)


def test_tessera_serve_command(tiny_bert_dense_artifact):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "tessera"
    cmd = [
        str(exe),
        "serve",
        f"tiny={tiny_bert_dense_artifact}",
        "--port",
        str(port),
        "--threads",
        "1",
        "--api-key",
        "k",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        deadline = time.time() + 60
        while True:
            try:
                health = httpx.get(
                    f"http://127.0.0.1:{port}/health", headers={"Authorization": "Bearer k"}, timeout=1
                )
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.time() < deadline, "tessera serve did not come up"
            time.sleep(0.2)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/embeddings",
            json={"model": "tiny", "input": "x"},
            headers={"Authorization": "Bearer k"},
            timeout=30,
        )
        assert r.status_code == 200 and len(r.json()["data"]) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)
