"""Export of page-retrieval models (ColPali family, paradigm ``pages``).

- :mod:`.build` — the family-generic two-graph build (``build_pages_artifact``) and its parity checks;
- :mod:`.layouts` — which checkpoint layouts are accepted (transformers-native, colpali-engine full
  saves, PEFT adapters merged at export) and how each is brought to the layout the plans load;
- :mod:`.common` — the plan a family hands to the build and the torch helpers the families share;
- :mod:`.idefics3`, :mod:`.paligemma`, :mod:`.qwen2vl` (+ :mod:`.qwen2_graphs`) — one plan per family.
"""

from __future__ import annotations

from .build import (
    DEFAULT_PAGES_INT8_PROFILE,
    PAGE_MODEL_TYPES,
    PAGE_PLANS,
    PAGES_INT8_FLOOR,
    PAGES_INT8_PROFILES,
    PAGES_INT8_SETTINGS,
    build_pages_artifact,
    parity_pages,
)

__all__ = [
    "build_pages_artifact",
    "PAGE_PLANS",
    "PAGES_INT8_SETTINGS",
    "PAGES_INT8_PROFILES",
    "DEFAULT_PAGES_INT8_PROFILE",
    "PAGES_INT8_FLOOR",
    "parity_pages",
    "PAGE_MODEL_TYPES",
]
