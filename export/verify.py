"""``verify_artifact``: checksums, a smoke inference, and optionally parity against a torch checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.artifact import Manifest, read_manifest, verify_files
from tessera_onnx.configs import TextConfig
from tessera_onnx.errors import ArtifactError

from .progress import Progress, silent

__all__ = ["verify_artifact", "smoke_inference"]


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

    if manifest.paradigm not in ("dense", "multi_vector", "sparse"):
        from .parity import ParityCase  # noqa: F401  (time series: only load the graph)

        ort.InferenceSession(str(root / manifest.model_file), providers=["CPUExecutionProvider"])
        return {"loaded": True}
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
        if manifest.paradigm not in ("dense", "multi_vector", "sparse"):
            raise ArtifactError(
                f"parity re-check for paradigm {manifest.paradigm!r} is not supported by verify"
            )
        report["parity"] = reparity(root, manifest, Path(from_dir), progress)
    return report


def reparity(root: Path, manifest: Manifest, from_dir: Path, progress: Progress) -> dict[str, Any]:
    """Rebuild the torch wrapper from ``from_dir`` and re-run the export-time parity check."""
    from .checkpoint import inspect_checkpoint
    from .parity import run_parity, torch_outputs
    from .text import _load_model
    from .wrappers import (
        ColBERTGraph,
        EncoderGraph,
        PooledDenseGraph,
        SpladeLogitsGraph,
        SpladePooledGraph,
        load_projection,
    )

    progress(f"loading torch model from {from_dir}")
    info = inspect_checkpoint(from_dir)
    model = _load_model(info, manifest.paradigm, trust_remote_code=False)
    names = list(manifest.inputs)
    output = manifest.outputs[0]
    cfg = manifest.config.get(manifest.paradigm, {})
    if output == "last_hidden_state":
        module = EncoderGraph(model, names)
    elif output == "sentence_embedding":
        module = PooledDenseGraph(model, names, cfg.get("pooling", "mean"), load_projection(info))
    elif output == "token_embeddings":
        module = ColBERTGraph(model, names, load_projection(info))
    elif output == "logits":
        module = SpladeLogitsGraph(model, names)
    else:
        module = SpladePooledGraph(
            model, names, cfg.get("activation", "log1p_relu"), cfg.get("aggregation", "max")
        )
    cases = _text_cases(root, manifest)
    progress("re-running parity")
    reference = torch_outputs(module, cases, names)
    return run_parity(
        reference,
        root / manifest.model_file,
        cases,
        input_names=names,
        output_name=output,
        config=manifest.config,
        precision=manifest.precision,
    )
