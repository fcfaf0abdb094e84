"""Smoke test of benchmarks/rerank.py at tiny size: every step runs (plumbing only; its timings mean nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.export
@pytest.mark.slow
def test_rerank_benchmark_smoke(tmp_path):
    pytest.importorskip("sentence_transformers")
    out = tmp_path / "rerank.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/rerank.py", "--smoke", "--size", "tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["quality"]["fp32_vs_sentence_transformers_max_abs_diff"] <= 1e-5
    assert res["smoke"] and set(res["int8_exports"]) == {"split"}  # the exporter's default profile
    assert res["int8_exports"]["split"]["default_profile"]
    q = res["quality"]["int8-split"]
    assert (
        len(q["kendall_tau_per_query"])
        == len(q["identical_top10_per_query"])
        == res["quality"]["queries"]
        == 3
    )
    speed = res["speed_seconds_per_query"]
    assert set(speed) == {"20", "30"} and {"st", "fp32", "int8-split"} <= set(speed["30"])
    assert speed["20"]["int8-split_speedup_vs_fp32"] > 0
    if "skipped" not in res["openvino"]:  # openvino importable: each artifact also ran on it
        assert set(res["openvino"]["models"]) == {"fp32", "int8-split"}, res["openvino"]
        assert res["quality"]["openvino fp32_vs_onnxruntime_fp32_max_abs_diff"] <= 1e-5  # fp32 parity bound
        assert {"openvino fp32", "openvino int8-split"} <= set(speed["30"])
        assert speed["30"]["useful_gflops_openvino_fp32"] > 0
        assert len(res["quality"]["openvino int8-split"]["kendall_tau_per_query"]) == 3
    if "skipped" not in res["fastembed"]:  # benchmarks/.venvs/fastembed exists: its scores are compared
        assert "error" not in res["fastembed"], res["fastembed"]
        assert "fastembed" in speed["20"] and res["quality"]["fastembed_vs_tessera_fp32_max_abs_diff"] < 1e-5
