"""ColPali export plan (transformers-native ``ColPaliForRetrieval``: PaliGemma = SigLIP + Gemma).

- vision graph: ``pixel_values [N, 3, H, W]`` → ``image_features [N, image_seq_len, hidden]`` =
  PaliGemma's ``get_image_features`` (SigLIP tower, projector, ``/ sqrt(hidden)``).
- language graph: ``input_ids``, ``attention_mask``, ``image_features [M, hidden]`` → vectors:
  features at the ``<image>`` positions, then Gemma with PaliGemma's inference mask (the whole
  prefix attends bidirectionally, padding keys masked) and 1-based positions, then
  ``embedding_proj_layer``, ``x/‖x‖`` (no eps), ``× attention_mask``.

Prompts (``ColPaliProcessor`` / colpali-engine): document ``"<image>" × seq + "<bos>Describe the
image.\\n"``; the query template depends on the revision the checkpoint was trained with
(:data:`COLPALI_QUERY_TEMPLATES`); the augmentation token is ``<pad>`` (attention 1).
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
from tessera_onnx.vision.config import ImagePreprocessConfig

from .common import (
    PagesExportPlan,
    additive_mask,
    merge_image_features,
    normalized_projection,
    write_tokenizer_json,
)

__all__ = ["plan_colpali", "COLPALI_QUERY_TEMPLATES", "COLPALI_DOCUMENT_SEMANTICS"]

# revision semantics -> (query template with {bos} {pad} placeholders, query max length)
COLPALI_QUERY_TEMPLATES: dict[str, tuple[str, int]] = {
    # transformers ColPaliProcessor (the *-hf checkpoints)
    "hf": ("{bos}Question: {{query}}{pads}\n", 0),
    # colpali-engine >= 0.3.13 (process_texts): no prefix, no newline
    ">=0.3.13": ("{bos}{{query}}{pads}", 0),
    # colpali-engine 0.3.4 - 0.3.10: "Query: " prefix and newline, truncated at 50 tokens
    "0.3.4-0.3.10": ("{bos}Query: {{query}}{pads}\n", 50),
}
# revision semantics -> (document prompt, query attention). colpali-engine's visual prompt is
# "<image><bos>Describe the image." and PaliGemmaProcessor puts its own <bos> after the image
# tokens: two <bos>. On transformers 5 (colpali-engine >= 0.3.18) PaliGemma attends bidirectionally
# only where token_type_ids are given (pages), so queries are causal; transformers <= 4.57 let the
# whole prefix attend both ways at inference.
COLPALI_DOCUMENT_SEMANTICS: dict[str, tuple[str, str]] = {
    "hf": ("<image>{bos}Describe the image.\n", "bidirectional"),
    ">=0.3.13": ("<image>{bos}{bos}Describe the image.\n", "causal"),
    "0.3.4-0.3.10": ("<image>{bos}{bos}Describe the image.\n", "bidirectional"),
}


def _load(source_dir: Path) -> Any:
    import torch
    from transformers import ColPaliForRetrieval

    try:
        model = ColPaliForRetrieval.from_pretrained(
            str(source_dir), attn_implementation="eager", dtype=torch.float32
        )
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot load {source_dir} as ColPaliForRetrieval: {exc}") from exc
    return model.eval()


def _graphs(model: Any, image_token_id: int, query_attention: str) -> tuple[Any, Any]:
    import torch

    pali = model.vlm.model
    vocab = int(model.config.vlm_config.text_config.vocab_size)

    class VisionGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pali = pali

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.pali.get_image_features(pixel_values)

    class LanguageGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.language_model = pali.language_model
            self.proj = model.embedding_proj_layer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_features: torch.Tensor
        ) -> torch.Tensor:
            ids = (
                input_ids if image_token_id < vocab else input_ids.masked_fill(input_ids == image_token_id, 0)
            )
            embeds = merge_image_features(
                self.language_model.embed_tokens(ids), input_ids, image_features, image_token_id
            )
            length = input_ids.shape[1]
            keys = attention_mask[:, None, None, :] > 0
            if query_attention == "bidirectional":  # the whole prefix, pages and queries
                allowed = keys.expand(-1, 1, length, -1)
            else:  # bidirectional for pages (image features fed), causal for text-only batches
                causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
                pages = torch.ones_like(image_features[:, 0]).sum() > 0  # M > 0, traced from the data
                allowed = keys & (causal[None, None] | pages)
            positions = torch.arange(1, length + 1, device=input_ids.device).unsqueeze(0)  # 1-based
            hidden = self.language_model(
                inputs_embeds=embeds,
                attention_mask=additive_mask(allowed, embeds.dtype),
                position_ids=positions,
                use_cache=False,
            )
            return normalized_projection(self.proj, hidden.last_hidden_state, attention_mask)

    return VisionGraph().eval(), LanguageGraph().eval()


def _causal_query_reference(model: Any, input_ids: Any, attention_mask: Any) -> Any:
    """ColPaliForRetrieval's text path with a causal + padding mask (PaliGemma on transformers 5, no pixels)."""
    import torch

    length = input_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    allowed = causal[None, None] & (attention_mask[:, None, None, :] > 0)
    pali = model.vlm.model
    hidden = pali.language_model(
        input_ids=input_ids,
        attention_mask=additive_mask(allowed, torch.float32),
        position_ids=torch.arange(1, length + 1).unsqueeze(0),
        use_cache=False,
    ).last_hidden_state
    return normalized_projection(model.embedding_proj_layer, hidden, attention_mask)


