"""ColIdefics3 / ColSmol end to end: export, runtime vs the torch reference, inputs, bad input, search.

Reference: colpali-engine's ``ColIdefics3`` (``Idefics3Model`` + ``linear`` + ``x/‖x‖`` + ``× mask``),
written in ``tiny_page_models.colidefics3_reference`` on transformers' ``Idefics3Model``
(colpali-engine 0.3.18 needs transformers 5, the export stack pins < 4.58), fed by
transformers' ``Idefics3Processor`` exactly as ``ColIdefics3Processor`` does at colpali-engine
HEAD: pages as ``convert("RGB")`` images with the document prompt, queries as
``q + "<end_of_utterance>" * 10``, ``padding="longest"`` on the left.
Tolerances: vectors within 1e-4 (max abs), MaxSim scores within 1e-3.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PIL")

from tiny_page_models import (  # noqa: E402
    COLIDEFICS3_DOC_PROMPT,
    colidefics3_reference,
    idefics3_processor,
    rendered_page,
    write_pdf,
)

from tessera_onnx import PageIndex, Tessera, TesseraPages  # noqa: E402
from tessera_onnx.errors import InvalidDocumentError, InvalidImageError, InvalidInputError  # noqa: E402

VEC_TOL = 1e-4
SCORE_TOL = 1e-3
QUERIES = ["What is the capital of France?", "quarterly revenue table", "a red box on the page"]


@pytest.fixture(scope="module")
def model(colidefics3_artifact):
    return TesseraPages(colidefics3_artifact, threads=1, workers=2)


@pytest.fixture(scope="module")
def reference(colidefics3_dir):
    return colidefics3_reference(colidefics3_dir), idefics3_processor()


def _pages():
    from PIL import Image
    from tiny_vision_models import real_image_paths

    pages = [rendered_page(612, 792, 0), rendered_page(900, 250, 1), rendered_page(120, 150, 2)]
    found = real_image_paths()
    if "skimage/page.png" in found:
        pages.append(Image.open(found["skimage/page.png"]))
    return pages


def _ref_vectors(reference, *, images=None, texts=None):
    import torch

    ref, proc = reference
    if images is not None:
        enc = proc(
            text=[COLIDEFICS3_DOC_PROMPT] * len(images),
            images=[[im.convert("RGB")] for im in images],
            return_tensors="pt",
            padding="longest",
        )
        kwargs = {"pixel_values": enc["pixel_values"]}
    else:
        enc = proc(
            text=[t + "<end_of_utterance>" * 10 for t in texts], return_tensors="pt", padding="longest"
        )
        kwargs = {}
    with torch.no_grad():
        out = ref(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **kwargs).numpy()
    mask = enc["attention_mask"].numpy().astype(bool)
    assert (mask[:, -1]).all()  # left padding, as colpali-engine sets for Idefics3
    return [out[i][mask[i]] for i in range(len(out))]


def _colpali_score(q: np.ndarray, d: np.ndarray) -> float:
    """colpali-engine ``score_multi_vector`` for one unpadded pair: einsum, max over page tokens, sum."""
    return float(np.einsum("nd,sd->ns", q.astype(np.float32), d.astype(np.float32)).max(axis=1).sum())


def test_manifest_pins_the_input_contract(model, colidefics3_artifact):
    cfg = model.config
    assert model.manifest.paradigm == "pages" and cfg.family == "idefics3"
    assert cfg.document_prompt == COLIDEFICS3_DOC_PROMPT
    assert cfg.query_template == "{query}" + "<end_of_utterance>" * 10
    assert cfg.padding_side == "left" and cfg.colpali_engine == ">=0.3.13"
    assert cfg.image_size == cfg.trained_image_size == 256
    e2e = model.manifest.parity["end_to_end"]
    assert e2e["max_abs_diff_vectors"] <= VEC_TOL and e2e["max_abs_diff_scores"] <= SCORE_TOL
    files = set(json.loads((colidefics3_artifact / "tessera.json").read_text())["files"])
    assert {
        "vision.onnx",
        "vision.onnx.data",
        "language.onnx",
        "language.onnx.data",
        "tokenizer.json",
    } <= files


@pytest.mark.export
def test_queries_match_reference_and_never_run_the_vision_graph(colidefics3_artifact, reference):
    fresh = Tessera(colidefics3_artifact, threads=1)
    assert isinstance(fresh, TesseraPages)
    ours = fresh.encode_queries(QUERIES)
    assert not fresh.vision_loaded  # text queries never create (let alone run) the vision session
    ref = _ref_vectors(reference, texts=QUERIES)
    for a, b in zip(ours, ref, strict=True):
        assert a.shape == b.shape and a.dtype == np.float32
        assert float(np.abs(a - b).max()) <= VEC_TOL
    one = fresh.encode_queries(QUERIES[0])
    assert np.allclose(one, ours[0], atol=1e-5)  # batch-independent (left padding only shifts positions)


@pytest.mark.export
def test_pages_of_mixed_sizes_match_reference_vectors_and_scores(model, reference):
    pages = _pages()
    ours = model.encode_images(pages)
    ref = _ref_vectors(reference, images=pages)
    assert len({len(v) for v in ours}) >= 2  # the batch mixes page sizes (tile counts)
    for a, b in zip(ours, ref, strict=True):
        assert a.shape == b.shape
        assert float(np.abs(a - b).max()) <= VEC_TOL
    q_ours, q_ref = model.encode_queries(QUERIES), _ref_vectors(reference, texts=QUERIES)
    scores = model.similarity(q_ours, ours)
    expected = np.array([[_colpali_score(q, d) for d in ref] for q in q_ref])
    assert scores.shape == (len(QUERIES), len(pages))
    assert float(np.abs(scores - expected).max()) <= SCORE_TOL
    singles = [model.encode_images(p) for p in pages[:2]]
    for a, b in zip(singles, ours[:2], strict=True):
        assert np.allclose(a, b, atol=1e-5)


def test_every_input_kind_and_pdf_streaming(model, tmp_path):
    page = rendered_page(300, 400, 3)
    path = tmp_path / "page.png"
    page.save(path)
    buf = io.BytesIO()
    page.save(buf, format="PNG")
    base = model.encode_images(page)
    for item in (path, str(path), buf.getvalue(), np.asarray(page), open(path, "rb")):  # noqa: SIM115
        assert np.allclose(model.encode_images(item), base, atol=1e-6)
    pytest.importorskip("pypdfium2")
    pdf = write_pdf(tmp_path / "doc.pdf", [(300, 400), (500, 300)])
    streamed = list(model.iter_pages(p for p in [pdf, page, pdf.read_bytes()]))
    assert [i for i, _, _ in streamed] == [0, 1, 2, 3, 4]
    assert [n for _, n, _ in streamed] == [
        f"{pdf}#page=1",
        f"{pdf}#page=2",
        "Image",
        "pdf#page=1",
        "pdf#page=2",
    ]
    assert np.allclose(streamed[1][2], model.encode_images(str(pdf))[1], atol=1e-6)
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    page.save(tmp_path / "folder" / "b.png")
    pdf.rename(tmp_path / "folder" / "sub" / "a.pdf")
    (tmp_path / "folder" / "notes.txt").write_text("not a page")
    names = [n for _, n, _ in model.iter_pages(tmp_path / "folder")]
    folder = tmp_path / "folder"
    assert names == [
        str(folder / "b.png"),
        f"{folder / 'sub' / 'a.pdf'}#page=1",
        f"{folder / 'sub' / 'a.pdf'}#page=2",
    ]


def test_bad_input_raises_typed_errors_naming_it(model, colidefics3_artifact, tmp_path):
    from PIL import Image

    pytest.importorskip("pypdfium2")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4\n this is not a pdf at all")
    with pytest.raises(InvalidDocumentError, match="broken.pdf"):
        model.encode_images([rendered_page(100, 100), bad])
    encrypted = _encrypted_pdf(tmp_path)
    with pytest.raises(InvalidDocumentError, match="encrypted"):
        model.encode_images(encrypted)
    with pytest.raises(InvalidImageError, match=r"pages\[1\].*under 10 px") as small:
        model.encode_images([rendered_page(100, 100), Image.new("RGB", (9, 300))])
    assert small.value.index == 1
    with pytest.raises(InvalidImageError, match="aspect ratio 210.0:1"):
        model.encode_images(Image.new("RGB", (2100, 10)))
    capped = TesseraPages(colidefics3_artifact, max_pixels=50_000, threads=1)
    with pytest.raises(InvalidImageError, match="over the limit of 50000"):
        capped.encode_images(rendered_page(300, 300))
    for query in ("", "   \n"):
        with pytest.raises(InvalidInputError, match=r"queries\[1\] is empty"):
            model.encode_queries(["fine", query])
    with pytest.raises(InvalidInputError):
        model.encode_images(None)
    with pytest.raises(InvalidDocumentError, match="no such PDF"):
        model.encode_images(tmp_path / "missing.pdf")
    # image inputs are named as pages, with their path, by the loader as well (README's promise)
    corrupt = tmp_path / "corrupt-page.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(
        InvalidImageError, match=r"pages\[1\] \(.*corrupt-page\.png.*\) is not an image"
    ) as bad:
        model.encode_images([rendered_page(100, 100), corrupt])
    assert bad.value.index == 1
    with pytest.raises(InvalidImageError, match=r"pages\[0\] \(.*missing\.png.*\): no such file"):
        model.encode_images(str(tmp_path / "missing.png"))


def _encrypted_pdf(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    plain = write_pdf(tmp_path / "plain.pdf", [(200, 200)])
    writer = pypdf.PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = tmp_path / "locked.pdf"
    with open(out, "wb") as handle:
        writer.write(handle)
    return out


def test_encrypted_pdf_opens_with_its_password(colidefics3_artifact, tmp_path):
    pytest.importorskip("pypdfium2")
    opened = TesseraPages(colidefics3_artifact, pdf_password="secret", threads=1)
    assert len(opened.encode_images(_encrypted_pdf(tmp_path))) == 1


def test_image_size_knob_trades_tokens(colidefics3_artifact, model):
    small = TesseraPages(colidefics3_artifact, image_size=128, threads=1)
    page = rendered_page(612, 792)
    assert small.image_size == 128
    assert len(small.encode_images(page)) < len(model.encode_images(page))


def test_page_index_storages_prefetch_and_rerank(model):
    rng = np.random.default_rng(0)
    pages = model.encode_images(
        [rendered_page(int(w), int(h), i) for i, (w, h) in enumerate(rng.integers(80, 400, (8, 2)))]
    )
    queries = model.encode_queries(QUERIES)
    exact = model.similarity(queries, pages)
    sizes = {}
    for storage in ("float", "int8", "binary"):
        index = PageIndex(storage)
        index.add(pages, [f"p{i}" for i in range(len(pages))])
        sizes[storage] = index.memory_bytes
        full = index.search(queries, k=3)
        assert len(full) == len(QUERIES)
        if storage == "float":
            for qi, hits in enumerate(full):
                np.testing.assert_array_equal(hits.indices, np.argsort(-exact[qi], kind="stable")[:3])
                assert np.allclose(hits.scores, exact[qi][hits.indices], atol=1e-5)
                assert hits.ids == [f"p{i}" for i in hits.indices]
        if storage == "int8":  # bin-centre MaxSim stays close to float
            scores = index.maxsim(queries[0])
            assert float(np.abs(scores - exact[0]).max()) < 0.05 * len(queries[0])
        wide = index.search(queries, k=3, prefetch=len(pages))  # prefetch of everything = exhaustive
        for a, b in zip(wide, full, strict=True):
            np.testing.assert_array_equal(a.indices, b.indices)
        narrow = index.search(queries[0], k=2, prefetch=4)
        assert len(narrow.indices) == 2 and set(narrow.indices) <= set(range(len(pages)))
    # codes + offsets (+ int8 ranges): ~4x and ~32x smaller than float32
    assert sizes["float"] / sizes["int8"] > 3.9 and sizes["float"] / sizes["binary"] > 30
    with pytest.raises(InvalidInputError):
        PageIndex("int4")
    with pytest.raises(InvalidInputError, match="empty"):
        PageIndex().search(queries[0])


def test_index_helper_names_pages(model, tmp_path):
    pytest.importorskip("pypdfium2")
    pdf = write_pdf(tmp_path / "two.pdf", [(300, 400), (400, 300)])
    index = model.index([pdf], storage="binary")
    hits = model.search("revenue", index, k=2, prefetch=2)
    assert sorted(hits.ids) == [f"{pdf}#page=1", f"{pdf}#page=2"]


_PROBE = """
import json, sys
sys.modules["pypdfium2"] = None  # as if the [pdf] extra were not installed
from tessera_onnx import Tessera
from tessera_onnx.errors import MissingDependencyError
m = Tessera(sys.argv[1], threads=1)
m.encode_queries(["a query"])
try:
    m.encode_images(sys.argv[2])
