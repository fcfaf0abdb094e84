"""Qwen2-VL image preprocessing in numpy + Pillow: one grid per image, then pixels and token count.

Reproduces transformers' slow ``Qwen2VLImageProcessor`` (4.57), which ColQwen2 / ColQwen2.5
checkpoints ship as their processor (the fast one needs torchvision and differs by a few levels):

1. :func:`smart_resize`: each side rounded (Python ``round``, half to even) to a multiple of
   ``patch_size · merge_size`` (28); the area brought inside ``[min_pixels, max_pixels]`` by a
   common factor, floor when shrinking, ceil when growing.
2. RGB conversion, BICUBIC resize of the uint8 image in Pillow, ``×1/255`` in float64 → float32,
   CLIP mean/std normalisation in float32 (the shared :mod:`tessera_onnx.vision.transforms`).
3. The frame is repeated ``temporal_patch_size`` (2) times, reshaped to
   ``(t, 2, C, h/2, 2, 14, w/2, 2, 14)``, permuted ``(0, 3, 6, 4, 7, 2, 1, 5, 8)`` and flattened to
   ``[t·h·w, C·2·14·14]`` rows: the patches of each 2×2 merge window are adjacent.

:func:`image_grid` is the ONE grid computation per image: the resized size, the patch grid
``(t, h, w)`` (= ``image_grid_thw``) and the number of ``<|image_pad|>`` tokens of the prompt
(``t·h·w / merge²``) all come from it, so pixels and prompt can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ...errors import ArtifactError, InvalidImageError, InvalidInputError
from ...vision.transforms import normalize, rescale, resize, to_chw, to_rgb
from ..config import MAX_ASPECT_RATIO, MIN_SIDE

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "QwenImageSettings",
    "ImageGrid",
    "smart_resize",
    "image_grid",
    "flatten_patches",
    "grid_pixels",
    "preprocess_image",
]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class QwenImageSettings:
    """The preprocessing settings of a Qwen2-VL / Qwen2.5-VL processor (``preprocessor_config.json``).

    ``min_pixels`` / ``max_pixels`` bound the resized area (transformers' defaults 56·56 and
    28·28·1280). colpali-engine sets ``max_pixels = max_num_visual_tokens · 28 · 28``.
    """

    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280
    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    resample: int = 3
    rescale_factor: float = 1 / 255
    mean: tuple[float, ...] = CLIP_MEAN
    std: tuple[float, ...] = CLIP_STD
    convert_rgb: bool = True

    @property
    def factor(self) -> int:
        """Side multiple of the resized image: ``patch_size · merge_size`` (28)."""
        return self.patch_size * self.merge_size

    @property
    def patch_dim(self) -> int:
        """Values per flattened patch row: ``3 · temporal_patch_size · patch_size²`` (1176)."""
        return 3 * self.temporal_patch_size * self.patch_size * self.patch_size

    @classmethod
    def from_preprocessor_config(
        cls, data: Mapping[str, Any], *, max_num_visual_tokens: int | None = None
    ) -> QwenImageSettings:
        """Read a ``Qwen2VLImageProcessor`` config as transformers 5 and colpali-engine do.

        The pixel bounds are ``min_pixels`` / ``max_pixels`` where given, else ``size.shortest_edge`` /
        ``size.longest_edge`` (the only form transformers 5 saves), else the processor's defaults.
        (transformers 4.55–4.57 drop a ``size`` dict and fall back to the defaults, which turns a
        512 × 512 page into 36 × 36 patches where the checkpoint asks for 12 × 12.)
        ``max_num_visual_tokens`` (colpali-engine's knob) overrides ``max_pixels``.
        """
        kind = str(data.get("image_processor_type", "Qwen2VLImageProcessor"))
        if not kind.startswith("Qwen2VLImageProcessor"):
            raise ArtifactError(f"preprocessor config is a {kind}, not a Qwen2VLImageProcessor")
        for flag in ("do_resize", "do_rescale", "do_normalize"):
            if data.get(flag, True) is not True:
                raise ArtifactError(
                    f"preprocessor config sets {flag}=false, which ColQwen2 checkpoints never do"
                )
        defaults = cls()
        factor = int(data.get("patch_size", 14)) * int(data.get("merge_size", 2))
        size = data.get("size") if isinstance(data.get("size"), Mapping) else {}
        max_pixels = int(data.get("max_pixels") or size.get("longest_edge") or defaults.max_pixels)
        min_pixels = int(data.get("min_pixels") or size.get("shortest_edge") or defaults.min_pixels)
        if max_num_visual_tokens is not None:
            max_pixels = int(max_num_visual_tokens) * factor * factor
        settings = cls(
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            patch_size=int(data.get("patch_size", 14)),
            temporal_patch_size=int(data.get("temporal_patch_size", 2)),
            merge_size=int(data.get("merge_size", 2)),
            resample=int(data.get("resample", 3)),
            rescale_factor=float(data.get("rescale_factor", 1 / 255)),
            mean=tuple(float(v) for v in data.get("image_mean", CLIP_MEAN)),
            std=tuple(float(v) for v in data.get("image_std", CLIP_STD)),
            convert_rgb=bool(data.get("do_convert_rgb", True)),
        )
        if settings.min_pixels > settings.max_pixels:
            raise ArtifactError(f"min_pixels {settings.min_pixels} exceeds max_pixels {settings.max_pixels}")
        return settings

    def with_max_pixels(self, pixels: int) -> QwenImageSettings:
        """These settings with ``max_pixels = pixels`` (the speed–quality knob)."""
        if pixels < self.min_pixels:
            raise InvalidInputError(
                f"max_pixels={pixels} is under min_pixels={self.min_pixels}; pass at least {self.min_pixels} "
                f"({math.ceil(self.min_pixels / self.factor**2)} visual tokens)"
            )
        return QwenImageSettings(**{**asdict(self), "max_pixels": int(pixels)})

    def with_max_visual_tokens(self, tokens: int) -> QwenImageSettings:
        """These settings with ``max_pixels = tokens · factor²`` (colpali-engine's ``max_num_visual_tokens``)."""
        return self.with_max_pixels(int(tokens) * self.factor**2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QwenImageSettings:
        """Inverse of :meth:`to_dict`."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)


@dataclass(frozen=True)
class ImageGrid:
    """The grid of one image: resized size, patch grid ``(t, h, w)`` and prompt token count."""

    resized_height: int
    resized_width: int
    t: int
    h: int
    w: int
    merge_size: int

    @property
    def thw(self) -> tuple[int, int, int]:
        """``image_grid_thw`` of this image."""
        return self.t, self.h, self.w

    @property
    def num_patches(self) -> int:
        """Rows of the flattened patch matrix: ``t·h·w``."""
        return self.t * self.h * self.w

    @property
    def num_tokens(self) -> int:
        """``<|image_pad|>`` tokens in the prompt = image feature rows: ``t·h·w / merge²``."""
        return self.num_patches // (self.merge_size * self.merge_size)


def smart_resize(
    height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56, max_pixels: int = 28 * 28 * 1280
) -> tuple[int, int]:
    """Resized ``(height, width)``: multiples of ``factor``, area within ``[min_pixels, max_pixels]``.

    Raises :class:`InvalidImageError` for a side under 10 px (transformers guesses the channel
    axis from the array shape and misreads a 3-pixel-high RGB image) or an aspect ratio over
    200 (transformers raises ``ValueError``).
    """
    if min(height, width) < MIN_SIDE:
        raise InvalidImageError(
            f"image of {width}x{height} px has a side under {MIN_SIDE} px, which Qwen2-VL cannot read; "
            "upscale or drop it"
        )
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise InvalidImageError(
            f"image of {width}x{height} px has an aspect ratio of {ratio:.1f}, over the {MAX_ASPECT_RATIO:g}:1 "
            "Qwen2-VL accepts; split it into pieces first"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def image_grid(height: int, width: int, settings: QwenImageSettings) -> ImageGrid:
    """The grid of an image of ``height``×``width`` px (one frame) under ``settings``."""
    rh, rw = smart_resize(height, width, settings.factor, settings.min_pixels, settings.max_pixels)
    return ImageGrid(rh, rw, 1, rh // settings.patch_size, rw // settings.patch_size, settings.merge_size)


def flatten_patches(chw: np.ndarray, grid: ImageGrid, settings: QwenImageSettings) -> np.ndarray:
    """A normalised ``[C, H, W]`` float32 frame → ``[t·h·w, C·T·P·P]`` patch rows (the 9-D permute)."""
    tps, ps, ms = settings.temporal_patch_size, settings.patch_size, settings.merge_size
    channels = chw.shape[0]
    frames = np.broadcast_to(chw[None], (grid.t * tps, *chw.shape))
    blocks = frames.reshape(grid.t, tps, channels, grid.h // ms, ms, ps, grid.w // ms, ms, ps)
    blocks = blocks.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(blocks.reshape(grid.num_patches, channels * tps * ps * ps))


def grid_pixels(image: Any, grid: ImageGrid, settings: QwenImageSettings) -> np.ndarray:
    """The ``[t·h·w, 1176]`` float32 patch rows of one decoded PIL image laid out per ``grid``."""
    if settings.convert_rgb:
        image = to_rgb(image)
    resized = resize(image, grid.resized_height, grid.resized_width, settings.resample)
    array = np.asarray(resized)
    if array.ndim == 2:
        array = array[..., None]
    pixels = normalize(rescale(array, settings.rescale_factor), settings.mean, settings.std)
    return flatten_patches(to_chw(pixels.astype(np.float32, copy=False)), grid, settings)


def preprocess_image(image: Any, settings: QwenImageSettings) -> tuple[np.ndarray, ImageGrid]:
    """One decoded PIL image → ``(patches [t·h·w, 1176] float32, grid)``."""
    if settings.convert_rgb:
        image = to_rgb(image)
    grid = image_grid(image.height, image.width, settings)
    return grid_pixels(image, grid, settings), grid
