"""What the server offers for each paradigm: route groups, read from the paradigm table.

Route groups (``docs/serving.md`` lists the routes of each): ``embeddings`` (OpenAI
``/v1/embeddings``), ``images`` (image items in ``/v1/embeddings``), ``embed`` (TEI ``/embed``),
``embed_sparse``, ``embed_all``, ``rerank``, ``forecast``, ``pages`` (``/pages/embed``,
``/pages/queries``) and ``page_search`` (``/pages/search``).
"""

from __future__ import annotations

__all__ = ["offers", "paradigms_offering"]

# Until the paradigm table (tessera_onnx.paradigms) is present, the same rows for the server.
_SERVER_OFFERS: dict[str, tuple[str, ...]] = {
    "dense": ("embeddings", "embed", "similarity", "rerank"),
    "multi_vector": ("embed_all", "multi_vector", "rerank"),
    "sparse": ("embed_sparse", "sparse", "rerank"),
    "vision": ("embeddings", "images"),
    "pages": ("pages", "page_search"),
    "timeseries": ("forecast",),
}


def offers(paradigm: str) -> tuple[str, ...]:
    """The route groups ``tessera serve`` offers for models of ``paradigm`` (empty: none)."""
    try:
        from ..paradigms import get_paradigm
    except ImportError:
        return _SERVER_OFFERS.get(paradigm, ())
    try:
        return tuple(get_paradigm(paradigm).server)
    except Exception:  # noqa: BLE001 - an unknown paradigm offers nothing
        return ()


def paradigms_offering(group: str, known: tuple[str, ...] | list[str]) -> list[str]:
    """Those of ``known`` paradigms that offer ``group``."""
    return [p for p in known if group in offers(p)]
