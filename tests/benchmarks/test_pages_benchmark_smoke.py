"""benchmarks/pages_speed.py in --quick mode (tiny ColIdefics3, a few pages), so that it cannot rot.

The full benchmark (ColSmol-256M shapes, ~10 min on 2 cores): python benchmarks/pages_speed.py
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
def test_pages_speed_quick(tmp_path):
    pytest.importorskip("PIL")
    pytest.importorskip("pypdfium2")
    pytest.importorskip("transformers")
    from benchmarks import pages_speed

    out = tmp_path / "pages_speed.json"
    argv = ["--quick", "--rounds", "1", "--pages", "1", "--index-pages", "6", "--k", "3", "--prefetch", "4"]
    res = pages_speed.main(argv + ["--work", str(tmp_path / "work"), "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["speedup_per_page"] == res["speedup_per_page"] > 0
    assert saved["peak_rss"]["tessera"]["peak_rss_mb"] > 0 and saved["peak_rss"]["torch"]["peak_rss_mb"] > 0
    e2e = saved["end_to_end"]
    assert e2e["pages"] == 6
    sizes = {k: v["index_bytes"] for k, v in e2e["storages"].items()}
    assert sizes["float"] > sizes["int8"] > sizes["binary"] > 0
    assert all(0.0 <= v["top10_equal_fraction"] <= 1.0 for v in e2e["storages"].values())
    assert "load_average_start" in saved and saved["cpu"]["model"]
    assert (tmp_path / "pages_speed.md").is_file()


def test_pages_quality_on_own_labels(tmp_path, colidefics3_artifact):
    """benchmarks/pages_quality.py on a labelled PDF (the random model only exercises the plumbing)."""
    pytest.importorskip("pypdfium2")
    from tiny_page_models import write_pdf

    from benchmarks import pages_quality

    pdf = write_pdf(tmp_path / "doc.pdf", [(300, 400), (400, 300), (350, 350)])
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text(
        "\n".join(
            json.dumps({"query": q, "relevant": [f"{pdf}#page={p}"]}) for q, p in (("first", 1), ("third", 3))
        )
    )
    res = pages_quality.main(
        [
            str(colidefics3_artifact),
            "--pages",
            str(pdf),
            "--qrels",
            str(qrels),
            "--k",
            "2",
            "--storage",
            "float",
            "binary",
            "--prefetch",
            "2",
        ]
    )
    assert res["pages"] == 3 and res["queries"] == 2
    for key in ("float/exhaustive", "float/prefetch", "binary/exhaustive"):
        assert set(res[key]) == {"ndcg@2", "recall@2", "mrr@2"}
        assert all(0.0 <= v <= 1.0 for v in res[key].values())
    assert pages_quality.ranking_metrics(["a", "b"], {"b"}, 2) == {
        "ndcg@2": 1 / __import__("math").log2(3),
        "recall@2": 1.0,
        "mrr@2": 0.5,
    }


@pytest.mark.export
def test_pages_int8_tiny_one_page(tmp_path, colidefics3_artifact):
    """benchmarks/pages_int8.py --tiny end to end on one page and two queries, the fp32 artifact given."""
    pytest.importorskip("PIL")
    pytest.importorskip("transformers")
    from tessera_export.pages import PAGES_INT8_FLOOR
    from tiny_page_models import rendered_page

    from benchmarks import pages_int8

    page = tmp_path / "page.png"
    rendered_page(300, 400, 0).save(page)
    queries = tmp_path / "queries.txt"
    queries.write_text("total revenue\nwho signed\n")
    out = tmp_path / "int8.json"
    argv = ["--tiny", "--fp32", str(colidefics3_artifact), "--pages", str(page), "--queries", str(queries)]
    res = pages_int8.main(
        argv + ["--profiles", "blockwise", "--work", str(tmp_path / "work"), "--out", str(out)]
    )
    saved = json.loads(out.read_text())
    assert saved["profiles"] == res["profiles"] and set(res["profiles"]) == {"blockwise"}
    assert saved["pages"] == 1 and saved["queries"] == 2 and saved["machine"]["model"]
    assert "plumbing" in saved["note"] and saved["floor"] == PAGES_INT8_FLOOR
    figures = res["profiles"]["blockwise"]
    # one page: the top-1 and top-10 agree trivially; the tokens are ~1,100 page + 2 query vectors
    assert figures["top1_agreement"] == 1.0 and figures["mean_top10_overlap"] == 1.0
    assert 0.9 < figures["min_cosine_tokens"] <= figures["mean_cosine_tokens"] <= 1.0 + 1e-6
    assert figures["runtime_graph"].endswith(".onnx")
    assert figures["meets_floor"] == all(figures[k] >= v for k, v in PAGES_INT8_FLOOR.items())
    assert (tmp_path / "int8.md").read_text().count("| blockwise |") == 1


@pytest.mark.slow
def test_pages_int8_profiles_tiny(tmp_path):
    """benchmarks/pages_int8.py --tiny: every profile is reported, the recommendation follows the floor.

    The tiny weights are random: the exporter's default comes from --real-text
    (tests/benchmarks/test_pages_int8_default.py), not from this run.
    """
    pytest.importorskip("PIL")
    pytest.importorskip("transformers")
    from tessera_export.pages import PAGES_INT8_FLOOR, PAGES_INT8_PROFILES

    from benchmarks import pages_int8

    res = pages_int8.main(["--tiny", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "int8.json")])
    assert set(res["profiles"]) == set(PAGES_INT8_PROFILES)
    for figures in res["profiles"].values():
        if "export_refused" not in figures:
            assert 0.0 <= figures["top1_agreement"] <= 1.0 and figures["min_cosine_tokens"] <= 1.0 + 1e-6
    first = next((n for n in PAGES_INT8_PROFILES if res["profiles"][n]["meets_floor"]), None)
    assert res["recommended_default"] == first
    assert json.loads((tmp_path / "int8.json").read_text())["floor"] == PAGES_INT8_FLOOR
