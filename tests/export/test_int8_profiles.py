"""Named int8 profiles and the static (calibrated) quantisation path of ``tessera_export.precision``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tessera_export.precision import (  # noqa: E402
    DEFAULT_INT8_PROFILE,
    INT8_PROFILES,
    INT8_SETTINGS,
    int8_settings,
    quantize_int8,
)

from tessera_onnx.errors import ExportError  # noqa: E402

# the int8 profiles quantise onnxruntime's fused graph: the artifact's onnxruntime variant
FUSED = "model.ort.onnx"


def test_profiles_and_default():
    assert INT8_SETTINGS == INT8_PROFILES[DEFAULT_INT8_PROFILE]
    assert int8_settings() == INT8_SETTINGS
    assert int8_settings("blockwise")["method"] == "matmul_nbits"
    with pytest.raises(ExportError, match="unknown int8 profile 'avx9'.*dynamic"):
        int8_settings("avx9")


def _feeds(sess, rng, batches=4, batch=3, length=12):
    out = []
    for _ in range(batches):
        f = {}
        for i in sess.get_inputs():
            if i.name == "input_ids":
                f[i.name] = rng.integers(5, 90, size=(batch, length), dtype=np.int64)
            elif i.name == "attention_mask":
                f[i.name] = np.ones((batch, length), np.int64)
            else:
                f[i.name] = np.zeros((batch, length), np.int64)
        out.append(f)
    return out


@pytest.mark.parametrize("profile", ["static", "dynamic", "mixed", "blockwise", "split"])
def test_quantized_graph_stays_close_to_fp32(tiny_bert_dense_artifact, tmp_path, profile):
    """Each method writes a graph whose token vectors keep cosine >= 0.98 to fp32 (tiny random BERT)."""
    src = tiny_bert_dense_artifact / FUSED
    base = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    calib, test = _feeds(base, rng), _feeds(base, rng, batches=1)[0]
    settings = (
        {"method": "static", "quant_format": "QDQ", "calibrate_method": "MinMax", "per_channel": True}
        if profile == "static"
        else int8_settings(profile)
    )
    info = quantize_int8(src, tmp_path / "q.onnx", settings, calibration=calib)
    assert info["method"] == settings["method"]
    if profile == "static":
        assert info["calibration_batches"] == len(calib)
    got = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(None, test)[
        0
    ]
    ref = base.run(None, test)[0]
    a, b = got.reshape(-1, got.shape[-1]), ref.reshape(-1, ref.shape[-1])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() >= 0.98, cos.min()


def test_static_needs_calibration(tiny_bert_dense_artifact, tmp_path):
    with pytest.raises(ExportError, match="calibration"):
        quantize_int8(tiny_bert_dense_artifact / FUSED, tmp_path / "q.onnx", {"method": "static"})


def test_convert_precision_records_the_profile(tiny_bert_dense_artifact, tmp_path):
    from tessera_export.precision import convert_precision

    src = tiny_bert_dense_artifact / FUSED
    info = convert_precision(src, tmp_path / "q.onnx", "int8", int8_profile="mixed")
    assert info["profile"] == "mixed" and "excluded_as" in info
    calib = _feeds(
        ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]), np.random.default_rng(1)
    )
    info = convert_precision(src, tmp_path / "d.onnx", "int8", calibration=calib)
    assert info["profile"] == DEFAULT_INT8_PROFILE == "split"
    assert info["outlier_split"]["ffn_blocks"] == 2 and info["outlier_split"]["calibration_batches"] == 4


def test_cli_int8_profile_needs_int8(tmp_path):
    from click.testing import CliRunner
    from tessera_export.cli import main

    res = CliRunner().invoke(main, ["build", "x", "--out", str(tmp_path / "a"), "--int8-profile", "mixed"])
    assert res.exit_code != 0 and "--int8-profile goes with --precision int8" in res.output
    res = CliRunner().invoke(main, ["build", "--help"])
    assert "--int8-profile [blockwise|dynamic|mixed|split]" in res.output


def test_split_needs_calibration(tiny_bert_dense_artifact, tmp_path):
    with pytest.raises(ExportError, match="calibration.*'dynamic'"):
        quantize_int8(tiny_bert_dense_artifact / FUSED, tmp_path / "q.onnx", int8_settings("split"))


def test_outlier_split_is_exact_before_quantisation(tiny_bert_dense_artifact, tmp_path):
    """The rewritten fp32 graph computes the same function (max abs diff <= 1e-5), for every FFN."""
    import onnx
    from tessera_export.outlier_split import find_ffn_sites, split_outlier_channels

    src = tiny_bert_dense_artifact / FUSED
    base = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    calib, test = _feeds(base, rng), _feeds(base, rng, batches=1, batch=2, length=20)[0]
    # ratio 1.0: every channel above the 90th percentile of the channel maxima moves to the side branch
    info = split_outlier_channels(src, tmp_path / "s.onnx", calib, ratio=1.0)
    assert info["sites"] == len(find_ffn_sites(onnx.load(str(src), load_external_data=False))) == 2
    assert all(c > 0 for c in info["channels"]) and len(info["fp32_nodes"]) == 4
    got = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"]).run(None, test)[
        0
    ]
    np.testing.assert_allclose(got, base.run(None, test)[0], atol=1e-5, rtol=0)


def test_split_profile_uses_fast_gelu(tiny_bert_dense_artifact, tmp_path):
    import onnx

    src = tiny_bert_dense_artifact / FUSED
    calib = _feeds(
        ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]), np.random.default_rng(3)
    )
    n_bias_gelu = sum(
        n.op_type == "BiasGelu" for n in onnx.load(str(src), load_external_data=False).graph.node
    )
    assert n_bias_gelu > 0  # the fixture is onnxruntime-optimised
    info = quantize_int8(src, tmp_path / "q.onnx", int8_settings("split"), calibration=calib)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node]
    # every BiasGelu, the side branches' included, became FastGelu
    assert info["approximate_gelu"]["FastGelu nodes"] == ops.count("FastGelu") >= n_bias_gelu
    assert "BiasGelu" not in ops
