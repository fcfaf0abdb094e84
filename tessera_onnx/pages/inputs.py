"""Page inputs: one page or many (paths, bytes, file objects, ``PIL.Image``, uint8 arrays, PDFs) → a page stream.

A folder becomes its page files (images and PDFs, sorted, recursively). A PDF (a ``.pdf`` path
or bytes starting with ``%PDF-``) becomes one page per PDF page, rendered
lazily in the iterating thread (:mod:`.pdf`). Every page gets a position in the output (its
``index``, used in error messages and results) and a ``name`` (the path, ``"<doc>#page=N"``, or
the input type), so a bad page is named, never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..vision.load import is_image_input
from .pdf import DEFAULT_PDF_DPI, is_pdf, render_pdf

__all__ = ["PageSource", "as_page_inputs", "iter_page_sources", "PAGE_SUFFIXES"]

# files a folder contributes (sorted, recursively); anything else in a folder is left alone
PAGE_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class PageSource:
    """One page to embed: its output position, a name for messages and results, and the image input."""

    index: int
    name: str
    image: Any


def _name(item: Any) -> str:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, np.ndarray):
        return f"array{list(item.shape)}"
    return type(item).__name__


def as_page_inputs(pages: Any) -> tuple[Iterable[Any], bool]:
    """``(iterable of page inputs, was_one_image)``; a PDF counts as many pages, not one image."""
    if isinstance(pages, (str, os.PathLike)) and os.path.isdir(pages):
        return [pages], False
    if pages is None:
        raise InvalidInputError(
            "pages is None; pass a page (path, PDF, bytes, PIL.Image, array) or a list of them"
        )
    if is_pdf(pages):
        return [pages], False
    if is_image_input(pages):
        return [pages], True
    if isinstance(pages, np.ndarray) and pages.ndim == 4:
        return list(pages), False
    if isinstance(pages, (dict, set)) or not isinstance(pages, Iterable):
        raise InvalidInputError(
            f"pages must be a page (path, PDF, bytes, binary file, PIL.Image, HWC uint8 array) or an iterable "
            f"of them, got {type(pages).__name__}"
        )
    return pages, False


def _expand_folders(items: Iterable[Any]) -> Iterator[Any]:
    """Replace every folder path by its page files (:data:`PAGE_SUFFIXES`), sorted, recursively."""
    for item in items:
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
            found = []
            for root, dirs, files in os.walk(item):
                dirs.sort()
                found.extend(
                    os.path.join(root, f) for f in sorted(files) if f.lower().endswith(PAGE_SUFFIXES)
                )
            yield from found
        else:
            yield item


def iter_page_sources(
    items: Iterable[Any], *, pdf_dpi: float = DEFAULT_PDF_DPI, pdf_password: str | None = None
) -> Iterator[PageSource]:
    """Expand PDFs into their pages; yield every page with its output index and name."""
    index = 0
    for item in _expand_folders(items):
        if is_pdf(item):
            for name, image in render_pdf(item, index, dpi=pdf_dpi, password=pdf_password):
                yield PageSource(index, name, image)
                index += 1
        else:
            yield PageSource(index, _name(item), item)
            index += 1
