"""Portable canonical graphs (standard ONNX operators only), onnxruntime variants, and the on-disk
cache of graphs onnxruntime optimised at load."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
from portable_helpers import artifact_for, canonical_graphs, legacy_copy, node_domains  # noqa: E402

from benchmarks.cross_runtime_parity import graph_variant  # noqa: E402
from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.artifact import read_manifest, verify_files  # noqa: E402
from tessera_onnx.backends import open_graph  # noqa: E402
from tessera_onnx.backends.variants import requirement_met, select_variant  # noqa: E402
from tessera_onnx.errors import ArtifactError, InvalidInputError, MissingDependencyError  # noqa: E402

PARADIGMS = ("dense", "multi_vector", "sparse", "vision", "pages", "timeseries")
TEXTS = ["portable graphs run anywhere", "a second, somewhat longer sentence for the batch", "x"]


@pytest.mark.parametrize("paradigm", PARADIGMS)
def test_default_export_is_portable(request, paradigm):
    """Every graph-bearing paradigm's default export: canonical graphs use only ai.onnx (opset >= 17);
    onnxruntime-specific graphs are variants, listed with their runtime and checksummed."""
    artifact = artifact_for(request, paradigm)
    manifest = read_manifest(artifact)
    verify_files(artifact, manifest)
    assert manifest.variants is not None  # written by the current exporter
    for graph in canonical_graphs(manifest):
        domains, opset = node_domains(artifact / graph)
        assert domains == {"ai.onnx"} and opset >= 17, (graph, domains, opset)
    for variant in manifest.variants.values():
        assert variant["runtime"].startswith("onnxruntime>=") and "com.microsoft" in variant["ops_domains"]
        for canonical, file in variant["graphs"].items():
            assert canonical in canonical_graphs(manifest) and file in manifest.files
            assert "com.microsoft" in node_domains(artifact / file)[0]
    expect_variant = paradigm in ("dense", "multi_vector", "sparse", "vision", "pages")
    assert bool(manifest.variants) == expect_variant


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_canonical_graph_is_portable(export_cache, tiny_bert_dir, precision):
    from conftest import _build

    artifact = _build(
        export_cache, f"tiny-bert-{precision}", tiny_bert_dir, paradigm="dense", precision=precision
    )
    manifest = read_manifest(artifact)
    domains, opset = node_domains(artifact / "model.onnx")
    assert domains == {"ai.onnx"} and opset >= 17
    if precision == "int8":
        import onnx

        ops = {
            n.op_type for n in onnx.load(str(artifact / "model.onnx"), load_external_data=False).graph.node
        }
        assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
        assert manifest.config["export"]["precision_conversion"]["profile"] == "portable"
    variant = manifest.variants["onnxruntime"]["graphs"]["model.onnx"]
    assert "com.microsoft" in node_domains(artifact / variant)[0]
    # both graphs pass the precision's floor; their vectors agree closely
    portable = _encode(artifact, "portable")
    fused = _encode(artifact, "auto")
    cos = (portable * fused).sum(1)
    assert cos.min() >= (0.999 if precision == "fp16" else 0.98)


def _encode(artifact, choice: str, **options) -> np.ndarray:
    with graph_variant(choice):
        return Tessera(artifact, threads=1, **options).encode(TEXTS)


def test_variant_selection_rules(tiny_bert_dense_artifact):
    import onnxruntime as ort

    m = read_manifest(tiny_bert_dense_artifact)
    pick = lambda **kw: select_variant(m, "model.onnx", runtime="onnxruntime", **kw)  # noqa: E731
    assert pick(version=ort.__version__, provider="CPUExecutionProvider") == "onnxruntime"
    assert pick(version=ort.__version__, provider="CUDAExecutionProvider") == "onnxruntime"
    # CoreML does not implement com.microsoft operators; an old onnxruntime cannot load the variant
    assert pick(version=ort.__version__, provider="CoreMLExecutionProvider") is None
    assert pick(version="1.16.3", provider="CPUExecutionProvider") is None
    assert pick(version=ort.__version__, provider="CPUExecutionProvider", choice="portable") is None
    with pytest.raises(ArtifactError, match="no graph variant"):
        pick(version=ort.__version__, provider="CPUExecutionProvider", choice="tensorrt")
    with pytest.raises(ArtifactError, match="needs onnxruntime>=1.17"):
        pick(version="1.10", provider="CPUExecutionProvider", choice="onnxruntime")
    assert select_variant(m, "model.onnx", runtime="openvino", version="2026.0", provider=None) is None
    assert requirement_met("onnxruntime>=1.17", "onnxruntime", "1.17.0")
    assert requirement_met("onnxruntime>=1.17", "onnxruntime", "1.32.0.dev20260101")
    assert not requirement_met("onnxruntime>=1.17", "onnxruntime", "1.9.1")
    assert not requirement_met("onnxruntime>=1.17", "openvino", "2026.1")
    assert requirement_met("onnxruntime", "onnxruntime", "0.1") and not requirement_met(
        "", "onnxruntime", "1"
    )


def test_portable_graph_matches_the_variant_and_is_cached(tiny_bert_dense_artifact, tmp_path, monkeypatch):
    """The portable graph, optimised by onnxruntime at load, gives the variant's vectors; the optimised
    graph is saved under the cache, keyed by artifact hash, onnxruntime version and CPU flags, and read back."""
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    fused = _encode(tiny_bert_dense_artifact, "auto")
    assert not (tmp_path / "home" / "optimized").exists()  # the variant needs no optimisation pass
    first = _encode(tiny_bert_dense_artifact, "portable")
    (entry,) = (tmp_path / "home" / "optimized").iterdir()
    import onnxruntime as ort

    from tessera_onnx.backends.graph_cache import cpu_flags

    assert entry.name.endswith(f"-ort{ort.__version__}-{cpu_flags()}")
    saved = entry / "model.onnx"
    stamp = saved.stat().st_mtime_ns
    second = _encode(tiny_bert_dense_artifact, "portable")
    assert saved.stat().st_mtime_ns == stamp  # read, not rewritten
    assert np.abs(first - fused).max() <= 1e-5 and np.abs(second - first).max() <= 1e-6
    # turned off: nothing more is written
    monkeypatch.setenv("TESSERA_GRAPH_CACHE", "0")
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "other"))
    assert np.abs(_encode(tiny_bert_dense_artifact, "portable") - first).max() <= 1e-6
    assert not (tmp_path / "other" / "optimized").exists()


def test_artifacts_without_variants_load_as_before(tiny_bert_dense_artifact, tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    legacy = legacy_copy(tiny_bert_dense_artifact, tmp_path / "legacy")
    assert read_manifest(legacy).variants is None
    assert "com.microsoft" in node_domains(legacy / "model.onnx")[0]
    vectors = _encode(legacy, "auto")
    assert np.abs(vectors - _encode(tiny_bert_dense_artifact, "auto")).max() <= 1e-6
    assert not (tmp_path / "home" / "optimized").exists()  # shipped fused: loaded as is, nothing cached


def test_backend_errors_are_typed(tiny_bert_dense_artifact, monkeypatch):
    m = read_manifest(tiny_bert_dense_artifact)
    with pytest.raises(InvalidInputError, match="unknown backend"):
        open_graph(tiny_bert_dense_artifact, m, backend="tensorflow")
    with pytest.raises(InvalidInputError, match="portable graph only"):
        open_graph(tiny_bert_dense_artifact, m, backend="openvino", variant="onnxruntime")
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"tessera-onnx\[openvino\]"):
        Tessera(tiny_bert_dense_artifact, backend="openvino")
