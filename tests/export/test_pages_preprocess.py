"""Idefics3 page preprocessing (ColIdefics3 / ColSmol) is identical to transformers' Idefics3Processor.

Reference: ``Idefics3Processor`` (slow ``Idefics3ImageProcessor``, PIL) on the RGB page, as
colpali-engine's ``ColIdefics3Processor.process_images`` feeds it (``image.convert("RGB")`` first).
Checked on the real images bundled by scikit-image / scikit-learn / matplotlib, on rendered
pages of several sizes and aspect ratios, and on pages rendered from a PDF the test writes.
Tolerance: pixel values within 1e-6 (they come out bit-identical), input ids identical.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("transformers")

from tiny_page_models import (  # noqa: E402
    COLIDEFICS3_DOC_PROMPT,
    IMAGE_SEQ_LEN,
    TILE,
    idefics3_image_processor_config,
    idefics3_processor,
    idefics3_tokenizer,
    rendered_page,
    write_pdf,
)
from tiny_vision_models import real_image_paths  # noqa: E402

from tessera_onnx.pages.config import PagesConfig  # noqa: E402
from tessera_onnx.pages.idefics3 import Idefics3Family, Idefics3ImageConfig  # noqa: E402
from tessera_onnx.pages.tokens import PromptTokenizer  # noqa: E402

PIXEL_TOL = 1e-6
SIZES = [(612, 792), (792, 612), (50, 40), (64, 64), (65, 64), (1000, 90), (30, 500), (257, 129)]


@pytest.fixture(scope="module")
def hf_tokenizer(tmp_path_factory):
    tok = idefics3_tokenizer()
    path = tmp_path_factory.mktemp("idefics3_tok")
    tok.save_pretrained(path)
    return tok, PromptTokenizer(path / "tokenizer.json")


def _family(hf_tokenizer, image_size=None, **image_overrides):
    tok, prompt_tok = hf_tokenizer
    image = Idefics3ImageConfig.from_processor(
        {**idefics3_image_processor_config(), **image_overrides}, IMAGE_SEQ_LEN
    )
    cfg = PagesConfig(
        family="idefics3",
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        document_prompt=COLIDEFICS3_DOC_PROMPT,
        image=image.to_dict(),
        image_size=image.longest_edge,
    )
    return Idefics3Family(cfg, prompt_tok, image_size)


def _images():
    from PIL import Image

    out = {name: Image.open(path) for name, path in real_image_paths().items()}
    out.update({f"page{w}x{h}": rendered_page(w, h, seed=i) for i, (w, h) in enumerate(SIZES)})
    return out


def _assert_same(family, processor, image, name):
    ref = processor(text=[COLIDEFICS3_DOC_PROMPT], images=[[image.convert("RGB")]], return_tensors="np")
    page = family.prepare_page(image, 0, name, None)
    px, ref_px = page.vision_feeds["pixel_values"], ref["pixel_values"][0]
    assert px.shape == ref_px.shape, name
    assert px.dtype == np.float32
    assert float(np.abs(px - ref_px).max()) <= PIXEL_TOL, name
    np.testing.assert_array_equal(page.input_ids, ref["input_ids"][0], err_msg=name)
    # one grid: the prompt's image tokens = the features the tiles give
    n_tiles = len(px)
    assert page.grid.image_tokens == n_tiles * IMAGE_SEQ_LEN
    assert int((page.input_ids == family.image_token_id).sum()) == page.grid.image_tokens
    return page


def test_real_and_rendered_pages_match_idefics3_processor(hf_tokenizer):
    images = _images()
    if len(images) < len(SIZES) + 5:
        pytest.skip("install scikit-image, scikit-learn and matplotlib for the bundled images")
    family = _family(hf_tokenizer)
    processor = idefics3_processor(hf_tokenizer[0])
    grids = set()
    for name, image in images.items():
        grids.add((_assert_same(family, processor, image, name).grid.rows, image.mode))
    # the inputs cover split and several grids, and RGB, RGBA, L and P modes
    assert {m for _, m in grids} >= {"RGB", "RGBA", "L", "P"}
    assert len({r for r, _ in grids}) >= 3


def test_pdf_rendered_pages_match(hf_tokenizer, tmp_path):
    from tessera_onnx.pages.pdf import render_pdf

    pytest.importorskip("pypdfium2")
    pdf = write_pdf(tmp_path / "doc.pdf", [(612, 792), (842, 595), (300, 1200)])
    family = _family(hf_tokenizer)
    processor = idefics3_processor(hf_tokenizer[0])
    pages = list(render_pdf(pdf, 0, dpi=100))
    assert [name for name, _ in pages] == [f"{pdf}#page={i}" for i in (1, 2, 3)]
    assert pages[0][1].size == (850, 1100)  # 612x792 pt at 100 dpi
    for name, image in pages:
        _assert_same(family, processor, image, name)


@pytest.mark.parametrize("image_size", [TILE, 2 * TILE, 3 * TILE + 10])
def test_image_size_knob_matches_processor_with_that_size(hf_tokenizer, image_size):
    family = _family(hf_tokenizer, image_size=image_size)
    processor = idefics3_processor(hf_tokenizer[0], size={"longest_edge": image_size})
    most = 0
    for w, h in SIZES[:4]:
        page = _assert_same(family, processor, rendered_page(w, h), f"{w}x{h}@{image_size}")
        most = max(most, page.grid.rows * page.grid.cols)
    assert most <= (-(-image_size // TILE)) ** 2  # at most ceil(size / tile)^2 tiles


def test_without_image_splitting(hf_tokenizer):
    family = _family(hf_tokenizer, do_image_splitting=False)
    processor = idefics3_processor(hf_tokenizer[0], do_image_splitting=False)
    for w, h in SIZES[:3]:
        page = _assert_same(family, processor, rendered_page(w, h), f"{w}x{h}")
        assert page.grid.rows == 0 and len(page.vision_feeds["pixel_values"]) == 1


def test_query_ids_follow_the_pinned_template(hf_tokenizer):
    tok, _ = hf_tokenizer
    family = _family(hf_tokenizer)
    template = family.config.query_template
    assert template == "{query}"  # the bare config: the artifact pins the real template (runtime test)
    ids = family.query_ids("what is shown?")
    np.testing.assert_array_equal(ids, tok("what is shown?")["input_ids"])


def test_grid_is_computed_once_per_page(hf_tokenizer, monkeypatch):
    family = _family(hf_tokenizer)
    calls = []
    original = family.compute_grid
    monkeypatch.setattr(family, "compute_grid", lambda w, h: calls.append((w, h)) or original(w, h))
    family.prepare_page(rendered_page(300, 200), 0, "p", None)
    assert calls == [(300, 200)]
