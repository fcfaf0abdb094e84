"""ColPali (PaliGemma) pages and queries: preprocessing and vectors vs transformers' ColPali.

Reference: transformers-native ``ColPaliProcessor`` (slow ``SiglipImageProcessor``, PIL) and
``ColPaliForRetrieval`` (4.57), torch fp32, on a tiny random-initialised checkpoint.
Tolerances: pixels within 1e-6, ids identical, vectors within 1e-4, MaxSim scores within 1e-3.
The other query templates the manifest can pin (colpali-engine revisions) are checked as strings.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")

from tiny_page_models import colpali_processor, rendered_page, write_pdf, write_tiny_colpali  # noqa: E402

from tessera_onnx import Tessera, TesseraPages  # noqa: E402
from tessera_onnx.errors import InvalidInputError  # noqa: E402

VEC_TOL = 1e-4
SCORE_TOL = 1e-3
PIXEL_TOL = 1e-6
# the last query holds the literal image token: with no pixels it keeps its token embedding
QUERIES = [
    "What is the capital of France?",
    "revenue",
    "a red box on the first page of the report",
    "see <image> here",
]


@pytest.fixture(scope="session")
def colpali_dir(export_cache):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return export_cache.get("tiny-colpali-ckpt", write_tiny_colpali)


@pytest.fixture(scope="session")
def colpali_artifact(export_cache, colpali_dir):
    from tessera_export import build_artifact

    return export_cache.get(
        "tiny-colpali", lambda out: build_artifact(colpali_dir, out, model_id="tiny-colpali")
    )


@pytest.fixture(scope="module")
def model(colpali_artifact):
    return Tessera(colpali_artifact, threads=1, workers=2)


@pytest.fixture(scope="module")
def reference(colpali_dir):
    import torch
    from transformers import AutoTokenizer, ColPaliForRetrieval

    ref = ColPaliForRetrieval.from_pretrained(
        str(colpali_dir), attn_implementation="eager", dtype=torch.float32
    )
    return ref.eval(), colpali_processor(AutoTokenizer.from_pretrained(str(colpali_dir)))


def _pages(tmp_path):
    from PIL import Image
    from tiny_vision_models import real_image_paths

    pages = [rendered_page(612, 792, 0), rendered_page(900, 250, 1), rendered_page(40, 60, 2)]
    pages += [
        Image.open(p)
        for k, p in real_image_paths().items()
        if k in ("skimage/logo.png", "skimage/camera.png")
    ]
    pytest.importorskip("pypdfium2")
    from tessera_onnx.pages.pdf import render_pdf

    pages += [im for _, im in render_pdf(write_pdf(tmp_path / "d.pdf", [(595, 842)]), 0, dpi=72)]
    return pages


def _run(reference, **inputs):
    import torch

    ref, proc = reference
    enc = proc(**inputs, return_tensors="pt")
    with torch.no_grad():
        out = ref(**enc).embeddings.numpy()
    mask = enc["attention_mask"].numpy().astype(bool)
    return enc, [out[i][mask[i]] for i in range(len(out))]


def test_manifest_pins_hf_semantics(model):
    cfg = model.config
    assert isinstance(model, TesseraPages) and cfg.family == "paligemma"
    assert cfg.colpali_engine == "hf" and cfg.padding_side == "right" and not cfg.add_special_tokens
    assert cfg.query_template == "<bos>Question: {query}" + "<pad>" * 10 + "\n"
    assert cfg.document_prompt == "<image><bos>Describe the image.\n"
    assert cfg.query_attention == "bidirectional"
    with pytest.raises(InvalidInputError, match="fixed 56 px"):
        TesseraPages(model.path, image_size=112)


def test_preprocessing_matches_colpali_processor(model, reference, tmp_path):
    pages = _pages(tmp_path)
    enc, _ = _run(reference, images=pages)
    for i, page in enumerate(pages):
        prepared = model.family.prepare_page(page, i, f"p{i}", None)
        px = prepared.vision_feeds["pixel_values"][0]
        assert float(np.abs(px - enc["pixel_values"][i].numpy()).max()) <= PIXEL_TOL
        row = enc["input_ids"][i][enc["attention_mask"][i].bool()].numpy()
        np.testing.assert_array_equal(prepared.input_ids, row)
    q_enc, _ = _run(reference, text=QUERIES)
    for i, q in enumerate(QUERIES):
        np.testing.assert_array_equal(
            model.family.query_ids(q), q_enc["input_ids"][i][q_enc["attention_mask"][i].bool()].numpy()
        )


def test_vectors_and_scores_match_colpali_for_retrieval(model, reference, tmp_path):
    pages = _pages(tmp_path)
    ours_pages = model.encode_images(pages)
    _, ref_pages = _run(reference, images=pages)
    ours_q = model.encode_queries(QUERIES)
    _, ref_q = _run(reference, text=QUERIES)
    for a, b in zip(ours_pages + ours_q, ref_pages + ref_q, strict=True):
        assert a.shape == b.shape
        assert float(np.abs(a - b).max()) <= VEC_TOL
    expected = np.array([[np.einsum("nd,sd->ns", q, d).max(axis=1).sum() for d in ref_pages] for q in ref_q])
    assert float(np.abs(model.similarity(ours_q, ours_pages) - expected).max()) <= SCORE_TOL


def test_queries_alone_never_load_the_vision_graph(colpali_artifact):
    fresh = TesseraPages(colpali_artifact, threads=1)
    fresh.encode_queries(QUERIES)
    assert not fresh.vision_loaded


def test_colpali_engine_query_templates():
    from tessera_export.pages.paligemma import COLPALI_DOCUMENT_SEMANTICS, COLPALI_QUERY_TEMPLATES

    rendered = {
        k: t.format(bos="<bos>", pads="<pad>" * 10).format(query="q")
        for k, (t, _) in COLPALI_QUERY_TEMPLATES.items()
    }
    assert rendered["hf"] == "<bos>Question: q" + "<pad>" * 10 + "\n"
    assert rendered[">=0.3.13"] == "<bos>q" + "<pad>" * 10
    assert rendered["0.3.4-0.3.10"] == "<bos>Query: q" + "<pad>" * 10 + "\n"
    assert COLPALI_QUERY_TEMPLATES["0.3.4-0.3.10"][1] == 50
    # colpali-engine's document prompt: its visual prefix "<image><bos>…" after PaliGemmaProcessor's <bos>
    prompts = {k: p.format(bos="<bos>") for k, (p, _) in COLPALI_DOCUMENT_SEMANTICS.items()}
    assert prompts["hf"] == "<image><bos>Describe the image.\n"
    assert prompts[">=0.3.13"] == prompts["0.3.4-0.3.10"] == "<image><bos><bos>Describe the image.\n"
    assert COLPALI_DOCUMENT_SEMANTICS[">=0.3.13"][1] == "causal"
