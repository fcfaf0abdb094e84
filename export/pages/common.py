"""What a page-retrieval family's exporter hands to the generic two-graph build (:mod:`tessera_export.pages`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.errors import ExportError
from tessera_onnx.pages.config import PagesConfig
from tessera_onnx.pages.family import PreparedPage

__all__ = ["PagesExportPlan", "load_safetensors_dir", "write_tokenizer_json"]


@dataclass
class PagesExportPlan:
    """A family's export plan.

    ``vision``: torch module, ``forward(*pages.vision_inputs)`` → image features (last axis
    ``hidden_size``). ``language``: ``forward(*pages.language_inputs)`` → ``[B, T, dim]``
    normalised, masked vectors. ``reference(pages, input_ids, attention_mask)``: the full torch
    reference model's output ``[B, T, dim]`` for a page batch (``pages`` given) or a query batch
    (``pages=None``), fed the way the reference processor lays inputs out. ``vision_encoder``:
    ``(heads, hidden)`` of a SigLIP-like vision encoder that onnxruntime's transformer optimizer
    can fuse (attention, LayerNorm, GELU); None leaves the vision graph as exported.
    """

    pages: PagesConfig
    architecture: str
    vision: Any
    language: Any
    vision_axes: Mapping[str, Mapping[int, str]]
    reference: Callable[[Sequence[PreparedPage] | None, np.ndarray, np.ndarray], np.ndarray]
    reference_name: str
    num_heads: int = 0
    language_axes: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    # a SigLIP-like vision encoder: onnxruntime's transformer optimizer may fuse it (heads, width)
    vision_encoder: tuple[int, int] | None = None


def load_safetensors_dir(directory: Path) -> dict[str, Any]:
    """Every tensor of every ``*.safetensors`` file in ``directory`` (sharded checkpoints included)."""
    from safetensors.torch import load_file

    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise ExportError(f"{directory} has no *.safetensors weights")
    state: dict[str, Any] = {}
    for path in files:
        state.update(load_file(str(path)))
    return state


def write_tokenizer_json(source_dir: Path, stage: Path) -> Any:
    """Write the checkpoint's fast tokenizer as ``stage/tokenizer.json`` (no truncation/padding); return it."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source_dir))
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot load the tokenizer of {source_dir}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError(f"{source_dir}: the tokenizer has no fast (tokenizer.json) version")
    data = json.loads(tokenizer.backend_tokenizer.to_str())
    data["truncation"] = None
    data["padding"] = None
    (stage / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return tokenizer


def merge_image_features(embeds: Any, input_ids: Any, features: Any, image_token_id: int) -> Any:
    """Put ``features [M, hidden]`` at the image-token positions of ``embeds [B, T, hidden]``, row-major.

    The reference's ``masked_scatter`` order, written with a gather so that ``M = 0`` (a text-only
    batch) is a valid input. An image-token position without a feature row (a query that contains
    the literal image token, fed with ``M = 0``) keeps its token embedding, as the references do when
    no pixels are given; it is never overwritten with zeros.
    """
    import torch

    is_image = input_ids == image_token_id
    rows = torch.cat([features, features.new_zeros(1, features.shape[-1])], 0)
    present = torch.cat([torch.ones_like(features[:, :1]), features.new_zeros(1, 1)], 0)
    order = (torch.cumsum(is_image.reshape(-1).to(torch.int64), 0) - 1).clamp(min=0)
    order = torch.minimum(order, present.sum().to(torch.int64))  # past the last row: the zero row
    placed = rows.index_select(0, order).reshape(embeds.shape)
    fed = present.index_select(0, order).reshape(*embeds.shape[:-1], 1) > 0
    return torch.where(is_image.unsqueeze(-1) & fed, placed, embeds)


def additive_mask(allowed: Any, dtype: Any) -> Any:
    """A boolean ``[B, 1, T, T]`` "may attend" mask as the additive mask eager attention adds (0 / dtype min).

    Given as a 4-D tensor, transformers uses it as it is, which keeps the language models
    traceable by the TorchScript exporter.
    """
    import torch

    return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)


def normalized_projection(linear: Any, hidden: Any, attention_mask: Any) -> Any:
    """The ColPali-family head: ``linear(hidden)``, ``x / ‖x‖`` (no eps), ``× attention_mask``."""
    proj = linear(hidden)
    proj = proj / proj.norm(dim=-1, keepdim=True)
    return proj * attention_mask.unsqueeze(-1).to(proj.dtype)
