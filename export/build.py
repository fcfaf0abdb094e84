"""``build_artifact``: resolve the source (registry id → hub snapshot, or a local dir) and dispatch."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tessera_onnx.artifact import Manifest
from tessera_onnx.errors import ExportError, ModelNotFoundError
from tessera_onnx.paradigms import PARADIGM_TABLE, PARADIGMS, import_object
from tessera_onnx.registry import ModelSpec, get_model

from .hub import download_checkpoint
from .onnx_export import DEFAULT_OPSET
from .progress import Progress, silent

__all__ = ["build_artifact", "resolve_spec"]


def resolve_spec(model_id: str | None) -> ModelSpec | None:
    """The registry entry of ``model_id`` (None for ids outside the registry or no id)."""
    if not model_id:
        return None
    try:
        return get_model(model_id)
    except ModelNotFoundError:
        return None


def _checkpoint_config(directory: Path) -> dict[str, Any]:
    """The checkpoint's ``config.json`` (empty when absent or unreadable)."""
    import json

    if not (directory / "config.json").is_file() and (directory / "adapter_config.json").is_file():
        # a PEFT adapter: the only adapters tessera-export reads are colpali-engine page adapters
        return {"architectures": ["ColPeftAdapter"], "peft_adapter": True}
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def infer_paradigm_from_checkpoint(directory: Path) -> str | None:
    """The paradigm whose table row recognises the checkpoint's ``config.json`` (None: text decides)."""
    config = _checkpoint_config(directory)
    for row in PARADIGM_TABLE:
        if row.matches_checkpoint is not None and row.matches_checkpoint(config):
            return row.name
    return None


# Options only some exporters take: passed on when given, refused by the others.
_PARADIGM_OPTIONS = (
    "splade_pooling",
    "int8_profile",
    "trust_remote_code",
    "matryoshka_dims",
    "colpali_engine",
    "image_size",
    "optimize",
    "text_semantics",
    "against",
    "reference_python",
)
# ... of which these are general hints an exporter without the knob simply has no use for
_GENERAL_OPTIONS = ("optimize", "trust_remote_code")


def build_artifact(
    source: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    model_id: str | None = None,
    paradigm: str | None = None,
    precision: str = "fp32",
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
    splade_pooling: str | None = None,
    int8_profile: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    trust_remote_code: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    matryoshka_dims: Sequence[int] | None = None,
    colpali_engine: str | None = None,
    image_size: int | None = None,
    text_semantics: str | None = None,
    against: str | None = None,
    reference_python: str | None = None,
) -> Manifest:
    """Export a model into a self-describing artifact directory and return its manifest.

    ``source`` is a local checkpoint directory (HF / sentence-transformers / PyLate / Stanford
    layout), or a registry id / HF repo id to download with ``huggingface_hub.snapshot_download``;
    ``None`` means "download ``model_id``". ``model_id`` names the artifact (default: the registry
    id, else the directory name); registry facts fill what the checkpoint does not say.
    ``paradigm`` overrides the registry/inferred paradigm (needed for models outside the registry
    whose layout is ambiguous). ``int8_profile`` names the int8 settings (``precision="int8"``; see
    ``tessera_export.precision.INT8_PROFILES``). Raises :class:`~tessera_onnx.errors.ParityError` (and writes
    nothing) when the graph does not match the torch model within the floor of ``precision``.
    ``matryoshka_dims`` records the truncation sizes the model was trained for (for models outside
    the registry; a registry entry's own sizes are used otherwise).
    ``colpali_engine`` / ``image_size``: page retrieval (paradigm ``pages``) only: which
    colpali-engine revision's prompts the checkpoint was trained with, and the artifact's default
    image size (Idefics3: longest edge in px). ``text_semantics`` (vision, SigLIP text towers):
    ``"trained"`` (the default: max-length padding, no attention mask) or ``"transformers"`` (the
    mask is fed). ``against="colpali-engine"`` (pages): also check the artifact against
    colpali-engine run under ``reference_python`` (its own venv) and record the figures.
    """
    progress = progress or silent
    if paradigm is not None and paradigm not in PARADIGMS:
        raise ExportError(f"unknown paradigm {paradigm!r}; choose one of {list(PARADIGMS)}")
    src_info: dict[str, Any]
    local = Path(source) if source is not None and Path(source).is_dir() else None
    if local is not None:
        spec = resolve_spec(model_id)
        src_info = {"type": "local", "path": str(local.resolve())}
    else:
        name = str(source) if source is not None else model_id
        if not name:
            raise ExportError("give a model id, a hub repo, or a local checkpoint directory")
        if (
            source is not None
            and ("/" in name or "\\" in name)
            and Path(name).suffix == ""
            and Path(name).exists()
        ):
            raise ExportError(f"{name} exists but is not a directory")
        spec = resolve_spec(name)
        repo = spec.hf_repo if spec else name
        if spec is None and "/" not in repo:
            raise ExportError(
                f"{name!r} is neither a registry id, a hub repo id (org/name) nor a local directory"
            )
        revision = revision or (spec.revision if spec else None)
        local = download_checkpoint(
            repo,
            revision=revision,
            cache_dir=cache_dir,
            progress=progress,
            trust_remote_code=trust_remote_code,
        )
        src_info = {"type": "hub", "hf_repo": repo, "revision": revision, "path": str(local)}
        model_id = model_id or (spec.id if spec else repo.split("/")[-1].lower())
    if spec is not None and paradigm is not None and paradigm != spec.paradigm:
        progress(f"note: --paradigm {paradigm} differs from the registry's {spec.paradigm} for {spec.id}")
    chosen = paradigm or (spec.paradigm if spec else None) or infer_paradigm_from_checkpoint(Path(local))
    row = PARADIGMS[chosen or "dense"]  # text encoders: build_text_artifact infers dense/ColBERT/SPLADE
    if row.exporter is None:
        raise ExportError(f"paradigm {row.name!r} is not exported from a checkpoint: {row.summary}")
    try:
        exporter = row.load_exporter()
    except ImportError as exc:
        raise ExportError(f"the {row.name} exporter is not available: {exc}") from exc
    accepted = inspect.signature(exporter).parameters
    given = {
        "splade_pooling": splade_pooling,
        "int8_profile": int8_profile,
        "trust_remote_code": trust_remote_code or None,
        "matryoshka_dims": matryoshka_dims,
        "colpali_engine": colpali_engine,
        "image_size": image_size,
        "optimize": optimize,
        "text_semantics": text_semantics,
        "against": against,
        "reference_python": reference_python,
    }
    options: dict[str, Any] = {}
    for name in _PARADIGM_OPTIONS:
        value = given[name]
        if name in accepted:
            if value is not None:
                options[name] = value
        elif value is not None and name not in _GENERAL_OPTIONS:
            takers = [r.name for r in PARADIGM_TABLE if r.exporter and _takes(r.exporter, name)]
            raise ExportError(
                f"{name.replace('_', '-')} applies to {', '.join(takers) or 'no'} exports, "
                f"not to {row.name!r}; drop it"
            )
    if "paradigm" in accepted:
        options["paradigm"] = chosen
    return exporter(
        Path(local),
        Path(out_dir),
        spec=spec,
        model_id=model_id,
        precision=precision,
        opset=opset,
        overwrite=overwrite,
        source=src_info,
        progress=progress,
        **options,
    )


def _takes(exporter: str, option: str) -> bool:
    """Whether the exporter at ``exporter`` (``module:function``) takes keyword ``option``."""
    try:
        return option in inspect.signature(import_object(exporter)).parameters
    except ImportError:
        return False
