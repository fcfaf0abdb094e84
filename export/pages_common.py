"""What a page-retrieval family's exporter hands to the generic two-graph build (:mod:`.pages`)."""

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
    (``pages=None``), fed the way the reference processor lays inputs out.
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
