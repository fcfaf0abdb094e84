"""Export + runtime parity of tiny random SigLIP, SigLIP2 (fixed resolution) and CLIP vs transformers.

Images: real photos and a scanned page bundled by scikit-image / scikit-learn / matplotlib,
preprocessed by the slow HF processors for the reference. Texts: punctuation, case, CJK,
emoji, empty and very long. Tolerances: token ids identical; embeddings and logits within 1e-4
of torch; ``classify`` probabilities within 1e-5 of the reference's sigmoid / softmax.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("PIL")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from PIL import Image  # noqa: E402
from tiny_vision_models import VARIED_TEXTS, long_text, real_image_paths  # noqa: E402

from tessera_onnx import Tessera, TesseraImageText  # noqa: E402

TOL = 1e-4
FAMILIES = ("siglip", "siglip2", "clip")


@pytest.fixture(scope="module", params=FAMILIES)
def family(
    request,
    tiny_siglip_dir,
    tiny_siglip2_dir,
    tiny_clip_dir,
    tiny_siglip_artifact,
    tiny_siglip2_artifact,
    tiny_clip_artifact,
):
    dirs = {
        "siglip": (tiny_siglip_dir, tiny_siglip_artifact),
        "siglip2": (tiny_siglip2_dir, tiny_siglip2_artifact),
        "clip": (tiny_clip_dir, tiny_clip_artifact),
    }
    return request.param, *dirs[request.param]


@pytest.fixture(scope="module")
def images():
    paths = real_image_paths()
    if len(paths) < 5:
        pytest.skip("install scikit-image, scikit-learn and matplotlib for the bundled images")
    keys = (
        "skimage/astronaut.png",
        "skimage/page.png",
        "skimage/logo.png",
        "sklearn/china.jpg",
        "matplotlib/grace_hopper.jpg",
        "skimage/camera.png",
    )
    return [paths[k] for k in keys if k in paths]


def _reference(name: str, ckpt):
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel, SiglipImageProcessor, SiglipModel

    model_cls, proc_cls = (
        (CLIPModel, CLIPImageProcessor) if name == "clip" else (SiglipModel, SiglipImageProcessor)
    )
    return (
        model_cls.from_pretrained(str(ckpt)).eval(),
        proc_cls.from_pretrained(str(ckpt), do_convert_rgb=True),
        AutoTokenizer.from_pretrained(str(ckpt)),
    )


def _ref_text_inputs(name: str, tok, texts, *, masked: bool = False):
    """The reference text inputs: SigLIP's trained semantics (max_length ids, no mask) unless ``masked``."""
    kwargs = {"padding": "max_length", "max_length": 64} if name != "clip" else {"padding": True}
    enc = tok(list(texts), truncation=True, return_tensors="pt", **kwargs)
    enc.pop("token_type_ids", None)
    if name != "clip" and not masked:
        enc.pop("attention_mask", None)
    return enc


def test_token_ids_equal_reference_tokenizer(family):
    name, ckpt, artifact = family
    _, _, tok = _reference(name, ckpt)
    texts = [*VARIED_TEXTS, long_text(), "a" * 2000]
    model = TesseraImageText(artifact)
    ids, mask = model.tokenize(texts)
    ref = _ref_text_inputs(name, tok, texts, masked=True)
    np.testing.assert_array_equal(ids, ref["input_ids"].numpy())
    np.testing.assert_array_equal(mask, ref["attention_mask"].numpy())
    if name != "clip":
        assert ids.shape[1] == 64  # fixed-length padding, never "longest"


def test_slow_siglip_tokenizer_is_the_reference(tiny_siglip_dir, tiny_siglip_artifact):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_siglip_dir))
    assert type(tok).__name__ == "SiglipTokenizer"  # slow, SentencePiece, canonicalises text
    manifest = json.loads((tiny_siglip_artifact / "tessera.json").read_text())
    assert manifest["config"]["vision"]["canonicalize"] == "siglip"
    model = TesseraImageText(tiny_siglip_artifact)
    # canonicalisation: punctuation, case and whitespace runs do not change the ids
    a, _ = model.tokenize(["Hello, World!!", "  hello   world "])
    np.testing.assert_array_equal(a[0], a[1])


