"""ColIdefics3 / ColSmol export plan: checkpoint → the two torch graphs, the manifest block, the reference.

The checkpoint is a colpali-engine ``ColIdefics3`` save (or a merged LoRA): ``config.json`` of
an ``Idefics3Config``, safetensors with ``model.*`` (``Idefics3Model``) and ``linear.*`` (the
128-d projection), the tokenizer and the processor files.

- vision graph: ``pixel_values [tiles, 3, S, S]`` → ``image_features [tiles, image_seq_len, hidden]``
  (SigLIP-like tower on full tiles + post-LayerNorm + pixel-shuffle connector). Every tile the
  processor produces is a full ``S × S`` tile, so the patch position ids are those of a full
  tile: ``arange`` (:func:`full_tile_position_ids`; transformers 4.55–4.57 compute them wrongly,
  and the torch reference is run with :func:`fix_vision_position_ids`).
- language graph: ``input_ids``, ``attention_mask``, ``image_features [M, hidden]`` → embeddings:
  the features replace the token embeddings at the ``<image>`` positions in row-major order
  (the reference's ``masked_scatter``), then the Llama text model, ``linear``, ``x/‖x‖`` (no eps),
  ``× attention_mask``. ``M = 0`` for text-only batches.

The reference is colpali-engine's ``ColIdefics3.forward`` (``Idefics3Model`` + ``linear`` + L2 +
mask), run here on transformers' ``Idefics3Model`` because colpali-engine needs transformers 5.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.errors import ArtifactError, ExportError
from tessera_onnx.pages.config import PagesConfig
from tessera_onnx.pages.family import PreparedPage
from tessera_onnx.pages.idefics3 import Idefics3ImageConfig

from .common import (
    PagesExportPlan,
    additive_mask,
    load_safetensors_dir,
    merge_image_features,
    normalized_projection,
    write_tokenizer_json,
)

__all__ = [
    "plan_idefics3",
    "COLIDEFICS3_DOCUMENT_PROMPT",
    "COLIDEFICS3_ENGINE_VERSIONS",
    "full_tile_position_ids",
    "fix_vision_position_ids",
]

# colpali-engine's ColIdefics3Processor prompts, by revision (the query template changed)
COLIDEFICS3_DOCUMENT_PROMPT = "<|im_start|>User:<image>Describe the image.<end_of_utterance>\nAssistant:"
COLIDEFICS3_ENGINE_VERSIONS: dict[str, dict[str, str]] = {
    # HEAD (>= 0.3.13): query = q + "<end_of_utterance>" * 10, no prefix
    ">=0.3.13": {"document_prompt": COLIDEFICS3_DOCUMENT_PROMPT, "query_prefix": ""},
    # older releases: "Query: " prefix, the chat-style document prompt without "Assistant:"
    "<=0.3.12": {
        "document_prompt": "<|im_start|>user\n<image>Describe the image.<end_of_utterance>",
        "query_prefix": "Query: ",
    },
}
_AUGMENTATION = "<end_of_utterance>"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ExportError(f"{path.parent} has no {path.name}; a ColIdefics3 checkpoint needs it") from exc
    except ValueError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc


def _load(source_dir: Path) -> tuple[Any, Any]:
    import torch
    from transformers import Idefics3Config, Idefics3Model

    config = Idefics3Config.from_pretrained(str(source_dir))
    config._attn_implementation = "eager"
    config.vision_config._attn_implementation = "eager"
    config.text_config._attn_implementation = "eager"
    state = load_safetensors_dir(source_dir)
    model_state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    linear_state = {k[len("linear.") :]: v for k, v in state.items() if k.startswith("linear.")}
    if not model_state or "weight" not in linear_state:
        raise ExportError(
            f"{source_dir}: expected colpali-engine ColIdefics3 weights ('model.*' and 'linear.weight'); "
            "merge a LoRA adapter into its base first (peft merge_and_unload, then save_pretrained)"
        )
    model = Idefics3Model(config).to(torch.float32)
    missing, unexpected = model.load_state_dict(model_state, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    if missing or unexpected:
        raise ExportError(
            f"{source_dir}: Idefics3Model weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    weight = linear_state["weight"]
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in linear_state)
    linear.load_state_dict(linear_state)
    return model.eval(), linear.to(torch.float32).eval()


def full_tile_position_ids(patches_per_side: int) -> Any:
    """Vision position ids of a full ``S × S`` tile: ``arange(patches_per_side²)``, shape ``[1, n²]``.

    Every tile the Idefics3 processor produces is full, so these are the ids of every tile.
    transformers 4.55–4.57 compute them wrongly (``h / n × (1 − 1e-6)`` falls into the bucket below,
    e.g. ``[0, 0, 1, 2, …]``); the exported graph always uses these.
    """
    import torch

    return torch.arange(patches_per_side * patches_per_side, dtype=torch.int64).unsqueeze(0)


def fix_vision_position_ids(model: Any) -> Any:
    """Give ``model``'s Idefics3 vision embeddings the bucketed position ids of the original NaViT scheme.

    Replaces ``forward`` on this instance only: ``torch.arange(0, 1 − 1e-6, 1/nb)`` bucketed by
    ``1/n`` boundaries (what transformers ≤ 4.54 and 5.x compute; ``arange`` for a full tile). The
    torch reference of the export then runs the model as colpali-engine on transformers 5 does.
    """
    import torch

    emb = model.vision_model.embeddings if hasattr(model, "vision_model") else model

    def forward(pixel_values: torch.Tensor, patch_attention_mask: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = pixel_values.shape
        x = emb.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        side = emb.num_patches_per_side
        boundaries = torch.arange(1 / side, 1.0, 1 / side)
        ids = torch.zeros(batch, (height // emb.patch_size) * (width // emb.patch_size), dtype=torch.int64)
        for b, allowed in enumerate(patch_attention_mask):
            rows, cols = int(allowed[:, 0].sum()), int(allowed[0].sum())
            bucket_h = torch.bucketize(torch.arange(0, 1 - 1e-6, 1 / rows), boundaries, right=True)
            bucket_w = torch.bucketize(torch.arange(0, 1 - 1e-6, 1 / cols), boundaries, right=True)
            ids[b][allowed.reshape(-1)] = (bucket_h[:, None] * side + bucket_w).flatten()
        return x + emb.position_embedding(ids)

    emb.forward = forward
    return model


def _graphs(model: Any, linear: Any, image_token_id: int) -> tuple[Any, Any, Any]:
    import torch

    vision = model.vision_model
    side = int(model.config.vision_config.image_size)
    position_ids = full_tile_position_ids(side // int(model.config.vision_config.patch_size))
    fix_vision_position_ids(model)

    class VisionGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vision = vision
            self.connector = model.connector
            self.register_buffer("position_ids", position_ids, persistent=False)

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            emb = self.vision.embeddings
            x = emb.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
            x = x + emb.position_embedding(self.position_ids)
            x = self.vision.encoder(inputs_embeds=x, attention_mask=None).last_hidden_state
            return self.connector(self.vision.post_layernorm(x))

    class LanguageGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.text_model = model.text_model
            self.linear = linear

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_features: torch.Tensor
        ) -> torch.Tensor:
            embeds = self.text_model.get_input_embeddings()(input_ids)
            embeds = merge_image_features(embeds, input_ids, image_features, image_token_id)
            length = input_ids.shape[1]  # causal + padding, as transformers builds it from the 2-D mask
            causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
            allowed = causal[None, None] & (attention_mask[:, None, None, :] > 0)
            hidden = self.text_model(
                inputs_embeds=embeds, attention_mask=additive_mask(allowed, embeds.dtype), use_cache=False
            )
            return normalized_projection(self.linear, hidden.last_hidden_state, attention_mask)

    class Reference(torch.nn.Module):
        """colpali-engine ColIdefics3.forward on transformers' Idefics3Model."""

        def forward(self, **kwargs: Any) -> torch.Tensor:
            hidden = model(**kwargs, use_cache=False).last_hidden_state
            return normalized_projection(linear, hidden, kwargs["attention_mask"])

    return VisionGraph().eval(), LanguageGraph().eval(), Reference().eval()


