"""Faults that must stay local: a model whose files are corrupted on disk after the server started
is reported and unloaded while the other models keep serving; a client that disconnects while
its batch runs loses only its own work.
"""

from __future__ import annotations

import asyncio
import shutil

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


def _health(srv) -> dict:
    return httpx.get(srv.url + "/health", timeout=30).json()


def test_corrupted_model_is_reported_and_unloaded_others_unaffected(tiny_bert_dense_artifact, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny_bert_dense_artifact, a)
    shutil.copytree(tiny_bert_dense_artifact, b)
    engine = Engine(
        [ModelConfig(a, name="a", preload=True), ModelConfig(b, name="b", preload=True)], reap_interval_s=0.1
    )
    srv = Server(create_app(engine))
    body = {"input": ["still here"], "encoding_format": "float"}
    try:
        for name in ("a", "b"):
            r = httpx.post(srv.url + "/v1/embeddings", json={"model": name, **body}, timeout=30)
            assert r.status_code == 200
        graph = a / "model.onnx"
        data = bytearray(graph.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # same size, altered content
        graph.write_bytes(bytes(data))

        wait_for(lambda: _health(srv)["status"] == "degraded")
        health = _health(srv)
        row = next(m for m in health["models"] if m["name"] == "a")
        assert row["loaded"] is False and "ChecksumError" in row["error"] and str(a) not in row["error"]
        assert next(m for m in health["models"] if m["name"] == "b") == {
            "name": "b",
            "paradigm": "dense",
            "loaded": True,
        }
        r = httpx.post(srv.url + "/v1/embeddings", json={"model": "a", **body}, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"
        assert "other models are unaffected" in r.json()["error"]["message"]
        r = httpx.post(srv.url + "/v1/embeddings", json={"model": "b", **body}, timeout=30)
        assert r.status_code == 200
        ref = Tessera(b).encode(["still here"])
        assert np.abs(np.array(r.json()["data"][0]["embedding"]) - ref[0]).max() <= 1e-6

        shutil.copy2(tiny_bert_dense_artifact / "model.onnx", graph)  # restored: serves again
        r = httpx.post(srv.url + "/v1/embeddings", json={"model": "a", **body}, timeout=30)
        assert r.status_code == 200 and _health(srv)["status"] == "ok"
    finally:
        srv.stop()


def test_disconnect_mid_batch_drops_only_that_clients_work(tiny_bert_dense_artifact):
    limits = EngineLimits(batch_tokens=16, batch_window_ms=300)
    engine = Engine([ModelConfig(tiny_bert_dense_artifact, name="tiny", preload=True)], limits=limits)
    srv = Server(create_app(engine))
    gate = Gate(engine.pool.slot("tiny").embedder)
    mine = [f"alpha {i}" for i in range(8)]
    theirs = ["beta"]
    try:
        gate.hold()

        async def main():
            async with httpx.AsyncClient(base_url=srv.url, timeout=60) as c:
                a = asyncio.ensure_future(c.post("/v1/embeddings", json={"model": "tiny", "input": mine}))
                await asyncio.sleep(0.05)
                b = asyncio.ensure_future(c.post("/v1/embeddings", json={"model": "tiny", "input": theirs}))
                while not gate.entered.is_set():  # the first batch (A's oldest inputs) is running
                    await asyncio.sleep(0.01)
                a.cancel()  # A hangs up mid-batch
                with pytest.raises(asyncio.CancelledError):
                    await a
                await asyncio.sleep(0.3)  # the server notices the disconnect
                gate.release()
                return await b

        r = asyncio.run(main())
        assert r.status_code == 200
        ref = Tessera(tiny_bert_dense_artifact).encode(theirs)
        assert np.abs(np.array(r.json()["data"][0]["embedding"]) - ref[0]).max() <= 1e-6
        first, later = gate.calls[0], gate.calls[1:]
        assert set(first) <= set(mine) and first  # A's batch ran (it had started)
        assert all(t not in mine for call in later for t in call)  # A's queued inputs never ran
        assert any("beta" in call for call in gate.calls)
        assert engine.stats()["tiny"]["dropped_items"] >= len(mine) - len(first)
    finally:
        gate.release()
        srv.stop()
