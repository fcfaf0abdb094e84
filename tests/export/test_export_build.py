"""Build behaviour: CLI, config resolution, parity refusal, optimizer fallback, time-series dispatch."""

from __future__ import annotations

import json
import string
import sys
import types

import pytest
from click.testing import CliRunner
from tessera_export import build_artifact, verify_artifact
from tessera_export.checkpoint import inspect_checkpoint
from tessera_export.cli import main

from tessera_onnx.artifact import read_manifest
from tessera_onnx.errors import ExportError, ParityError
from tessera_onnx.registry import ModelSpec


def test_cli_list():
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    assert "all-minilm-l6-v2" in result.output and "colbertv2.0" in result.output
    data = json.loads(CliRunner().invoke(main, ["list", "--json", "--paradigm", "sparse"]).output)
    assert {m["paradigm"] for m in data} == {"sparse"}


def test_cli_build_from_dir_without_model_id(tmp_path, tiny_colbert_pylate_dir):
    out = tmp_path / "colbert"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--from-dir",
            str(tiny_colbert_pylate_dir),
            "--paradigm",
            "multi_vector",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    m = read_manifest(out)
    assert m.model_id == tiny_colbert_pylate_dir.name.lower()
    assert m.paradigm == "multi_vector" and m.outputs == ("token_embeddings",)
    assert "[tessera-export" in result.output  # progress lines (stderr, mixed in by CliRunner)


def test_cli_build_requires_a_source(tmp_path):
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0


def test_refuses_non_empty_out_without_overwrite(tmp_path, tiny_bert_dir):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="--overwrite"):
        build_artifact(tiny_bert_dir, out, paradigm="dense")
    m = build_artifact(tiny_bert_dir, out, paradigm="dense", overwrite=True, optimize=False)
    assert not (out / "keep.txt").exists() and m.config["export"]["optimized"] is False


def test_cli_verify_reruns_parity(tiny_colbert_stanford_artifact, tiny_colbert_stanford_dir):
    result = CliRunner().invoke(
        main,
        [
            "verify",
            str(tiny_colbert_stanford_artifact),
            "--from-dir",
            str(tiny_colbert_stanford_dir),
            "--json",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["parity"]["passed"] and report["parity"]["max_abs_diff"] <= 1e-4


def test_verify_parity_against_wrong_model_fails(tiny_bert_dense_artifact, tmp_path):
    from tiny_models import write_st_dense_dir

    other = write_st_dense_dir("bert", tmp_path / "other", seed=99)
    with pytest.raises(ParityError):
        verify_artifact(tiny_bert_dense_artifact, from_dir=other)


def test_parity_failure_writes_nothing(tmp_path, monkeypatch, tiny_bert_dir):
    from tessera_export import precision

    monkeypatch.setitem(precision.FLOORS, "fp32", {"max_abs_diff": -1.0})  # nothing can pass
    out = tmp_path / "never"
    with pytest.raises(ParityError, match="No artifact was written"):
        build_artifact(tiny_bert_dir, out, paradigm="dense")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no staging leftovers


def test_broken_optimizer_output_is_rejected(tmp_path, monkeypatch, tiny_bert_dir):
    import onnx
    import tessera_export.graph_finish as graph_finish

    def bad_optimizer(src, dst, **kw):
        model = onnx.load(str(src))
        for init in model.graph.initializer:  # corrupt one weight: parity must catch it
            if init.dims and len(init.dims) == 2:
                arr = onnx.numpy_helper.to_array(init) * 1.5
                init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
                break
        onnx.save(model, str(dst))
        return {"tool": "fake"}

    monkeypatch.setattr(graph_finish, "optimize_transformer", bad_optimizer)
    m = build_artifact(tiny_bert_dir, tmp_path / "a", paradigm="dense")
    assert m.config["export"]["optimized"] is False
    assert "rejected" in m.config["export"]["optimizer"]
    assert m.parity["max_abs_diff"] <= 1e-4


def test_timeseries_dispatch(tmp_path, monkeypatch, tiny_bert_dir):
    calls = {}

    def fake_build(source_dir, out_dir, *, spec, model_id, precision, opset, overwrite, source, progress):
        calls.update(
            source_dir=source_dir,
            out_dir=out_dir,
            spec=spec,
            model_id=model_id,
            precision=precision,
            opset=opset,
        )
        return "manifest"

    fake = types.ModuleType("tessera_export.timeseries")
    fake.build_timeseries_artifact = fake_build
    monkeypatch.setitem(sys.modules, "tessera_export.timeseries", fake)
    assert (
        build_artifact(tiny_bert_dir, tmp_path / "ts", paradigm="timeseries", model_id="ttm-x") == "manifest"
    )
    assert calls["source_dir"] == tiny_bert_dir and calls["model_id"] == "ttm-x" and calls["opset"] == 17


def test_st_config_wins_over_registry(tiny_bert_dir):
    from tessera_export.text import resolve_text_settings
    from transformers import AutoTokenizer

    spec = ModelSpec(
        id="x",
        hf_repo="o/x",
        paradigm="dense",
        architecture="bert",
        dim=32,
        license="mit",
        max_length=512,
        options={"pooling": "cls", "normalize": False, "query_prefix": "q: "},
    )
    info = inspect_checkpoint(tiny_bert_dir)
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    s = resolve_text_settings(info, spec, "dense", tok, tiny_bert_dir / "tokenizer.json")
    assert s.text.max_length == 64  # sentence_bert_config.json max_seq_length
    assert s.paradigm_config["pooling"] == "mean"  # 1_Pooling/config.json
    assert s.paradigm_config["normalize"] is True  # Normalize module in modules.json
    assert s.text.query_prefix == "q: "  # registry fills what the checkpoint does not say


def test_prompts_from_config_sentence_transformers(tmp_path, tiny_bert_dir):
    import shutil

    from tessera_export.text import resolve_text_settings
    from transformers import AutoTokenizer

    d = tmp_path / "p"
    shutil.copytree(tiny_bert_dir, d)
    (d / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None})
    )
    s = resolve_text_settings(
        inspect_checkpoint(d), None, "dense", AutoTokenizer.from_pretrained(d), d / "tokenizer.json"
    )
    assert (s.text.query_prefix, s.text.document_prefix) == ("query: ", "passage: ")
    assert s.text.prompts == {"query": "query: ", "passage": "passage: "}


