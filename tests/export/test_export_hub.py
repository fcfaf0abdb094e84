"""Hub download path, exercised with a local stand-in for snapshot_download (never the internet)."""

from __future__ import annotations

import shutil

import pytest
import tessera_export.hub as hub
from tessera_export import build_artifact

from tessera_onnx.artifact import read_manifest
from tessera_onnx.errors import ExportError


class FakeHub:
    """Copies a local checkpoint into a fake cache dir, like snapshot_download would."""

    def __init__(self, source, cache):
        self.source, self.cache, self.calls = source, cache, []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        target = self.cache / kwargs["repo_id"].replace("/", "--")
        if not target.exists():
            shutil.copytree(self.source, target)
        return str(target)


def test_build_from_hub_repo(tmp_path, monkeypatch, tiny_bert_dir):
    fake = FakeHub(tiny_bert_dir, tmp_path / "cache")
    monkeypatch.setattr(hub, "snapshot_download", fake)
    manifest = build_artifact("someorg/Tiny-Bert", tmp_path / "out", paradigm="dense")
    assert fake.calls and fake.calls[0]["repo_id"] == "someorg/Tiny-Bert"
    assert "*.safetensors" in fake.calls[0]["allow_patterns"]
    assert manifest.model_id == "tiny-bert"
    assert manifest.source["type"] == "hub" and manifest.source["hf_repo"] == "someorg/Tiny-Bert"
    assert read_manifest(tmp_path / "out").parity["passed"]


def test_registry_id_resolves_to_hf_repo(tmp_path, monkeypatch):
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        raise ConnectionError("offline")

    monkeypatch.setattr(hub, "snapshot_download", fake)
    with pytest.raises(ExportError, match="--from-dir"):
        build_artifact("all-minilm-l6-v2", tmp_path / "out")
    assert calls[0]["repo_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert not (tmp_path / "out").exists()


def test_unknown_name_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "snapshot_download", lambda **kw: pytest.fail("must not download"))
    with pytest.raises(ExportError, match="neither a registry id"):
        build_artifact("not-a-model", tmp_path / "out")


def test_snapshot_without_config_refused(tmp_path, monkeypatch):
    empty = tmp_path / "snap"
    empty.mkdir()
    monkeypatch.setattr(hub, "snapshot_download", lambda **kw: str(empty))
    with pytest.raises(ExportError, match="config.json"):
        hub.download_checkpoint("org/empty")


def test_cli_build_from_hub(tmp_path, monkeypatch, tiny_bert_dir):
    from click.testing import CliRunner
    from tessera_export.cli import main

    monkeypatch.setattr(hub, "snapshot_download", FakeHub(tiny_bert_dir, tmp_path / "cache"))
    out = tmp_path / "cli-out"
    result = CliRunner().invoke(main, ["build", "org/tiny", "--out", str(out), "--paradigm", "dense", "-q"])
    assert result.exit_code == 0, result.output
    assert read_manifest(out).source["type"] == "hub"
