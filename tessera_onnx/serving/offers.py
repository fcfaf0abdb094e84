"""What the server offers for each paradigm: the ``server`` field of the paradigm table.

Route groups (``docs/serving.md`` lists the routes of each): ``embeddings`` (OpenAI
``/v1/embeddings``), ``images`` (image items in ``/v1/embeddings``), ``series`` (time series in
``/v1/embeddings`` with ``"modality": "series"``), ``embed`` (TEI ``/embed``),
``embed_sparse``, ``embed_all``, ``rerank``, ``forecast``, ``pages`` (``/pages/embed``,
``/pages/queries``) and ``page_search`` (``/pages/search``).
"""

from __future__ import annotations

from ..paradigms import PARADIGMS

__all__ = ["offers"]


def offers(paradigm: str) -> tuple[str, ...]:
    """The route groups ``tessera serve`` offers for models of ``paradigm`` (empty: none)."""
    row = PARADIGMS.get(paradigm)
    return tuple(row.server) if row is not None else ()
