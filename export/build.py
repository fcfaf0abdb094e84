"""``build_artifact``: resolve the source (registry id → hub snapshot, or a local dir) and dispatch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tessera_onnx.artifact import PARADIGMS, Manifest
from tessera_onnx.errors import ExportError, ModelNotFoundError
from tessera_onnx.registry import ModelSpec, get_model

from .cross_encoder import is_cross_encoder_checkpoint
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


def _timeseries_by_config(directory: Path) -> str | None:
    """``"timeseries"`` when the checkpoint's config.json is a TinyTimeMixer, else None (text decides)."""
    import json

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return "timeseries" if isinstance(config, dict) and config.get("model_type") == "tinytimemixer" else None


def _vision_by_config(directory: Path) -> bool:
    """True when config.json names an image–text dual encoder (SigLIP, SigLIP2, CLIP)."""
    import json

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") in ("siglip", "siglip2", "clip")


def _pages_by_config(directory: Path) -> bool:
    """True when config.json names a ColPali-family retrieval model (architectures ``Col*``)."""
    import json

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    archs = config.get("architectures") or [] if isinstance(config, dict) else []
    return any(str(a).startswith("Col") for a in archs)


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
    image size (Idefics3: longest edge in px).
    """
    progress = progress or silent
    if paradigm is not None and paradigm not in PARADIGMS:
        raise ExportError(f"unknown paradigm {paradigm!r}; choose one of {PARADIGMS}")
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
    chosen = paradigm or (spec.paradigm if spec else None) or _timeseries_by_config(Path(local))
    if chosen == "timeseries":
        try:
            from .timeseries import build_timeseries_artifact
        except ImportError as exc:
            raise ExportError(f"time-series export is not available: {exc}") from exc
        return build_timeseries_artifact(
            Path(local),
            Path(out_dir),
            spec=spec,
            model_id=model_id,
            precision=precision,
            opset=opset,
            progress=progress,
        )
    if chosen == "cross_encoder" or (chosen is None and is_cross_encoder_checkpoint(Path(local))):
        from .cross_encoder import build_cross_encoder_artifact

        return build_cross_encoder_artifact(
            Path(local),
            Path(out_dir),
            spec=spec,
            model_id=model_id,
            precision=precision,
            opset=opset,
            optimize=optimize,
            int8_profile=int8_profile,
            trust_remote_code=trust_remote_code,
            overwrite=overwrite,
            source=src_info,
            progress=progress,
        )
    if chosen == "pages" or (chosen is None and _pages_by_config(Path(local))):
        from .pages import build_pages_artifact

        return build_pages_artifact(
            Path(local),
            Path(out_dir),
            spec=spec,
            model_id=model_id,
            precision=precision,
            opset=opset,
            overwrite=overwrite,
            source=src_info,
            progress=progress,
            colpali_engine=colpali_engine,
            image_size=image_size,
            optimize=optimize,
        )
    if chosen == "vision" or (chosen is None and _vision_by_config(Path(local))):
        from .vision import build_vision_artifact

        return build_vision_artifact(
            Path(local),
            Path(out_dir),
            spec=spec,
            model_id=model_id,
            precision=precision,
            opset=opset,
            overwrite=overwrite,
            source=src_info,
            progress=progress,
            optimize=optimize,
        )
    from .text import SPLADE_POOLING_DEFAULT, build_text_artifact

    return build_text_artifact(
        Path(local),
        Path(out_dir),
        spec=spec,
        model_id=model_id,
        paradigm=chosen,
        precision=precision,
        opset=opset,
        optimize=optimize,
        splade_pooling=splade_pooling or SPLADE_POOLING_DEFAULT,
        trust_remote_code=trust_remote_code,
        overwrite=overwrite,
        source=src_info,
        progress=progress,
        int8_profile=int8_profile,
        matryoshka_dims=matryoshka_dims,
    )
