"""Export plan of ColQwen2 / ColQwen2.5 checkpoints (transformers ``ColQwen2ForRetrieval``, model_type ``colqwen2``).

The generic two-graph build (:mod:`tessera_export.pages`) calls :func:`plan_qwen2vl`, which loads the
checkpoint, writes its ``tokenizer.json`` and returns the graphs of :mod:`.qwen2_graphs`,
the manifest's ``pages`` block and the torch reference.

Checkpoint layout: the transformers-native one (``vidore/colqwen2-v1.0-hf``: ``config.json``
with ``model_type: colqwen2`` and a ``vlm_config`` of type ``qwen2_vl`` or ``qwen2_5_vl``,
``embedding_proj_layer`` weights). colpali-engine checkpoints (a PEFT adapter plus
``custom_text_proj``) are converted to it first with transformers'
``models/colqwen2/convert_colqwen2_weights_to_hf.py``.

Input contract pinned in the manifest: the slow ``Qwen2VLImageProcessor`` (PIL BICUBIC;
torchvision's fast processor differs by a few levels and is not what the artifact matches),
``min_pixels``/``max_pixels`` as transformers 4.57 reads them (``max_num_visual_tokens`` of
colpali-engine overrides ``max_pixels``), the document prompt, the query prefix of the chosen
colpali-engine revision (``"Query: "`` for ≤ 0.3.12 and transformers' processor, ``""`` for
≥ 0.3.13) with ``<|endoftext|>`` × 10, left padding.

Qwen2.5-VL under ``ColQwen2ForRetrieval``: transformers 4.57's forward calls
``visual.get_dtype()``, which only the Qwen2-VL vision tower defines; the plan adds that one
method (returning the weights' dtype) to the loaded model so the reference runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera_onnx.errors import ExportError
from tessera_onnx.pages.config import PagesConfig
from tessera_onnx.pages.family import PreparedPage
from tessera_onnx.pages.qwen2.image import QwenImageSettings
from tessera_onnx.pages.qwen2_vl import (
    AUGMENTATION_TOKEN,
    DOCUMENT_PROMPT,
    QUERY_PREFIXES,
    query_template,
    vision_input_names,
)

if TYPE_CHECKING:
    from .common import PagesExportPlan

__all__ = ["plan_qwen2vl", "plan_axes", "qwen2_pages_config", "load_colqwen2", "LANGUAGE_INPUTS"]

LANGUAGE_INPUTS = ("input_ids", "attention_mask", "image_features", "position_ids")
REFERENCE = "transformers ColQwen2ForRetrieval (Qwen2VLImageProcessor, slow), torch fp32"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc


def load_colqwen2(source_dir: Path, attn_implementation: str = "eager") -> Any:
    """``ColQwen2ForRetrieval`` in fp32, eval mode (Qwen2.5-VL reference fix applied); eager attention by default."""
    import torch
    from transformers import ColQwen2ForRetrieval

    try:
        model = ColQwen2ForRetrieval.from_pretrained(
            str(source_dir), attn_implementation=attn_implementation, dtype=torch.float32
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"cannot load {source_dir} as ColQwen2ForRetrieval: {exc}") from exc
    visual = model.vlm.visual
    if not hasattr(visual, "get_dtype"):
        visual.get_dtype = lambda: next(visual.parameters()).dtype
    return model.eval()


def qwen2_pages_config(
    source_dir: Path,
    model: Any,
    tokenizer: Any,
    *,
    colpali_engine: str = "hf",
    image_size: int | None = None,
    max_num_visual_tokens: int | None = None,
) -> PagesConfig:
    """The manifest's ``pages`` block for a loaded ColQwen2 checkpoint and its tokenizer.

    ``colpali_engine``: ``"hf"`` (default: transformers' ``ColQwen2Processor``),
    ``"<=0.3.12"`` or ``">=0.3.13"`` — picks the query prefix unless ``processor_config.json``
    names one. ``image_size``: the artifact's default ``max_pixels``; ``max_num_visual_tokens``
    sets it the colpali-engine way (× 28²). Both default to the preprocessor's ``max_pixels``.
    """
    if colpali_engine not in QUERY_PREFIXES:
        raise ExportError(f"colpali_engine must be one of {sorted(QUERY_PREFIXES)}, got {colpali_engine!r}")
    vlm = model.config.vlm_config
    settings = QwenImageSettings.from_preprocessor_config(_read_json(source_dir / "preprocessor_config.json"))
    vision = vlm.vision_config
    if (settings.patch_size, settings.merge_size, settings.temporal_patch_size) != (
        vision.patch_size,
        vision.spatial_merge_size,
        vision.temporal_patch_size,
    ):
        raise ExportError(f"{source_dir}: preprocessor patch/merge sizes differ from the vision config")
    trained = settings.max_pixels
    if max_num_visual_tokens is not None:
        settings = settings.with_max_visual_tokens(max_num_visual_tokens)
    if image_size is not None:
        settings = settings.with_max_pixels(image_size)
    processor = _read_json(source_dir / "processor_config.json")
    prefix = processor.get("query_prefix", QUERY_PREFIXES[colpali_engine])
    document_prompt = processor.get("visual_prompt_prefix", DOCUMENT_PROMPT)
    image_token = "<|image_pad|>"
    image_token_id = int(tokenizer.convert_tokens_to_ids(image_token))
    if image_token_id != int(vlm.image_token_id):
        raise ExportError(
            f"{source_dir}: tokenizer id of {image_token} differs from the config's image_token_id"
        )
    augmentation = tokenizer.pad_token or AUGMENTATION_TOKEN
    window = int(getattr(vision, "window_size", 0) or 0) if vlm.model_type == "qwen2_5_vl" else 0
    hidden = int(vlm.text_config.hidden_size)
    merged = int(getattr(vision, "out_hidden_size", 0) or vision.hidden_size)
    if merged != hidden:
        raise ExportError(
            f"{source_dir}: the vision merger yields {merged}-wide features, the language model takes {hidden}"
        )
    return PagesConfig(
        family="qwen2_vl",
        dim=int(model.config.embedding_dim),
        hidden_size=hidden,
        image_token=image_token,
        image_token_id=image_token_id,
        document_prompt=document_prompt,
        query_template=query_template(prefix, augmentation, 10),
        augmentation_token=augmentation,
        augmentation_count=10,
        add_special_tokens=True,
        padding_side="left",
        pad_token_id=int(tokenizer.pad_token_id),
        colpali_engine=colpali_engine,
        vision_inputs=vision_input_names(window),
        vision_output="image_features",
        language_inputs=LANGUAGE_INPUTS,
        image_features_input="image_features",
        language_output="embeddings",
        image={**settings.to_dict(), "window_size": window, "vision_start_token": "<|vision_start|>"},
        image_size=settings.max_pixels,
        trained_image_size=trained,
        reference=REFERENCE,
    )


def _reference(model: Any, restore_windows: bool) -> Any:
    import torch

    def run(
        pages: Sequence[PreparedPage] | None, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> np.ndarray:
        feeds: dict[str, Any] = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
        }
        if pages is not None:  # the processor's layout: patches per page, zero-padded to [B, max, 1176]
            rows = []
            for page in pages:
                patches = page.vision_feeds["patches"]
                if restore_windows:  # back from window order to the processor's order
                    restore = page.vision_feeds["restore_index"]
                    patches = patches.reshape(len(restore), -1, patches.shape[-1])[restore].reshape(
                        patches.shape
                    )
                rows.append(torch.from_numpy(np.ascontiguousarray(patches)))
            feeds["pixel_values"] = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
            feeds["image_grid_thw"] = torch.tensor([list(p.grid.extra["grid_thw"]) for p in pages])
        with torch.inference_mode():
            return model(**feeds).embeddings.float().numpy()

    return run


def plan_axes(cfg: PagesConfig) -> tuple[dict[str, dict[int, str]], dict[str, dict[int, str]]]:
    """Dynamic axes of the vision graph (patch and token counts) and the language graph."""
    vision_axes: dict[str, dict[int, str]] = {
        "patches": {0: "patches"},
        "vision_pos_ids": {0: "patches"},
        "image_features": {0: "image_tokens"},
    }
    if "window_ids" in cfg.vision_inputs:
        vision_axes.update(window_ids={0: "patches"}, restore_index={0: "image_tokens"})
    language_axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
        "image_features": {0: "image_rows"},
        "position_ids": {1: "batch", 2: "sequence"},
        "embeddings": {0: "batch", 1: "sequence"},
    }
    return vision_axes, language_axes


def plan_qwen2vl(
    source_dir: Path,
    stage: Path,
    *,
    image_size: int | None = None,
    colpali_engine: str = "hf",
    max_num_visual_tokens: int | None = None,
) -> PagesExportPlan:
    """Load a ColQwen2 / ColQwen2.5 checkpoint, write ``stage/tokenizer.json``, return the export plan."""
    from .common import PagesExportPlan, write_tokenizer_json
    from .qwen2_graphs import TextGraph, VisionGraph

    source_dir = Path(source_dir)
    tokenizer = write_tokenizer_json(source_dir, stage)
    model = load_colqwen2(source_dir)
    cfg = qwen2_pages_config(
        source_dir,
        model,
        tokenizer,
        colpali_engine=colpali_engine,
        image_size=image_size,
        max_num_visual_tokens=max_num_visual_tokens,
    )
    vision_axes, language_axes = plan_axes(cfg)
    return PagesExportPlan(
        pages=cfg,
        architecture=f"colqwen2/{model.config.vlm_config.model_type}",
        vision=VisionGraph(model).eval(),
        language=TextGraph(model).eval(),
        vision_axes=vision_axes,
        reference=_reference(model, "window_ids" in cfg.vision_inputs),
        reference_name=REFERENCE,
        num_heads=int(model.config.vlm_config.text_config.num_attention_heads),
        language_axes=language_axes,
    )