def plan_idefics3(
    source_dir: Path, stage: Path, *, colpali_engine: str = ">=0.3.13", image_size: int | None = None
) -> PagesExportPlan:
    """Read a ColIdefics3 checkpoint, write its tokenizer into ``stage``, return the export plan."""
    import torch

    if colpali_engine not in COLIDEFICS3_ENGINE_VERSIONS:
        raise ExportError(
            f"unknown colpali-engine semantics {colpali_engine!r}; choose one of {sorted(COLIDEFICS3_ENGINE_VERSIONS)}"
        )
    hf = _read_json(source_dir / "config.json")
    if hf.get("model_type") != "idefics3":
        raise ExportError(f"{source_dir}: model_type {hf.get('model_type')!r} is not idefics3")
    preprocessor = _read_json(source_dir / "preprocessor_config.json")
    model, linear = _load(source_dir)
    vcfg = model.config.vision_config
    seq = int(((vcfg.image_size // vcfg.patch_size) ** 2) / (model.config.scale_factor**2))
    processor_file = source_dir / "processor_config.json"
    if processor_file.is_file():
        declared = _read_json(processor_file).get("image_seq_len")
        if declared is not None and int(declared) != seq:
            raise ExportError(f"{source_dir}: processor image_seq_len {declared} but the model gives {seq}")
    try:
        image = Idefics3ImageConfig.from_processor(preprocessor, seq)
    except ArtifactError as exc:
        raise ExportError(f"{source_dir}: {exc}") from exc
    if image.tile_size != int(vcfg.image_size):
        raise ExportError(
            f"{source_dir}: max_image_size {image.tile_size} != vision image_size {vcfg.image_size}"
        )
    tokenizer = write_tokenizer_json(source_dir, stage)
    image_token_id = int(model.config.image_token_id)
    if tokenizer.convert_tokens_to_ids("<image>") != image_token_id:
        raise ExportError(
            f"{source_dir}: the tokenizer's <image> id differs from config image_token_id {image_token_id}"
        )
    semantics = COLIDEFICS3_ENGINE_VERSIONS[colpali_engine]
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        raise ExportError(f"{source_dir}: the tokenizer has no pad token")
    vision, language, reference = _graphs(model, linear, image_token_id)
    hidden = int(model.config.text_config.hidden_size)
    pages = PagesConfig(
        family="idefics3",
        dim=int(linear.out_features),
        hidden_size=hidden,
        image_token="<image>",
        image_token_id=image_token_id,
        document_prompt=semantics["document_prompt"],
        query_template=semantics["query_prefix"] + "{query}" + _AUGMENTATION * 10,
        augmentation_token=_AUGMENTATION,
        augmentation_count=10,
        add_special_tokens=True,
        padding_side="left",
        pad_token_id=int(pad_id),
        colpali_engine=colpali_engine,
        image=image.to_dict(),
        image_size=int(image_size or image.longest_edge),
        trained_image_size=image.longest_edge,
        reference="colpali-engine ColIdefics3 (Idefics3Model + linear + L2 norm + mask) on transformers "
        "Idefics3Model, torch fp32; preprocessing = Idefics3Processor (slow, PIL) on RGB pages",
    )

    def run_reference(
        pages: Sequence[PreparedPage] | None, input_ids: np.ndarray, mask: np.ndarray
    ) -> np.ndarray:
        feeds = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if pages:  # the processor's layout: [B, max tiles, 3, S, S], all-zero padding tiles
            tiles = [p.vision_feeds["pixel_values"] for p in pages]
            batch = np.zeros((len(tiles), max(len(t) for t in tiles), *tiles[0].shape[1:]), np.float32)
            for i, t in enumerate(tiles):
                batch[i, : len(t)] = t
            feeds["pixel_values"] = torch.from_numpy(batch)
        with torch.inference_mode():
            return reference(**feeds).float().numpy()

    return PagesExportPlan(
        pages=pages,
        architecture="idefics3",
        vision=vision,
        language=language,
        vision_axes={"pixel_values": {0: "tiles"}, "image_features": {0: "tiles"}},
        reference=run_reference,
        reference_name="colpali-engine ColIdefics3 head on transformers Idefics3Model, torch fp32",
        num_heads=int(model.config.text_config.num_attention_heads),
        vision_encoder=(int(vcfg.num_attention_heads), int(vcfg.hidden_size)),
    )
