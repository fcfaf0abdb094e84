"""Smoke test of benchmarks/rerank.py at tiny size (plumbing only: no timings)."""

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
    assert set(res["int8_exports"]) == {"split", "blockwise"}
    assert "int8-blockwise" in res["quality"] and "speed_seconds_per_query" not in res
