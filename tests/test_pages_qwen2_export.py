"""ColQwen2 / ColQwen2.5 graphs in onnxruntime vs transformers' ``ColQwen2ForRetrieval`` (tiny random models).

The reference path is fully transformers: ``ColQwen2Processor`` prepares the pages (padded
``pixel_values`` + ``image_grid_thw``) and the queries, ``ColQwen2ForRetrieval`` embeds them.
Ours: the runtime family prepares each page, ``vision.onnx`` runs once per page (one graph,
every resolution), ``language.onnx`` runs the mixed-size page batch and the query batch.
Tolerances (issue #12): kept vectors within 1e-4, MaxSim scores within 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
ort = pytest.importorskip("onnxruntime")

from tiny_qwen2_models import reference_processor, write_tiny_colqwen2  # noqa: E402
from tiny_vision_models import real_image_paths  # noqa: E402

from tessera_onnx.ops.maxsim import maxsim_scores  # noqa: E402
from tessera_onnx.pages.qwen2_vl import Qwen2VLFamily  # noqa: E402
from tessera_onnx.pages.tokens import PromptTokenizer, pad_ids  # noqa: E402

VECTOR_TOL = 1e-4
SCORE_TOL = 1e-3
QUERIES = ["What is the revenue in 2023?", "a cat on a sofa", "rocket launch"]


def _pages():
    from PIL import Image

    paths = real_image_paths()
    names = ["skimage/astronaut.png", "skimage/page.png", "sklearn/china.jpg", "skimage/rocket.jpg"]
    names = [n for n in names if n in paths]
    if len(names) < 2:
        pytest.skip("needs the images bundled by scikit-image / scikit-learn")
    out = []
    for n in names:
        with Image.open(paths[n]) as im:
            out.append(im.convert("RGB"))
    out.append(out[0].crop((0, 0, 90, 400)))  # a tall strip: a very different grid
    return out


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def exported(request, tmp_path_factory):
    from tessera_export.onnx_export import export_graph
    from tessera_export.pages_qwen2_graphs import TextGraph, VisionGraph
    from tessera_export.pages_qwen2vl import load_colqwen2, plan_axes, qwen2_pages_config
    from transformers import AutoTokenizer

    family = request.param
    root = tmp_path_factory.mktemp(f"colqwen2_{family}")
    ckpt = write_tiny_colqwen2(root / "ckpt", family)
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    tok.backend_tokenizer.save(str(root / "tokenizer.json"))
    model = load_colqwen2(ckpt)
    cfg = qwen2_pages_config(ckpt, model, tok)
    fam = Qwen2VLFamily(cfg, PromptTokenizer(root / "tokenizer.json"))
    pages = [fam.prepare_page(im, i, f"p{i}", None) for i, im in enumerate(_pages())]
    vision_axes, language_axes = plan_axes(cfg)
    vision_path, language_path = root / "vision.onnx", root / "language.onnx"
    export_graph(
        VisionGraph(model),
        pages[0].vision_feeds,
        cfg.vision_inputs,
        "image_features",
        vision_path,
        dynamic_axes=vision_axes,
    )
    q_ids, q_mask = pad_ids([fam.query_ids(q) for q in QUERIES], cfg.pad_token_id, "left")
    example = {
        "input_ids": q_ids,
        "attention_mask": q_mask,
        "image_features": np.zeros((2, cfg.hidden_size), np.float32),
        **fam.language_extra_feeds(q_ids, q_mask, None),
    }
    export_graph(
        TextGraph(model),
        example,
        cfg.language_inputs,
        "embeddings",
        language_path,
        dynamic_axes=language_axes,
    )
    return {
        "model": model,
        "tok": tok,
        "family": fam,
        "pages": pages,
        "vision": vision_path,
        "language": language_path,
    }


def _session(path):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _ours(ex):
    fam, cfg, pages = ex["family"], ex["family"].config, ex["pages"]
    vision, language = _session(ex["vision"]), _session(ex["language"])
    feats = np.concatenate([vision.run(None, dict(f))[0] for f in fam.vision_calls(pages, 4)])
    assert feats.shape == (sum(p.grid.image_tokens for p in pages), cfg.hidden_size)
    ids, mask = pad_ids([p.input_ids for p in pages], cfg.pad_token_id, "left")
    feeds = {"input_ids": ids, "attention_mask": mask, "image_features": feats}
    docs = language.run(None, {**feeds, **fam.language_extra_feeds(ids, mask, pages)})[0]
    q_ids, q_mask = pad_ids([fam.query_ids(q) for q in QUERIES], cfg.pad_token_id, "left")
    empty = np.zeros((0, cfg.hidden_size), np.float32)
    q_feeds = {"input_ids": q_ids, "attention_mask": q_mask, "image_features": empty}
    queries = language.run(None, {**q_feeds, **fam.language_extra_feeds(q_ids, q_mask, None)})[0]
    return docs, mask, queries, q_mask


def _reference(ex):
    proc = reference_processor(ex["tok"])
    images = _pages()
    with torch.inference_mode():
        d = proc.process_images(images)
        docs = ex["model"](**d).embeddings.numpy()
        q = proc.process_queries(QUERIES)
        queries = ex["model"](**q).embeddings.numpy()
    return docs, d["attention_mask"].numpy(), queries, q["attention_mask"].numpy()


def _kept(out, mask):
    return [row[m > 0] for row, m in zip(out, mask, strict=True)]


def test_pages_and_queries_match_colqwen2_for_retrieval(exported):
    # one vision graph, several resolutions: the pages have different patch grids
    assert len({tuple(p.grid.extra["grid_thw"]) for p in exported["pages"]}) >= 3
    docs, mask, queries, q_mask = _ours(exported)
    ref_docs, ref_mask, ref_queries, ref_q_mask = _reference(exported)
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_array_equal(q_mask, ref_q_mask)
    assert docs.shape == ref_docs.shape and queries.shape == ref_queries.shape
    assert float(np.abs(docs - ref_docs).max()) <= VECTOR_TOL
    assert float(np.abs(queries - ref_queries).max()) <= VECTOR_TOL
    # padded rows are zero, kept rows unit length (no eps in the norm, none needed)
    assert not docs[mask == 0].any()
    np.testing.assert_allclose(np.linalg.norm(docs[mask > 0], axis=-1), 1.0, atol=1e-5)
    ours = maxsim_scores(_kept(queries, q_mask), _kept(docs, mask))
    ref = maxsim_scores(_kept(ref_queries, ref_q_mask), _kept(ref_docs, ref_mask))
    assert ours.shape == (len(QUERIES), len(exported["pages"]))
    assert float(np.abs(ours - ref).max()) <= SCORE_TOL
    # the reference's own scorer agrees with ours on its vectors
    proc = reference_processor(exported["tok"])
    torch_scores = proc.score_retrieval(
        [torch.from_numpy(q) for q in _kept(ref_queries, ref_q_mask)],
        [torch.from_numpy(d) for d in _kept(ref_docs, ref_mask)],
    ).numpy()
    assert float(np.abs(torch_scores - ref).max()) <= SCORE_TOL