except MissingDependencyError as exc:
    message = str(exc)
heavy = sorted(x for x in ("torch", "transformers", "optimum", "onnx") if x in sys.modules)
print(json.dumps({"heavy": heavy, "message": message, "vision": m.vision_loaded}))
"""


def test_runtime_is_torch_free_and_pdf_needs_its_extra(colidefics3_artifact, tmp_path):
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(colidefics3_artifact), str(pdf)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert "pip install 'tessera-onnx[pdf]'" in result["message"]
    assert result["vision"] is False


@pytest.mark.slow
def test_int8_artifact_through_the_cli_reports_cosine_to_fp32(colidefics3_dir, model, tmp_path):
    """``tessera-export build --precision int8 --image-size 128``: both graphs int8, cosine recorded."""
    from click.testing import CliRunner
    from tessera_export.cli import main

    out = tmp_path / "int8"
    args = [
        "build",
        "--from-dir",
        str(colidefics3_dir),
        "--out",
        str(out),
        "--precision",
        "int8",
        "--image-size",
        "128",
        "-q",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    int8 = TesseraPages(out, threads=1)
    parity = int8.manifest.parity
    assert (
        int8.manifest.precision == "int8" and int8.image_size == 128 and int8.config.trained_image_size == 256
    )
    assert parity["end_to_end"]["min_cosine_vectors"] >= 0.98  # int8 vs the fp32 torch reference
    assert all(g["min_cosine"] >= 0.98 for g in parity["graphs"].values())
    page = rendered_page(300, 400)
    a, b = int8.encode_images(page), TesseraPages(model.path, image_size=128, threads=1).encode_images(page)
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    assert a.shape == b.shape and float(cos.min()) >= 0.98


def test_other_paradigms_are_refused_with_a_pointer_to_tessera(
    tiny_bert_dense_artifact, tiny_siglip_artifact
):
    """A dense or image-text artifact opened as pages (and the reverse) raises ArtifactError."""
    from tessera_onnx import TesseraImageText, TesseraPages
    from tessera_onnx.errors import ArtifactError

    for cls, artifact in ((TesseraPages, tiny_bert_dense_artifact), (TesseraPages, tiny_siglip_artifact)):
        with pytest.raises(ArtifactError, match=r"not 'pages'.*Tessera\(\.\.\.\)"):
            cls(artifact)
    with pytest.raises(ArtifactError, match=r"holds a 'dense' model, not 'vision'"):
        TesseraImageText(tiny_bert_dense_artifact)
