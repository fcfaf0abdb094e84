"""``warn()`` that attributes a warning to the caller's code, not to tessera_onnx internals."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` with the stack level of the first frame outside this package."""
    level = 2  # 1 would be this function itself
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def deprecated(old: str, new: str) -> None:
    """Warn once per call site that ``old`` is deprecated in favour of ``new`` (removed next release)."""
    warn(f"{old} is deprecated and goes in the next release; use {new}", DeprecationWarning)
