"""ColIdefics3 / ColSmol pages: Idefics3 tiling and prompt expansion in Pillow + numpy.

Reproduces ``transformers`` ``Idefics3ImageProcessor`` (slow, PIL) and ``Idefics3Processor``
(4.57) on the RGB page, as colpali-engine feeds them (its ``process_images`` converts every
page with ``PIL.Image.convert("RGB")`` first):

1. resize so the longest edge is ``image_size`` (``size.longest_edge``), the other side
   ``int(side · ratio)`` rounded up to even, at most 4096 (LANCZOS on the uint8 image);
2. resize again so both sides are multiples of the tile size ``S`` (``max_image_size``);
3. cut into ``rows × cols`` tiles of ``S × S`` plus one global view (the whole page resized to
   ``S × S``); a page no larger than one tile is a single view (rows = cols = 0);
4. ``x · rescale_factor`` (float64 → float32), ``(x − mean) / std``, CHW.

The prompt replaces the image token by, per tile row, ``<fake_token_around_image><row_r_col_c>``
followed by ``image_seq_len`` image tokens for each tile and a newline, then
``\\n<fake_token_around_image><global-img>`` + image tokens + ``<fake_token_around_image>``.
Rows, cols and the token count come from the same :class:`~tessera_onnx.pages.family.PageGrid`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config_base import _ConfigBase
from ..errors import ArtifactError
from ..vision.transforms import normalize, rescale, resize, to_chw
from .family import PageFamily, PageGrid, PreparedPage, chunked_image_calls

__all__ = ["Idefics3ImageConfig", "Idefics3Family", "idefics3_resized_size", "idefics3_tiled_size"]

# transformers' Idefics3 MAX_IMAGE_SIZE: no side above this after the first resize
_MAX_SIDE = 4096
FAKE_TOKEN = "<fake_token_around_image>"
GLOBAL_TOKEN = "<global-img>"


@dataclass(frozen=True)
class Idefics3ImageConfig(_ConfigBase):
    """The Idefics3 processor settings the artifact pins (``config["pages"]["image"]``)."""

    longest_edge: int = 2048
    tile_size: int = 512
    image_seq_len: int = 64
    do_image_splitting: bool = True
    resample: int = 1
    rescale_factor: float = 1 / 255
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @classmethod
    def from_processor(cls, data: Mapping[str, Any], image_seq_len: int) -> Idefics3ImageConfig:
        """From a checkpoint's ``preprocessor_config.json`` dict and the model's image_seq_len."""
        size = data.get("size") or {"longest_edge": 4 * 364}
        tile = data.get("max_image_size") or {"longest_edge": 364}
        if "longest_edge" not in size or "longest_edge" not in tile:
            raise ArtifactError(f"Idefics3 size {size!r} / max_image_size {tile!r} lack longest_edge")
        for key, want in (
            ("do_resize", True),
            ("do_rescale", True),
            ("do_normalize", True),
            ("do_convert_rgb", True),
        ):
            if bool(data.get(key, want)) != want:
                raise ArtifactError(f"Idefics3 processor with {key}={data.get(key)!r} is not supported")

        def three(value: Any) -> tuple[float, float, float]:
            vals = value if isinstance(value, (list, tuple)) else [value] * 3
            return tuple(float(v) for v in vals)  # type: ignore[return-value]

        return cls(
            longest_edge=int(size["longest_edge"]),
            tile_size=int(tile["longest_edge"]),
            image_seq_len=int(image_seq_len),
            do_image_splitting=bool(data.get("do_image_splitting", True)),
            resample=int(data.get("resample", 1)),
            rescale_factor=float(data.get("rescale_factor", 1 / 255)),
            mean=three(data.get("image_mean", 0.5)),
            std=three(data.get("image_std", 0.5)),
        )


def idefics3_resized_size(height: int, width: int, longest_edge: int) -> tuple[int, int]:
    """``(h, w)`` after the longest-edge resize (even short side, at least 1, no side over 4096)."""
    ratio = width / height
    if width >= height:
        width = longest_edge
        height = int(width / ratio)
        height += height % 2
    else:
        height = longest_edge
        width = int(height * ratio)
        width += width % 2
    height, width = max(height, 1), max(width, 1)
    ratio = width / height
    if width >= height and width > _MAX_SIDE:
        width, height = _MAX_SIDE, int(_MAX_SIDE / ratio)
    elif height > width and height > _MAX_SIDE:
        height, width = _MAX_SIDE, int(_MAX_SIDE * ratio)
    return max(height, 1), max(width, 1)


def idefics3_tiled_size(height: int, width: int, tile: int) -> tuple[int, int]:
    """``(h, w)`` rounded up to multiples of the tile size (``resize_for_vision_encoder``)."""
    ratio = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / ratio) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * ratio) / tile) * tile
    return height, width


class Idefics3Family(PageFamily):
    """ColIdefics3 / ColSmol: tiles + global view, ``<row_r_col_c>`` prompt expansion, left padding.

    The knob ``image_size`` is the longest edge of the first resize: a page gets at most
    ``ceil(image_size / tile_size)²`` tiles (+ the global view), each ``image_seq_len`` vectors.
    """

    name = "idefics3"

    def __init__(self, config: Any, tokenizer: Any, image_size: int | None = None) -> None:
        super().__init__(config, tokenizer, image_size)
        self.image = Idefics3ImageConfig.from_dict(config.image)
        if self.image_size <= 0:
            self.image_size = self.image.longest_edge
        for token in (FAKE_TOKEN, GLOBAL_TOKEN):
            tokenizer.token_id(token)  # raises ArtifactError if missing

    def compute_grid(self, width: int, height: int) -> PageGrid:
        """Resize sizes and tile grid of a ``width × height`` page."""
        tile, seq = self.image.tile_size, self.image.image_seq_len
        h1, w1 = idefics3_resized_size(height, width, self.image_size)
        if not self.image.do_image_splitting:
            return PageGrid(tile, tile, 0, 0, seq, {"resized": [h1, w1]})
        h2, w2 = idefics3_tiled_size(h1, w1, tile)
        rows, cols = (h2 // tile, w2 // tile) if (h2 > tile or w2 > tile) else (0, 0)
        return PageGrid(h2, w2, rows, cols, (rows * cols + 1) * seq, {"resized": [h1, w1]})

    def _pixels(self, array: np.ndarray) -> np.ndarray:
        out = normalize(rescale(array, self.image.rescale_factor), self.image.mean, self.image.std)
        return to_chw(out.astype(np.float32, copy=False))

    def page_pixels(self, image: Any, grid: PageGrid) -> dict[str, np.ndarray]:
        """``pixel_values [tiles + 1, 3, S, S]``: the tiles row by row, then the global view."""
        resample, tile = self.image.resample, self.image.tile_size
        h1, w1 = grid.extra["resized"]
        first = resize(image, h1, w1, resample)
        if not self.image.do_image_splitting:
            return {"pixel_values": self._pixels(np.asarray(resize(first, tile, tile, resample)))[None]}
        second = resize(first, grid.height, grid.width, resample)
        if grid.rows == 0:
            return {"pixel_values": self._pixels(np.asarray(second))[None]}
        array = np.asarray(second)
        frames = [
            array[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile]
            for r in range(grid.rows)
            for c in range(grid.cols)
        ]
        frames.append(np.asarray(resize(second, tile, tile, resample)))
        return {"pixel_values": np.stack([self._pixels(f) for f in frames])}

    def document_text(self, grid: PageGrid) -> str:
        """The document prompt with ``<image>`` expanded per the grid (``Idefics3Processor``)."""
        token, seq = self.config.image_token, self.image.image_seq_len
        run = token * seq
        parts = []
        for r in range(grid.rows):
            parts.extend(f"{FAKE_TOKEN}<row_{r + 1}_col_{c + 1}>{run}" for c in range(grid.cols))
            parts.append("\n")
        if grid.rows:
            parts.append("\n")
        parts.append(f"{FAKE_TOKEN}{GLOBAL_TOKEN}{run}{FAKE_TOKEN}")
        head, _, tail = self.config.document_prompt.partition(token)
        return head + "".join(parts) + tail

    def vision_calls(
        self, pages: Sequence[PreparedPage], graph_batch: int
    ) -> Iterator[dict[str, np.ndarray]]:
        """Tiles of all ``pages`` in order, ``graph_batch`` tiles per vision-graph call."""
        return chunked_image_calls(pages, graph_batch)
