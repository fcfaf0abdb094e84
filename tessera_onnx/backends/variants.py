"""Which graph file to load: an artifact's canonical (portable) graph or one of its runtime variants.

A manifest's ``variants`` (see :mod:`tessera_onnx.artifact`) lists optional graphs written for
one runtime, fastest first. :func:`select_variant` returns the first one whose runtime
requirement the installed runtime meets and whose execution providers include the one the
session will use; ``TESSERA_GRAPH_VARIANT`` (``auto``, ``portable`` or a variant name) overrides
the choice for every artifact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..artifact import Manifest
from ..errors import ArtifactError

__all__ = ["PORTABLE", "VARIANT_ENV", "requirement_met", "select_variant", "variant_file"]

PORTABLE = "portable"
VARIANT_ENV = "TESSERA_GRAPH_VARIANT"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:(>=|==|>)\s*([0-9][0-9A-Za-z.\-+]*))?\s*$")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def requirement_met(requirement: str, runtime: str, version: str) -> bool:
    """Whether ``runtime`` at ``version`` meets ``requirement`` (``"onnxruntime>=1.17"``, ``"onnxruntime"``)."""
    match = _REQUIREMENT.match(requirement or "")
    if match is None:
        return False
    name, op, wanted = match.groups()
    if name.lower() != runtime.lower():
        return False
    if op is None:
        return True
    have, need = _version_tuple(version), _version_tuple(wanted)
    width = max(len(have), len(need))
    have, need = have + (0,) * (width - len(have)), need + (0,) * (width - len(need))
    return {">=": have >= need, ">": have > need, "==": have == need}[op]


def select_variant(
    manifest: Manifest,
    graph: str,
    *,
    runtime: str,
    version: str,
    provider: str | None,
    choice: str | None = None,
) -> str | None:
    """The name of the variant to load for canonical graph ``graph``, or ``None`` for the canonical graph.

    ``choice``: ``"auto"`` (default, or ``$TESSERA_GRAPH_VARIANT``): the first variant the runtime
    supports; ``"portable"``: always the canonical graph; a variant name: that variant (raises
    :class:`ArtifactError` when the artifact has no such variant or the runtime cannot load it).
    """
    choice = choice or os.environ.get(VARIANT_ENV) or "auto"
    variants: Mapping[str, Mapping[str, Any]] = manifest.variants or {}
    if choice == PORTABLE:
        return None
    if choice != "auto":
        variant = variants.get(choice)
        if variant is None or graph not in variant.get("graphs", {}):
            raise ArtifactError(
                f"artifact {manifest.model_id!r} has no graph variant {choice!r} for {graph} "
                f"(it has {', '.join(variants) or 'none'}); choose 'auto' or 'portable'"
            )
        if not requirement_met(str(variant.get("runtime", "")), runtime, version):
            raise ArtifactError(
                f"graph variant {choice!r} needs {variant.get('runtime')}, not {runtime} {version}; "
                "choose 'auto' or 'portable'"
            )
        return choice
    for name, variant in variants.items():
        if graph not in variant.get("graphs", {}):
            continue
        if not requirement_met(str(variant.get("runtime", "")), runtime, version):
            continue
        allowed: Sequence[str] = variant.get("providers") or ()
        if provider is not None and allowed and provider not in allowed:
            continue
        return name
    return None


def variant_file(manifest: Manifest, graph: str, variant: str | None) -> str:
    """The file holding ``graph`` in ``variant`` (``None``: the canonical ``graph`` itself)."""
    if variant is None:
        return graph
    return str((manifest.variants or {})[variant]["graphs"][graph])
