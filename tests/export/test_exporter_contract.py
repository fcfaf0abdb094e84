"""One exporter contract, checked for every row of the paradigm table that has an exporter.

Every exporter is called as ``tessera_export.build.build_artifact`` calls it (checkpoint dir, out
dir, and the common keywords spec/model_id/precision/opset/overwrite/source/progress) and must:

- refuse a non-empty existing ``out`` without ``overwrite`` (ExportError naming ``--overwrite``),
  leaving it untouched;
- write nothing when the build fails: a failure injected at the last step (``finalize_artifact``,
  after every file is staged) leaves no staging directory beside ``out``, keeps an existing
  artifact as it was (``overwrite=True``) and creates no ``out`` when there was none;
- replace an existing directory with ``overwrite=True``;
- write a manifest whose ``parity`` block has ``reference`` and ``passed`` (true), and whose
  ``files`` hold a sha256 and size for every file of the directory, equal to the files on disk.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")

import committed_artifacts as ca  # noqa: E402

from tessera_onnx.artifact import read_manifest, sha256_file  # noqa: E402
from tessera_onnx.errors import ExportError  # noqa: E402
from tessera_onnx.paradigms import PARADIGM_TABLE  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

# the tiny checkpoint (tests/support/committed_artifacts.CHECKPOINTS) each exporting paradigm is built from
CHECKPOINT_OF = {
    "dense": "bert-dense",
    "multi_vector": "bert-pylate",
    "sparse": "bert-mlm",
    "cross_encoder": "ce-bert-1",
    "vision": "clip",
    "pages": "colidefics3",
    "timeseries": "ttm-plain",
}
EXPORTING = [row for row in PARADIGM_TABLE if row.exporter is not None]


class InjectedFailure(Exception):
    """Raised in place of the last build step."""


def test_every_exporting_paradigm_has_a_checkpoint_here():
    assert {row.name for row in EXPORTING} == set(CHECKPOINT_OF)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("contract-checkpoints")


def _entries(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


@pytest.mark.parametrize("row", EXPORTING, ids=[row.name for row in EXPORTING])
def test_exporter_contract(row, checkpoints, tmp_path, monkeypatch):
    if row.name == "timeseries":
        from ts_fixtures import require_export

        require_export()
    if row.name in ("vision", "pages"):
        pytest.importorskip("PIL")
    if row.name == "cross_encoder":
        pytest.importorskip("sentence_transformers")
    import tessera_export.artifact_writer as writer
    from tessera_export.onnx_export import DEFAULT_OPSET
    from tessera_export.progress import silent

    exporter = row.load_exporter()
    ckpt = ca.build_checkpoint(CHECKPOINT_OF[row.name], checkpoints)
    common = {
        "spec": None,
        "model_id": f"contract-{row.name}",
        "precision": "fp32",
        "opset": DEFAULT_OPSET,
        "source": {"type": "local", "path": str(ckpt)},
        "progress": silent,
    }
    if "paradigm" in inspect.signature(exporter).parameters:
        common["paradigm"] = row.name
    work = tmp_path / "work"
    out = work / "artifact"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("an earlier artifact")

    # 1. a non-empty out dir is refused without overwrite, and left as it was
    with pytest.raises(ExportError, match="overwrite"):
        exporter(ckpt, out, overwrite=False, **common)
    assert _entries(work) == ["artifact", "artifact/old.txt"]

    # 2. a build failing at its last step writes nothing: no stage left, the old artifact kept ...
    def fail(*_args, **_kwargs):
        raise InjectedFailure("injected failure at finalize_artifact")

    monkeypatch.setattr(writer, "finalize_artifact", fail)
    with pytest.raises((InjectedFailure, ExportError), match="injected failure"):
        exporter(ckpt, out, overwrite=True, **common)
    assert _entries(work) == ["artifact", "artifact/old.txt"]
    # ... and no out dir created where there was none
    with pytest.raises((InjectedFailure, ExportError), match="injected failure"):
        exporter(ckpt, work / "fresh", overwrite=False, **common)
    assert _entries(work) == ["artifact", "artifact/old.txt"]
    monkeypatch.undo()

    # 3. overwrite=True replaces the directory
    returned = exporter(ckpt, out, overwrite=True, **common)
    assert not (out / "old.txt").exists()
    assert sorted(os.listdir(work)) == ["artifact"]  # no stage or backup left beside it

    # 4. the manifest: parity block, a checksum for every file on disk
    manifest = read_manifest(out)
    assert manifest == returned
    assert manifest.paradigm == row.name
    assert manifest.parity.get("reference") and manifest.parity.get("passed") is True
    on_disk = {name for name in _entries(out) if (out / name).is_file() and name != "tessera.json"}
    assert set(manifest.files) == on_disk
    for name, entry in manifest.files.items():
        assert entry["sha256"] == sha256_file(out / name), name
        assert entry["size"] == (out / name).stat().st_size, name
