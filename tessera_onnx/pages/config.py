"""The typed ``pages`` block of a page-retrieval artifact's manifest (ColPali family).

Everything the runtime needs to turn a page image or a query into exactly the ids and pixels
the checkpoint was trained with is pinned here by the exporter: which family (the grid and
prompt rules), the processor settings, the document prompt, the query template with its
augmentation tokens, the padding side, the colpali-engine revision whose semantics these
follow, and the image-size knob (its trained value and the value the artifact runs at).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config_base import _ConfigBase
from ..vision.config import DEFAULT_MAX_PIXELS

__all__ = ["PagesConfig", "PAGE_FAMILIES", "MAX_ASPECT_RATIO", "MIN_SIDE"]

# family name -> module holding its PageFamily subclass (imported only when used)
PAGE_FAMILIES: dict[str, str] = {
    "idefics3": "tessera_onnx.pages.idefics3",
    "paligemma": "tessera_onnx.pages.paligemma",
    "qwen2_vl": "tessera_onnx.pages.qwen2_vl",
}
# the reference processors refuse pages more elongated than this (Qwen2-VL smart_resize: 200)
MAX_ASPECT_RATIO = 200.0
# pages with a side shorter than this are refused (smart_resize: "height and width must be > factor")
MIN_SIDE = 10


@dataclass(frozen=True)
class PagesConfig(_ConfigBase):
    """How pages and queries become graph inputs, and what the graphs are called.

    Prompts and templates:

    - ``document_prompt``: the text fed with every page; it contains ``image_token`` once, which
      the family expands from the page's grid (Idefics3: tiles × ``image_seq_len`` plus markers).
    - ``query_template``: a ``str.format`` template with one ``{query}`` field; the augmentation
      tokens (``augmentation_token`` × ``augmentation_count``, attention 1) are already written
      into it, so what is tokenized is ``query_template.format(query=text)``.
    - ``add_special_tokens``: passed to the tokenizer for both prompts (the tokenizer's own
      post-processor adds BOS where the reference does).
    - ``query_max_length``: truncate query ids to this many tokens (0 = never; colpali-engine
      0.3.4–0.3.10 truncated ColPali queries at 50).
    - ``padding_side``: ``"left"`` (Idefics3, Qwen2) or ``"right"`` (PaliGemma); ``pad_token_id``.
    - ``colpali_engine``: which colpali-engine revision's semantics the checkpoint was trained
      with (the query template changed between versions), e.g. ``">=0.3.13"``.
    - ``query_attention``: how query tokens attend, as baked into the language graph:
      ``"causal"`` or ``"bidirectional"`` (PaliGemma's whole-prefix attention, which
      transformers ≤ 4.57 applies to queries and transformers 5 only to pages); ``""`` = causal.

    Graphs: ``vision_model_file`` (pixels → image features) and ``language_model_file`` (ids,
    mask, image features → normalised, masked token vectors of width ``dim``), with their input
    and output names. ``image_features_input`` is fed an empty ``[0, hidden]`` array for
    text-only batches, so queries never run the vision graph.

    Image settings: ``image`` holds the family's processor settings (parsed by the family);
    ``image_size`` is the speed–quality knob (Idefics3: longest edge in pixels; Qwen2: max
    pixels), ``trained_image_size`` what the checkpoint's processor used. ``min_side``,
    ``max_aspect_ratio`` and ``max_pixels`` bound what a page may be before it is refused.
    """

    family: str = "idefics3"
    dim: int = 128
    hidden_size: int = 0
    image_token: str = "<image>"
    image_token_id: int = -1
    document_prompt: str = ""
    query_template: str = "{query}"
    augmentation_token: str = ""
    augmentation_count: int = 10
    add_special_tokens: bool = True
    query_max_length: int = 0
    padding_side: str = "left"
    pad_token_id: int = 0
    colpali_engine: str = ""
    query_attention: str = ""
    tokenizer_file: str = "tokenizer.json"
    vision_model_file: str = "vision.onnx"
    language_model_file: str = "language.onnx"
    vision_inputs: tuple[str, ...] = ("pixel_values",)
    vision_output: str = "image_features"
    language_inputs: tuple[str, ...] = ("input_ids", "attention_mask", "image_features")
    image_features_input: str = "image_features"
    language_output: str = "embeddings"
    image: Mapping[str, Any] = field(default_factory=dict)
    image_size: int = 0
    trained_image_size: int = 0
    min_side: int = MIN_SIDE
    max_aspect_ratio: float = MAX_ASPECT_RATIO
    max_pixels: int = DEFAULT_MAX_PIXELS
    mask_non_image_embeddings: bool = False
    reference: str = ""

    def __post_init__(self) -> None:
        if self.family not in PAGE_FAMILIES:
            raise ValueError(f"unknown page family {self.family!r}; known: {sorted(PAGE_FAMILIES)}")
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")
        if self.query_attention not in ("", "causal", "bidirectional"):
            raise ValueError(f"query_attention must be 'causal' or 'bidirectional', got {self.query_attention!r}")
        if "{query}" not in self.query_template:
            raise ValueError(f"query_template must contain '{{query}}', got {self.query_template!r}")
        if self.image_token not in self.document_prompt:
            raise ValueError(
                f"document_prompt {self.document_prompt!r} does not contain {self.image_token!r}"
            )
        if self.dim <= 0 or self.augmentation_count < 0 or self.query_max_length < 0:
            raise ValueError("dim must be positive; augmentation_count and query_max_length non-negative")