def test_pylate_settings(tiny_colbert_pylate_artifact):
    m = read_manifest(tiny_colbert_pylate_artifact)
    mv = m.config["multi_vector"]
    assert (mv["query_length"], mv["document_length"]) == (12, 40)
    assert mv["query_marker"] == "[Q] " and mv["document_marker"] == "[D] "
    assert mv["do_query_expansion"] is True and mv["attend_to_expansion_tokens"] is False
    assert len(mv["skiplist_ids"]) == len(set(string.punctuation))
    assert m.config["text"]["query_prefix"] == ""  # markers are not text prefixes


def test_dense_activation_default_and_refusal(tmp_path):
    from tessera_export.wrappers import build_activation

    assert type(build_activation("torch.nn.modules.activation.Tanh")).__name__ == "Tanh"
    assert type(build_activation("torch.nn.modules.linear.Identity")).__name__ == "Identity"
    with pytest.raises(ExportError):
        build_activation("os.system")


def test_dense_modules_baked_for_dense_paradigm(tmp_path, tiny_bert_dir):
    """A sentence-transformers model with a Dense module after pooling: pooling + Dense in the graph."""
    import shutil

    import numpy as np
    from tiny_models import _save_dense_module

    d = tmp_path / "st-dense"
    shutil.copytree(tiny_bert_dir, d)
    _save_dense_module(
        d / "2_Dense", 32, 8, bias=True, seed=3, activation="torch.nn.modules.activation.Tanh", pylate=False
    )
    modules = json.loads((d / "modules.json").read_text())
    modules.insert(
        2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    )
    modules[3].update(idx=3, name="3")
    (d / "modules.json").write_text(json.dumps(modules))
    m = build_artifact(d, tmp_path / "a", paradigm="dense")
    assert m.outputs == ("sentence_embedding",) and m.dim == 8
    assert m.config["dense"]["pooled_in_graph"] is True
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(d), device="cpu").encode(
        ["hello world", "a longer sentence here"], normalize_embeddings=False
    )
    import onnxruntime as ort
    from tessera_export.layouts import encode_batch, load_tokenizer

    feeds = encode_batch(
        load_tokenizer(tmp_path / "a" / "tokenizer.json"),
        ["hello world", "a longer sentence here"],
        max_length=64,
        pad_id=0,
    )
    got = ort.InferenceSession(str(tmp_path / "a" / "model.onnx")).run(None, {n: feeds[n] for n in m.inputs})[
        0
    ]
    got = got / np.linalg.norm(got, axis=1, keepdims=True)  # the model has a Normalize module
    assert np.abs(got - ref).max() <= 1e-4
