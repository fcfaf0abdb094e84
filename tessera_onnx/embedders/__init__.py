"""One embedder per paradigm, plus the :func:`Tessera` factory that picks among them."""

from __future__ import annotations

from .factory import PARADIGM_CLASSES, Tessera, load

__all__ = ["PARADIGM_CLASSES", "Tessera", "load"]
