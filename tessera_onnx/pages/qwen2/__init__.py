"""Qwen2-VL / Qwen2.5-VL inputs in numpy for the ColQwen2 family (:mod:`tessera_onnx.pages.qwen2_vl`).

- :mod:`.image`: ``smart_resize``, resize + rescale + normalise, patch flattening, the image grid.
- :mod:`.positions`: the vision encoder's rotary ``(h, w)`` ids, Qwen2.5-VL's window order and
  the language model's 3-D M-RoPE position ids.
"""

from .image import ImageGrid, QwenImageSettings, grid_pixels, image_grid, preprocess_image, smart_resize
from .positions import mrope_position_ids, vision_position_ids, window_layout

__all__ = [
    "ImageGrid",
    "QwenImageSettings",
    "grid_pixels",
    "image_grid",
    "preprocess_image",
    "smart_resize",
    "mrope_position_ids",
    "vision_position_ids",
    "window_layout",
]
