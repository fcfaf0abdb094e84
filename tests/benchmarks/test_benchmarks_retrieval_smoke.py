"""The retrieval benchmark (benchmarks/retrieval.py) in --quick mode, so that it cannot rot.

Full run: python -m benchmarks.retrieval (writes benchmarks/results/retrieval.{json,md}).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))


@pytest.mark.export
def test_retrieval_benchmark_quick(tmp_path, minilm_artifact, splade_artifact, tiny_cross_encoder_artifact):
    from benchmarks import retrieval

    out = tmp_path / "retrieval.json"
    argv = [
        "--quick",
        "--dense-artifact",
        str(minilm_artifact),
        "--sparse-artifact",
        str(splade_artifact),
        "--reranker",
        str(tiny_cross_encoder_artifact),
        "--rerank-depth",
        "20",
        "--out",
        str(out),
    ]
    assert retrieval.main(argv) == 0
    res = json.loads(out.read_text())
    q = res["quality"]
    assert q["n_queries"]["dev"] + q["n_queries"]["test"] == 30
    for name in ("dense", "sparse", "rrf (k=60, weights 1:1)"):
        m = q["methods"][name]["test"]
        assert 0 <= m["mrr@10"] <= m["recall@10"] <= 1
    assert q["methods"]["dense"]["test"]["recall@10"] > 0  # MiniLM finds some of the 13-17 answers
    assert q["bytes_per_document"]["dense"] == 384 * 4
    staged = q["methods"]["dense top-20 -> cross-encoder"]["test"]  # the rerank stage's plumbing
    assert 0 <= staged["mrr@10"] <= staged["recall@10"] <= 1
    lat = res["latency"]["600"]
    assert all(v > 0 for v in lat["median_ms"].values())
    assert "sparse scipy CSR baseline" in lat["median_ms"]
    assert lat["bytes_per_document"]["dense binary codes (search structure)"] == 48
    assert res["machine"]["cpu"] and len(res["loadavg_start"]) == 3
    assert "## Latency at 600 documents" in out.with_suffix(".md").read_text()


def test_labelled_set_pairs_first_sentence_with_rest():
    from benchmarks.retrieval import _split_first_sentence, labelled_set

    assert _split_first_sentence("Too short. " + "word " * 30) is None
    first, rest = _split_first_sentence(
        "The index keeps e.g. ids in order. "
        + "It stores every vector with its metadata and more words here " * 2
        + "."
    )
    assert first == "The index keeps e.g. ids in order." and rest.startswith("It stores")
    data = labelled_set(40, 10)
    assert len(data["docs"]) == 40 and len(data["queries"]) == 10
    for q, rel in zip(data["queries"], data["relevant"], strict=True):
        assert q not in data["docs"][rel]  # the query sentence was removed from its document
