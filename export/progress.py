"""Progress reporting for long export steps (shared by the text and time-series exporters)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["Progress", "make_progress", "silent"]

Progress = Callable[[str], None]


def silent(_message: str) -> None:
    """A progress callback that prints nothing."""


def make_progress(enabled: bool = True, *, prefix: str = "tessera-export") -> Progress:
    """Return a callback printing ``[prefix +12.3s] message`` lines to stderr (or nothing)."""
    if not enabled:
        return silent
    start = time.perf_counter()

    def report(message: str) -> None:
        elapsed = time.perf_counter() - start
        print(f"[{prefix} +{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    return report
