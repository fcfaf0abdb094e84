"""verify_files(cached=True): hash once, trust while the file is unchanged, re-hash on any write."""

from __future__ import annotations

import pytest

from tessera_onnx import artifact
from tessera_onnx.artifact import Manifest, file_entries, verify_files
from tessera_onnx.errors import ChecksumError


@pytest.fixture()
def small_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "cache"))
    root = tmp_path / "art"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"graph-bytes" * 100)
    (root / "model.onnx.data").write_bytes(bytes(range(256)) * 40)
    manifest = Manifest(
        model_id="x",
        paradigm="dense",
        architecture="bert",
        dim=4,
        inputs=("input_ids",),
        outputs=("last_hidden_state",),
        files=file_entries(root, ["model.onnx", "model.onnx.data"]),
    )
    return root, manifest


def _count_hashes(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = artifact.sha256_file

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(artifact, "sha256_file", counting)
    return calls


def test_second_check_does_not_rehash(small_artifact, monkeypatch):
    root, manifest = small_artifact
    calls = _count_hashes(monkeypatch)
    verify_files(root, manifest, cached=True)
    assert len(calls) == 2
    verify_files(root, manifest, cached=True)
    assert len(calls) == 2, "unchanged files must be trusted from the cache"
    verify_files(root, manifest)  # uncached: always hashes
    assert len(calls) == 4


def test_same_size_tampering_is_caught_after_caching(small_artifact):
    root, manifest = small_artifact
    verify_files(root, manifest, cached=True)
    data = bytearray((root / "model.onnx.data").read_bytes())
    data[100] ^= 0xFF
    (root / "model.onnx.data").write_bytes(bytes(data))  # same size, new ctime
    with pytest.raises(ChecksumError, match="model.onnx.data"):
        verify_files(root, manifest, cached=True)


def test_unwritable_cache_still_verifies(small_artifact, monkeypatch, tmp_path):
    root, manifest = small_artifact
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("TESSERA_HOME", str(blocker))
    verify_files(root, manifest, cached=True)  # cannot store the record, must not fail
    (root / "model.onnx").write_bytes(b"evil" * 275)
    with pytest.raises(ChecksumError, match="model.onnx"):
        verify_files(root, manifest, cached=True)
