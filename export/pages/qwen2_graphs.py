"""The two exportable torch graphs of a ColQwen2 / ColQwen2.5 model (transformers ``ColQwen2ForRetrieval``).

transformers' own forward cannot become one ONNX graph for every image size: the vision encoder
derives its rotary table, its per-image attention chunks (``cu_seqlens`` split by
``lengths.tolist()``) and Qwen2.5-VL's window order from ``image_grid_thw`` in Python, and
``get_rope_index`` loops over tokens. Tried with the TorchScript exporter (torch 2.13,
transformers 4.57): the vision forward with eager attention exports, but the traced chunk sizes
are constants, so onnxruntime fails on any other grid ("Split size 96 exceeds the remaining
size of the selected axis, 60" for an 8×12 trace run on 6×10); with SDPA attention the export
itself fails ("conversion of scaled_dot_product_attention not implemented if enable_gqa is
True"). These wrappers take what those computations produce as
tensors (the runtime computes them in numpy, :mod:`tessera_onnx.pages.qwen2.positions`) and
reuse every weight-carrying submodule of the checkpoint unchanged:

- :class:`VisionGraph`: ``patches [N, 1176]``, ``vision_pos_ids [N, 2]`` (+ for Qwen2.5-VL
  ``window_ids [N]`` with the rows already in window order and ``restore_index [N/4]``, the
  inverse order) → ``image_features [N/4, hidden]`` in the merged grid's row-major order, one
  image per call (attention over the whole image, or within a window in Qwen2.5-VL's windowed
  blocks).
- :class:`TextGraph`: ``input_ids``, ``attention_mask``, ``image_features [M, hidden]``
  (``M = 0`` for text queries) and ``position_ids [3, B, T]`` → ``embeddings [B, T, dim]``:
  image rows replace the ``<|image_pad|>`` token embeddings in order, the causal + padding mask
  is built in the graph, then ``embedding_proj_layer``, ``x / ‖x‖`` (no eps) and ``× mask``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .common import additive_mask, merge_image_features, normalized_projection

__all__ = ["VisionGraph", "TextGraph", "vision_family"]


def vision_family(model: Any) -> str:
    """``"qwen2_vl"`` or ``"qwen2_5_vl"``: the VLM under a ``ColQwen2ForRetrieval``."""
    return str(model.config.vlm_config.model_type)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _segment_bias(segments: torch.Tensor) -> torch.Tensor:
    """Additive attention bias ``[N, N]``: 0 inside a segment, the float32 minimum across segments."""
    return additive_mask(segments[:, None] == segments[None, :], torch.float32)


class VisionGraph(nn.Module):
    """Vision encoder + patch merger of one image, positions given as inputs (see module doc)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.visual = model.vlm.visual
        self.windowed = vision_family(model) == "qwen2_5_vl"
        self.full_blocks = set(getattr(self.visual, "fullatt_block_indexes", []) or [])

    def _attention(
        self, attn: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        n = x.shape[0]
        q, k, v = attn.qkv(x).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [heads, N, head_dim]
        scores = torch.matmul(q, k.transpose(1, 2)) * attn.scaling
        if bias is not None:
            scores = scores + bias
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32)
        out = torch.matmul(weights, v).transpose(0, 1).reshape(n, -1)
        return attn.proj(out)

    def forward(
        self,
        patches: torch.Tensor,
        vision_pos_ids: torch.Tensor,
        window_ids: torch.Tensor | None = None,
        restore_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[N, 1176]`` patch rows → ``[N / merge², hidden]`` image features."""
        hidden = self.visual.patch_embed(patches)
        inv_freq = self.visual.rotary_pos_emb.inv_freq
        freqs = (vision_pos_ids.to(torch.float32)[:, :, None] * inv_freq[None, None, :]).flatten(1)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        window_bias = _segment_bias(window_ids) if self.windowed and window_ids is not None else None
        for index, block in enumerate(self.visual.blocks):
            bias = None if (not self.windowed or index in self.full_blocks) else window_bias
            hidden = hidden + self._attention(block.attn, block.norm1(hidden), cos, sin, bias)
            hidden = hidden + block.mlp(block.norm2(hidden))
        merged = self.visual.merger(hidden)
        return merged[restore_index] if restore_index is not None else merged


class TextGraph(nn.Module):
    """Language model + retrieval projection + L2 norm + mask, image features spliced in (see module doc)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.language_model = model.vlm.model.language_model
        self.proj = model.embedding_proj_layer
        self.image_token_id = int(model.config.vlm_config.image_token_id)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        image_features: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        """``[B, T]`` ids/mask, ``[M, hidden]`` features, ``[3, B, T]`` positions → ``[B, T, dim]``."""
        embeds = merge_image_features(
            self.language_model.embed_tokens(input_ids), input_ids, image_features, self.image_token_id
        )
        length = input_ids.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
        bias = additive_mask(causal[None, None] & (attention_mask[:, None, None, :] > 0), embeds.dtype)
        hidden = self.language_model(
            inputs_embeds=embeds,
            attention_mask={"full_attention": bias},
            position_ids=position_ids,
            use_cache=False,
            return_dict=True,
        ).last_hidden_state
        return normalized_projection(self.proj, hidden, attention_mask)
