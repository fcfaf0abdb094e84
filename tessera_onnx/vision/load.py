"""Turning one image input (path, bytes, file object, ``PIL.Image``, HWC uint8 array) into a PIL image.

Encoded inputs (paths, bytes, file objects) are decoded fully here, so a truncated file fails
now with an error naming its index, not later inside a resize. Their EXIF orientation is
applied with ``PIL.ImageOps.exif_transpose``, as ``transformers.image_utils.load_image`` does;
a ``PIL.Image`` passed in is taken as it is (the HF processors do not rotate it either).
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np

from ..errors import InvalidImageError
from ._pil import require_pil
from .config import DEFAULT_MAX_PIXELS

__all__ = ["load_image", "is_image_input"]

_ENCODED = (str, os.PathLike, bytes, bytearray, memoryview)


def is_image_input(item: Any) -> bool:
    """True for the single-image input types (so that a list of them is a batch)."""
    if isinstance(item, _ENCODED) or hasattr(item, "read"):
        return True
    if isinstance(item, np.ndarray):
        return item.ndim in (2, 3)
    Image = require_pil()
    return isinstance(item, Image.Image)


def _where(label: str, index: int, name: str | None) -> str:
    """``images[3]`` or ``pages[3] ('scan.png')``: how an error names the input."""
    return f"{label}[{index}]" + (f" ({name})" if name else "")


def _check_size(width: int, height: int, index: int, max_pixels: int | None, where: str) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImageError(f"{where} has zero size ({width}x{height})", index)
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidImageError(
            f"{where} has {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
            "(a decompression-bomb guard); pass a larger max_pixels= if the image is genuine",
            index,
        )


def _from_array(arr: np.ndarray, index: int, max_pixels: int | None, where: str) -> Any:
    Image = require_pil()
    if arr.dtype != np.uint8:
        raise InvalidImageError(
            f"{where} is a {arr.dtype} array; pass HWC uint8 pixels (0..255), e.g. "
            "(x * 255).round().astype(np.uint8)",
            index,
        )
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise InvalidImageError(
            f"{where} has shape {arr.shape}; expected HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA) uint8",
            index,
        )
    _check_size(int(arr.shape[1]), int(arr.shape[0]), index, max_pixels, where)
    return Image.fromarray(np.ascontiguousarray(arr))


def _decode(data: bytes, index: int, max_pixels: int | None, where: str) -> Any:
    Image = require_pil()
    from PIL import ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidImageError(f"{where} is empty (0 bytes)", index)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_size(image.width, image.height, index, max_pixels, where)
            image.load()
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(f"{where} is too large for Pillow: {exc}", index) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(f"{where} is not an image Pillow can read", index) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated / corrupt streams
        raise InvalidImageError(f"{where} is truncated or corrupt: {exc}", index) from exc
    try:
        return ImageOps.exif_transpose(image)
    except Exception as exc:  # a broken EXIF block
        raise InvalidImageError(f"{where} has unreadable EXIF orientation: {exc}", index) from exc


def load_image(
    item: Any,
    index: int = 0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    *,
    label: str = "images",
    name: str | None = None,
) -> Any:
    """Return ``item`` as a decoded ``PIL.Image`` (any mode), or raise :class:`InvalidImageError`.

    ``item``: a path (str / ``os.PathLike``), encoded bytes, a binary file object, a
    ``PIL.Image.Image`` or an HWC / HW uint8 numpy array. Errors name the input as
    ``label[index] (name)`` (``name`` defaults to the path, else the input kind), e.g.
    ``pages[2] ('scan.png')``. ``max_pixels`` (None: no limit) refuses images larger than that
    before decoding them.
    """
    Image = require_pil()
    if isinstance(item, Image.Image):
        _check_size(item.width, item.height, index, max_pixels, _where(label, index, name))
        return item
    if isinstance(item, np.ndarray):
        return _from_array(item, index, max_pixels, _where(label, index, name))
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        where = _where(label, index, name or repr(path))
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError as exc:
            raise InvalidImageError(f"{_where(label, index, name)}: no such file {path!r}", index) from exc
        except OSError as exc:
            raise InvalidImageError(
                f"{_where(label, index, name)}: cannot read {path!r}: {exc}", index
            ) from exc
        return _decode(data, index, max_pixels, where)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return _decode(bytes(item), index, max_pixels, _where(label, index, name or "bytes"))
    if hasattr(item, "read"):
        try:
            data = item.read()
        except Exception as exc:
            raise InvalidImageError(
                f"{_where(label, index, name)}: reading the file object failed: {exc}", index
            ) from exc
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidImageError(
                f"{_where(label, index, name)} is a text-mode file; open it with 'rb'", index
            )
        return _decode(bytes(data), index, max_pixels, _where(label, index, name or "file object"))
    raise InvalidImageError(
        f"{_where(label, index, name)} is {type(item).__name__}; expected a path, bytes, a binary file object, "
        "a PIL.Image or an HWC uint8 numpy array",
        index,
    )
