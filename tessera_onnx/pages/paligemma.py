"""ColPali pages (PaliGemma): one fixed-size view per page, the image token repeated ``image_seq_len`` times.

Reproduces ``transformers`` ``ColPaliProcessor`` (4.57, slow ``SiglipImageProcessor``) on the RGB
page (it converts with ``convert("RGB")`` itself): resize straight to ``height × width`` with
BICUBIC on the uint8 image, rescale, normalise with mean/std 0.5, CHW — the vision paradigm's
own transforms (:func:`tessera_onnx.vision.transforms.pixel_values`). The document prompt is
``"<image>" × image_seq_len + "<bos>Describe the image.\\n"`` (``build_string_from_input``), and
the tokenizer adds no special tokens (``ColPaliProcessor`` turns BOS off; the prompts carry it).

The image size is fixed by the checkpoint (448 px for ColPali: 32 × 32 patches of 14 px); it is
not a knob here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..vision.config import ImagePreprocessConfig
from ..vision.transforms import pixel_values
from .family import PageFamily, PageGrid, PreparedPage, chunked_image_calls

__all__ = ["PaliGemmaFamily"]


class PaliGemmaFamily(PageFamily):
    """ColPali / PaliGemma: fixed resize, ``image_seq_len`` image tokens, right padding.

    ``config.image`` holds an :class:`~tessera_onnx.vision.config.ImagePreprocessConfig` dict
    plus ``image_seq_len`` and ``patch_size``.
    """

    name = "paligemma"

    def __init__(self, config: Any, tokenizer: Any, image_size: int | None = None) -> None:
        super().__init__(config, tokenizer, None)
        image = dict(config.image)
        self.image_seq_len = int(image.pop("image_seq_len"))
        self.patch_size = int(image.pop("patch_size"))
        self.preprocess = ImagePreprocessConfig.from_dict(image)
        trained = self.preprocess.height
        if image_size is not None and image_size != trained:
            raise InvalidInputError(
                f"image_size={image_size}: a PaliGemma/ColPali checkpoint runs at its fixed {trained} px "
                "(its position embeddings are learnt for that grid)"
            )
        self.image_size = trained

    def compute_grid(self, width: int, height: int) -> PageGrid:
        """The fixed grid: ``height/patch × width/patch`` patches, ``image_seq_len`` image tokens."""
        h, w = self.preprocess.height, self.preprocess.width
        return PageGrid(h, w, h // self.patch_size, w // self.patch_size, self.image_seq_len)

    def page_pixels(self, image: Any, grid: PageGrid) -> dict[str, np.ndarray]:
        """``pixel_values [1, 3, H, W]``."""
        return {"pixel_values": pixel_values(image, self.preprocess)[None]}

    def document_text(self, grid: PageGrid) -> str:
        """The document prompt with the image token repeated ``image_seq_len`` times."""
        token = self.config.image_token
        head, _, tail = self.config.document_prompt.partition(token)
        return head + token * grid.image_tokens + tail

    def vision_calls(
        self, pages: Sequence[PreparedPage], graph_batch: int
    ) -> Iterator[dict[str, np.ndarray]]:
        """The pages' images, ``graph_batch`` per vision-graph call."""
        return chunked_image_calls(pages, graph_batch)
