"""TinyTimeMixer export: onnxruntime (via TesseraTimeSeries) vs the granite-tsfm torch model.

Forecasts and embeddings must agree within 1e-4 on full, masked (NaN), short (padded), long
(cropped), multi-channel and frequency-token inputs; the export must refuse a graph that does not.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ts_fixtures import (
    CONTEXT,
    PATCH,
    PREDICTION,
    require_export,
    tiny_artifact,
    tiny_checkpoint,
    torch_forward,
)

from tessera_onnx.errors import ExportError, ParityError
from tessera_onnx.timeseries import TesseraTimeSeries, TimeSeriesConfig, patch_observed, pool_patches

TOL = 1e-4

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module", autouse=True)
def _needs_export():
    require_export()


def _series(rng, b, n, c, offset=5.0):
    t = np.arange(n)[None, :, None]
    return (
        np.sin(t / rng.uniform(3, 9, size=(b, 1, c))) * rng.uniform(1, 3, size=(b, 1, c))
        + offset
        + rng.normal(0, 0.2, size=(b, n, c))
    )


def _torch_embed(hidden, mask, freq):
    observed = patch_observed(mask, PATCH, PATCH, CONTEXT // PATCH)
    return pool_patches(hidden, observed, skip_first=freq)


@pytest.mark.parametrize("variant", ["plain", "freq"])
def test_manifest_records_parity(variant):
    art = tiny_artifact(variant)
    manifest = json.loads((art / "tessera.json").read_text())
    assert manifest["paradigm"] == "timeseries" and manifest["architecture"] == "tinytimemixer"
    assert manifest["parity"]["passed"] is True
    assert manifest["parity"]["max_abs_diff"] < TOL
    names = {c["name"].split("_")[0] for c in manifest["parity"]["cases"]}
    assert {"full", "masked", "short"} <= names
    cfg = TimeSeriesConfig.from_dict(manifest["config"]["timeseries"])
    assert cfg.context_length == CONTEXT and cfg.prediction_length == PREDICTION
    assert cfg.num_input_channels is None and cfg.channel_mode == "common_channel"
    assert cfg.freq_token_required is (variant == "freq")
    assert cfg.scaling == "std" and cfg.d_model == manifest["dim"]
    assert ("freq_token" in manifest["inputs"]) is (variant == "freq")
    assert manifest["versions"].get("torch")


@pytest.mark.parametrize("spin", [False, True])
def test_full_batch_multichannel_matches_torch(spin):
    ts = TesseraTimeSeries(tiny_artifact("plain"), device="cpu", spin=spin)
    rng = np.random.default_rng(0)
    for c in (1, 4):  # channel axis is dynamic
        x = _series(rng, 5, CONTEXT, c)
        ref_pred, ref_hidden = torch_forward("plain", x)
        np.testing.assert_allclose(ts.forecast(x), ref_pred, atol=TOL, rtol=0)
        emb = ts.encode(x, per_channel=True)
        ref_emb = _torch_embed(ref_hidden, np.ones_like(x), False)
        np.testing.assert_allclose(emb, ref_emb, atol=TOL, rtol=0)
        np.testing.assert_allclose(ts.encode(x), ref_emb.mean(axis=1), atol=TOL, rtol=0)


def test_masked_nan_inputs_match_torch_with_same_mask():
    ts = TesseraTimeSeries(tiny_artifact("plain"), device="cpu")
    rng = np.random.default_rng(1)
    x = _series(rng, 3, CONTEXT, 2)
    holes = rng.random(x.shape) < 0.25
    x_nan = x.copy()
    x_nan[holes] = np.nan
    x_nan[0, 3, 0] = np.inf
    holes[0, 3, 0] = True
    mask = (~holes).astype(np.float32)
    ref_pred, ref_hidden = torch_forward("plain", np.where(holes, 0.0, x), mask)
    pred = ts.forecast(x_nan)
    assert np.isfinite(pred).all()
    np.testing.assert_allclose(pred, ref_pred, atol=TOL, rtol=0)
    np.testing.assert_allclose(
        ts.encode(x_nan, per_channel=True), _torch_embed(ref_hidden, mask, False), atol=TOL, rtol=0
    )


@pytest.mark.parametrize("variant", ["plain", "freq"])
def test_short_series_padding_matches_torch_padding(variant):
    """A short series: torch pads it itself (zeros, mask 0) when given a mask; so do we."""
    ts = TesseraTimeSeries(tiny_artifact(variant), device="cpu")
    rng = np.random.default_rng(2)
    n = 20
    x = _series(rng, 2, n, 1, offset=40.0)  # a large level: zero padding counted as observed would be far off
    tokens = np.array([7, 8]) if variant == "freq" else None
    ref_pred, ref_hidden = torch_forward(variant, x, np.ones_like(x), tokens)
    freq = ["h", "D"] if variant == "freq" else None
    np.testing.assert_allclose(ts.forecast(x, freq=freq), ref_pred, atol=TOL, rtol=0)
    full_mask = np.concatenate([np.zeros((2, CONTEXT - n, 1)), np.ones((2, n, 1))], axis=1)
    np.testing.assert_allclose(
        ts.encode(x, per_channel=True, freq=freq),
        _torch_embed(ref_hidden, full_mask, variant == "freq"),
        atol=TOL,
        rtol=0,
    )
    # the padding is unobserved: the forecast sits at the series level, unlike zero-padding-as-data
    unmasked_pred, _ = torch_forward(
        variant, np.concatenate([np.zeros((2, CONTEXT - n, 1)), x], axis=1), None, tokens
    )
    assert abs(ref_pred.mean() - 40) < abs(unmasked_pred.mean() - 40)


def test_long_series_uses_most_recent_context():
    ts = TesseraTimeSeries(tiny_artifact("plain"), device="cpu")
    rng = np.random.default_rng(3)
    x = _series(rng, 2, CONTEXT * 3 + 5, 1)
    ref_pred, _ = torch_forward("plain", x)  # the reference crops to the tail
    np.testing.assert_allclose(ts.forecast(x), ref_pred, atol=TOL, rtol=0)
    np.testing.assert_allclose(ts.forecast(x), ts.forecast(x[:, -CONTEXT:]), atol=1e-6)


def test_frequency_tokens_match_torch():
    ts = TesseraTimeSeries(tiny_artifact("freq"), device="cpu")
    rng = np.random.default_rng(4)
    x = _series(rng, 4, CONTEXT, 2)
    freqs = ["h", "15min", "D", "W"]
    tokens = np.array([7, 5, 8, 9])
    ref_pred, ref_hidden = torch_forward("freq", x, None, tokens)
    np.testing.assert_allclose(ts.forecast(x, freq=freqs), ref_pred, atol=TOL, rtol=0)
    np.testing.assert_allclose(
        ts.forecast(x, freq=["60min", "15T", "1D", "W-SUN"]), ref_pred, atol=TOL, rtol=0
    )
    emb = ts.encode(x, per_channel=True, freq=freqs)
    np.testing.assert_allclose(emb, _torch_embed(ref_hidden, np.ones_like(x), True), atol=TOL, rtol=0)
    # the token changes the output (the frequency patch is really in the graph)
    assert np.abs(ts.forecast(x, freq="h") - ts.forecast(x, freq="D")).max() > 1e-6


def test_mix_channel_model_fixed_channels():
    art = tiny_artifact("mix")
    ts = TesseraTimeSeries(art, device="cpu")
    assert ts.config.channel_mode == "mix_channel" and ts.config.num_input_channels == 3
    rng = np.random.default_rng(5)
    x = _series(rng, 2, CONTEXT, 3)
    ref_pred, _ = torch_forward("mix", x)
    np.testing.assert_allclose(ts.forecast(x), ref_pred, atol=TOL, rtol=0)
    from tessera_onnx.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="exactly 3 channels"):
        ts.forecast(x[..., :2])


def test_prediction_filter_length():
    ts = TesseraTimeSeries(tiny_artifact("filter"), device="cpu")
    assert ts.prediction_length == 12 and ts.config.native_prediction_length == 16
    x = _series(np.random.default_rng(6), 1, CONTEXT, 1)
    ref_pred, _ = torch_forward("filter", x)
    assert ref_pred.shape[1] == 12
    np.testing.assert_allclose(ts.forecast(x), ref_pred, atol=TOL, rtol=0)


def test_parity_failure_writes_nothing(tmp_path, monkeypatch):
    import tessera_export.timeseries as tx
    import torch

    original = tx.export_ttm_graph

    def broken(model, path, ts, *, opset=17):
        original(model, path, ts, opset=opset)
        with torch.no_grad():  # torch now differs from the written graph
            model.head.base_forecast_block.bias.add_(0.5)

    monkeypatch.setattr(tx, "export_ttm_graph", broken)
    out = tmp_path / "art"
    with pytest.raises(ParityError, match="differs from torch"):
        tx.build_timeseries_artifact(
            tiny_checkpoint("plain"), out, spec=None, model_id="broken", progress=lambda m: None
        )
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".art")]


def test_fp16_refused(tmp_path):
    from tessera_export.timeseries import build_timeseries_artifact

    with pytest.raises(ExportError, match="fp32 only"):
        build_timeseries_artifact(
            tiny_checkpoint("plain"), tmp_path / "x", spec=None, model_id="x", precision="fp16"
        )


def test_not_a_ttm_checkpoint(tmp_path):
    from tessera_export.timeseries import build_timeseries_artifact

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ExportError, match="not a TinyTimeMixer"):
        build_timeseries_artifact(
            tmp_path, tmp_path / "out", spec=None, model_id="x", progress=lambda m: None
        )


def test_registry_spec_mismatch_is_reported(tmp_path):
    """A registry spec whose facts differ from the checkpoint: warned, the checkpoint wins."""
    from tessera_export.timeseries import build_timeseries_artifact

    from tessera_onnx.registry import get_model

    messages = []
    manifest = build_timeseries_artifact(
        tiny_checkpoint("plain"),
        tmp_path / "a",
        spec=get_model("ttm-r2-512-96"),
        model_id=None,
        progress=messages.append,
    )
    assert manifest.model_id == "ttm-r2-512-96"
    assert (
        manifest.source["hf_repo"] == "ibm-granite/granite-timeseries-ttm-r2"
        and manifest.source["revision"] == "main"
    )
    assert any("context_length" in m and "warning" in m for m in messages)
    assert TesseraTimeSeries(tmp_path / "a", device="cpu").context_length == CONTEXT


def test_cli_build_from_dir_detects_tinytimemixer(tmp_path):
    """`tessera-export build --from-dir` routes a TinyTimeMixer checkpoint to the time-series exporter."""
    from click.testing import CliRunner
    from tessera_export.cli import main

    result = CliRunner().invoke(
        main, ["build", "--from-dir", str(tiny_checkpoint("plain")), "--out", str(tmp_path / "ts"), "-q"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "ts" / "tessera.json").read_text())
    assert manifest["paradigm"] == "timeseries" and manifest["architecture"] == "tinytimemixer"


@pytest.mark.parametrize("variant", ["attn", "sigmoid_gate"])
def test_patch_mixers_the_export_keeps_as_they_are_match_torch(variant):
    ts = TesseraTimeSeries(tiny_artifact(variant), device="cpu")
    x = _series(np.random.default_rng(3), 4, CONTEXT, 2)
    ref_pred, _ = torch_forward(variant, x)
    np.testing.assert_allclose(ts.forecast(x), ref_pred, atol=TOL, rtol=0)


def test_export_rewrites_patch_mixers_and_squares():
    """The patch MLPs are left-multiplied (no Transpose pair per block) and Pow(x, 2) is a Mul."""
    import onnx

    graph = onnx.load(str(tiny_artifact("plain") / "model.onnx")).graph
    ops = [n.op_type for n in graph.node]
    kept = [n.op_type for n in onnx.load(str(tiny_artifact("attn") / "model.onnx")).graph.node]
    assert "Pow" not in ops
    # granite-tsfm's own form transposes twice per patch-mixer block (kept in the "attn" variant)
    assert ops.count("Transpose") + 2 * 4 <= kept.count("Transpose")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_parallel_modes_agree_with_torch(threads):
    """``parallel="batch"`` (slices on one-thread runs) and ``"intra"`` give torch's forecasts."""
    rng = np.random.default_rng(threads)
    x = _series(rng, 13, CONTEXT, 2)  # 13 rows: uneven slices
    ref_pred, ref_hidden = torch_forward("plain", x)
    for parallel in ("batch", "intra"):
        ts = TesseraTimeSeries(tiny_artifact("plain"), device="cpu", threads=threads, parallel=parallel)
        assert ts.parallel == (parallel if threads > 1 else "intra")
        np.testing.assert_allclose(ts.forecast(x), ref_pred, atol=TOL, rtol=0)
        ref_emb = _torch_embed(ref_hidden, np.ones_like(x), False)
        np.testing.assert_allclose(ts.encode(x, per_channel=True), ref_emb, atol=TOL, rtol=0)
