"""ColQwen2 / ColQwen2.5 artifacts on onnxruntime vs transformers' ``ColQwen2ForRetrieval`` (tiny random models).

Each family is exported once with ``build_pages_artifact`` (which checks its own parity) and
loaded with ``Tessera(path)``. The reference path is fully transformers: ``ColQwen2Processor``
prepares the pages (padded ``pixel_values`` + ``image_grid_thw``) and the queries,
``ColQwen2ForRetrieval`` embeds them. Ours: ``encode_images`` (one vision-graph call per page:
one graph, every resolution) and ``encode_queries`` (language graph only).
Tolerances (issue #12): kept vectors within 1e-4, MaxSim scores within 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")

from tiny_qwen2_models import PREPROCESSOR, reference_processor, write_tiny_colqwen2  # noqa: E402
from tiny_vision_models import real_image_paths  # noqa: E402

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.errors import InvalidImageError, InvalidInputError  # noqa: E402
from tessera_onnx.ops.maxsim import maxsim_scores  # noqa: E402

VECTOR_TOL = 1e-4
SCORE_TOL = 1e-3
QUERIES = ["What is the revenue in 2023?", "a cat on a sofa", "rocket launch {braces}"]


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
def artifact(request, tmp_path_factory):
    from tessera_export.pages import build_pages_artifact
    from tessera_export.pages.qwen2vl import load_colqwen2
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp(f"colqwen2_{request.param}")
    ckpt = write_tiny_colqwen2(root / "ckpt", request.param)
    manifest = build_pages_artifact(ckpt, root / "artifact")
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    return {
        "path": root / "artifact",
        "manifest": manifest,
        "model": load_colqwen2(ckpt),
        "tok": tok,
        "family": request.param,
    }


def _reference(art, images):
    proc = reference_processor(art["tok"])
    with torch.inference_mode():
        d = proc.process_images(images)
        docs = art["model"](**d).embeddings.numpy()
        q = proc.process_queries(QUERIES)
        queries = art["model"](**q).embeddings.numpy()
    kept_docs = [row[m > 0] for row, m in zip(docs, d["attention_mask"].numpy(), strict=True)]
    kept_queries = [row[m > 0] for row, m in zip(queries, q["attention_mask"].numpy(), strict=True)]
    return kept_docs, kept_queries, proc


def test_manifest_pins_the_input_contract(artifact):
    m = artifact["manifest"]
    cfg = m.config["pages"]
    assert m.paradigm == "pages" and cfg["family"] == "qwen2_vl"
    assert cfg["padding_side"] == "left" and cfg["query_template"].startswith("Query: {query}")
    assert cfg["query_template"].endswith("<|endoftext|>" * 10)
    assert cfg["image"]["max_pixels"] == cfg["image_size"] == PREPROCESSOR["max_pixels"]
    assert cfg["image"]["window_size"] == (56 if artifact["family"] == "qwen2_5_vl" else 0)
    e2e = m.parity["end_to_end"]
    assert e2e["max_abs_diff_vectors"] <= VECTOR_TOL and e2e["max_abs_diff_scores"] <= SCORE_TOL


def test_pages_and_queries_match_colqwen2_for_retrieval(artifact):
    images = _pages()
    model = Tessera(artifact["path"])
    assert type(model).__name__ == "TesseraPages"
    queries = model.encode_queries(QUERIES)
    assert not model.vision_loaded  # queries never touch the vision graph
    docs = model.encode_images(images)
    ref_docs, ref_queries, proc = _reference(artifact, images)
    assert [d.shape for d in docs] == [r.shape for r in ref_docs]
    assert len({d.shape[0] for d in docs}) >= 3  # one vision graph served several grids
    assert max(float(np.abs(a - b).max()) for a, b in zip(docs, ref_docs, strict=True)) <= VECTOR_TOL
    assert max(float(np.abs(a - b).max()) for a, b in zip(queries, ref_queries, strict=True)) <= VECTOR_TOL
    for d in docs:
        np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-5)
    ours = model.similarity(queries, docs)
    ref = maxsim_scores(ref_queries, ref_docs)
    torch_scores = proc.score_retrieval(
        [torch.from_numpy(q) for q in ref_queries], [torch.from_numpy(d) for d in ref_docs]
    ).numpy()
    assert ours.shape == (len(QUERIES), len(images))
    assert float(np.abs(ours - ref).max()) <= SCORE_TOL
    assert float(np.abs(ours - torch_scores).max()) <= SCORE_TOL


def test_bad_pages_and_queries_raise_typed_errors(artifact):
    from PIL import Image

    model = Tessera(artifact["path"])
    with pytest.raises(InvalidImageError, match=r"pages\[0\].*aspect ratio"):
        model.encode_images(Image.new("RGB", (2050, 10)))
    with pytest.raises(InvalidImageError, match=r"pages\[0\].*under 10 px"):
        model.encode_images(Image.new("RGB", (9, 300)))
    with pytest.raises(InvalidInputError, match=r"queries\[1\] is empty"):
        model.encode_queries(["fine", " "])


def test_image_size_knob_changes_the_grid(artifact):
    page = _pages()[0]
    small = Tessera(artifact["path"], image_size=8 * 28 * 28)
    assert small.image_size == 8 * 784
    vec = small.encode_images(page)
    # at most 8 image tokens + the prompt's text tokens
    assert vec.shape[0] <= 8 + len(small.family.document_ids(small.family.compute_grid(28, 28)))
    with pytest.raises(InvalidInputError, match="min_pixels"):
        Tessera(artifact["path"], image_size=100)


_TORCH_FREE_PROBE = """
import json, sys
import numpy as np
import tessera_onnx
from tessera_onnx.pages.qwen2 import image_grid, mrope_position_ids, smart_resize
model = tessera_onnx.Tessera(sys.argv[1], threads=1)
q = model.encode_queries("a chart of revenue")
p = model.encode_images(np.full((120, 200, 3), 200, dtype=np.uint8))
assert q.shape[1] == p.shape[1]
heavy = ("torch", "transformers", "optimum", "onnx", "sentence_transformers", "torchvision")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_runtime_stays_torch_free(artifact):
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE_PROBE, str(artifact["path"])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_speed_benchmark_quick_mode(artifact, tmp_path):
    """benchmarks/pages_qwen2_speed.py --quick on the tiny artifact (no fresh-process RSS runs)."""
    import sys
    from pathlib import Path

    if artifact["family"] != "qwen2_vl":
        pytest.skip("the benchmark runs the ColQwen2 (Qwen2-VL) family")
    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks import pages_qwen2_speed

    work = tmp_path / "work"
    work.mkdir()
    (work / "ckpt-quick").symlink_to(artifact["path"].parent / "ckpt")
    (work / "art-quick").symlink_to(artifact["path"])
    out = tmp_path / "speed.json"
    res = pages_qwen2_speed.main(["--quick", "--no-rss", "--work", str(work), "--out", str(out)])
    assert out.is_file() and out.with_suffix(".md").is_file()
    assert res["min_cosine_page_vectors_vs_torch"]["tessera"] > 0.9999
    assert res["seconds_per_page"]["tessera"] > 0 and res["seconds_per_query"]["torch"] > 0
    assert res["load_average"]["start"] and res["machine"]["model"]


