"""Image preprocessing vs the slow Hugging Face processors, on real bundled photos and a scanned page.

Reference: transformers 4.57 ``SiglipImageProcessor`` / ``CLIPImageProcessor`` (slow, PIL) with
``do_convert_rgb=True``. Tolerance: pixel values equal within 1e-6 (they are in fact identical).
"""

from __future__ import annotations

import io

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
transformers = pytest.importorskip("transformers")
from PIL import Image, ImageOps  # noqa: E402
from tiny_vision_models import CLIP_PREPROCESSOR, SIGLIP_PREPROCESSOR, real_image_paths  # noqa: E402

from tessera_onnx.errors import ArtifactError, InvalidImageError  # noqa: E402
from tessera_onnx.vision import ImagePreprocessConfig, ImagePreprocessor, load_image  # noqa: E402

TOL = 1e-6
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "F")
CONFIGS = {"siglip": SIGLIP_PREPROCESSOR, "clip": CLIP_PREPROCESSOR}


def _reference(name: str):
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    cls = SiglipImageProcessor if name == "siglip" else CLIPImageProcessor
    return cls(**CONFIGS[name], do_convert_rgb=True)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def pair(request):
    ours = ImagePreprocessor(ImagePreprocessConfig.from_preprocessor_config(CONFIGS[request.param]))
    return request.param, ours, _reference(request.param)


@pytest.fixture(scope="module")
def photos():
    paths = real_image_paths()
    if len(paths) < 5:
        pytest.skip("install scikit-image, scikit-learn and matplotlib for the bundled images")
    return paths


def _ref(proc, image, **kw) -> np.ndarray:
    return proc(images=image, return_tensors="np", **kw)["pixel_values"][0]


def test_every_bundled_image_native_mode(pair, photos):
    _, ours, ref = pair
    assert any(Image.open(p).mode != "RGB" for p in photos.values())  # L, RGBA, P are among them
    for name, path in photos.items():
        image = Image.open(path)
        got = ours(path)
        want = _ref(ref, ImageOps.exif_transpose(image))
        assert got.dtype == np.float32 and got.shape == want.shape == (3, 224, 224), name
        assert np.abs(got - want).max() <= TOL, name


@pytest.mark.parametrize("mode", MODES)
def test_every_pil_mode(pair, photos, mode):
    _, ours, ref = pair
    for key in ("skimage/astronaut.png", "skimage/page.png", "skimage/logo.png"):
        src = Image.open(photos[key])
        image = src.convert("L").convert(mode) if mode.startswith("I;16") else src.convert(mode)
        assert np.abs(ours(image) - _ref(ref, image)).max() <= TOL, (key, mode)


def test_sixteen_bit_png_and_palette_transparency_from_bytes(pair, photos):
    _, ours, ref = pair
    gray = np.asarray(Image.open(photos["skimage/camera.png"]).convert("L"), dtype=np.uint16) * 257
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG")
    sixteen = Image.open(io.BytesIO(buf.getvalue()))
    assert sixteen.mode.startswith("I")
    assert np.abs(ours(buf.getvalue()) - _ref(ref, sixteen)).max() <= TOL
    pal = Image.open(photos["skimage/logo.png"]).convert("RGB").convert("P")
    pal.info["transparency"] = 0
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    decoded = Image.open(io.BytesIO(buf.getvalue()))
    assert np.abs(ours(io.BytesIO(buf.getvalue())) - _ref(ref, decoded)).max() <= TOL


def test_numpy_input_equals_pil(pair, photos):
    _, ours, ref = pair
    arr = np.asarray(Image.open(photos["sklearn/china.jpg"]).convert("RGB"))
    want = _ref(ref, arr, input_data_format="channels_last")
    assert np.abs(ours(arr) - want).max() <= TOL
    gray = arr[..., 0]
    assert np.array_equal(ours(gray), ours(Image.fromarray(gray)))
    assert np.array_equal(ours(gray[..., None]), ours(Image.fromarray(gray)))


def test_exif_rotation_follows_load_image(pair, photos):
    from transformers.image_utils import load_image as hf_load_image

    _, ours, ref = pair
    src = Image.open(photos["matplotlib/grace_hopper.jpg"]).convert("RGB").resize((300, 180))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    src.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    data = buf.getvalue()
    # transformers.image_utils.load_image applies exif_transpose: our encoded-input path does the same
    upright = hf_load_image(Image.open(io.BytesIO(data)))
    assert upright.size == (180, 300)
    assert np.abs(ours(data) - _ref(ref, upright)).max() <= TOL
    # a PIL image passed in is used as it is (the processors do not rotate it)
    raw = Image.open(io.BytesIO(data))
    assert np.abs(ours(raw) - _ref(ref, raw)).max() <= TOL


@pytest.mark.parametrize("size", [(1, 1), (2, 150), (150, 2), (4, 300), (300, 5)])
def test_tiny_and_extreme_aspect_images(pair, photos, size):
    _, ours, ref = pair
    image = Image.open(photos["skimage/coffee.png"]).convert("RGB").resize(size)
    # HF guesses the channel axis from the shape and misreads 1-pixel-high images: tell it
    want = _ref(ref, np.asarray(image), input_data_format="channels_last")
    got = ours(image)
    assert got.shape == (3, 224, 224)
    assert np.abs(got - want).max() <= TOL


