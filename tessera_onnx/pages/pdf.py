"""PDF pages as images, rendered one page at a time with pypdfium2 (the ``[pdf]`` extra).

PDFium is not thread-safe, so rendering happens in the thread that iterates; each page is
closed as soon as its bitmap is a ``PIL.Image``, so a long document streams in bounded memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import InvalidDocumentError, MissingDependencyError

__all__ = ["require_pdfium", "is_pdf", "render_pdf", "PDF_INSTALL_HINT", "DEFAULT_PDF_DPI"]

PDF_INSTALL_HINT = "pip install 'tessera-onnx[pdf]'"
# 150 dpi: an A4 page renders at 1240 x 1754 px, above the longest edge ColSmol/ColPali resize to
DEFAULT_PDF_DPI = 150.0
_MAGIC = b"%PDF-"


def require_pdfium() -> Any:
    """Return the ``pypdfium2`` module, or raise :class:`MissingDependencyError` naming the extra."""
    try:
        import pypdfium2
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise MissingDependencyError(
            f"PDF pages need pypdfium2, which is not installed: {PDF_INSTALL_HINT}"
        ) from exc
    return pypdfium2


def is_pdf(item: Any) -> bool:
    """True for a path ending in ``.pdf`` or bytes starting with ``%PDF-``."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item).lower().endswith(".pdf")
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item[:5]) == _MAGIC
    return False


def render_pdf(
    item: str | os.PathLike[str] | bytes,
    index: int,
    *,
    dpi: float = DEFAULT_PDF_DPI,
    password: str | None = None,
) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, PIL.Image)`` per page of a PDF (path or bytes); ``name`` is ``"<doc>#page=N"``.

    Raises :class:`InvalidDocumentError` (with ``index``) for a missing, corrupt or encrypted file,
    or one without pages.
    """
    pdfium = require_pdfium()
    label = repr(os.fspath(item)) if isinstance(item, (str, os.PathLike)) else "PDF bytes"
    if isinstance(item, (str, os.PathLike)) and not os.path.isfile(item):
        raise InvalidDocumentError(f"pages[{index}]: no such PDF file {label}", index)
    base = os.fspath(item) if isinstance(item, (str, os.PathLike)) else "pdf"
    source = os.fspath(item) if isinstance(item, (str, os.PathLike)) else bytes(item)
    try:
        document = pdfium.PdfDocument(source, password=password)
    except pdfium.PdfiumError as exc:
        text = str(exc)
        if "password" in text.lower():
            raise InvalidDocumentError(
                f"pages[{index}] ({label}) is an encrypted PDF; pass pdf_password= to open it", index
            ) from exc
        raise InvalidDocumentError(f"pages[{index}] ({label}) is not a readable PDF: {text}", index) from exc
    try:
        count = len(document)
        if count == 0:
            raise InvalidDocumentError(f"pages[{index}] ({label}) has no pages", index)
        for number in range(count):
            page = document[number]
            try:
                image = page.render(scale=dpi / 72.0).to_pil()
            except pdfium.PdfiumError as exc:
                raise InvalidDocumentError(
                    f"pages[{index}] ({label}) page {number + 1} cannot be rendered: {exc}", index
                ) from exc
            finally:
                page.close()
            yield f"{base}#page={number + 1}", image
    finally:
        document.close()