def test_embeddings_and_logits_match_transformers(family, images):
    name, ckpt, artifact = family
    ref_model, proc, tok = _reference(name, ckpt)
    texts = list(VARIED_TEXTS[:12]) + [long_text()]
    pil = [Image.open(p) for p in images]
    pixel_values = proc(images=pil, return_tensors="pt")["pixel_values"]
    text_inputs = _ref_text_inputs(name, tok, texts)
    with torch.no_grad():
        out = ref_model(pixel_values=pixel_values, **text_inputs)
        ref_img = ref_model.get_image_features(pixel_values=pixel_values).numpy()
        ref_txt = ref_model.get_text_features(**text_inputs).numpy()
    model = Tessera(artifact, batch_size=4)
    img = model.encode_images(images, normalize=False)
    txt = model.encode_texts(texts, normalize=False)
    assert np.abs(img - ref_img).max() <= TOL
    assert np.abs(txt - ref_txt).max() <= TOL
    logits = model.logits(img, txt)
    assert np.abs(logits - out.logits_per_image.numpy()).max() <= TOL
    # normalised vectors are what the reference normalises inside forward()
    assert np.abs(model.encode_images(images) - out.image_embeds.numpy()).max() <= TOL


def test_classify_probabilities_equal_reference(family, images):
    name, ckpt, artifact = family
    ref_model, proc, tok = _reference(name, ckpt)
    labels = ["cat", "astronaut", "page of text", "flower"]
    prompts = [f"This is a photo of {label}." for label in labels]
    pil = [Image.open(p) for p in images[:3]]
    with torch.no_grad():
        out = ref_model(
            pixel_values=proc(images=pil, return_tensors="pt")["pixel_values"],
            **_ref_text_inputs(name, tok, prompts),
        )
    logits = out.logits_per_image
    want = (torch.sigmoid(logits) if name != "clip" else logits.softmax(dim=1)).numpy()
    model = Tessera(artifact)
    got = model.classify(images[:3], labels)
    assert got.shape == (3, 4)
    assert np.abs(got - want).max() <= 1e-5
    single = model.classify(images[0], labels)
    assert single.shape == (4,) and np.abs(single - want[0]).max() <= 1e-5
    if name == "clip":
        assert np.allclose(got.sum(1), 1.0, atol=1e-6)


def test_manifest_two_graphs_parity_and_score(family):
    name, _, artifact = family
    manifest = json.loads((artifact / "tessera.json").read_text())
    vision = manifest["config"]["vision"]
    assert manifest["paradigm"] == "vision"
    assert {"vision.onnx", "text.onnx", "tokenizer.json", "preprocessor_config.json"} <= set(
        manifest["files"]
    )
    assert vision["score"] == ("softmax" if name == "clip" else "sigmoid")
    assert vision["text_padding"] == ("longest" if name == "clip" else "max_length")
    towers = manifest["parity"]["towers"]
    assert towers["image"]["max_abs_diff"] < 1e-4 and towers["text"]["max_abs_diff"] < 1e-4
    assert "slow, PIL" in manifest["config"]["image"]["reference"]
    import onnx

    image_graph = onnx.load(str(artifact / "vision.ort.onnx"), load_external_data=False)
    text_graph = onnx.load(str(artifact / "text.ort.onnx"), load_external_data=False)
    assert [i.name for i in image_graph.graph.input] == ["pixel_values"]
    assert [i.name for i in text_graph.graph.input][0] == "input_ids"
    assert manifest["variants"]["onnxruntime"]["graphs"] == {
        "vision.onnx": "vision.ort.onnx",
        "text.onnx": "text.ort.onnx",
    }
    # both towers' onnxruntime variants are the fused graphs (residual + LayerNorm fused in every
    # layer); the vision encoder's attention is fused too (the text towers' masked attention is not)
    for tower, graph in (("image", image_graph), ("text", text_graph)):
        optimizer = manifest["config"]["export"][tower]["optimizer"]
        assert optimizer["model_type"] == "clip" and "rejected" not in optimizer, optimizer
        ops = [n.op_type for n in graph.graph.node]
        assert (
            ops.count("SkipLayerNormalization") == optimizer["fused_operators"]["SkipLayerNormalization"] >= 2
        )
    image_ops = [n.op_type for n in image_graph.graph.node]
    assert (
        image_ops.count("Attention")
        == manifest["config"]["export"]["image"]["optimizer"]["fused_operators"]["Attention"]
        == 2
    )  # the tiny models have two encoder layers


