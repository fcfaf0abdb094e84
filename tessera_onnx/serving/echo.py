"""Echoing client input in error messages, cut to a bounded length."""

from __future__ import annotations

from typing import Any

__all__ = ["clip"]


def clip(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for echoing client input in messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
