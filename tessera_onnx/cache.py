"""Where tessera keeps its files: the artifact cache directory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The artifact cache: ``override``, else ``$TESSERA_HOME``, else ``~/.cache/tessera``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("TESSERA_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "tessera"
