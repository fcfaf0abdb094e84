"""The real HTTP server (uvicorn on a loopback port) called with the official openai client and httpx.

Every route and every limit: OpenAI /v1/embeddings (base64 + float, token ids, dimensions, usage,
errors), /v1/models, the text-embeddings-inference routes, /forecast, /health, /metrics, 401 /
404 / 413 / 422 / 429. Vectors are compared with the library's own encode (max abs diff 1e-6).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")


from http_server import Server  # noqa: E402

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.serving import Engine, EngineLimits, ModelConfig, create_app  # noqa: E402

TOL = 1e-6
DENSE = "tiny-bert-dense"  # the committed tiny dense artifact's model_id


@pytest.fixture(scope="module")
def ttm_artifact():
    from ts_fixtures import tiny_artifact

    return tiny_artifact("plain")


@pytest.fixture(scope="module")
def server(
    tiny_bert_dense_artifact,
    matryoshka_artifact,
    tiny_colbert_pylate_artifact,
    tiny_splade_artifact,
    ttm_artifact,
):
    models = [
        ModelConfig(tiny_bert_dense_artifact, options={"threads": 1}, preload=True),
        ModelConfig(matryoshka_artifact, name="tiny-matryoshka"),
        ModelConfig(tiny_colbert_pylate_artifact, name="colbert"),
        ModelConfig(tiny_splade_artifact, name="splade"),
        ModelConfig(ttm_artifact, name="ttm"),
    ]
    srv = Server(create_app(Engine(models, limits=EngineLimits(batch_window_ms=10))))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def strict(tiny_bert_dense_artifact):
    """A server with an API key and tiny limits."""
    limits = EngineLimits(
        max_inputs=4, max_request_tokens=64, batch_tokens=16, max_queue_tokens=48, batch_window_ms=200
    )
    engine = Engine([ModelConfig(tiny_bert_dense_artifact, name="tiny", preload=True)], limits=limits)
    srv = Server(create_app(engine, api_key="sekret", max_body_bytes=2048))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def dense(tiny_bert_dense_artifact):
    return Tessera(tiny_bert_dense_artifact, threads=1)


def client(server, key="unused"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def post(server, route, body, **kw):
    return httpx.post(server.url + route, json=body, timeout=60, **kw)


# ----------------------------------------------------------------------------- OpenAI API


def test_openai_client_base64_default(server, dense):
    texts = ["How do plants make food?", "Photosynthesis converts light energy.", "stocks fell"]
    res = client(server).embeddings.create(model=DENSE, input=texts)  # the client asks for base64
    got = np.array([d.embedding for d in res.data], dtype=np.float32)
    assert got.shape == (3, dense.dimension)
    assert np.abs(got - dense.encode(texts)).max() <= TOL
    assert res.usage.prompt_tokens == int(dense.tokenizer.encode(texts).lengths.sum())
    assert res.usage.total_tokens == res.usage.prompt_tokens
    assert res.model == DENSE and [d.index for d in res.data] == [0, 1, 2]


def test_openai_float_single_string_and_raw_base64(server, dense):
    res = client(server).embeddings.create(model=DENSE, input="hello world", encoding_format="float")
    assert np.abs(np.array(res.data[0].embedding) - dense.encode("hello world")).max() <= TOL
    raw = post(
        server, "/v1/embeddings", {"model": DENSE, "input": "hello world", "encoding_format": "base64"}
    )
    import base64

    vec = np.frombuffer(base64.b64decode(raw.json()["data"][0]["embedding"]), dtype="<f4")
    assert np.abs(vec - dense.encode("hello world")).max() <= TOL


def test_openai_token_id_input(server, dense):
    ids = dense.tokenizer.encode(["hello world", "the eiffel tower"]).ids
    body_ids = [[int(t) for t in row[1:-1]] for row in ids]  # without [CLS]/[SEP], as a client would send
    res = client(server).embeddings.create(model=DENSE, input=body_ids, encoding_format="float")
    got = np.array([d.embedding for d in res.data])
    assert np.abs(got - dense.encode(["hello world", "the eiffel tower"])).max() <= TOL
    single = client(server).embeddings.create(model=DENSE, input=body_ids[0], encoding_format="float")
    assert np.abs(np.array(single.data[0].embedding) - got[0]).max() <= TOL
    bad = post(server, "/v1/embeddings", {"model": DENSE, "input": [[10**9]]})
    assert bad.status_code == 422 and "token ids" in bad.json()["error"]["message"]


def test_openai_dimensions_matryoshka(server, matryoshka_artifact, tiny_bert_dense_artifact):
    model = Tessera(matryoshka_artifact)
    res = client(server).embeddings.create(model="tiny-matryoshka", input=["a sentence"], dimensions=16)
    got = np.array(res.data[0].embedding)
    assert got.shape == (16,) and abs(np.linalg.norm(got) - 1) < 1e-5
    assert np.abs(got - model.encode(["a sentence"], dimension=16)[0]).max() <= TOL
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client(server).embeddings.create(model=DENSE, input=["x"], dimensions=1000)
    assert f"choose one of [{Tessera(tiny_bert_dense_artifact).dimension}]" in str(err.value)


def test_openai_errors_in_envelope(server):
    with pytest.raises(openai.NotFoundError) as err:
        client(server).embeddings.create(model="no-such-model", input=["x"])
    assert err.value.body["code"] == "model_not_found" and DENSE in err.value.body["message"]
    for body, needle in [
        ({"model": DENSE}, "'input' is required"),
        ({"model": DENSE, "input": []}, "non-empty"),
        ({"model": DENSE, "input": [1.5]}, "input[0]"),
        ({"model": DENSE, "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": DENSE, "input": "x", "dimensions": "8"}, "dimensions"),
        ([1, 2], "JSON object"),
    ]:
        r = post(server, "/v1/embeddings", body)
        assert r.status_code == 422, body
        assert needle in r.json()["error"]["message"] and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(server.url + "/v1/embeddings", content=b"{not json", timeout=30)
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]["message"]


def test_models_routes(server):
    models = client(server).models.list()
    ids = {m.id for m in models.data}
    assert ids == {DENSE, "tiny-matryoshka", "colbert", "splade", "ttm"}
    assert client(server).models.retrieve(DENSE).id == DENSE
    assert httpx.get(server.url + "/v1/models/nope").status_code == 404


def test_concurrent_http_requests_match_single_requests(server, dense):
    """32 concurrent openai-client requests are batched together and get their single-text vectors."""
    texts = [f"request number {i} " + "with some extra words " * (i % 7) for i in range(32)]
    alone = np.stack([dense.encode([t])[0] for t in texts])
    before = _metric(server, "tessera_batch_size_count", DENSE)

    async def main():
        aclient = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        res = await asyncio.gather(*(aclient.embeddings.create(model=DENSE, input=[t]) for t in texts))
        await aclient.close()
        return res

    res = asyncio.run(main())
    got = np.stack([np.array(r.data[0].embedding, dtype=np.float32) for r in res])
    assert np.abs(got - alone).max() <= TOL
    batches = _metric(server, "tessera_batch_size_count", DENSE) - before
    assert 0 < batches < len(texts), "requests were merged into shared batches"


# ----------------------------------------------------------------------------- TEI routes


def test_tei_embed(server, dense):
    r = post(server, "/embed", {"inputs": ["hello", "world"], "model": DENSE})
    assert r.status_code == 200
    assert np.abs(np.array(r.json()) - dense.encode(["hello", "world"])).max() <= TOL
    r = post(server, "/embed", {"inputs": "one", "model": DENSE})
    assert np.array(r.json()).shape == (1, dense.dimension)
    long = "word " * 400
    r = post(server, "/embed", {"inputs": [long], "model": DENSE})  # TEI: truncate defaults to false
    assert r.status_code == 413 and "truncate" in r.json()["error"]
    assert post(server, "/embed", {"inputs": [long], "model": DENSE, "truncate": True}).status_code == 200
    r = post(server, "/embed", {"inputs": ["x"], "model": "splade"})
    assert r.status_code == 422 and "dense" in r.json()["error"]


def test_tei_embed_sparse(server, tiny_splade_artifact):
    model = Tessera(tiny_splade_artifact)
    r = post(server, "/embed_sparse", {"inputs": ["a sentence", "other words"]})
    assert r.status_code == 200
    for row, ref in zip(r.json(), model.encode(["a sentence", "other words"]), strict=True):
        assert [x["index"] for x in row] == ref.indices.tolist()
        assert np.abs(np.array([x["value"] for x in row]) - ref.values).max() <= TOL


def test_tei_embed_all_colbert(server, tiny_colbert_pylate_artifact):
    model = Tessera(tiny_colbert_pylate_artifact)
    r = post(server, "/embed_all", {"inputs": ["a document here"]})
    assert r.status_code == 200
    got = np.array(r.json()[0])
    ref = model.encode_documents(["a document here"])[0]
    assert got.shape == ref.shape and np.abs(got - ref).max() <= TOL
    q = post(server, "/embed_all", {"inputs": ["query"], "is_query": True}).json()[0]
    assert np.abs(np.array(q) - model.encode_queries(["query"])[0]).max() <= TOL


def test_tei_rerank_maxsim_and_cosine(server, tiny_colbert_pylate_artifact, dense):
    colbert = Tessera(tiny_colbert_pylate_artifact)
    texts = ["first candidate", "second one here", "third"]
    r = post(server, "/rerank", {"query": "a query", "texts": texts, "model": "colbert", "return_text": True})
    assert r.status_code == 200
    ref = colbert.similarity(["a query"], texts)[0]
    ranked = r.json()
    assert [x["index"] for x in ranked] == np.argsort(-ref, kind="stable").tolist()
    for x in ranked:
        assert abs(x["score"] - ref[x["index"]]) <= 1e-5 and x["text"] == texts[x["index"]]
    r = post(
        server,
        "/rerank",
        {"query": "How do plants make food?", "texts": ["Photosynthesis.", "Stocks fell."], "model": DENSE},
    )
    cos = dense.similarity(["How do plants make food?"], ["Photosynthesis.", "Stocks fell."])[0]
    assert r.json()[0]["index"] == 0 and abs(r.json()[0]["score"] - cos[0]) <= 1e-5
    assert post(server, "/rerank", {"query": "q", "texts": [], "model": DENSE}).status_code == 422
    assert post(server, "/rerank", {"texts": ["a"], "model": DENSE}).status_code == 422


def test_forecast_route(server, ttm_artifact):
    model = Tessera(ttm_artifact)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=80).astype(np.float32), rng.normal(size=50).astype(np.float32)
    r = post(server, "/forecast", {"series": [a.tolist(), b.tolist()], "horizon": 8})
    assert r.status_code == 200, r.text
    out = r.json()["forecasts"]
    assert np.abs(np.array(out[0]) - model.forecast(a, horizon=8)).max() <= 1e-5
    assert np.abs(np.array(out[1]) - model.forecast(b, horizon=8)).max() <= 1e-5
    assert post(server, "/forecast", {"series": [["x"]]}).status_code == 422
    assert post(server, "/forecast", {"series": [[1.0, 2.0]], "model": DENSE}).status_code == 422


# ----------------------------------------------------------------------------- operations


def _metric(server, name, model, headers=None):
    text = httpx.get(server.url + "/metrics", headers=headers).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'model="{model}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_health_and_metrics(server):
    h = httpx.get(server.url + "/health")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    post(server, "/embed", {"inputs": ["metrics please"], "model": DENSE})
    text = httpx.get(server.url + "/metrics").text
    for name in (
        "tessera_requests_total",
        "tessera_request_seconds_bucket",
        "tessera_batch_size_bucket",
        "tessera_queue_items",
        "tessera_queue_tokens",
        "tessera_tokens_total",
        "tessera_tokens_per_second",
        "tessera_model_loaded",
    ):
        assert name in text, name
    assert _metric(server, "tessera_requests_total", DENSE) >= 1
    assert _metric(server, "tessera_tokens_total", DENSE) > 0


# ----------------------------------------------------------------------------- limits and auth


def test_api_key(strict):
    auth = {"Authorization": "Bearer sekret"}
    assert httpx.get(strict.url + "/health").status_code == 401  # behind the key too
    assert httpx.get(strict.url + "/health", headers=auth).status_code == 200
    r = post(strict, "/v1/embeddings", {"model": "tiny", "input": "x"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(strict.url + "/metrics").status_code == 401
    with pytest.raises(openai.AuthenticationError):
        client(strict, key="wrong").embeddings.create(model="tiny", input="x")
    assert client(strict, key="sekret").embeddings.create(model="tiny", input="x").data
    assert post(strict, "/embed", {"inputs": "x"}, headers=auth).status_code == 200


def test_limits_413(strict):
    auth = {"Authorization": "Bearer sekret"}
    r = post(strict, "/v1/embeddings", {"model": "tiny", "input": ["x" * 3000]}, headers=auth)
    assert r.status_code == 413 and "body" in r.json()["error"]["message"]
    chunked = httpx.post(
        strict.url + "/embed", content=iter([b'{"inputs": "', b"y" * 3000, b'"}']), headers=auth, timeout=30
    )
    assert chunked.status_code == 413  # no Content-Length: counted while reading
    r = post(strict, "/v1/embeddings", {"model": "tiny", "input": ["a"] * 5}, headers=auth)
    assert r.status_code == 413 and "limit is 4" in r.json()["error"]["message"]
    r = post(strict, "/v1/embeddings", {"model": "tiny", "input": ["word " * 40, "more"]}, headers=auth)
    assert r.status_code == 413 and "tokens" in r.json()["error"]["message"]


def test_queue_full_gives_429_with_retry_after(strict):
    """Batches of 16 padded tokens wait 200 ms for company; a queue of 48 tokens overflows fast."""
    auth = {"Authorization": "Bearer sekret"}

    async def main():
        async with httpx.AsyncClient(base_url=strict.url, headers=auth, timeout=60) as c:
            body = {"model": "tiny", "input": ["several words in this one input"]}
            return await asyncio.gather(*(c.post("/v1/embeddings", json=body) for _ in range(16)))

    responses = asyncio.run(main())
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429} and 429 in codes and 200 in codes
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert (
        refused.json()["error"]["type"] == "rate_limit_error"
        and "retry" in refused.json()["error"]["message"]
    )
    assert httpx.get(strict.url + "/health", headers=auth).status_code == 200  # still serving


def test_disconnected_client_is_dropped_before_running(strict):
    """A client that hangs up while its input waits for a batch: the input never runs."""
    auth = {"Authorization": "Bearer sekret"}
    before = _metric(strict, "tessera_dropped_inputs", "tiny", auth)

    async def main():
        async with httpx.AsyncClient(base_url=strict.url, headers=auth, timeout=60) as c:
            task = asyncio.ensure_future(c.post("/v1/embeddings", json={"model": "tiny", "input": ["bye"]}))
            await asyncio.sleep(0.08)  # queued: the batch window is 200 ms
            task.cancel()  # httpx closes the connection
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    deadline = time.time() + 5
    while _metric(strict, "tessera_dropped_inputs", "tiny", auth) <= before and time.time() < deadline:
        time.sleep(0.1)
    assert _metric(strict, "tessera_dropped_inputs", "tiny", auth) == before + 1
