"""Page retrieval without OCR (ColPali family): page images and queries → token vectors, late interaction.

One module per concern: :mod:`.config` (the manifest block), :mod:`.family` (what a model
family provides: one grid per page → pixels + prompt ids; query ids; padding side),
:mod:`.tokens` (prompt tokenization), :mod:`.inputs` (paths, bytes, PIL, arrays, PDFs → pages),
:mod:`.pdf` (PDF rendering with pypdfium2, ``[pdf]`` extra), :mod:`.idefics3` (ColIdefics3 /
ColSmol), :mod:`.search` (:class:`PageIndex`: float/int8/binary page vectors, pooled prefetch,
exact MaxSim rerank). Nothing here imports Pillow or pypdfium2 until a page is used.
"""

from __future__ import annotations

from .config import PAGE_FAMILIES, PagesConfig
from .family import PageFamily, PageGrid, PreparedPage, family_class

__all__ = ["PAGE_FAMILIES", "PagesConfig", "PageFamily", "PageGrid", "PreparedPage", "family_class"]