def test_extreme_aspect_ratio_over_the_pixel_limit_is_refused(photos):
    clip = ImagePreprocessor(
        ImagePreprocessConfig.from_preprocessor_config(CLIP_PREPROCESSOR), max_pixels=10**6
    )
    image = Image.new("RGB", (1, 10000))  # 224 x 2,240,000 after the shortest-edge resize
    with pytest.raises(InvalidImageError, match="aspect ratio"):
        clip(image, index=4)
    siglip = ImagePreprocessor(
        ImagePreprocessConfig.from_preprocessor_config(SIGLIP_PREPROCESSOR), max_pixels=10**6
    )
    assert siglip(image).shape == (3, 224, 224)  # a direct resize has no such intermediate


def test_batches_do_not_depend_on_batch_size_or_threads(photos):
    ours = ImagePreprocessor(ImagePreprocessConfig.from_preprocessor_config(SIGLIP_PREPROCESSOR))
    items = list(photos.values())[:7]

    def run(batch_size, workers):
        return np.concatenate(
            [b for _, b in ours.iter_batches(iter(items), batch_size=batch_size, workers=workers)]
        )

    one = run(1, 1)
    assert one.shape == (7, 3, 224, 224)
    for bs, w in ((3, 2), (7, 4), (2, 3)):
        assert np.array_equal(run(bs, w), one)


def test_unknown_and_naflex_processors_are_refused():
    with pytest.raises(ArtifactError, match="ViTImageProcessor"):
        ImagePreprocessConfig.from_preprocessor_config({"image_processor_type": "ViTImageProcessor"})
    with pytest.raises(ArtifactError, match="NaFlex"):
        ImagePreprocessConfig.from_preprocessor_config({"image_processor_type": "Siglip2ImageProcessor"})


def test_config_parses_both_size_conventions():
    clip = ImagePreprocessConfig.from_preprocessor_config(CLIP_PREPROCESSOR)
    assert (clip.resize, clip.shortest_edge, clip.center_crop, clip.output_size) == (
        "shortest_edge",
        224,
        True,
        (224, 224),
    )
    siglip = ImagePreprocessConfig.from_preprocessor_config(SIGLIP_PREPROCESSOR)
    assert (siglip.resize, siglip.output_size, siglip.mean) == ("fixed", (224, 224), (0.5, 0.5, 0.5))
    assert "SiglipImageProcessor" in siglip.reference


# ----------------------------------------------------------------------------- bad input


def _jpeg_bytes(photos) -> bytes:
    buf = io.BytesIO()
    Image.open(photos["sklearn/flower.jpg"]).save(buf, format="JPEG")
    return buf.getvalue()


def test_bad_inputs_raise_typed_errors_naming_the_index(tmp_path, photos):
    jpeg = _jpeg_bytes(photos)
    png = photos["skimage/astronaut.png"].read_bytes()
    cases = {
        "no such file": str(tmp_path / "missing.jpg"),
        "not an image": b"this is plain text, not an image",
        "truncated": jpeg[: len(jpeg) // 2],
        "truncated or corrupt": png[: len(png) // 3],
        "0 bytes": b"",
        "zero size": np.zeros((0, 5, 3), np.uint8),
        "float32 array": np.zeros((4, 4, 3), np.float32),
        "expected a path": 12345,
    }
    for i, (expected, item) in enumerate(cases.items(), start=3):
        with pytest.raises(InvalidImageError) as info:
            load_image(item, index=i)
        assert f"images[{i}]" in str(info.value) and info.value.index == i
        assert expected.split()[0] in str(info.value), (expected, str(info.value))


def test_pixel_limit_is_configurable(photos):
    path = photos["skimage/astronaut.png"]  # 512 x 512
    with pytest.raises(InvalidImageError, match="over the limit"):
        load_image(path, index=0, max_pixels=512 * 512 - 1)
    assert load_image(path, index=0, max_pixels=512 * 512).size == (512, 512)
    bomb = io.BytesIO()
    Image.new("1", (10000, 10000)).save(bomb, format="PNG")  # 100 M pixels in ~12 KB of PNG
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(InvalidImageError, match=r"images\[2\].*over the limit of 89478485"):
        load_image(bomb.getvalue(), index=2)  # the default limit, checked before decoding


def test_decompression_guard_names_the_file(tmp_path):
    bomb = tmp_path / "huge-scan.png"
    Image.new("1", (10000, 10000)).save(bomb, format="PNG")
    with pytest.raises(
        InvalidImageError, match=r"images\[4\] \('.*huge-scan\.png'\) has 10000x10000"
    ) as info:
        load_image(bomb, index=4)
    assert info.value.index == 4
    with pytest.raises(InvalidImageError, match=r"pages\[1\] \(scan\.png\) has 10000x10000"):
        load_image(bomb.read_bytes(), index=1, label="pages", name="scan.png")
