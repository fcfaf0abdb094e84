"""Reranking routes over real HTTP: TEI ``/rerank`` and Cohere/Jina ``/v1/rerank`` with a cross-encoder and a bi-encoder.

The server runs under uvicorn on a loopback port; TEI requests go through httpx, ``/v1/rerank``
through the official openai client's generic ``post`` (it has no rerank method) and httpx.
Scores equal the library's ``TesseraCrossEncoder.predict`` (sigmoid; logits with
``raw_scores``) and the dense model's cosine ``similarity`` within 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from http_server import Server  # noqa: E402

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.serving import Engine, ModelConfig, create_app  # noqa: E402

TOL = 1e-5
QUERY = "Which city is the capital of France?"
TEXTS = [
    "Paris is the capital of France.",
    "Bananas are yellow.",
    "France borders Spain.",
    "Lyon has rivers.",
]


@pytest.fixture(scope="module")
def cross_encoder_artifact(tiny_cross_encoder_artifact):
    return tiny_cross_encoder_artifact


@pytest.fixture(scope="module")
def server(cross_encoder_artifact, tiny_bert_dense_artifact):
    models = [
        ModelConfig(cross_encoder_artifact, name="reranker", options={"threads": 1}),
        ModelConfig(tiny_bert_dense_artifact, name="dense", options={"threads": 1}),
    ]
    srv = Server(create_app(Engine(models)))
    yield srv
    srv.stop()


def _post(server, path, body):
    return httpx.post(server.url + path, json=body, timeout=60)


def test_tei_rerank_uses_the_cross_encoder(server, cross_encoder_artifact):
    model = Tessera(cross_encoder_artifact)
    ref = model.predict([(QUERY, t) for t in TEXTS])
    r = _post(server, "/rerank", {"model": "reranker", "query": QUERY, "texts": TEXTS, "return_text": True})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [x["index"] for x in rows] == np.argsort(-ref, kind="stable").tolist()
    for x in rows:
        assert abs(x["score"] - ref[x["index"]]) <= TOL and x["text"] == TEXTS[x["index"]]
    raw = _post(
        server, "/rerank", {"model": "reranker", "query": QUERY, "texts": TEXTS, "raw_scores": True}
    ).json()
    logits = model.predict([(QUERY, t) for t in TEXTS], raw=True)
    assert all(abs(x["score"] - logits[x["index"]]) <= TOL for x in raw) and "text" not in raw[0]


def test_v1_rerank_through_the_openai_client(server, cross_encoder_artifact):
    model = Tessera(cross_encoder_artifact)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    body = {
        "model": "reranker",
        "query": QUERY,
        "documents": [TEXTS[0], {"text": TEXTS[1]}, *TEXTS[2:]],
        "top_n": 2,
        "return_documents": True,
    }
    out = client.post("/rerank", body=body, cast_to=object)
    ranked = model.rank(QUERY, TEXTS, top_k=2)
    assert out["model"] == "reranker" and len(out["results"]) == 2
    assert [x["index"] for x in out["results"]] == [h["corpus_id"] for h in ranked]
    for x, h in zip(out["results"], ranked, strict=True):
        assert abs(x["relevance_score"] - h["score"]) <= TOL and x["document"] == {
            "text": TEXTS[h["corpus_id"]]
        }
    assert out["usage"]["total_tokens"] > 0


def test_bi_encoders_keep_cosine_reranking(server, tiny_bert_dense_artifact):
    dense = Tessera(tiny_bert_dense_artifact)
    cos = dense.similarity([QUERY], TEXTS)[0]
    tei = _post(
        server, "/rerank", {"model": "dense", "query": QUERY, "texts": TEXTS, "raw_scores": True}
    ).json()
    assert all(abs(x["score"] - cos[x["index"]]) <= TOL for x in tei)
    v1 = _post(server, "/v1/rerank", {"model": "dense", "query": QUERY, "documents": TEXTS}).json()
    assert [x["index"] for x in v1["results"]] == np.argsort(-cos, kind="stable").tolist()
    assert "document" not in v1["results"][0]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/rerank", {"model": "reranker", "query": "", "texts": ["a"]}, 422),
        ("/rerank", {"model": "reranker", "query": "q", "texts": []}, 422),
        ("/rerank", {"model": "reranker", "query": "q", "texts": ["a", 3]}, 422),
        ("/rerank", {"model": "reranker", "query": "q " * 300, "texts": ["a"], "truncate": False}, 413),
        ("/v1/rerank", {"model": "reranker", "query": "q", "documents": [{"txt": "a"}]}, 422),
        ("/v1/rerank", {"model": "reranker", "query": "q", "documents": ["a"], "top_n": 0}, 422),
        ("/v1/rerank", {"model": "nope", "query": "q", "documents": ["a"]}, 404),
    ],
)
def test_rerank_errors(server, path, body, status):
    r = _post(server, path, body)
    assert r.status_code == status, r.text
