"""Every fixture artifact builds, verifies, and records parity within the fp32 floor."""

from __future__ import annotations

import json

import pytest

from tessera_onnx.artifact import read_manifest, verify_files
from tessera_onnx.text.config import DenseConfig, MultiVectorConfig, SparseConfig, TextConfig

ARTIFACTS = [
    ("minilm_artifact", "dense", "last_hidden_state"),
    ("splade_artifact", "sparse", "sparse_embedding"),
    ("splade_logits_artifact", "sparse", "logits"),
    ("tiny_bert_dense_artifact", "dense", "last_hidden_state"),
    ("tiny_modernbert_dense_artifact", "dense", "last_hidden_state"),
    ("tiny_xlmr_dense_artifact", "dense", "last_hidden_state"),
    ("tiny_colbert_pylate_artifact", "multi_vector", "token_embeddings"),
    ("tiny_colbert_stanford_artifact", "multi_vector", "token_embeddings"),
    ("tiny_modernbert_colbert_artifact", "multi_vector", "token_embeddings"),
    ("tiny_xlmr_colbert_artifact", "multi_vector", "token_embeddings"),
    ("tiny_splade_artifact", "sparse", "sparse_embedding"),
    ("tiny_splade_logits_artifact", "sparse", "logits"),
    ("tiny_modernbert_splade_artifact", "sparse", "sparse_embedding"),
    ("tiny_xlmr_splade_artifact", "sparse", "sparse_embedding"),
]


@pytest.mark.parametrize(("fixture", "paradigm", "output"), ARTIFACTS, ids=[a[0] for a in ARTIFACTS])
def test_artifact_manifest_and_parity(request, fixture, paradigm, output):
    path = request.getfixturevalue(fixture)
    manifest = read_manifest(path)
    verify_files(path, manifest)
    assert manifest.paradigm == paradigm
    assert manifest.outputs == (output,)
    assert manifest.precision == "fp32" and manifest.opset >= 17
    assert {"model.onnx", "tokenizer.json"} <= set(manifest.files)
    assert manifest.parity["passed"] is True
    assert manifest.parity["max_abs_diff"] <= 1e-4
    assert len(manifest.parity["cases"]) >= 3
    assert manifest.versions["torch"] and manifest.versions["onnxruntime"]
    text = TextConfig.from_dict(manifest.config["text"])
    assert text.max_length > 0
    tok = json.loads((path / "tokenizer.json").read_text())
    assert tok["truncation"] is None and tok["padding"] is None
    block = manifest.config[paradigm]
    if paradigm == "dense":
        DenseConfig.from_dict(block)
    elif paradigm == "multi_vector":
        mv = MultiVectorConfig.from_dict(block)
        assert mv.skiplist_ids
        assert mv.query_marker_id != mv.document_marker_id
    else:
        sp = SparseConfig.from_dict(block)
        assert sp.vocab_size == manifest.dim
        assert sp.pooled_in_graph == (output == "sparse_embedding")
