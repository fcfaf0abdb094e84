"""benchmarks/memory.py on tiny models and a few hundred texts, so that it cannot rot.

The full run (2,000 vs 100,000 texts, a 10 MB text, real models): python benchmarks/memory.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))


def test_memory_benchmark_quick(
    tmp_path, tiny_bert_dense_artifact, tiny_colbert_pylate_artifact, tiny_splade_artifact
):
    from benchmarks import memory

    out = tmp_path / "memory.json"
    argv = [
        "--quick",
        "--small",
        "40",
        "--large",
        "300",
        "--big-text-mb",
        "0.2",
        "--threads",
        "1",
        "--modes",
        "encode",
        "--parallel",
        "4",
        "--dense-artifact",
        str(tiny_bert_dense_artifact),
        "--multi-vector-artifact",
        str(tiny_colbert_pylate_artifact),
        "--sparse-artifact",
        str(tiny_splade_artifact),
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert memory.main(argv) == 0
    res = json.loads(out.read_text())
    cases = {(c["paradigm"], c["mode"], c["size"]) for c in res["cases"]}
    assert ("dense", "encode", "large") in cases and ("multi_vector", "iter", "large") in cases
    assert ("sparse", "encode", "small") in cases and ("multi_vector", "encode", "large") not in cases
    large = [c for c in res["cases"] if c["size"] == "large"]
    assert all(c["identity"]["compared"] > 0 for c in large)
    assert res["all_identical"], [c["identity"] for c in large]
    assert all(c["peak_rss_mib"] > 0 and c["texts_per_s"] > 0 for c in res["cases"])
    assert res["big_text"]["peak_rss_mib"] > 0 and res["machine"]["cores"]
    assert "| dense | encode |" in out.with_suffix(".md").read_text()
