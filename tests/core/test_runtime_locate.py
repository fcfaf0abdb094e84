"""Artifact resolution (path, cache, fake hub), the Tessera factory, checksums, safety."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import types

import pytest

import tessera_onnx
from tessera_onnx import Tessera, TesseraDense, TesseraMultiVector, TesseraSparse
from tessera_onnx.errors import ArtifactError, ChecksumError, ModelNotFoundError
from tessera_onnx.locate import cache_dir, resolve_artifact
from tessera_onnx.paradigms import PARADIGMS


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TESSERA_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_factory_picks_the_class(
    tiny_bert_dense_artifact, tiny_colbert_stanford_artifact, tiny_splade_artifact
):
    assert isinstance(Tessera(tiny_bert_dense_artifact), TesseraDense)
    assert isinstance(Tessera(str(tiny_colbert_stanford_artifact)), TesseraMultiVector)
    assert isinstance(tessera_onnx.load(tiny_splade_artifact), TesseraSparse)
    assert isinstance(TesseraDense(tiny_bert_dense_artifact), TesseraDense)
    with pytest.raises(ArtifactError, match="Tessera"):
        TesseraSparse(tiny_bert_dense_artifact)


def test_timeseries_manifest_goes_to_the_timeseries_class(tiny_bert_dense_artifact, tmp_path, monkeypatch):
    target = tmp_path / "ts"
    shutil.copytree(tiny_bert_dense_artifact, target)
    manifest = json.loads((target / "tessera.json").read_text())
    manifest["paradigm"] = "timeseries"
    (target / "tessera.json").write_text(json.dumps(manifest))
    seen = {}

    class FakeTimeSeries:
        def __init__(self, path, **options):
            seen.update(path=path, options=options)

    fake = types.ModuleType("fake_ts")
    fake.TesseraTimeSeries = FakeTimeSeries
    monkeypatch.setitem(sys.modules, "fake_ts", fake)
    row = dataclasses.replace(PARADIGMS["timeseries"], runtime="fake_ts:TesseraTimeSeries")
    monkeypatch.setitem(PARADIGMS, "timeseries", row)
    assert isinstance(Tessera(target, threads=1), FakeTimeSeries)
    assert seen == {"path": target, "options": {"threads": 1}}
    monkeypatch.undo()
    assert PARADIGMS["timeseries"].runtime == "tessera_onnx.timeseries.embedder:TesseraTimeSeries"


def test_cache_lookup_by_registry_id(home, tiny_bert_dense_artifact):
    # the tiny dense artifact, cached under a registry id (manifest model_id renamed to it)
    target = home / "all-minilm-l6-v2"
    target.parent.mkdir(parents=True)
    shutil.copytree(tiny_bert_dense_artifact, target)
    manifest = json.loads((target / "tessera.json").read_text())
    manifest["model_id"] = "all-minilm-l6-v2"
    (target / "tessera.json").write_text(json.dumps(manifest))
    assert cache_dir() == home
    assert resolve_artifact("all-minilm-l6-v2") == target
    assert resolve_artifact("sentence-transformers/all-MiniLM-L6-v2") == target  # HF repo name
    assert Tessera("all-minilm-l6-v2").model_id == "all-minilm-l6-v2"


def test_unknown_id_suggests_close_ids(home):
    with pytest.raises(ModelNotFoundError, match="all-minilm-l6-v2"):
        resolve_artifact("all-minilm-l6", download=False)


def test_registry_id_not_cached_explains_how_to_get_it(home):
    with pytest.raises(ModelNotFoundError, match="tessera-export"):
        resolve_artifact("bge-base-en-v1.5", download=False)


def test_missing_path(tmp_path):
    from pathlib import Path

    with pytest.raises(ArtifactError):
        resolve_artifact(Path(tmp_path / "nope"))
    with pytest.raises(ModelNotFoundError, match="no directory"):
        resolve_artifact(str(tmp_path / "nope"))


def test_download_from_a_fake_hub(home, tiny_bert_dense_artifact, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    calls = []

    def fake_snapshot_download(repo_id, local_dir, **kwargs):
        calls.append(repo_id)
        shutil.copytree(tiny_bert_dense_artifact, local_dir, dirs_exist_ok=True)
        return local_dir

    monkeypatch.setattr(hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setenv("TESSERA_HUB_ORG", "my-org")
    path = resolve_artifact("all-minilm-l6-v2")
    assert calls == ["my-org/all-minilm-l6-v2"]
    assert path == home / "all-minilm-l6-v2" and (path / "tessera.json").is_file()
    assert resolve_artifact("all-minilm-l6-v2") == path and len(calls) == 1  # cached now
    assert not [p for p in home.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_failed_download_and_offline(home, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")

    def failing(repo_id, local_dir, **kwargs):
        raise OSError("404 not found")

    monkeypatch.setattr(hub, "snapshot_download", failing)
    with pytest.raises(ModelNotFoundError, match="404"):
        resolve_artifact("all-minilm-l6-v2")
    monkeypatch.setenv("TESSERA_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="not in the artifact cache"):
        resolve_artifact("all-minilm-l6-v2")


def test_tampered_file_fails_checksum(tiny_bert_dense_artifact, tmp_path):
    target = tmp_path / "tampered"
    shutil.copytree(tiny_bert_dense_artifact, target)
    tok = target / "tokenizer.json"
    tok.write_text(tok.read_text().replace("[UNK]", "[UNQ]", 1))
    with pytest.raises(ChecksumError, match="tokenizer.json"):
        Tessera(target)
    assert Tessera(target, verify=False).encode(["x"]).shape[0] == 1


def test_manifest_cannot_point_outside_the_artifact(tiny_bert_dense_artifact, tmp_path):
    target = tmp_path / "escape"
    shutil.copytree(tiny_bert_dense_artifact, target)
    manifest = json.loads((target / "tessera.json").read_text())
    manifest["model_file"] = "../../etc/passwd"
    (target / "tessera.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="outside"):
        Tessera(target)


def test_not_an_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="tessera.json"):
        Tessera(tmp_path)
