"""The ColQwen2 / ColQwen2.5 page family (Qwen2-VL and Qwen2.5-VL backbones).

One :class:`~tessera_onnx.pages.family.PageGrid` per page (``smart_resize`` → patch grid
``(t, h, w)`` → ``t·h·w/4`` image tokens) gives the vision feeds, the document prompt's
``<|image_pad|>`` run and the language model's 3-D M-RoPE position ids; the numpy work lives in
:mod:`tessera_onnx.pages.qwen2`. The vision graph takes one page per call (its attention spans
one image), so the graph serves every resolution without padding.

Manifest ``pages.image`` keys (beside :class:`~tessera_onnx.pages.qwen2.QwenImageSettings`):
``vision_start_token`` (``<|vision_start|>``) and ``window_size`` (Qwen2.5-VL's attention window
in pixels, 112; 0 for Qwen2-VL). ``image_size`` / the runtime ``image_size=`` knob is
``max_pixels`` (colpali-engine: ``max_num_visual_tokens · 28 · 28``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidInputError
from .config import PagesConfig
from .family import PageFamily, PageGrid, PreparedPage
from .qwen2.image import ImageGrid, QwenImageSettings, grid_pixels, image_grid
from .qwen2.positions import mrope_position_ids, vision_position_ids, window_layout
from .tokens import PromptTokenizer

__all__ = [
    "DOCUMENT_PROMPT",
    "QUERY_PREFIXES",
    "AUGMENTATION_TOKEN",
    "Qwen2VLFamily",
    "query_template",
    "vision_input_names",
]

DOCUMENT_PROMPT = (
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe the image.<|im_end|><|endoftext|>"
)
AUGMENTATION_TOKEN = "<|endoftext|>"
# Query prefix by colpali-engine revision (the template changed in 0.3.13); transformers'
# ColQwen2Processor (the "-hf" checkpoints) keeps "Query: ".
QUERY_PREFIXES = {"<=0.3.12": "Query: ", ">=0.3.13": "", "hf": "Query: "}


def query_template(prefix: str, augmentation_token: str = AUGMENTATION_TOKEN, count: int = 10) -> str:
    """``prefix + {query} + augmentation × count`` as the manifest's ``str.format`` template."""
    escape = prefix.replace("{", "{{").replace("}", "}}")
    return escape + "{query}" + augmentation_token.replace("{", "{{").replace("}", "}}") * count


def vision_input_names(window_size: int) -> tuple[str, ...]:
    """Vision-graph inputs: Qwen2.5-VL (``window_size > 0``) adds the window ids and the restore order."""
    base = ("patches", "vision_pos_ids")
    return base + ("window_ids", "restore_index") if window_size > 0 else base


class Qwen2VLFamily(PageFamily):
    """ColQwen2 (Qwen2-VL) and ColQwen2.5 (Qwen2.5-VL, ``window_size > 0``) page rules."""

    name: ClassVar[str] = "qwen2_vl"

    def __init__(
        self, config: PagesConfig, tokenizer: PromptTokenizer, image_size: int | None = None
    ) -> None:
        super().__init__(config, tokenizer, image_size)
        image = dict(config.image)
        settings = QwenImageSettings.from_dict(image)
        self.settings = settings.with_max_pixels(self.image_size) if self.image_size else settings
        self.window_size = int(image.get("window_size", 0))
        self.vision_start_token_id = tokenizer.token_id(
            str(image.get("vision_start_token", "<|vision_start|>"))
        )
        self.head, self.tail = config.document_prompt.split(config.image_token, 1)

    def _image_grid(self, grid: PageGrid) -> ImageGrid:
        t, h, w = (int(v) for v in grid.extra["grid_thw"])
        return ImageGrid(grid.height, grid.width, t, h, w, self.settings.merge_size)

    def compute_grid(self, width: int, height: int) -> PageGrid:
        """``smart_resize`` → ``PageGrid`` (resized size, patch rows/cols, ``t·h·w/4`` image tokens)."""
        g = image_grid(height, width, self.settings)
        return PageGrid(g.resized_height, g.resized_width, g.h, g.w, g.num_tokens, {"grid_thw": g.thw})

    def page_pixels(self, image: Any, grid: PageGrid) -> dict[str, np.ndarray]:
        """Patch rows and their ``(row, column)`` ids (+ Qwen2.5-VL's window order) for one page."""
        g = self._image_grid(grid)
        patches = grid_pixels(image, g, self.settings)
        pos = vision_position_ids(g)
        if self.window_size <= 0:
            return {"patches": patches, "vision_pos_ids": pos}
        order, window_ids = window_layout(g, self.window_size, self.settings.patch_size)
        unit = self.settings.merge_size**2
        rows = (order[:, None] * unit + np.arange(unit)).reshape(-1)
        return {
            "patches": np.ascontiguousarray(patches[rows]),
            "vision_pos_ids": np.ascontiguousarray(pos[rows]),
            "window_ids": window_ids,
            "restore_index": np.argsort(order).astype(np.int64),
        }

    def vision_calls(
        self, pages: Sequence[PreparedPage], graph_batch: int
    ) -> Iterator[dict[str, np.ndarray]]:
        """One vision-graph call per page, whatever ``graph_batch``: attention spans one image, and
        ``restore_index`` / ``window_ids`` are relative to that image."""
        for page in pages:
            yield page.vision_feeds

    def document_text(self, grid: PageGrid) -> str:
        """The document prompt with ``<|image_pad|>`` repeated ``t·h·w/4`` times."""
        return self.head + self.config.image_token * grid.image_tokens + self.tail

    def language_extra_feeds(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, pages: Sequence[PreparedPage] | None
    ) -> dict[str, np.ndarray]:
        """``position_ids [3, B, T]``: M-RoPE ids of the batch (text-only ids for a query batch)."""
        grids = None if pages is None else [self._image_grid(p.grid) for p in pages]
        try:
            positions = mrope_position_ids(
                input_ids,
                attention_mask,
                grids,
                image_token_id=self.image_token_id,
                vision_start_token_id=self.vision_start_token_id,
            )
        except InvalidInputError as exc:  # the prompt and the grids disagree: an export/tokenizer problem
            raise InvalidInputError(f"ColQwen2 position ids: {exc}") from exc
        return {"position_ids": positions}
