"""The latency benchmark's floor section (benchmarks/floor.py): the fair-share bound, the weight-bytes
counter on small graphs made with onnx.helper, the cache-size parser, and the section end to end
on a one-MatMul graph (its bandwidth figures mean nothing on a loaded machine: only their shape is
checked)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.floor import (  # noqa: E402
    fair_share_cores,
    fair_share_ratio,
    last_level_cache,
    parse_cache_size,
    weight_bytes,
)


def test_fair_share_compute_bound():
    # k busy loops, c cores, t threads: (k + t) / c once k + t > c and t <= c
    assert fair_share_ratio(2, 2, 1) == pytest.approx(1.5)
    assert fair_share_ratio(2, 2, 2) == pytest.approx(2.0)
    assert fair_share_cores(2, 2, 2) == pytest.approx(1.0)
    assert fair_share_cores(2, 2, 1) == pytest.approx(2 / 3)
    assert fair_share_ratio(0, 2, 2) == pytest.approx(1.0)  # no competitors: no slow-down
    assert fair_share_ratio(1, 4, 2) == pytest.approx(1.0)  # k + t <= c: every thread keeps a core
    assert fair_share_ratio(2, 2, 4) == pytest.approx(2 * 6 / (2 * 4))  # min(t,c)(k+t)/(ct)
    with pytest.raises(ValueError):
        fair_share_cores(2, 0, 1)


def test_fair_share_bandwidth_bound():
    # a call that one thread nearly saturates: speed 20 on 1 core, 24 on 2 -> 24 / 20 at t = 2
    assert fair_share_ratio(2, 2, 2, {1: 20.0, 2: 24.0}) == pytest.approx(1.2)
    # linear speed gives the compute-bound figure back; t = 1 interpolates between 0 and 1 core
    assert fair_share_ratio(2, 2, 2, {1: 10.0, 2: 20.0}) == pytest.approx(2.0)
    assert fair_share_ratio(2, 2, 1, {1: 10.0, 2: 20.0}) == pytest.approx(1.5)
    # a second thread measured slower (a loaded machine) cannot make the bound drop under 1
    assert fair_share_ratio(2, 2, 2, {1: 20.0, 2: 10.0}) == pytest.approx(1.0)


def test_parse_cache_size_and_last_level_cache(tmp_path):
    assert parse_cache_size("32768K\n") == 32 << 20
    assert parse_cache_size("2M") == 2 << 20
    assert parse_cache_size("512") == 512
    for i, (level, kind, size) in enumerate(
        [(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "1024K"), (3, "Unified", "32768K")]
    ):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    assert last_level_cache(tmp_path) == {"level": 3, "bytes": 32 << 20}
    assert last_level_cache(tmp_path / "missing") == {"level": None, "bytes": None}


def _tiny_graph(embedding_op: str = "Gather"):
    """ids -> embedding table (1000 x 16 fp32) -> MatMul (16 x 32 fp32) + Add (32 fp16)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((1000, 16)).astype(np.float32), "word"),
        numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(32).astype(np.float16), "b"),
        numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Gather", ["word", "ids"], ["e"]),
        helper.make_node("MatMul", ["e", "w"], ["m"]),
        helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["m", "bf"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 32])],
        inits,
    )
    return onnx, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.export  # builds ONNX graphs with onnx (export stack)
def test_weight_bytes_leaves_out_gathered_tables(tmp_path):
    onnx, model = _tiny_graph()
    got = weight_bytes(model)
    assert got == {"bytes": 16 * 32 * 4 + 32 * 2 + 8, "initializers": 3, "excluded": {"word": 1000 * 16 * 4}}
    # from a file with external data: sizes come from the dims, the data is not loaded
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="m.onnx.data", size_threshold=0)
    assert weight_bytes(path) == got


@pytest.mark.export  # builds ONNX graphs with onnx (export stack)
def test_weight_bytes_embed_layer_normalization():
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    tables = {"word": (50, 8), "pos": (20, 8), "seg": (2, 8), "gamma": (8,), "beta": (8,)}
    inits = [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in tables.items()]
    node = helper.make_node(
        "EmbedLayerNormalization",
        ["ids", "segs", "word", "pos", "seg", "gamma", "beta"],
        ["out", "mask"],
        domain="com.microsoft",
    )
    graph = helper.make_graph(
        [node],
        "eln",
        [helper.make_tensor_value_info(n, TensorProto.INT32, [1, 4]) for n in ("ids", "segs")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 8])],
        inits,
    )
    got = weight_bytes(helper.make_model(graph))
    assert got["bytes"] == 2 * 8 * 4 and got["initializers"] == 2
    assert set(got["excluded"]) == {"word", "pos", "seg"}


@pytest.mark.export  # builds ONNX graphs with onnx (export stack)
def test_floor_section_end_to_end(tmp_path):
    pytest.importorskip("onnxruntime")
    onnx, model = _tiny_graph()
    onnx.save_model(model, str(tmp_path / "model.onnx"))
    from benchmarks.latency import floor, floor_markdown

    parts = {kind: {"median_ms": {"tokenise": 0.1, "pool": 0.05}} for kind in ("query", "passage")}
    res = floor(tmp_path, 2, parts, {"query": 2.0, "passage": 20.0}, load=2, dram_bytes=8 << 20)
    assert res["graph"] == "model.onnx" and res["weight_bytes"] == 16 * 32 * 4 + 32 * 2 + 8
    assert set(res["read_bandwidth_dram"]) == {"1", "2"}
    for r in [*res["read_bandwidth_dram"].values(), *res["read_bandwidth_weights_size_repeated"].values()]:
        assert r["gb_s"] > 0 and r["busy_cores"] > 0
    q = res["by_kind"]["query"]
    assert q["floor_ms"] > q["tokenise_plus_pool_ms"] == pytest.approx(0.15)
    assert q["floor_fraction_of_fastembed_p50"] == pytest.approx(q["floor_ms"] / 2.0)
    fs = res["fair_share"]["by_threads"]
    assert fs["1"]["compute_bound_ratio"] == pytest.approx(fair_share_ratio(2, res["fair_share"]["c"], 1))
    assert all(row["bandwidth_bound_ratio"] >= 1.0 - 1e-9 for row in fs.values())
    text = "\n".join(floor_markdown(res))
    assert "floor / fastembed p50" in text and "(k+t)/c" in text
