"""ColQwen2 preprocessing in numpy vs transformers 4.57 (the reference): pixels, grids, ids, positions.

Tolerances: pixel values within 1e-6 (they come out bit-identical); grids, token ids, masks,
vision position ids, window orders and M-RoPE position ids identical.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("PIL")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_qwen2_models import (  # noqa: E402
    PREPROCESSOR,
    image_processor,
    qwen_style_tokenizer,
    reference_processor,
    tiny_colqwen2,
)
from tiny_vision_models import real_image_paths  # noqa: E402

from tessera_onnx.errors import InvalidImageError, InvalidInputError  # noqa: E402
from tessera_onnx.pages.qwen2 import (  # noqa: E402
    QwenImageSettings,
    image_grid,
    mrope_position_ids,
    preprocess_image,
    smart_resize,
    vision_position_ids,
    window_layout,
)
from tessera_onnx.pages.qwen2_vl import Qwen2VLFamily  # noqa: E402
from tessera_onnx.pages.tokens import PromptTokenizer, pad_ids  # noqa: E402

# (min_pixels, max_pixels) variants: the tiny checkpoint's, a larger budget, and an upscaling floor
BOUNDS = [(4 * 28 * 28, 48 * 28 * 28), (4 * 28 * 28, 160 * 28 * 28), (96 * 28 * 28, 200 * 28 * 28)]


@pytest.fixture(scope="module")
def tok():
    return qwen_style_tokenizer()


@pytest.fixture(scope="module")
def runtime_tok(tok, tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen_tok") / "tokenizer.json"
    tok.backend_tokenizer.save(str(path))
    return PromptTokenizer(path)


def make_family(tok, runtime_tok, models, family="qwen2_vl", prefix_engine="hf", **image):
    """The runtime family configured the way the exporter configures it for the tiny checkpoint."""
    import tempfile
    from pathlib import Path

    from tessera_export.pages.qwen2vl import qwen2_pages_config

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "preprocessor_config.json").write_text(json.dumps({**PREPROCESSOR, **image}))
        cfg = qwen2_pages_config(Path(d), models[family], tok, colpali_engine=prefix_engine)
    return Qwen2VLFamily(cfg, runtime_tok)


def doc_batch(fam, grids):
    ids, mask = pad_ids([fam.document_ids(g) for g in grids], fam.config.pad_token_id, fam.padding_side)
    return ids, mask


def page_grids(fam, shapes):
    return [fam.compute_grid(w, h) for h, w in shapes]


@pytest.fixture(scope="module")
def images():
    from PIL import Image

    paths = real_image_paths()
    if not paths:
        pytest.skip("no bundled sample images (scikit-image / scikit-learn / matplotlib)")
    out = {}
    for name, path in sorted(paths.items()):
        with Image.open(path) as im:
            im.load()
            out[name] = im.copy()
    # aspect-ratio variants of a photo: a tall strip, a wide banner, a small thumbnail
    base = out.get("skimage/astronaut.png", next(iter(out.values()))).convert("RGB")
    out["tall_strip"] = base.crop((0, 0, 60, 500))
    out["wide_banner"] = base.crop((0, 100, 512, 140))
    out["thumbnail"] = base.resize((23, 31))
    return out


def test_smart_resize_matches_transformers():
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as ref

    sides = [10, 13, 14, 27, 28, 42, 70, 98, 126, 250, 333, 512, 700, 1000, 1999, 2000]
    for h in sides:
        for w in sides:
            if max(h, w) / min(h, w) > 200:
                continue
            for lo, hi in BOUNDS + [(56 * 56, 28 * 28 * 1280)]:
                assert smart_resize(h, w, 28, lo, hi) == ref(h, w, 28, lo, hi), (h, w, lo, hi)
    # half-to-even: 42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2 (Python round)
    assert smart_resize(42, 70, 28, 1, 10**9) == (56, 56)


def test_bad_sizes_raise_typed_errors():
    with pytest.raises(InvalidImageError, match="aspect ratio"):
        smart_resize(10, 2010)
    with pytest.raises(InvalidImageError, match="under 10 px"):
        smart_resize(9, 100)
    with pytest.raises(InvalidInputError, match="under min_pixels"):
        QwenImageSettings().with_max_visual_tokens(2)


@pytest.mark.parametrize("bounds", BOUNDS, ids=["tiny", "larger", "upscale"])
def test_pixels_and_grid_match_qwen2vl_image_processor(images, bounds):
    lo, hi = bounds
    settings = QwenImageSettings.from_preprocessor_config(
        {**PREPROCESSOR, "min_pixels": lo, "max_pixels": hi}
    )
    ref_proc = image_processor(min_pixels=lo, max_pixels=hi)
    for name, image in images.items():
        ref = ref_proc(images=[image], return_tensors="np")
        patches, grid = preprocess_image(image, settings)
        assert list(grid.thw) == ref["image_grid_thw"][0].tolist(), name
        assert patches.dtype == np.float32 and patches.shape == ref["pixel_values"].shape, name
        np.testing.assert_allclose(patches, ref["pixel_values"], rtol=0, atol=1e-6, err_msg=name)
        assert grid.num_tokens * 4 == grid.num_patches


def test_max_visual_tokens_knob_is_colpali_engine_max_pixels():
    settings = QwenImageSettings.from_preprocessor_config(PREPROCESSOR, max_num_visual_tokens=768)
    assert settings.max_pixels == 768 * 28 * 28
    assert settings.with_max_visual_tokens(100).max_pixels == 100 * 784
    grid = image_grid(2200, 1700, settings)  # a letter page at 200 dpi
    assert grid.num_tokens <= 768 and grid.resized_height % 28 == 0 and grid.resized_width % 28 == 0


def test_size_edges_are_the_pixel_bounds_when_min_max_pixels_are_absent():
    """transformers 5 saves the bounds only as ``size``; a 512 × 512 page must then be 12 × 12 patches."""
    saved = {k: v for k, v in PREPROCESSOR.items() if k not in ("min_pixels", "max_pixels")}
    saved["size"] = {"longest_edge": 150_000, "shortest_edge": 3136}
    settings = QwenImageSettings.from_preprocessor_config(saved)
    assert (settings.min_pixels, settings.max_pixels) == (3136, 150_000)
    grid = image_grid(512, 512, settings)
    assert list(grid.thw) == [1, 26, 26] and grid.num_tokens == 13 * 13
    # explicit min_pixels / max_pixels win over size, as in transformers 5
    both = QwenImageSettings.from_preprocessor_config({**saved, "max_pixels": 48 * 28 * 28})
    assert both.max_pixels == 48 * 28 * 28
    assert QwenImageSettings.from_preprocessor_config({**saved, "size": {}}).max_pixels == 28 * 28 * 1280


def test_document_and_query_ids_match_colqwen2_processor(tok, runtime_tok, models, images):
    names = ["skimage/astronaut.png", "tall_strip", "wide_banner", "thumbnail"]
    batch = [images[n] for n in names if n in images]
    fam = make_family(tok, runtime_tok, models)
    pages = [fam.prepare_page(im, i, f"page{i}", None) for i, im in enumerate(batch)]
    ref = reference_processor(tok).process_images(batch)
    ids, mask = doc_batch(fam, [p.grid for p in pages])
    np.testing.assert_array_equal(ids, ref["input_ids"].numpy())
    np.testing.assert_array_equal(mask, ref["attention_mask"].numpy())
    assert [list(p.grid.extra["grid_thw"]) for p in pages] == ref["image_grid_thw"].tolist()
    # the padded pixel layout of colpali-engine / ColQwen2Processor, rebuilt from the page feeds
    for row, page in enumerate(pages):
        n = page.vision_feeds["patches"].shape[0]
        np.testing.assert_allclose(
            page.vision_feeds["patches"], ref["pixel_values"][row, :n].numpy(), rtol=0, atol=1e-6
        )
        assert not ref["pixel_values"][row, n:].any()
    image_id = tok.convert_tokens_to_ids("<|image_pad|>")
    assert [int((row == image_id).sum()) for row in ids] == [p.grid.image_tokens for p in pages]
    queries = ["What is the revenue in 2023?", "chart", "naïve café — résumé 日本語 {braces}"]
    for engine, prefix in (("hf", "Query: "), (">=0.3.13", "")):
        fam_q = make_family(tok, runtime_tok, models, prefix_engine=engine)
        q_ref = reference_processor(tok, query_prefix=prefix).process_queries(queries)
        q_ids, q_mask = pad_ids([fam_q.query_ids(q) for q in queries], fam_q.config.pad_token_id, "left")
        np.testing.assert_array_equal(q_ids, q_ref["input_ids"].numpy())
        np.testing.assert_array_equal(q_mask, q_ref["attention_mask"].numpy())
    with pytest.raises(InvalidInputError, match=r"queries\[1\] is empty"):
        fam.query_ids("  ", 1)


@pytest.fixture(scope="module")
def models(tok):
    return {family: tiny_colqwen2(tok, family) for family in ("qwen2_vl", "qwen2_5_vl")}


def _grids(shapes, settings):
    return [image_grid(h, w, settings) for h, w in shapes]


SHAPES = [(100, 150), (60, 300), (300, 60), (224, 224), (500, 90)]


def test_vision_position_ids_match_rot_pos_emb(models):
    settings = QwenImageSettings.from_preprocessor_config(PREPROCESSOR)
    visual = models["qwen2_vl"].vlm.visual
    for grid in _grids(SHAPES, settings):
        ref = visual.rot_pos_emb(torch.tensor([grid.thw])).numpy()
        pos = vision_position_ids(grid)
        inv_freq = visual.rotary_pos_emb.inv_freq.numpy()
        ours = (pos[:, :, None].astype(np.float32) * inv_freq[None, None, :]).reshape(len(pos), -1)
        np.testing.assert_array_equal(ours, ref)
        # the integer ids themselves: rows of the 2x2 windows are adjacent
        assert pos[:4].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_window_layout_matches_qwen2_5_get_window_index(models):
    settings = QwenImageSettings.from_preprocessor_config({**PREPROCESSOR, "max_pixels": 160 * 784})
    visual = models["qwen2_5_vl"].vlm.visual
    for grid in _grids(SHAPES + [(700, 400)], settings):
        ref_index, ref_cu = visual.get_window_index(torch.tensor([grid.thw]))
        order, window_ids = window_layout(grid, visual.window_size, visual.patch_size)
        np.testing.assert_array_equal(order, ref_index.numpy())
        cu = np.unique(np.asarray(ref_cu))  # unique_consecutive of an increasing list
        assert np.array_equal(np.flatnonzero(np.diff(window_ids)) + 1, cu[1:-1])
        assert len(window_ids) == grid.num_patches


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_mrope_position_ids_match_get_rope_index(tok, runtime_tok, models, family):
    fam = make_family(tok, runtime_tok, models, family, max_pixels=160 * 784)
    model = models[family]
    pages = page_grids(fam, SHAPES)
    grids = [fam._image_grid(p) for p in pages]
    ids, mask = doc_batch(fam, pages)
    image_id = tok.convert_tokens_to_ids("<|image_pad|>")
    start_id = tok.convert_tokens_to_ids("<|vision_start|>")
    ref, _ = model.vlm.model.get_rope_index(
        input_ids=torch.from_numpy(ids),
        image_grid_thw=torch.tensor([g.thw for g in grids]),
        attention_mask=torch.from_numpy(mask),
    )
    pages_prepared = [type("P", (), {"grid": p})() for p in pages]  # the family reads only .grid
    ours = fam.language_extra_feeds(ids, mask, pages_prepared)["position_ids"]
    np.testing.assert_array_equal(ours, ref.numpy())
    queries = ("short", "a much longer query about a chart")
    q_ids, q_mask = pad_ids([fam.query_ids(q) for q in queries], fam.config.pad_token_id, "left")
    ref_q, _ = model.vlm.model.get_rope_index(
        input_ids=torch.from_numpy(q_ids), image_grid_thw=None, attention_mask=torch.from_numpy(q_mask)
    )
    ours_q = fam.language_extra_feeds(q_ids, q_mask, None)["position_ids"]
    np.testing.assert_array_equal(ours_q, ref_q.numpy())
    # two images in one row (text between them): offsets continue from the previous run's maximum
    two = "<|vision_start|><|image_pad|><|vision_end|>and<|vision_start|><|image_pad|><|vision_end|> end"
    g2 = grids[:2]
    text = two.replace("<|image_pad|>", "\0", 2)
    for g in g2:
        text = text.replace("\0", "<|image_pad|>" * g.num_tokens, 1)
    row = np.array([tok(text).input_ids], dtype=np.int64)
    row_mask = np.ones_like(row)
    ref2, _ = model.vlm.model.get_rope_index(
        input_ids=torch.from_numpy(row),
        image_grid_thw=torch.tensor([g.thw for g in g2]),
        attention_mask=torch.from_numpy(row_mask),
    )
    ours2 = mrope_position_ids(row, row_mask, g2, image_token_id=image_id, vision_start_token_id=start_id)
    np.testing.assert_array_equal(ours2, ref2.numpy())
    assert math.prod(ours2.shape) == 3 * row.shape[1]