def test_pdf_pages_match_the_reference_on_the_rendered_images(artifact, tmp_path):
    """A generated PDF (pages of three sizes) through encode_images vs the reference on the same renders."""
    pytest.importorskip("pypdfium2")
    from tiny_page_models import write_pdf

    from tessera_onnx.pages.pdf import render_pdf

    pdf = write_pdf(tmp_path / "doc.pdf", [(300, 420), (420, 300), (200, 200)])
    model = Tessera(artifact["path"], pdf_dpi=100)
    ours = model.encode_images(str(pdf))
    rendered = [im for _, im in render_pdf(str(pdf), 0, dpi=100)]
    assert len(ours) == len(rendered) == 3
    ref_docs, _, _ = _reference(artifact, rendered)
    assert [d.shape for d in ours] == [r.shape for r in ref_docs]
    assert max(float(np.abs(a - b).max()) for a, b in zip(ours, ref_docs, strict=True)) <= VECTOR_TOL
    # the pixels of each rendered page equal the slow Qwen2VLImageProcessor's
    from tiny_qwen2_models import image_processor

    for image in rendered:
        page = model.family.prepare_page(image, 0, "pdf", None)
        ref = image_processor()(images=[image], return_tensors="np")["pixel_values"]
        if "restore_index" in page.vision_feeds:  # Qwen2.5-VL feeds are in window order
            restore = page.vision_feeds["restore_index"]
            patches = page.vision_feeds["patches"]
            patches = patches.reshape(len(restore), -1, patches.shape[-1])[restore].reshape(patches.shape)
        else:
            patches = page.vision_feeds["patches"]
        np.testing.assert_allclose(patches, ref, rtol=0, atol=1e-6)


def test_index_and_search_pages_of_different_lengths(artifact):
    """PageIndex over ColQwen2 pages (each its own token count): exhaustive search = MaxSim order."""
    model = Tessera(artifact["path"])
    images = _pages()
    index = model.index(images)
    hits = model.search(QUERIES[0], index, k=3)
    scores = model.similarity(model.encode_queries(QUERIES[0]), model.encode_images(images))[0]
    order = np.argsort(-scores, kind="stable")[:3]
    assert hits.indices.tolist() == order.tolist() and len(index) == len(images)
    np.testing.assert_allclose(hits.scores, scores[order], rtol=0, atol=1e-4)
