"""Tampered, truncated or missing artifact files are refused with a message naming the file."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from tessera_export import verify_artifact
from tessera_export.cli import main

from tessera_onnx.artifact import read_manifest, verify_files
from tessera_onnx.errors import ArtifactError, ChecksumError


@pytest.fixture
def artifact_copy(tmp_path, tiny_bert_dense_artifact):
    dst = tmp_path / "artifact"
    shutil.copytree(tiny_bert_dense_artifact, dst)
    return dst


def test_verify_ok(artifact_copy):
    report = verify_artifact(artifact_copy)
    assert report["checksums"] == "ok"
    assert report["smoke"]["shape"][-1] == 32


def test_cli_verify_ok(artifact_copy):
    result = CliRunner().invoke(main, ["verify", str(artifact_copy), "-q"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_tampered_file_refused(artifact_copy, name):
    path = artifact_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=name.replace(".", r"\.")):
        verify_artifact(artifact_copy)
    with pytest.raises(ChecksumError, match=name.replace(".", r"\.")):  # the runtime's load path
        verify_files(artifact_copy, read_manifest(artifact_copy))
    result = CliRunner().invoke(main, ["verify", str(artifact_copy), "-q"])
    assert result.exit_code != 0
    assert name in result.output


def test_truncated_model_refused(artifact_copy):
    path = artifact_copy / "model.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ChecksumError, match=r"model\.onnx.*truncated"):
        verify_artifact(artifact_copy)
    result = CliRunner().invoke(main, ["verify", str(artifact_copy), "-q"])
    assert result.exit_code != 0 and "model.onnx" in result.output


def test_missing_file_refused(artifact_copy):
    (artifact_copy / "tokenizer.json").unlink()
    with pytest.raises(ChecksumError, match=r"tokenizer\.json.*missing"):
        verify_artifact(artifact_copy)


def test_not_an_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="tessera.json"):
        verify_artifact(tmp_path)
    result = CliRunner().invoke(main, ["verify", str(tmp_path), "-q"])
    assert result.exit_code != 0 and "tessera.json" in result.output
