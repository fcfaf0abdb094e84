"""The ColQwen2 / ColQwen2.5 family: Qwen2-VL image preprocessing, position inputs and prompts in numpy.

- :mod:`.image`: ``smart_resize``, resize + rescale + normalise, patch flattening, the image grid.
- :mod:`.positions`: the vision encoder's rotary ``(h, w)`` ids, Qwen2.5-VL's window order and
  the language model's 3-D M-RoPE position ids.
- :mod:`.prompts`: the document prompt with its ``<|image_pad|>`` run, the query template, left padding.
"""

from .image import ImageGrid, QwenImageSettings, image_grid, preprocess_image, smart_resize
from .positions import mrope_position_ids, vision_position_ids, window_layout

__all__ = [
    "ImageGrid",
    "QwenImageSettings",
    "image_grid",
    "preprocess_image",
    "smart_resize",
    "mrope_position_ids",
    "vision_position_ids",
    "window_layout",
]
