"""The base of every typed manifest ``config`` block: a frozen dataclass with a dict round-trip.

The exporter writes a block with ``to_dict()``; the runtime reads it with ``from_dict()``.
Unknown keys are ignored on read (forward compatibility); missing keys take the defaults.
Each paradigm package defines its own blocks on this base (``text.config``, ``vision.config``,
``pages.config``, ``timeseries.config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, TypeVar

from .errors import ArtifactError

__all__ = ["ConfigBlock"]

_C = TypeVar("_C", bound="ConfigBlock")


class ConfigBlock:
    """Shared dict round-trip for the config dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (tuples become lists)."""
        data = asdict(self)  # type: ignore[call-overload]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any] | None) -> _C:
        """Build from a manifest block, ignoring unknown keys; raise ArtifactError on bad types."""
        data = dict(data or {})
        kwargs: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                value = data[f.name]
                kwargs[f.name] = tuple(value) if isinstance(value, list) else value
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"invalid {cls.__name__} in manifest: {exc}") from exc


_ConfigBase = ConfigBlock  # the name the paradigm packages import
