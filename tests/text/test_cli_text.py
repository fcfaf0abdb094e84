"""The text commands of the ``tessera`` CLI: encode, similarity, info, models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tessera_onnx import Tessera
from tessera_onnx.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "the cat sat"}\n\n{"text": "dogs bark loudly"}\n"a bare string"\n')
    return path


def test_encode_dense_to_npy_and_jsonl(runner, tiny_bert_dense_artifact, jsonl, tmp_path):
    out = tmp_path / "out.npy"
    result = runner.invoke(
        main, ["encode", str(tiny_bert_dense_artifact), str(jsonl), "-o", str(out), "--progress"]
    )
    assert result.exit_code == 0, result.output
    arr = np.load(out)
    expected = Tessera(tiny_bert_dense_artifact).encode(["the cat sat", "dogs bark loudly", "a bare string"])
    np.testing.assert_allclose(arr, expected, atol=1e-6)
    result = runner.invoke(main, ["encode", str(tiny_bert_dense_artifact), str(jsonl), "--queries"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 3 and len(rows[0]["embedding"]) == arr.shape[1]


def test_encode_text_file_stdin_and_dimension_errors(runner, tiny_bert_dense_artifact, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("one\ntwo\n")
    result = runner.invoke(
        main, ["encode", str(tiny_bert_dense_artifact), str(src), "-o", str(tmp_path / "o.npz")]
    )
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "o.npz")["embeddings"].shape[0] == 2
    result = runner.invoke(main, ["encode", str(tiny_bert_dense_artifact), "-"], input="x\ny\n")
    assert result.exit_code == 0 and result.stdout.count("embedding") == 2
    result = runner.invoke(main, ["encode", str(tiny_bert_dense_artifact), str(src), "--dimension", "0"])
    assert result.exit_code != 0 and "dimension" in result.output


def test_encode_colbert_and_splade(
    runner, tiny_colbert_stanford_artifact, tiny_splade_artifact, jsonl, tmp_path
):
    out = tmp_path / "mv.npz"
    result = runner.invoke(
        main, ["encode", str(tiny_colbert_stanford_artifact), str(jsonl), "--documents", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = np.load(out)
    assert data["embeddings"].shape[0] == 3 and data["mask"].shape == data["embeddings"].shape[:2]
    bad = runner.invoke(
        main, ["encode", str(tiny_colbert_stanford_artifact), str(jsonl), "-o", str(tmp_path / "x.npy")]
    )
    assert bad.exit_code != 0 and ".npz" in bad.output
    result = runner.invoke(main, ["encode", str(tiny_splade_artifact), str(jsonl), "--top-k", "4"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert all(len(r["indices"]) <= 4 for r in rows) and len(rows) == 3


def test_similarity(runner, tiny_colbert_pylate_artifact):
    result = runner.invoke(
        main, ["similarity", str(tiny_colbert_pylate_artifact), "a query", "doc one", "doc two", "--json"]
    )
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.stdout)
    assert [r["index"] for r in ranked] != [] and ranked[0]["score"] >= ranked[1]["score"]


def test_info_and_models(runner, tiny_bert_dense_artifact):
    result = runner.invoke(main, ["info", str(tiny_bert_dense_artifact), "--verify"])
    assert result.exit_code == 0, result.output
    assert "dense" in result.output and "checksums OK" in result.output
    result = runner.invoke(main, ["info", str(tiny_bert_dense_artifact), "--json"])
    assert json.loads(result.stdout)["paradigm"] == "dense"
    result = runner.invoke(main, ["models", "--paradigm", "multi_vector", "--json"])
    models = json.loads(result.stdout)
    assert models and all(m["paradigm"] == "multi_vector" for m in models)
    result = runner.invoke(main, ["models"])
    assert "all-minilm-l6-v2" in result.output
    result = runner.invoke(main, ["info", "no-such-model-xyz"])
    assert result.exit_code != 0 and "unknown model id" in result.output


@pytest.mark.parametrize("paradigm", ["dense", "multi_vector", "sparse", "vision", "pages", "timeseries"])
def test_models_filters_by_every_paradigm_of_the_table(runner, paradigm):
    """`tessera models --paradigm` offers every paradigm of the table (pages was once refused)."""
    result = runner.invoke(main, ["models", "--paradigm", paradigm, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and {r["paradigm"] for r in rows} == {paradigm}


def test_encode_uses_the_library_batch_size_unless_given(
    runner, tiny_bert_dense_artifact, tmp_path, monkeypatch
):
    """`tessera encode` passes --batch-size only when given, so the library default (16 on CPU) applies."""
    from tessera_onnx.text.base import TextEmbedder

    seen: list[object] = []
    original = TextEmbedder._check_batch_size

    def spy(self, batch_size):
        seen.append(batch_size)
        return original(self, batch_size)

    monkeypatch.setattr(TextEmbedder, "_check_batch_size", spy)
    source = tmp_path / "in.txt"
    source.write_text("one text\nanother text\n")
    args = [
        "encode",
        str(tiny_bert_dense_artifact),
        str(source),
        "-o",
        str(tmp_path / "o.npy"),
        "--device",
        "cpu",
    ]
    assert runner.invoke(main, args).exit_code == 0
    assert seen == [None]
    assert runner.invoke(main, [*args, "--batch-size", "4"]).exit_code == 0
    assert seen == [None, 4]
    bad = runner.invoke(main, [*args, "--batch-size", "0"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.splitlines()) == 1
