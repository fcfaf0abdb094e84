"""Image preprocessing shared by the vision paradigms (SigLIP / CLIP dual encoders, ColPali family).

Importing this package does not import Pillow; using an image does, and raises
:class:`~tessera_onnx.errors.MissingDependencyError` (``pip install 'tessera-onnx[vision]'``)
when it is missing.
"""

from __future__ import annotations

from .config import DEFAULT_MAX_PIXELS, ImagePreprocessConfig, ImageTextConfig
from .load import load_image
from .preprocess import ImagePreprocessor
from .transforms import center_crop, normalize, pixel_values, rescale, resize, shortest_edge_size, to_rgb

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImagePreprocessConfig",
    "ImageTextConfig",
    "ImagePreprocessor",
    "load_image",
    "to_rgb",
    "resize",
    "shortest_edge_size",
    "center_crop",
    "rescale",
    "normalize",
    "pixel_values",
]
