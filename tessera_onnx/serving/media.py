"""Images in requests: inline data URLs / base64 only, decoded with a pixel cap before decoding.

The conventions are those of OpenAI-compatible multimodal embedding APIs (infinity, Jina,
vLLM): an input item is a string — text, or with ``"modality": "image"`` a data URL
(``data:image/png;base64,...``) or bare base64 — or an object: ``{"type": "text", "text": ...}``,
``{"type": "image_url", "image_url": {"url": DATA_URL}}``, ``{"text": ...}`` or
``{"image": DATA_URL_OR_BASE64}``. The server never fetches URLs or opens paths: a
``http(s)://`` reference is refused with 422, so a request cannot make it read files or reach
the network.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..errors import InvalidInputError
from .echo import clip

__all__ = ["MODALITIES", "decode_image_ref", "parse_items", "DEFAULT_MAX_IMAGE_PIXELS"]

MODALITIES = ("text", "image")
# 25 megapixels (5000 x 5000): far above what any embedding model resizes to; larger images are
# refused from their header, before the pixels are decoded (decompression bombs).
DEFAULT_MAX_IMAGE_PIXELS = 25_000_000


def decode_image_ref(value: Any, where: str) -> bytes:
    """The encoded image bytes of a data URL or base64 string; :class:`InvalidInputError` otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{where} must be a data URL (data:image/png;base64,...) or a base64 string")
    if value.startswith(("http://", "https://", "file:", "/")):
        raise InvalidInputError(
            f"{where} is a URL or path ({clip(value, 60)}); the server does not fetch images: send the image "
            "inline as a data URL (data:image/png;base64,...) or base64"
        )
    payload = value
    if value.startswith("data:"):
        header, sep, payload = value.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidInputError(f"{where} must be a base64 data URL: data:image/<type>;base64,<data>")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{where} is not valid base64: {exc}") from None
    if not data:
        raise InvalidInputError(f"{where} is empty")
    return data


def _item(value: Any, modality: str, where: str) -> tuple[str, Any]:
    if isinstance(value, str):
        if modality == "image":
            return "image", decode_image_ref(value, where)
        if not value:
            raise InvalidInputError(f"{where} is an empty string: send text to embed")
        return "text", value
    if isinstance(value, dict):
        kind = value.get("type")
        if kind == "text" or (kind is None and "text" in value):
            text = value.get("text")
            if not isinstance(text, str) or not text:
                raise InvalidInputError(f"{where}.text must be a non-empty string")
            return "text", text
        if kind == "image_url" or (kind is None and "image_url" in value):
            ref = value.get("image_url")
            ref = ref.get("url") if isinstance(ref, dict) else ref
            return "image", decode_image_ref(ref, f"{where}.image_url.url")
        if kind == "image" or (kind is None and "image" in value):
            return "image", decode_image_ref(value.get("image"), f"{where}.image")
        raise InvalidInputError(
            f"{where} must be a string, {{'type': 'text', 'text': ...}} or "
            "{'type': 'image_url', 'image_url': {'url': 'data:image/...;base64,...'}}"
        )
    raise InvalidInputError(f"{where} is {type(value).__name__}; send a string or a text/image object")


def parse_items(value: Any, modality: str = "text", name: str = "input") -> list[tuple[str, Any]]:
    """Input items as ``[("text", str) | ("image", bytes), ...]``."""
    if modality not in MODALITIES:
        raise InvalidInputError(f"'modality' must be one of {list(MODALITIES)}, got {clip(modality)}")
    values = value if isinstance(value, list) else [value]
    if not values:
        raise InvalidInputError(f"'{name}' is an empty list: send at least one item")
    return [_item(v, modality, f"{name}[{i}]") for i, v in enumerate(values)]


def is_multimodal(value: Any, modality: str | None) -> bool:
    """Whether an ``input`` needs :func:`parse_items` (images, or text/image objects)."""
    if modality == "image":
        return True
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value))