def plan_colpali(
    source_dir: Path, stage: Path, *, colpali_engine: str = "hf", image_size: int | None = None
) -> PagesExportPlan:
    """Read a ``ColPaliForRetrieval`` checkpoint, write its tokenizer into ``stage``, return the plan."""
    import torch

    if colpali_engine not in COLPALI_QUERY_TEMPLATES:
        raise ExportError(
            f"unknown ColPali query semantics {colpali_engine!r}; choose one of {sorted(COLPALI_QUERY_TEMPLATES)}"
        )
    try:
        preprocessor = json.loads((source_dir / "preprocessor_config.json").read_text(encoding="utf-8"))
        image = ImagePreprocessConfig.from_preprocessor_config(preprocessor)
    except (OSError, ValueError, ArtifactError) as exc:
        raise ExportError(f"{source_dir}: cannot use preprocessor_config.json: {exc}") from exc
    model = _load(source_dir)
    vcfg = model.config.vlm_config.vision_config
    seq = (int(vcfg.image_size) // int(vcfg.patch_size)) ** 2
    if int(preprocessor.get("image_seq_length", seq)) != seq or image.output_size != (vcfg.image_size,) * 2:
        raise ExportError(f"{source_dir}: processor size/image_seq_length disagree with the vision tower")
    if image_size is not None and image_size != int(vcfg.image_size):
        raise ExportError(
            f"ColPali runs at its fixed {vcfg.image_size} px; --image-size {image_size} is not possible"
        )
    tokenizer = write_tokenizer_json(source_dir, stage)
    image_token_id = int(model.config.vlm_config.image_token_index)
    if tokenizer.convert_tokens_to_ids("<image>") != image_token_id:
        raise ExportError(
            f"{source_dir}: the tokenizer's <image> id differs from image_token_index {image_token_id}"
        )
    bos, pad = tokenizer.bos_token, tokenizer.pad_token
    if bos is None or pad is None:
        raise ExportError(f"{source_dir}: the tokenizer needs bos and pad tokens")
    template, max_length = COLPALI_QUERY_TEMPLATES[colpali_engine]
    document_prompt, query_attention = COLPALI_DOCUMENT_SEMANTICS[colpali_engine]
    # transformers' ColPaliProcessor pads on the right; colpali-engine pads where its tokenizer says
    padding = "right" if colpali_engine == "hf" else str(getattr(tokenizer, "padding_side", "right"))
    vision, language = _graphs(model, image_token_id, query_attention)
    pages = PagesConfig(
        family="paligemma",
        dim=int(model.config.embedding_dim),
        hidden_size=int(model.config.vlm_config.text_config.hidden_size),
        image_token="<image>",
        image_token_id=image_token_id,
        document_prompt=document_prompt.format(bos=bos),
        query_template=template.format(bos=bos, pads=pad * 10),
        augmentation_token=pad,
        augmentation_count=10,
        add_special_tokens=False,
        query_max_length=max_length,
        padding_side=padding,
        pad_token_id=int(tokenizer.pad_token_id),
        colpali_engine=colpali_engine,
        query_attention=query_attention,
        image={**image.to_dict(), "image_seq_len": seq, "patch_size": int(vcfg.patch_size)},
        image_size=int(vcfg.image_size),
        trained_image_size=int(vcfg.image_size),
        reference="transformers ColPaliForRetrieval, torch fp32; preprocessing = ColPaliProcessor (slow SiglipImageProcessor, PIL)",
    )

    def run_reference(
        pages_: Sequence[PreparedPage] | None, input_ids: np.ndarray, mask: np.ndarray
    ) -> np.ndarray:
        feeds = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if pages_:
            feeds["pixel_values"] = torch.from_numpy(
                np.concatenate([p.vision_feeds["pixel_values"] for p in pages_])
            )
        with torch.inference_mode():
            out = model(**feeds).embeddings
            if not pages_ and query_attention == "causal":  # transformers 5's text-only PaliGemma mask
                out = _causal_query_reference(model, feeds["input_ids"], feeds["attention_mask"])
            return out.float().numpy()

    return PagesExportPlan(
        pages=pages,
        architecture="colpali",
        vision=vision,
        language=language,
        vision_axes={"pixel_values": {0: "images"}, "image_features": {0: "images"}},
        reference=run_reference,
        reference_name="transformers ColPaliForRetrieval, torch fp32",
        vision_encoder=(int(vcfg.num_attention_heads), int(vcfg.hidden_size)),
    )
