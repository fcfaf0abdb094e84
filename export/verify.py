"""``verify_artifact``: checksums, a smoke inference, and optionally parity against a torch checkpoint."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.artifact import Manifest, member_path, read_manifest, verify_files
from tessera_onnx.errors import ArtifactError
from tessera_onnx.paradigms import get_paradigm, paradigms_offering
from tessera_onnx.text.config import TextConfig

from .progress import Progress, silent

__all__ = ["verify_artifact", "smoke_inference"]

# the text paradigms (what `tessera encode` takes): one graph fed token ids
_TEXT_PARADIGMS = paradigms_offering("encode", "cli")


def _text_cases(root: Path, manifest: Manifest):
    from .layouts import load_tokenizer
    from .parity import text_cases

    text = TextConfig.from_dict(manifest.config.get("text"))
    tok = load_tokenizer(root / text.tokenizer_file)
    return text_cases(
        tok,
        paradigm=manifest.paradigm,
        max_length=text.max_length,
        pad_id=text.pad_token_id,
        lowercase=text.lowercase,
        mv=manifest.config.get("multi_vector"),
    )


def smoke_inference(root: Path, manifest: Manifest) -> dict[str, Any]:
    """Run the graph on one fixed batch; check output name, shape and finiteness."""
    import onnxruntime as ort

    if manifest.paradigm not in _TEXT_PARADIGMS:  # other paradigms: every graph must load
        graphs = [name for name in manifest.files if name.endswith(".onnx")]
        for name in graphs:
            try:
                ort.InferenceSession(str(member_path(root, name)), providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise ArtifactError(f"onnxruntime cannot load {name!r} of {root}: {exc}") from exc
        return {"loaded": graphs}
    case = _text_cases(root, manifest)[1]
    try:
        session = ort.InferenceSession(str(root / manifest.model_file), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"onnxruntime cannot load {manifest.model_file!r} of {root}: {exc}") from exc
    names = [i.name for i in session.get_inputs()]
    if sorted(names) != sorted(manifest.inputs):
        raise ArtifactError(f"graph inputs {names} differ from the manifest's {list(manifest.inputs)}")
    out = session.run([manifest.outputs[0]], {n: case.feeds[n] for n in manifest.inputs})[0]
    batch = case.feeds["input_ids"].shape[0]
    if out.shape[0] != batch or out.shape[-1] != manifest.dim:
        raise ArtifactError(
            f"smoke inference gave shape {out.shape}; expected batch {batch} and dim {manifest.dim}"
        )
    if not np.all(np.isfinite(out)):
        raise ArtifactError("smoke inference produced NaN/inf")
    return {"output": manifest.outputs[0], "shape": list(out.shape)}


def verify_artifact(
    artifact: str | os.PathLike[str],
    *,
    from_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Re-check an artifact: every file's sha256/size, a smoke inference, and (``from_dir``) parity.

    Raises :class:`~tessera_onnx.errors.ChecksumError` naming a tampered/truncated/missing file,
    :class:`~tessera_onnx.errors.ArtifactError` for other defects and
    :class:`~tessera_onnx.errors.ParityError` when parity against ``from_dir`` misses the floor.
    """
    progress = progress or silent
    root = Path(artifact)
    manifest = read_manifest(root)
    progress(f"checking sha256 of {len(manifest.files)} files")
    verify_files(root, manifest)
    if manifest.model_file not in manifest.files:
        raise ArtifactError(f"the manifest does not checksum its model file {manifest.model_file!r}")
    progress("smoke inference")
    report: dict[str, Any] = {
        "artifact": str(root),
        "model_id": manifest.model_id,
        "files": len(manifest.files),
        "checksums": "ok",
        "smoke": smoke_inference(root, manifest),
    }
    if from_dir is not None:
        row = get_paradigm(manifest.paradigm)
        module = importlib.import_module(row.exporter.partition(":")[0]) if row.exporter else None
        recheck = getattr(module, "reparity", None)
        if recheck is None:
            raise ArtifactError(
                f"parity re-check for paradigm {manifest.paradigm!r} is not supported by verify; "
                "re-export the artifact to measure its parity again"
            )
        report["parity"] = recheck(root, manifest, Path(from_dir), progress)
    return report
