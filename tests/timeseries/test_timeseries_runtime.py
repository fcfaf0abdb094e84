"""TesseraTimeSeries behaviour: layouts, bad inputs, NaN handling, frequencies, pandas, search,
anomaly scores, the CLI, the registry entries, and the torch-free import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from ts_fixtures import CONTEXT, PREDICTION, tiny_artifact

from tessera_onnx.errors import InvalidInputError
from tessera_onnx.timeseries import (
    TesseraTimeSeries,
    as_batch,
    fit_window,
    frequency_token,
    normalize_frequency,
    std_scale,
)

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def plain():
    return TesseraTimeSeries(tiny_artifact("plain"), device="cpu", threads=1)


@pytest.fixture(scope="module")
def freq_model():
    return TesseraTimeSeries(tiny_artifact("freq"), device="cpu", threads=1)


def wave(n=100, c=None, level=10.0):
    t = np.arange(n, dtype=np.float64)
    x = np.sin(t / 4) * 3 + level
    return x if c is None else np.stack([x * (i + 1) for i in range(c)], axis=1)


# ----------------------------------------------------------------------------- pure numpy ops
def test_fit_window_crop_pad_and_nonfinite():
    x = np.arange(10, dtype=float)[:, None]
    v, m = fit_window(x, 4)
    assert v[:, 0].tolist() == [6, 7, 8, 9] and m.all()
    v, m = fit_window(x[:3], 5)
    assert v[:, 0].tolist() == [0, 0, 0, 1, 2] and m[:, 0].tolist() == [0, 0, 1, 1, 1]
    y = np.array([1.0, np.nan, np.inf, -np.inf, 5.0])[:, None]
    v, m = fit_window(y, 5)
    assert np.isfinite(v).all() and m[:, 0].tolist() == [1, 0, 0, 0, 1] and v[1:4, 0].tolist() == [0, 0, 0]


def test_std_scale_ignores_unobserved_and_floors_constant():
    x = np.array([[[0.0], [0.0], [2.0], [4.0]]])
    m = np.array([[[0.0], [0.0], [1.0], [1.0]]])
    _, loc, scale = std_scale(x, m)
    assert loc.item() == pytest.approx(3.0) and scale.item() == pytest.approx(np.sqrt(1.0 + 1e-5))
    _, loc, scale = std_scale(np.full((1, 8, 1), 7.0), np.ones((1, 8, 1)))
    assert loc.item() == 7.0 and scale.item() == pytest.approx(np.sqrt(1e-5))


@pytest.mark.parametrize(
    "freq,key",
    [
        ("h", "h"),
        ("H", "h"),
        ("1h", "h"),
        ("60min", "h"),
        ("60T", "h"),
        ("hourly", "h"),
        ("15min", "15min"),
        ("15T", "15min"),
        ("D", "d"),
        ("1D", "d"),
        ("24h", "d"),
        ("daily", "d"),
        ("W", "W"),
        ("W-SUN", "W"),
        ("7D", "W"),
        ("min", "min"),
        ("T", "min"),
        ("2min", "2min"),
        ("30min", "30min"),
        ("MS", "oov"),
        ("M", "oov"),
        ("Q", "oov"),
        ("YS", "oov"),
        ("B", "oov"),
        ("7s", "oov"),
        ("3h", "oov"),
    ],
)
def test_normalize_frequency(freq, key):
    assert normalize_frequency(freq) == key


def test_frequency_tokens_follow_granite_mapping():
    assert [
        frequency_token(f) for f in ("oov", "min", "2min", "5min", "10min", "15min", "30min", "h", "D", "W")
    ] == list(range(10))
    assert frequency_token("MS") == 0  # out of table -> oov, as in granite-tsfm
    assert frequency_token(3) == 3
    with pytest.raises(InvalidInputError, match="outside this model's frequency vocabulary"):
        frequency_token("W", vocab_size=8)
    with pytest.raises(InvalidInputError):
        frequency_token("")
    with pytest.raises(InvalidInputError):
        frequency_token(True)


def test_as_batch_layouts():
    assert as_batch(np.zeros(5)).layout == "1d"
    assert as_batch(np.zeros((5, 2))).layout == "2d"
    b = as_batch(np.zeros((3, 5, 2)))
    assert b.layout == "batch" and len(b.series) == 3
    ragged = as_batch([np.zeros(5), np.zeros(9)])
    assert ragged.layout == "batch" and [s.shape for s in ragged.series] == [(5, 1), (9, 1)]
    assert as_batch([[1, 2], [3, 4]]).layout == "2d"  # nested lists keep numpy semantics
    assert as_batch([1.0, 2.0, 3.0]).layout == "1d"


@pytest.mark.parametrize(
    "bad,match",
    [
        (None, "None"),
        (np.zeros(0), "empty"),
        (np.zeros((2, 0)), "no channels"),
        (np.zeros((1, 2, 3, 4)), "4 dimensions"),
        (np.array(["a", "b"]), "numbers"),
        ([np.zeros((4, 1)), np.zeros((4, 2))], "same number of channels"),
        (np.zeros((0, 5, 1)), "empty"),
    ],
)
def test_bad_layouts_raise_typed_errors(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        as_batch(bad)


# ----------------------------------------------------------------------------- the embedder
def test_output_layouts(plain):
    x = wave()
    assert plain.forecast(x).shape == (PREDICTION,)
    assert plain.forecast(x, horizon=5).shape == (5,)
    assert plain.forecast(wave(c=3)).shape == (PREDICTION, 3)
    assert plain.forecast(np.stack([wave(c=2)] * 4)).shape == (4, PREDICTION, 2)
    assert plain.forecast([wave(30), wave(200)]).shape == (2, PREDICTION, 1)
    assert plain.encode(x).shape == (plain.dimension,)
    assert plain.encode(wave(c=3), per_channel=True).shape == (3, plain.dimension)
    assert plain.encode(np.stack([wave(c=2)] * 4)).shape == (4, plain.dimension)
    np.testing.assert_allclose(plain.forecast(x, horizon=5), plain.forecast(x)[:5])


def test_batching_is_invisible(plain):
    x = np.stack([wave(level=i) for i in range(7)])
    small = TesseraTimeSeries(plain.path, device="cpu", threads=1, batch_size=3)
    np.testing.assert_allclose(small.forecast(x), plain.forecast(x), atol=1e-6)


def test_horizon_longer_than_model_names_a_registry_model(plain):
    with pytest.raises(InvalidInputError, match=r"exceeds the prediction length 16.*'ttm-r2-512-96'"):
        plain.forecast(wave(), horizon=50)
    with pytest.raises(InvalidInputError, match=r"'ttm-r2-512-336'"):
        plain.forecast(wave(), horizon=300)
    with pytest.raises(InvalidInputError, match="no registry TinyTimeMixer forecasts that far"):
        plain.forecast(wave(), horizon=5000)


@pytest.mark.parametrize("horizon", [0, -3, 2.5, "4", True])
def test_bad_horizon(plain, horizon):
    with pytest.raises(InvalidInputError, match="horizon must be a positive integer"):
        plain.forecast(wave(), horizon=horizon)


def test_nan_and_inf_never_reach_the_output(plain):
    x = wave()
    x[[3, 50, 98]] = [np.nan, np.inf, -np.inf]
    pred = plain.forecast(x)
    emb = plain.encode(x)
    assert np.isfinite(pred).all() and np.isfinite(emb).all()
    # unobserved points are excluded from the scaler: loc is the mean of the finite points
    stats = plain.forecast_with_stats(x)
    finite = x[-CONTEXT:][np.isfinite(x[-CONTEXT:])]
    assert stats["loc"][0, 0, 0] == pytest.approx(finite.mean(), rel=1e-5)


def test_all_nan_channel_is_an_error(plain):
    x = wave(c=2)
    x[:, 1] = np.nan
    with pytest.raises(InvalidInputError, match="channel 1 has no finite values"):
        plain.forecast(x)
    y = wave()
    y[-CONTEXT:] = np.nan  # finite values only outside the window
    with pytest.raises(InvalidInputError, match="no finite values in its last 64 steps"):
        plain.forecast(y)


def test_constant_series(plain):
    for level in (0.0, 5.0, 1e4):
        pred = plain.forecast(np.full(CONTEXT, level))
        assert np.isfinite(pred).all()
        # scale = sqrt(1e-5): the forecast stays within a few 1e-3 of the level
        np.testing.assert_allclose(pred, level, atol=0.05 + 1e-6 * level)
    stats = plain.forecast_with_stats(np.full(CONTEXT, 5.0))
    assert stats["scale"].item() == pytest.approx(np.sqrt(1e-5), rel=1e-3)


def test_short_series_padding_does_not_move_scaling(plain):
    x = wave(20, level=40.0)
    stats = plain.forecast_with_stats(x)
    assert stats["past_observed_mask"][0, : CONTEXT - 20].sum() == 0
    assert stats["loc"].item() == pytest.approx(x.mean(), rel=1e-5)
    assert stats["scale"].item() == pytest.approx(np.sqrt(x.var() + 1e-5), rel=1e-4)


def test_frequency_model_requires_and_maps_freq(freq_model):
    x = wave()
    with pytest.raises(InvalidInputError, match="needs the sampling frequency"):
        freq_model.forecast(x)
    np.testing.assert_allclose(freq_model.forecast(x, freq="h"), freq_model.forecast(x, freq="60min"))
    np.testing.assert_allclose(freq_model.forecast(x, freq="h"), freq_model.forecast(x, freq=7))
    np.testing.assert_allclose(freq_model.forecast(x, freq="MS"), freq_model.forecast(x, freq="oov"))
    with pytest.raises(InvalidInputError, match="frequencies for"):
        freq_model.forecast(np.stack([wave()[:, None]] * 2), freq=["h"])
    with pytest.raises(InvalidInputError, match="outside this model's frequency vocabulary"):
        freq_model.forecast(x, freq=12)


def test_non_frequency_model_ignores_freq(plain):
    np.testing.assert_allclose(plain.forecast(wave(), freq="h"), plain.forecast(wave()))


def test_pandas_in_pandas_out(plain, freq_model):
    pd = pytest.importorskip("pandas")
    idx = pd.date_range("2024-01-01", periods=100, freq="h")
    s = pd.Series(wave(), index=idx, name="load")
    out = plain.forecast(s, horizon=4)
    assert isinstance(out, pd.Series) and out.name == "load"
    assert list(out.index) == list(pd.date_range("2024-01-05 04:00", periods=4, freq="h"))
    np.testing.assert_allclose(out.to_numpy(), plain.forecast(wave(), horizon=4), atol=1e-6)
    df = pd.DataFrame({"a": wave(), "b": wave() * 2}, index=idx)
    fdf = plain.forecast(df)
    assert list(fdf.columns) == ["a", "b"] and fdf.shape == (PREDICTION, 2)
    # the frequency token is inferred from the DatetimeIndex
    np.testing.assert_allclose(freq_model.forecast(s).to_numpy(), freq_model.forecast(wave(), freq="h"))
    with pytest.raises(InvalidInputError, match="not numeric"):
        plain.forecast(pd.DataFrame({"a": wave(), "name": ["x"] * 100}))


def test_similarity_and_search(plain):
    t = np.arange(200.0)
    corpus = [np.sin(t / 3), np.sin(t / 3 + 0.1) * 2 + 5, np.sign(np.sin(t / 17)), t * 0.5]
    sims = plain.similarity(corpus, corpus)
    assert sims.shape == (4, 4)
    np.testing.assert_allclose(np.diag(sims), 1.0, atol=1e-5)
    hits = plain.search(np.sin(t / 3 + 0.05) * 10 - 3, corpus, top_k=2)
    assert len(hits) == 2 and hits[0][0] in (0, 1) and hits[0][1] >= hits[1][1]


def test_anomaly_scores_flag_a_spike(plain):
    x = wave(300)
    x[250] += 40.0
    x[120] = np.nan
    scores = plain.anomaly_scores(x)
    assert scores.shape == (300,)
    assert np.isnan(scores[:CONTEXT]).all()  # warm-up: min_context = min(context_length, L // 2)
    assert np.isfinite(scores[CONTEXT:120]).all()
    assert int(np.nanargmax(scores)) == 250
    assert np.isnan(plain.anomaly_scores(x, min_context=64)[120])
    multi = plain.anomaly_scores(np.stack([x, x], axis=1), horizon=4, min_context=100)
    assert multi.shape == (300, 2)
    with pytest.raises(InvalidInputError, match="one series"):
        plain.anomaly_scores(np.zeros((2, 100, 1)))
    with pytest.raises(InvalidInputError, match="min_context"):
        plain.anomaly_scores(x, min_context=400)


def test_wrong_artifact_paradigm(tmp_path):
    from tessera_onnx.artifact import Manifest, write_manifest
    from tessera_onnx.errors import ArtifactError

    write_manifest(
        tmp_path,
        Manifest(model_id="x", paradigm="dense", architecture="bert", dim=4, inputs=("a",), outputs=("b",)),
    )
    with pytest.raises(ArtifactError, match="not .timeseries."):
        TesseraTimeSeries(tmp_path, device="cpu")


def test_factory_returns_time_series_embedder(plain):
    import tessera_onnx

    factory = getattr(tessera_onnx, "Tessera", None)
    if factory is None:
        pytest.skip("tessera_onnx.Tessera is not available yet")
    model = factory(plain.path, device="cpu")
    assert type(model).__name__ == "TesseraTimeSeries"


# ----------------------------------------------------------------------------- CLI
def test_cli_forecast_and_embed(plain, tmp_path):
    from click.testing import CliRunner

    from tessera_onnx.cli import main

    pd = pytest.importorskip("pandas")
    csv = tmp_path / "data.csv"
    pd.DataFrame(
        {"date": pd.date_range("2024-03-01", periods=100, freq="D"), "sales": wave(), "visits": wave() * 3}
    ).to_csv(csv, index=False)
    runner = CliRunner()
    out = tmp_path / "forecast.csv"
    res = runner.invoke(
        main,
        ["forecast", str(plain.path), str(csv), "--time-column", "date", "--horizon", "5", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got.columns) == ["date", "sales", "visits"] and len(got) == 5
    assert got["date"].iloc[0] == "2024-06-09"
    np.testing.assert_allclose(got["sales"].to_numpy(), plain.forecast(wave(), horizon=5), rtol=1e-5)
    res = runner.invoke(main, ["forecast", str(plain.path), str(csv), "-t", "date", "-H", "500"])
    assert res.exit_code != 0 and "exceeds the prediction length" in res.output
    emb = tmp_path / "emb.json"
    res = runner.invoke(main, ["embed-series", str(plain.path), str(csv), "-t", "date", "--out", str(emb)])
    assert res.exit_code == 0, res.output
    vectors = json.loads(emb.read_text())
    assert set(vectors) == {"sales", "visits"} and len(vectors["sales"]) == plain.dimension
    np.testing.assert_allclose(vectors["sales"], plain.encode(wave()), rtol=1e-5, atol=1e-6)
    res = runner.invoke(
        main, ["embed-series", str(plain.path), str(csv), "-t", "date", "--mode", "table", "--per-channel"]
    )
    assert res.exit_code == 0 and res.output.count("\n") == 3


def test_cli_without_pandas_uses_step_numbers(plain, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import tessera_onnx.cli.timeseries as cli_ts
    from tessera_onnx.cli import main

    csv = tmp_path / "d.csv"
    csv.write_text("t,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(wave())) + "100,\n")
    monkeypatch.setattr(cli_ts, "_pandas", lambda: None)
    res = CliRunner().invoke(main, ["forecast", str(plain.path), str(csv), "-t", "t", "-H", "3"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "t,v" and [ln.split(",")[0] for ln in lines[1:]] == ["1", "2", "3"]


# ----------------------------------------------------------------------------- registry, import
def test_registry_entries():
    from tessera_onnx.registry import get_model, list_models

    models = {m.id: m for m in list_models("timeseries")}
    for ctx in (512, 1024, 1536):
        for pred in (96, 192, 336, 720):
            spec = models[f"ttm-r2-{ctx}-{pred}"]
            assert spec.option("context_length") == ctx and spec.option("prediction_length") == pred
            assert spec.option("freq_token") is False and spec.revision
            assert spec.hf_repo == "ibm-granite/granite-timeseries-ttm-r2"
    assert get_model("ttm-r2-512-96").revision == "main"
    assert get_model("ttm-r2-1024-192").revision == "1024-192-r2"
    ft = get_model("ttm-r2.1-512-96-ft")
    assert ft.option("freq_token") is True and ft.revision == "512-96-ft-r2.1"
    assert sum(1 for m in models.values() if m.option("freq_token")) >= 8


def test_runtime_import_is_torch_and_pandas_free():
    code = (
        "import sys, tessera_onnx.timeseries, tessera_onnx.cli.timeseries; "
        "bad = [m for m in ('torch', 'transformers', 'optimum', 'pandas') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unknown_parallel_mode_is_a_typed_error(plain):
    with pytest.raises(InvalidInputError, match=r"parallel must be one of \('batch', 'intra'\)"):
        TesseraTimeSeries(plain.path, device="cpu", parallel="threads")