def test_siglip_text_semantics_trained_by_default_masked_only_when_asked(
    tiny_siglip2_dir, tiny_siglip2_artifact, export_cache
):
    """SigLIP2 (a fast tokenizer that returns a mask): the default graph takes no mask (trained
    semantics: max_length padding attended to); ``text_semantics="transformers"`` feeds the mask."""
    import onnx
    from tessera_export import build_artifact

    texts = list(VARIED_TEXTS[:6])
    ref_model, _, tok = _reference("siglip2", tiny_siglip2_dir)
    with torch.no_grad():
        trained = ref_model.get_text_features(**_ref_text_inputs("siglip2", tok, texts)).numpy()
        masked = ref_model.get_text_features(**_ref_text_inputs("siglip2", tok, texts, masked=True)).numpy()
    assert np.abs(trained - masked).max() > 1e-2  # the two semantics really differ on this model
    manifest = json.loads((tiny_siglip2_artifact / "tessera.json").read_text())
    assert manifest["config"]["vision"]["text_semantics"] == "trained"
    text_graph = onnx.load(str(tiny_siglip2_artifact / "text.onnx"), load_external_data=False)
    assert [i.name for i in text_graph.graph.input] == ["input_ids"]
    got = TesseraImageText(tiny_siglip2_artifact).encode_texts(texts, normalize=False)
    assert np.abs(got - trained).max() <= TOL
    asked = export_cache.get(
        "tiny-siglip2-masked",
        lambda out: build_artifact(
            tiny_siglip2_dir, out, model_id="tiny-siglip2-masked", text_semantics="transformers"
        ),
    )
    assert (
        json.loads((asked / "tessera.json").read_text())["config"]["vision"]["text_semantics"]
        == "transformers"
    )
    got_masked = TesseraImageText(asked).encode_texts(texts, normalize=False)
    assert np.abs(got_masked - masked).max() <= TOL


def test_vectors_do_not_depend_on_batch_size(tiny_siglip_artifact, images):
    model = TesseraImageText(tiny_siglip_artifact, workers=1)
    a = model.encode_images(images, batch_size=1)
    b = TesseraImageText(tiny_siglip_artifact, workers=3).encode_images(images, batch_size=4)
    assert np.abs(a - b).max() <= 1e-6
    # a batch split into several vision-graph calls (graph_batch) gives the same vectors, in order
    c = TesseraImageText(tiny_siglip_artifact, graph_batch=2).encode_images(images, batch_size=5)
    assert len(images) > 2 and c.shape == a.shape and np.abs(a - c).max() <= 1e-6
    texts = list(VARIED_TEXTS[:9])
    t1 = np.stack([model.encode_texts(t) for t in texts])
    t9 = model.encode_texts(texts, batch_size=9)
    assert np.abs(t1 - t9).max() <= 1e-6  # fixed-length padding: a text's vector ignores its batch


def test_naflex_checkpoint_is_refused(tmp_path):
    from tessera_export import build_artifact

    from tessera_onnx.errors import ExportError

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({"model_type": "siglip2"}))
    with pytest.raises(ExportError, match="NaFlex"):
        build_artifact(tmp_path / "ckpt", tmp_path / "out")
