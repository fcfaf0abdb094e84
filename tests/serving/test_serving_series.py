"""Time series served as embeddings: ``/v1/embeddings`` with ``"modality": "series"`` over a real
uvicorn server, called with the openai client and httpx.

Vectors are compared with the library's own ``TesseraTimeSeries.encode`` of the same series in
one batch (exact: max abs diff 0), and per series (1e-6: another batch composition may round
differently). Bad series (empty, ragged rows, NaN/Infinity literals, strings, booleans, a channel
with no values, the wrong paradigm) get 422, never a 500.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from http_server import Server  # noqa: E402

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.errors import InvalidInputError  # noqa: E402
from tessera_onnx.serving import Engine, EngineLimits, ModelConfig, create_app  # noqa: E402

TOL = 1e-6
DENSE = "tiny-bert-dense"


@pytest.fixture(scope="module")
def ttm_paths():
    from ts_fixtures import tiny_artifact

    return tiny_artifact("plain"), tiny_artifact("freq")


@pytest.fixture(scope="module")
def server(ttm_paths, tiny_bert_dense_artifact):
    plain, freq = ttm_paths
    models = [
        ModelConfig(plain, name="ttm", preload=True),
        ModelConfig(freq, name="ttm-freq"),
        ModelConfig(tiny_bert_dense_artifact, options={"threads": 1}),
    ]
    srv = Server(create_app(Engine(models, limits=EngineLimits(batch_window_ms=0))))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def models(ttm_paths):
    return Tessera(ttm_paths[0]), Tessera(ttm_paths[1])


def _series(seed: int, n: int, channels: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n,) if channels is None else (n, channels)
    return (np.cumsum(rng.normal(size=shape), axis=0) + 5).astype(np.float32)


def _post(srv, body, route="/v1/embeddings"):
    return httpx.post(srv.url + route, json=body, timeout=60)


def _vectors(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)


def test_openai_client_series_equal_encode_exactly(server, models):
    """A batch of 1-D series of different lengths (shorter and longer than the context of 64)."""
    series = [_series(1, 80), _series(2, 40), _series(3, 64)]
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    for fmt in ("float", "base64"):
        got = client.embeddings.create(
            model="ttm",
            input=[s.tolist() for s in series],
            encoding_format=fmt,
            extra_body={"modality": "series"},
        )
        rows = [d.embedding for d in got.data]
        if fmt == "base64":  # the SDK hands an explicitly asked-for base64 through as it came
            rows = [np.frombuffer(base64.b64decode(r), dtype="<f4") for r in rows]
        vectors = np.array(rows, dtype=np.float32)
        expected = models[0].encode(series)
        assert vectors.shape == (3, models[0].dimension)
        assert np.array_equal(vectors, expected), np.abs(vectors - expected).max()
        assert got.usage.prompt_tokens == 64 + 40 + 64  # time steps read (at most the context)


def test_single_flat_series_and_multichannel_series(server, models):
    one = _series(4, 70)
    r = _post(server, {"model": "ttm", "modality": "series", "input": one.tolist()})
    got = _vectors(r)
    assert got.shape == (1, models[0].dimension)
    assert np.abs(got[0] - models[0].encode(one)).max() <= TOL
    # [L, C] rows next to a 1-D series: each matches its own encode
    multi = _series(5, 50, channels=3)
    r = _post(server, {"model": "ttm", "modality": "series", "input": [multi.tolist(), one.tolist()]})
    got = _vectors(r)
    assert np.abs(got[0] - models[0].encode(multi)).max() <= TOL
    assert np.abs(got[1] - models[0].encode(one)).max() <= TOL


def test_null_is_a_missing_step_as_nan_in_process(server, models):
    s = _series(6, 60)
    s[[3, 10, 11]] = np.nan
    wire = [None if np.isnan(v) else float(v) for v in s]
    got = _vectors(_post(server, {"model": "ttm", "modality": "series", "input": [wire]}))
    assert np.abs(got[0] - models[0].encode(s)).max() <= TOL


def test_frequency_token_model_takes_freq(server, models):
    s = _series(7, 64)
    r = _post(server, {"model": "ttm-freq", "modality": "series", "input": [s.tolist()], "freq": "H"})
    assert np.abs(_vectors(r)[0] - models[1].encode(s, freq="H")).max() <= TOL
    missing = _post(server, {"model": "ttm-freq", "modality": "series", "input": [s.tolist()]})
    assert missing.status_code == 422 and "freq" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    ("raw_input", "says"),
    [
        ("[]", "non-empty list"),
        ("[[]]", "non-empty list"),
        ("[[1.0, 2.0], []]", "non-empty list"),  # an empty series next to a good one
        ('[[1.0, "x", 3.0]]', "numbers only"),
        ('"1, 2, 3"', "a list of numbers"),
        ("[[1.0, true, 3.0]]", "numbers only"),
        ('[[1.0, {"v": 2}]]', "numbers only"),
        ("[[1.0, NaN, 3.0]]", "null for a missing step"),
        ("[[1.0, Infinity]]", "null for a missing step"),
        ("[[[1.0, 2.0], [3.0]]]", "same number of channels"),  # ragged [L, C] rows
        ("[[[1.0, 2.0], 3.0]]", "numbers only"),
        ("[[null, null, null]]", "no values"),
        ("[[[[1.0]]]]", "numbers only"),  # 3-D item
    ],
)
def test_bad_series_get_422_with_reason(server, raw_input, says):
    body = '{"model": "ttm", "modality": "series", "input": ' + raw_input + "}"
    r = httpx.post(
        server.url + "/v1/embeddings", content=body, headers={"content-type": "application/json"}, timeout=30
    )
    assert r.status_code == 422, (raw_input, r.status_code, r.text)
    error = r.json()["error"]
    assert error["code"] == "invalid_input" and says in error["message"], error


def test_bad_series_in_a_batch_fails_only_its_own_request(server, models):
    """A request with an unusable series is refused before batching: others are unaffected."""
    import concurrent.futures as cf

    good = _series(8, 64)
    bodies = [
        {"model": "ttm", "modality": "series", "input": [good.tolist()]},
        {"model": "ttm", "modality": "series", "input": [[None] * 64]},
    ] * 4
    with cf.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda b: _post(server, b), bodies))
    assert [r.status_code for r in responses] == [200, 422] * 4
    for r in responses[::2]:
        assert np.abs(_vectors(r)[0] - models[0].encode(good)).max() <= TOL


def test_wrong_paradigm_and_fields(server):
    s = _series(9, 32).tolist()
    # series to a text model, text to a series model
    r = _post(server, {"model": DENSE, "modality": "series", "input": [s]})
    assert r.status_code == 422 and "timeseries" in r.json()["error"]["message"]
    r = _post(server, {"model": "ttm", "input": "some text"})
    assert r.status_code == 422 and "dense" in r.json()["error"]["message"]
    r = _post(server, {"model": "ttm", "modality": "series", "input": [s], "dimensions": 8})
    assert r.status_code == 422 and "dimensions" in r.json()["error"]["message"]
    r = _post(server, {"model": "ttm", "modality": "series", "input": [s], "freq": 3})
    assert r.status_code == 422
    r = _post(server, {"model": "ttm", "modality": "audio", "input": [s]})
    assert r.status_code == 422 and "series" in r.json()["error"]["message"]


def test_forecast_route_uses_the_same_series_checks(server, models):
    s = _series(10, 64)
    r = _post(server, {"model": "ttm", "series": s.tolist(), "horizon": 4}, route="/forecast")
    assert r.status_code == 200, r.text  # one flat series
    assert np.abs(np.array(r.json()["forecasts"][0]) - models[0].forecast(s, horizon=4)).max() <= 1e-5
    body = '{"model": "ttm", "series": [[1.0, NaN]]}'
    r = httpx.post(server.url + "/forecast", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "null" in r.json()["error"]
    assert json.loads(_post(server, {"model": "ttm", "series": [[[1, 2], [3]]]}, "/forecast").text)["error"]


def test_engine_embed_series_in_process_takes_numpy(ttm_paths, models):
    """The library call behind the route: numpy series (NaN = missing, as in the library)."""
    from tessera_onnx.serving import SyncEngine

    a, b = _series(11, 64), _series(12, 30, channels=2)
    a[5] = np.nan
    with SyncEngine(Engine([ModelConfig(ttm_paths[0], name="ttm")])) as engine:
        out = engine.embed_series("ttm", [a, b])
        assert out.data.shape == (2, models[0].dimension) and out.tokens == [64, 30]
        assert np.abs(out.data[0] - models[0].encode(a)).max() <= TOL
        assert np.abs(out.data[1] - models[0].encode(b)).max() <= TOL
        one = engine.embed_series("ttm", a)  # one 1-D array: one vector
        assert one.data.shape == (models[0].dimension,)
        with pytest.raises(InvalidInputError, match="no values"):
            engine.embed_series("ttm", [np.full(10, np.nan)])
