"""Helpers shared by the portable-graph and backend tests: canonical graph files, op domains, legacy copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tessera_onnx.artifact import MANIFEST_NAME, Manifest, file_entries, read_manifest

# fixture name -> paradigm, for every paradigm that has a graph (hyperbolic has none)
PARADIGM_FIXTURES = {
    "dense": "tiny_bert_dense_artifact",
    "multi_vector": "tiny_colbert_pylate_artifact",
    "sparse": "tiny_splade_artifact",
    "vision": "tiny_siglip_artifact",
    "pages": "colidefics3_artifact",
    "timeseries": "ttm_artifact",
}


def artifact_for(request: pytest.FixtureRequest, paradigm: str) -> Path:
    """The tiny fp32 artifact of ``paradigm`` (TinyTimeMixer from ``ts_fixtures``, the rest from conftest)."""
    if paradigm == "timeseries":
        from ts_fixtures import require_export, tiny_artifact

        require_export()
        return tiny_artifact("plain")
    return request.getfixturevalue(PARADIGM_FIXTURES[paradigm])


def canonical_graphs(manifest: Manifest) -> list[str]:
    """The canonical graph files of an artifact, whatever its paradigm."""
    if manifest.paradigm == "vision":
        from tessera_onnx.vision.config import ImageTextConfig

        cfg = ImageTextConfig.from_dict(manifest.config["vision"])
        return [cfg.image_model_file, cfg.text_model_file]
    if manifest.paradigm == "pages":
        from tessera_onnx.pages.config import PagesConfig

        cfg = PagesConfig.from_dict(manifest.config["pages"])
        return [cfg.vision_model_file, cfg.language_model_file]
    return [manifest.model_file]


def node_domains(path: Path) -> tuple[set[str], int]:
    """The operator domains a graph's nodes use (``ai.onnx`` for the default) and its ``ai.onnx`` opset."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    domains = {node.domain or "ai.onnx" for node in model.graph.node}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return domains, opset


def legacy_copy(artifact: Path, out: Path) -> Path:
    """A copy of ``artifact`` as the exporter wrote it before portable graphs: the onnxruntime variant
    as ``model.onnx`` and no ``variants`` field in the manifest."""
    shutil.copytree(artifact, out)
    manifest = read_manifest(out)
    variant = manifest.variants["onnxruntime"]["graphs"][manifest.model_file]
    (out / manifest.model_file).unlink()
    (out / (manifest.model_file + ".data")).unlink(missing_ok=True)
    shutil.copyfile(out / variant, out / manifest.model_file)  # its weights stay in <variant>.data
    (out / variant).unlink()
    data = json.loads((out / MANIFEST_NAME).read_text())
    data.pop("variants")
    names = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME]
    data["files"] = file_entries(out, names)
    (out / MANIFEST_NAME).write_text(json.dumps(data))
    return out
