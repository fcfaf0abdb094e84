"""The image–text runtime API: input kinds, streaming, search, errors, no Pillow, no torch, CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PIL")
from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402
from tiny_vision_models import real_image_paths  # noqa: E402

from tessera_onnx import Tessera, TesseraImageText  # noqa: E402
from tessera_onnx.cli import main  # noqa: E402
from tessera_onnx.errors import InvalidImageError, InvalidInputError  # noqa: E402


@pytest.fixture(scope="module")
def model(tiny_siglip_artifact):
    return TesseraImageText(tiny_siglip_artifact, batch_size=3, workers=2)


@pytest.fixture(scope="module")
def paths():
    found = real_image_paths()
    if len(found) < 5:
        pytest.skip("install scikit-image, scikit-learn and matplotlib for the bundled images")
    return [
        found[k]
        for k in (
            "skimage/astronaut.png",
            "skimage/coffee.png",
            "skimage/page.png",
            "sklearn/china.jpg",
            "sklearn/flower.jpg",
        )
    ]


def test_factory_returns_image_text(tiny_siglip_artifact):
    assert isinstance(Tessera(tiny_siglip_artifact), TesseraImageText)


def test_every_input_kind_gives_the_same_vector(model, paths):
    path = paths[3]
    data = path.read_bytes()
    pil = Image.open(path)
    want = model.encode_images(path)
    assert want.shape == (model.dimension,) and abs(np.linalg.norm(want) - 1) < 1e-5
    for item in (str(path), data, bytearray(data), io.BytesIO(data), pil, np.asarray(pil.convert("RGB"))):
        assert np.abs(model.encode_images(item) - want).max() < 1e-6, type(item).__name__
    stacked = np.stack([np.asarray(Image.open(p).convert("RGB").resize((64, 48))) for p in paths[:3]])
    assert model.encode_images(stacked).shape == (3, model.dimension)  # [N, H, W, 3] uint8 = N images


def test_generator_streams_in_order(model, paths):
    consumed = []

    def gen():
        for p in paths * 2:
            consumed.append(p)
            yield p

    stream = model.iter_image_embeddings(gen(), batch_size=2)
    first_indices, first = next(stream)
    assert list(first_indices) == [0, 1] and len(consumed) <= 2 * 2  # at most `prefetch` batches read ahead
    rest = np.concatenate([first] + [e for _, e in stream])
    np.testing.assert_allclose(rest, model.encode_images(paths * 2), atol=1e-6)
    assert model.encode_images([]).shape == (0, model.dimension)


def test_similarity_and_search(model, paths):
    imgs = model.encode_images(paths)
    texts = ["a photo of a cat", "a scanned page", "a flower"]
    txt = model.encode_texts(texts)
    sim = model.similarity(imgs, txt)
    np.testing.assert_allclose(sim, imgs @ txt.T, atol=1e-6)
    idx, scores = model.search_images(texts, imgs, top_k=2)
    assert idx.shape == scores.shape == (3, 2)
    for q in range(3):
        assert idx[q, 0] == int(np.argmax(sim[:, q])) and scores[q, 0] >= scores[q, 1]
    idx, _ = model.search_texts(paths[0], txt, top_k=10)
    assert idx.shape == (1, 3) and idx[0, 0] == int(np.argmax(sim[0]))


def test_bad_images_in_a_batch_name_their_index(model, paths, tmp_path):
    jpeg = paths[3].read_bytes()
    for bad in (
        str(tmp_path / "nope.png"),
        b"not an image",
        jpeg[: len(jpeg) // 3],
        np.zeros((0, 3, 3), np.uint8),
    ):
        with pytest.raises(InvalidImageError, match=r"images\[2\]") as info:
            model.encode_images([paths[0], paths[1], bad, paths[2]])
        assert info.value.index == 2
    small = TesseraImageText(model.path, max_pixels=1000)
    with pytest.raises(InvalidImageError, match="over the limit"):
        small.encode_images(paths[0])
    for tiny in (Image.new("RGB", (1, 1), (200, 10, 10)), np.full((1, 900, 3), 7, np.uint8)):
        assert np.isfinite(model.encode_images(tiny)).all()


def test_bad_calls_raise_invalid_input(model, paths):
    with pytest.raises(InvalidInputError):
        model.encode_images(None)
    with pytest.raises(InvalidInputError):
        model.encode_images({"a": 1})
    with pytest.raises(InvalidInputError, match="labels"):
        model.classify(paths[0], [])
    with pytest.raises(InvalidInputError, match="template"):
        model.classify(paths[0], ["cat"], template="no placeholder")
    with pytest.raises(InvalidInputError):
        model.encode_texts([b"bytes"])
    with pytest.raises(InvalidInputError, match="width"):
        model.similarity(np.zeros((2, 5)), np.zeros((2, model.dimension)))
    with pytest.raises(InvalidInputError, match="batch_size"):
        model.iter_image_embeddings(paths, batch_size=0)  # checked at the call, before the first batch


def test_without_pillow_text_works_and_images_say_what_to_install(tiny_siglip_artifact, paths):
    probe = f"""
import sys, json
sys.modules["PIL"] = None  # Pillow "not installed"
import tessera_onnx
from tessera_onnx import Tessera, MissingDependencyError
m = Tessera({str(tiny_siglip_artifact)!r})
vec = m.encode_texts(["a cat"])
try:
    m.encode_images({str(paths[0])!r})
    msg = None
except MissingDependencyError as exc:
    msg = str(exc)
heavy = sorted(x for x in ("torch", "transformers", "onnx") if x in sys.modules)
print(json.dumps({{"shape": list(vec.shape), "msg": msg, "heavy": heavy}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [1, 32]
    assert result["msg"] and "tessera-onnx[vision]" in result["msg"]
    assert result["heavy"] == []


def test_image_embedding_stays_torch_free(tiny_clip_artifact, paths):
    probe = f"""
import sys, json
from tessera_onnx import Tessera
m = Tessera({str(tiny_clip_artifact)!r}, threads=1)
p = m.classify({str(paths[0])!r}, ["cat", "dog"])
print(json.dumps({{"heavy": sorted(x for x in ("torch", "transformers", "onnx", "optimum") if x in sys.modules),
                  "sum": float(p.sum())}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and abs(result["sum"] - 1) < 1e-5


def test_cli_embed_folder_and_classify(tiny_siglip_artifact, paths, tmp_path, model):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for p in paths[:3]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "sub" / paths[3].name).write_bytes(paths[3].read_bytes())
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "emb.npy"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "embed-images",
            str(tiny_siglip_artifact),
            str(folder),
            "-o",
            str(out),
            "--recursive",
            "--batch-size",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    names = (tmp_path / "emb.npy.paths.txt").read_text().splitlines()
    assert len(names) == 4 and all(not n.endswith(".txt") for n in names)
    np.testing.assert_allclose(np.load(out), model.encode_images(names), atol=1e-6)
    result = runner.invoke(
        main, ["classify", str(tiny_siglip_artifact), str(paths[0]), "-l", "cat", "-l", "dog"]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[-1])
    want = model.classify(paths[0], ["cat", "dog"])
    got = {d["label"]: d["probability"] for d in row["labels"]}
    assert row["score"] == "sigmoid" and abs(got["cat"] - want[0]) < 1e-5
    (folder / "broken.jpg").write_bytes(b"garbage")
    result = runner.invoke(main, ["embed-images", str(tiny_siglip_artifact), str(folder), "-o", str(out)])
    assert result.exit_code != 0 and "broken.jpg" in result.output
