"""What a page-retrieval model family (ColIdefics3, ColPali, ColQwen2, ...) provides to the runtime.

A family turns one page image into the two things that must agree: the pixel inputs of the
vision graph and the document prompt's ids with the right number of image tokens. Both derive
from **one** :class:`PageGrid`, computed once per page by :meth:`PageFamily.compute_grid`, so
the prompt's image-token count always equals the number of image-feature rows the vision
graph returns (the runtime checks it on every batch). Queries are text only:
:meth:`PageFamily.query_ids` applies the manifest's pinned template and augmentation tokens.

The generic flow (:class:`~tessera_onnx.pages.embedder.TesseraPages`) for a batch of pages:

1. ``prepare_page`` per page in a thread pool: checks (min side, aspect ratio, pixel limit),
   ``compute_grid``, ``page_pixels`` (vision feeds of this page) and ``document_ids``;
2. the vision graph once per :meth:`PageFamily.vision_calls` entry; the outputs are
   reshaped to ``[-1, hidden]`` and concatenated in page order (image-token order);
3. ids padded on :attr:`PageFamily.padding_side`; the language graph gets ``input_ids``,
   ``attention_mask``, the image features and :meth:`PageFamily.language_extra_feeds`
   (e.g. Qwen2's 3-D M-RoPE ``position_ids``); it returns L2-normalised, masked vectors.

A new family subclasses :class:`PageFamily`, implements the three abstract methods, sets
``name`` and registers its module in :data:`~tessera_onnx.pages.config.PAGE_FAMILIES`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import ArtifactError, InvalidImageError, InvalidInputError
from .config import PAGE_FAMILIES, PagesConfig
from .tokens import PromptTokenizer

__all__ = ["PageGrid", "PreparedPage", "PageFamily", "family_class", "check_page_size", "chunked_image_calls"]


@dataclass(frozen=True)
class PageGrid:
    """The layout of one page, computed once; pixels and prompt both derive from it.

    ``height``/``width``: the page size after the family's resize (what the vision tower sees
    in total). ``rows``/``cols``: the tile grid (Idefics3; 0×0 = a single global view) or the
    patch grid (Qwen2: ``h/patch``, ``w/patch``; PaliGemma: the fixed patch grid).
    ``image_tokens``: how many image-token positions the prompt gets = how many rows of image
    features the vision graph yields for this page. ``extra``: family-specific values
    (e.g. Qwen2's ``grid_thw``), JSON-serialisable.
    """

    height: int
    width: int
    rows: int
    cols: int
    image_tokens: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PreparedPage:
    """One page ready for the graphs: its vision feeds and its document ids."""

    index: int
    name: str
    grid: PageGrid
    vision_feeds: dict[str, np.ndarray]
    input_ids: np.ndarray


def check_page_size(
    width: int,
    height: int,
    index: int,
    name: str,
    *,
    min_side: int,
    max_aspect_ratio: float,
    max_pixels: int | None,
) -> None:
    """Refuse a page that is too small, too elongated or too large, naming it; nothing is cropped."""
    if width <= 0 or height <= 0:
        raise InvalidImageError(f"pages[{index}] ({name}) has zero size ({width}x{height})", index)
    if min(width, height) < min_side:
        raise InvalidImageError(
            f"pages[{index}] ({name}) is {width}x{height} pixels; a side under {min_side} px is refused "
            "(the reference processors cannot tile or patch it); upscale or render it larger",
            index,
        )
    ratio = max(width, height) / min(width, height)
    if ratio > max_aspect_ratio:
        raise InvalidImageError(
            f"pages[{index}] ({name}) is {width}x{height} pixels, aspect ratio {ratio:.1f}:1 over the limit of "
            f"{max_aspect_ratio:g}:1 that the reference enforces; split it into pages first",
            index,
        )
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidImageError(
            f"pages[{index}] ({name}) has {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels}; pass a larger max_pixels= if the page is genuine (or render the PDF at a lower scale)",
            index,
        )


def chunked_image_calls(
    pages: Sequence[PreparedPage], graph_batch: int, name: str = "pixel_values"
) -> Iterator[dict[str, np.ndarray]]:
    """Feeds for families whose vision input is a stack of fixed-size images (tiles, pages).

    The pages' ``name`` arrays are concatenated along axis 0 and cut into calls of at most
    ``graph_batch`` images, so the vision graph sees full batches whatever the page sizes.
    """
    stacks = [p.vision_feeds[name] for p in pages]
    flat = np.concatenate(stacks) if len(stacks) > 1 else stacks[0]
    step = max(1, int(graph_batch))
    for start in range(0, len(flat), step):
        yield {name: flat[start : start + step]}


class PageFamily(ABC):
    """Base class of a model family's page/query rules; one instance per loaded artifact.

    ``config``: the manifest's :class:`PagesConfig`; ``tokenizer``: the artifact's prompt
    tokenizer; ``image_size``: the speed–quality knob (None: the manifest's ``image_size``).
    Instances are immutable after construction and safe to share between threads.
    """

    name: ClassVar[str] = ""

    def __init__(
        self, config: PagesConfig, tokenizer: PromptTokenizer, image_size: int | None = None
    ) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.image_size = int(image_size if image_size is not None else config.image_size)
        self.image_token_id = int(config.image_token_id)
        if tokenizer.token_id(config.image_token) != self.image_token_id:
            raise ArtifactError(
                f"manifest image_token_id {self.image_token_id} does not match the tokenizer's id for "
                f"{config.image_token!r}; re-export the artifact"
            )

    # ------------------------------------------------------------ what a family implements

    @abstractmethod
    def compute_grid(self, width: int, height: int) -> PageGrid:
        """The page's :class:`PageGrid` from its original size (after the RGB conversion)."""

    @abstractmethod
    def page_pixels(self, image: Any, grid: PageGrid) -> dict[str, np.ndarray]:
        """Vision-graph inputs of one RGB ``PIL.Image`` laid out per ``grid`` (float32 / int64 arrays).

        For a batch the runtime concatenates each input along axis 0 over the pages of one
        :meth:`vision_calls` group, so every array's axis 0 must be "this page's rows".
        """

    @abstractmethod
    def document_text(self, grid: PageGrid) -> str:
        """The document prompt with the image token expanded for ``grid`` (the string the reference tokenizes)."""

    # ------------------------------------------------------------ shared behaviour

    @property
    def padding_side(self) -> str:
        """``"left"`` or ``"right"``: where batch padding goes (the mask, not the scores, depends on it)."""
        return self.config.padding_side

    def check_page(self, width: int, height: int, index: int, name: str, max_pixels: int | None) -> None:
        """Refuse pages under ``min_side``, over ``max_aspect_ratio`` or over ``max_pixels``."""
        check_page_size(
            width,
            height,
            index,
            name,
            min_side=self.config.min_side,
            max_aspect_ratio=self.config.max_aspect_ratio,
            max_pixels=max_pixels,
        )

    def document_ids(self, grid: PageGrid) -> np.ndarray:
        """Ids of :meth:`document_text`; raises if its image-token count differs from the grid's."""
        ids = self.tokenizer.encode(self.document_text(grid), self.config.add_special_tokens)
        found = int(np.count_nonzero(ids == self.image_token_id))
        if found != grid.image_tokens:
            raise ArtifactError(
                f"the {self.name} document prompt has {found} image tokens but the page grid needs "
                f"{grid.image_tokens}; the tokenizer splits {self.config.image_token!r} differently from the export"
            )
        return ids

    def query_ids(self, text: str, index: int = 0) -> np.ndarray:
        """Ids of one query through the manifest's template (augmentation tokens included)."""
        if not text.strip():
            raise InvalidInputError(
                f"queries[{index}] is empty or whitespace only; a query needs at least one word"
            )
        return self.tokenizer.encode(
            self.config.query_template.format(query=text),
            self.config.add_special_tokens,
            self.config.query_max_length,
        )

    def prepare_page(self, image: Any, index: int, name: str, max_pixels: int | None) -> PreparedPage:
        """Check one decoded page (``PIL.Image``), convert it to RGB, compute its grid, pixels and ids."""
        self.check_page(image.width, image.height, index, name, max_pixels)
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        grid = self.compute_grid(rgb.width, rgb.height)
        return PreparedPage(index, name, grid, self.page_pixels(rgb, grid), self.document_ids(grid))

    def vision_calls(
        self, pages: Sequence[PreparedPage], graph_batch: int
    ) -> Iterator[dict[str, np.ndarray]]:
        """Feeds of successive vision-graph calls covering ``pages`` in order (default: one per page)."""
        for page in pages:
            yield page.vision_feeds

    def language_extra_feeds(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, pages: Sequence[PreparedPage] | None
    ) -> dict[str, np.ndarray]:
        """Language-graph inputs beyond ids, mask and image features (default none; Qwen2: ``position_ids``).

        ``pages`` is None for a query batch, else the pages of the batch in row order.
        """
        return {}


def family_class(name: str) -> type[PageFamily]:
    """The :class:`PageFamily` subclass registered for ``name`` (imported on first use)."""
    module = PAGE_FAMILIES.get(name)
    if module is None:
        raise ArtifactError(f"unknown page family {name!r}; this tessera-onnx knows {sorted(PAGE_FAMILIES)}")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ArtifactError(
            f"page family {name!r} is not available in this version of tessera-onnx ({exc})"
        ) from exc
    for value in vars(mod).values():
        if isinstance(value, type) and issubclass(value, PageFamily) and value.name == name:
            return value
    raise ArtifactError(f"module {module} defines no PageFamily named {name!r}")
