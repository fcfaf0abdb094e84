"""The image transforms of the slow Hugging Face processors, one function per step.

Each step reproduces ``transformers.image_transforms`` / ``image_processing_*`` (4.57) exactly:
mode conversion and resizing run in Pillow on the uint8 image, rescale and normalise in numpy
with the same dtypes, so ``pixel_values`` match bit for bit. Reused by every vision paradigm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .config import ImagePreprocessConfig

__all__ = [
    "to_rgb",
    "shortest_edge_size",
    "resize",
    "center_crop",
    "rescale",
    "normalize",
    "to_chw",
    "pixel_values",
]


def to_rgb(image: Any) -> Any:
    """``image.convert("RGB")`` unless already RGB (transformers ``convert_to_rgb``).

    Palette, grayscale, CMYK, YCbCr, LAB, HSV, 1-bit and 16/32-bit integer and float images go
    through Pillow's converter; alpha is dropped, not composited.
    """
    return image if image.mode == "RGB" else image.convert("RGB")


def shortest_edge_size(height: int, width: int, shortest_edge: int) -> tuple[int, int]:
    """Output ``(height, width)`` of a shortest-edge resize (``get_resize_output_image_size``)."""
    short, long = (width, height) if width <= height else (height, width)
    if short == shortest_edge:
        return height, width
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def resize(image: Any, height: int, width: int, resample: int) -> Any:
    """Resize a PIL image to ``height``×``width`` with PIL filter ``resample`` (no reducing gap)."""
    return image.resize((width, height), resample=resample, reducing_gap=None)


def center_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Center-crop an HWC array; pads with zeros where the crop is larger (``center_crop``)."""
    orig_h, orig_w = array.shape[:2]
    top, left = (orig_h - height) // 2, (orig_w - width) // 2
    bottom, right = top + height, left + width
    if top >= 0 and bottom <= orig_h and left >= 0 and right <= orig_w:
        return array[top:bottom, left:right]
    new_h, new_w = max(height, orig_h), max(width, orig_w)
    padded = np.zeros((new_h, new_w) + array.shape[2:], dtype=array.dtype)
    top_pad, left_pad = math.ceil((new_h - orig_h) / 2), math.ceil((new_w - orig_w) / 2)
    padded[top_pad : top_pad + orig_h, left_pad : left_pad + orig_w] = array
    top, bottom, left, right = top + top_pad, bottom + top_pad, left + left_pad, right + left_pad
    return padded[max(0, top) : min(new_h, bottom), max(0, left) : min(new_w, right)]


def rescale(array: np.ndarray, factor: float) -> np.ndarray:
    """``(array.astype(float64) * factor).astype(float32)``, as transformers' ``rescale``."""
    return (array.astype(np.float64) * factor).astype(np.float32)


def normalize(array: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(x - mean) / std`` over the last (channel) axis in float32, as transformers' ``normalize``."""
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    return (array - np.asarray(mean, dtype=array.dtype)) / np.asarray(std, dtype=array.dtype)


def to_chw(array: np.ndarray) -> np.ndarray:
    """HWC → CHW (a contiguous copy)."""
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def pixel_values(image: Any, config: ImagePreprocessConfig) -> np.ndarray:
    """Run every step of ``config`` on one PIL image; return float32 ``[3, H, W]``."""
    if config.convert_rgb:
        image = to_rgb(image)
    if config.resize == "fixed":
        image = resize(image, config.height, config.width, config.resample)
    elif config.resize == "shortest_edge":
        h, w = shortest_edge_size(image.height, image.width, config.shortest_edge)
        image = resize(image, h, w, config.resample)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if config.center_crop:
        array = center_crop(array, config.crop_height, config.crop_width)
    out = rescale(array, config.rescale_factor) if config.do_rescale else array
    if config.do_normalize:
        out = normalize(out, config.mean, config.std)
    return to_chw(out.astype(np.float32, copy=False))
