"""The serving benchmarks in quick mode, so they cannot rot (full runs: see the README serving section)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

pytest.importorskip("httpx")
pytest.importorskip("uvicorn")


@pytest.mark.export
def test_serve_load_quick(tmp_path, minilm_artifact):
    from benchmarks import serve_load

    out = tmp_path / "serve_load.json"
    argv = [
        "--quick",
        "--peers",
        "none",
        "--duration",
        "1",
        "--overload-duration",
        "1",
        "--artifact",
        str(minilm_artifact),
        "--out",
        str(out),
    ]
    assert serve_load.main(argv) == 0
    res = json.loads(out.read_text())
    row = res["servers"]["tessera"]
    assert row["errors"] == 0 and row["texts_per_s"] > 0 and row["p50_ms"] <= row["p99_ms"]
    assert row["peak_rss_mb"] > 50
    assert row["overload"]["healthy_after"] is True
    o = row["overload"]
    assert o["sent"] == o["ok"] + o["rejected_429"] + o["refused_503"] + o["failed"]
    assert "| tessera |" in out.with_suffix(".md").read_text()


@pytest.mark.export
def test_serverless_bundle_quick(tmp_path, minilm_artifact):
    from benchmarks import serverless_bundle

    out = tmp_path / "sl.json"
    argv = [
        "--quick",
        "--from-env",
        "--runs",
        "1",
        "--artifact",
        str(minilm_artifact),
        "--out",
        str(out),
    ]
    assert serverless_bundle.main(argv) == 0
    res = json.loads(out.read_text())
    assert res["runs"][0]["dim"] > 0 and res["runs"][0]["heavy"] == []  # answered from the slim bundle
    assert "onnxruntime/tools/" in res["removed"] and res["fits"] is True
    assert res["model_bytes"] > 50e6 and res["dependencies_bytes"] > 20e6
    assert res["cold_start_s_median"] > res["import_s_median"] > 0


@pytest.mark.export
def test_serve_batch_tokens_quick(tmp_path, minilm_artifact):
    from benchmarks import serve_batch_tokens

    out = tmp_path / "bt.json"
    assert serve_batch_tokens.main(["--quick", "--artifact", str(minilm_artifact), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["budgets"]) == {"1024", "8192"} and res["fastest"] in (1024, 8192)
    assert all(row["cpu_ms_per_text"] > 0 for row in res["budgets"].values())


@pytest.mark.export
def test_serve_soak_quick(tmp_path, minilm_artifact):
    from benchmarks import serve_soak

    out = tmp_path / "soak.json"
    assert serve_soak.main(["--quick", "--artifact", str(minilm_artifact), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["slow_clients"]["normal_failed"] == 0 and res["healthy_after"] is True
    assert res["unexpected_codes"] == {} and res["soak"]["sent"] > 0
    assert len(res["rss_series_mb"]) >= 2 and res["rss"]["first_mb"] > 50
    # the mix covers every served paradigm through the tiny committed artifacts
    assert {"minilm", "splade", "colbert", "ttm"} <= set(res["models"])
    # the open loop comes from 2 client processes, merged; client errors and the server log recorded
    soak = res["soak"]
    assert soak["client_procs"] == 2 and soak["sent"] == sum(int(v) for v in soak["codes"].values())
    assert soak["client_errors"] == [] and soak["client_error_kinds"] == {}
    assert soak["keepalive_expiry_s"] < 15 and res["server_log"]["flagged"] == 0
