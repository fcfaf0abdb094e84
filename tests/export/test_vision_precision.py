"""fp16 / int8 vision artifacts: both towers converted, the token-embedding Gather quantised, cosines recorded.

Floors (export/precision.py): fp16 min cosine 0.999, int8 min cosine 0.98 against the fp32 torch
model, per tower; the build refuses to write an artifact below them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("PIL")
onnx = pytest.importorskip("onnx")
from tiny_vision_models import real_image_paths  # noqa: E402

from tessera_onnx import TesseraImageText  # noqa: E402


def _ops(path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}


def _size(artifact, name) -> int:
    files = json.loads((artifact / "tessera.json").read_text())["files"]
    return sum(v["size"] for k, v in files.items() if k.startswith(name))


@pytest.mark.parametrize("precision", [pytest.param("fp16", marks=pytest.mark.slow), "int8"])
def test_reduced_precision_siglip2(export_cache, tiny_siglip2_dir, tiny_siglip2_artifact, precision):
    from conftest import _build

    artifact = _build(export_cache, f"tiny-siglip2-{precision}", tiny_siglip2_dir, precision=precision)
    manifest = json.loads((artifact / "tessera.json").read_text())
    assert manifest["precision"] == precision
    towers = manifest["parity"]["towers"]
    floor = 0.999 if precision == "fp16" else 0.98
    for tower in ("image", "text"):
        assert towers[tower]["min_cosine"] >= floor and towers[tower]["passed"]
        assert "fp32_graph" in towers[tower]
    if precision == "int8":
        graph = onnx.load(str(artifact / "text.onnx"), load_external_data=False).graph
        table = [i for i in graph.initializer if i.name.endswith("token_embedding.weight_quantized")]
        assert table and all(i.data_type in (onnx.TensorProto.UINT8, onnx.TensorProto.INT8) for i in table)
        assert any(n.op_type == "Gather" and n.input[0] == table[0].name for n in graph.node)
        assert "MatMulInteger" in _ops(artifact / "text.onnx")
        assert _size(artifact, "text.onnx") < 0.6 * _size(tiny_siglip2_artifact, "text.onnx")
    # the runtime returns vectors close to the fp32 artifact's
    paths = list(real_image_paths().values())[:3] or None
    ref, got = TesseraImageText(tiny_siglip2_artifact), TesseraImageText(artifact)
    texts = ["a photo of a cat", "Hello, World!", "日本語"]
    cos_t = (ref.encode_texts(texts) * got.encode_texts(texts)).sum(1)
    assert cos_t.min() >= floor - 1e-3
    if paths:
        cos_i = (ref.encode_images(paths) * got.encode_images(paths)).sum(1)
        assert np.all(cos_i >= floor - 1e-3)
