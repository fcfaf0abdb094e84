"""Every paradigm over HTTP: image and image–text embeddings (SigLIP), page embeddings, page
queries and page search (ColIdefics3), compared with the library's own calls; bad images and
decompression bombs get 4xx with the decoder's reason.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
Image = pytest.importorskip("PIL.Image")

from http_server import Server  # noqa: E402

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.serving import Engine, EngineLimits, ModelConfig, create_app  # noqa: E402

TOL = 1e-5


def _png(seed: int, size=(40, 32)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def vision_server(tiny_siglip_artifact):
    engine = Engine(
        [ModelConfig(tiny_siglip_artifact, name="siglip", preload=True, options={"threads": 1})],
        limits=EngineLimits(batch_window_ms=5, max_image_pixels=100_000),
    )
    srv = Server(create_app(engine))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def siglip(tiny_siglip_artifact):
    return Tessera(tiny_siglip_artifact, threads=1)


def _embed(srv, body):
    return httpx.post(srv.url + "/v1/embeddings", json={"model": "siglip", **body}, timeout=120)


def test_images_with_modality_image_match_encode_images(vision_server, siglip):
    images = [_png(1), _png(2, (64, 48))]
    r = _embed(
        vision_server,
        {"input": [_data_url(images[0]), base64.b64encode(images[1]).decode()], "modality": "image"},
    )
    assert r.status_code == 200, r.text
    got = np.array([d["embedding"] for d in r.json()["data"]])
    assert np.abs(got - siglip.encode_images(images)).max() <= TOL


def test_mixed_text_and_image_items_in_one_request(vision_server, siglip):
    image = _png(3)
    items = [
        {"type": "text", "text": "a photo of a cat"},
        {"type": "image_url", "image_url": {"url": _data_url(image)}},
        {"image": _data_url(image)},
        "plain text item",
    ]
    r = _embed(vision_server, {"input": items, "encoding_format": "base64"})
    assert r.status_code == 200, r.text
    got = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in r.json()["data"]])
    assert np.abs(got[0] - siglip.encode_texts("a photo of a cat")).max() <= TOL
    assert np.abs(got[1] - siglip.encode_images(image)).max() <= TOL
    assert np.abs(got[2] - got[1]).max() == 0
    assert np.abs(got[3] - siglip.encode_texts("plain text item")).max() <= TOL
    text_only = _embed(vision_server, {"input": ["a photo of a cat"]}).json()["data"][0]["embedding"]
    assert np.abs(np.array(text_only) - got[0]).max() <= TOL


@pytest.mark.parametrize(
    "item, status, needle",
    [
        (base64.b64encode(b"definitely not an image").decode(), 422, "not an image Pillow can read"),
        (base64.b64encode(_png(4)[:60]).decode(), 422, "truncated or corrupt"),
        ("%%%not-base64%%%", 422, "not valid base64"),
        ("https://example.com/cat.png", 422, "does not fetch"),
        ("/etc/passwd", 422, "does not fetch"),
        (_data_url(_png(5, (400, 300))), 422, "decompression-bomb guard"),  # 120,000 px > the 100,000 cap
    ],
)
def test_bad_images_are_4xx_with_the_reason(vision_server, item, status, needle):
    r = _embed(vision_server, {"input": [item], "modality": "image"})
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]


def test_a_bomb_is_refused_before_decoding(vision_server, monkeypatch):
    """A 6000 x 6000 PNG of zeros is 36 kB on the wire; it must be refused from its header."""
    buf = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buf, format="PNG")
    loads = []
    real = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self, *a: loads.append(self.size) or real(self, *a))
    r = _embed(vision_server, {"input": [_data_url(buf.getvalue())], "modality": "image"})
    assert r.status_code == 422 and "36000000 pixels" in r.json()["error"]["message"]
    assert (6000, 6000) not in loads


def test_modality_is_validated(vision_server):
    r = _embed(vision_server, {"input": ["x"], "modality": "audio"})
    assert r.status_code == 422 and "modality" in r.json()["error"]["message"]


def test_images_to_a_text_model_name_the_paradigm_needed(vision_server, tiny_bert_dense_artifact):
    engine = Engine([ModelConfig(tiny_bert_dense_artifact, name="tiny")])
    srv = Server(create_app(engine))
    try:
        r = httpx.post(
            srv.url + "/v1/embeddings",
            json={"model": "tiny", "input": [_data_url(_png(6))], "modality": "image"},
            timeout=60,
        )
        assert r.status_code == 422 and "paradigm vision" not in r.text  # siglip is not served there
        assert "dense model, which image input does not serve" in r.json()["error"]["message"]
    finally:
        srv.stop()


# ----------------------------------------------------------------------------- pages


@pytest.fixture(scope="module")
def pages_server(colidefics3_artifact):
    engine = Engine(
        [ModelConfig(colidefics3_artifact, name="pages", preload=True, options={"threads": 1})],
        limits=EngineLimits(batch_window_ms=5),
    )
    srv = Server(create_app(engine))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pages_model(colidefics3_artifact):
    from tessera_onnx.pages.embedder import TesseraPages

    return TesseraPages(colidefics3_artifact, threads=1, workers=1)


def test_page_embeddings_queries_and_search(pages_server, pages_model):
    pages = [_png(10, (80, 100)), _png(11, (90, 70))]
    urls = [_data_url(p) for p in pages]
    r = httpx.post(pages_server.url + "/pages/embed", json={"images": urls}, timeout=300)
    assert r.status_code == 200, r.text
    ref = pages_model.encode_images(pages)
    for row, want in zip(r.json()["data"], ref, strict=True):
        assert np.abs(np.array(row["embedding"]) - want).max() <= TOL
    b64 = httpx.post(
        pages_server.url + "/pages/embed", json={"images": urls[:1], "encoding_format": "base64"}, timeout=300
    ).json()["data"][0]["embedding"]
    vec = np.frombuffer(base64.b64decode(b64["data"]), "<f4").reshape(b64["shape"])
    assert np.abs(vec - ref[0]).max() <= TOL

    queries = ["total revenue in 2023", "a table of results"]
    q = httpx.post(pages_server.url + "/pages/queries", json={"input": queries}, timeout=300).json()
    qref = pages_model.encode_queries(queries)
    for row, want in zip(q["data"], qref, strict=True):
        assert np.abs(np.array(row["embedding"]) - want).max() <= TOL

    s = httpx.post(
        pages_server.url + "/pages/search", json={"query": queries, "images": urls, "k": 2}, timeout=300
    )
    assert s.status_code == 200, s.text
    scores = pages_model.similarity(qref, ref)
    for hits, row in zip(s.json()["results"], scores, strict=True):
        assert [h["index"] for h in hits] == list(np.argsort(-row, kind="stable"))
        assert np.abs(np.array([h["score"] for h in hits]) - np.sort(row)[::-1]).max() <= 1e-4
    one = httpx.post(
        pages_server.url + "/pages/search", json={"query": queries[0], "images": urls, "k": 1}, timeout=300
    ).json()["results"]
    assert len(one) == 1 and one[0]["index"] == int(np.argmax(scores[0]))


def test_pages_bad_input_is_4xx(pages_server):
    r = httpx.post(pages_server.url + "/pages/embed", json={"images": []}, timeout=60)
    assert r.status_code == 422 and "empty list" in r.json()["error"]["message"]
    bad = base64.b64encode(b"nope").decode()
    r = httpx.post(pages_server.url + "/pages/embed", json={"images": [bad]}, timeout=60)
    assert r.status_code == 422 and "not an image" in r.json()["error"]["message"]
    r = httpx.post(
        pages_server.url + "/pages/search", json={"query": "x", "images": [bad], "k": 0}, timeout=60
    )
    assert r.status_code == 422
