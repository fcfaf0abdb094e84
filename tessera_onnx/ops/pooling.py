"""Token pooling with attention masks: sentence-transformers ``Pooling`` formulas in numpy.

Every function takes ``hidden`` ``[B, T, D]`` and ``mask`` ``[B, T]`` (1 = real token, any
numeric or bool dtype) and returns ``[B, D]`` in ``hidden``'s dtype. Padded positions never
enter a result, so the same text pooled inside batches padded to different lengths gives the
same vector (up to float rounding of the encoder itself).

Reference: ``sentence_transformers/models/Pooling.py:Pooling.forward`` (docs/reference-semantics.md §3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "POOLING_ORDER",
    "cls_pooling",
    "mean_pooling",
    "mean_sqrt_len_pooling",
    "max_pooling",
    "weighted_mean_pooling",
    "last_token_pooling",
    "pool",
]

# sentence-transformers concatenates several enabled modes in this order.
POOLING_ORDER = ("cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken")


def _check(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if hidden.ndim != 3:
        raise ValueError(f"hidden must be [batch, tokens, dim], got shape {hidden.shape}")
    if mask.shape != hidden.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match hidden {hidden.shape[:2]}")
    return mask.astype(hidden.dtype, copy=False)


def _masked_sum(hidden: np.ndarray, weights: np.ndarray) -> np.ndarray:
    # [B,1,T] @ [B,T,D] -> [B,1,D]: a batched GEMV, no [B,T,D] temporary.
    return np.matmul(weights[:, None, :], hidden)[:, 0, :]


def cls_pooling(hidden: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The first real token's vector (``[CLS]``): position 0 with right padding, the first
    unmasked position with left padding (as sentence-transformers >= 5)."""
    if mask is None:
        return np.ascontiguousarray(hidden[:, 0, :])
    first = np.argmax(_check(hidden, mask) > 0, axis=1)
    return hidden[np.arange(hidden.shape[0]), first, :]


def mean_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``Σ h·m / clamp(Σ m, 1e-9)``."""
    m = _check(hidden, mask)
    counts = np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
    return _masked_sum(hidden, m) / counts


def mean_sqrt_len_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``Σ h·m / sqrt(clamp(Σ m, 1e-9))``."""
    m = _check(hidden, mask)
    counts = np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
    return _masked_sum(hidden, m) / np.sqrt(counts)


def max_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Max over real tokens; padded positions count as ``-1e9`` (so negative features survive)."""
    m = _check(hidden, mask)
    masked = np.where(m[:, :, None] > 0, hidden, hidden.dtype.type(-1e9))
    return masked.max(axis=1)


def weighted_mean_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Position-weighted mean: weights ``1..T`` times the mask."""
    m = _check(hidden, mask)
    weights = m * np.arange(1, hidden.shape[1] + 1, dtype=hidden.dtype)[None, :]
    total = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    return _masked_sum(hidden, weights) / total


def last_token_pooling(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The vector of the last real token (works for left and right padding).

    As sentence-transformers: index ``T-1-argmax(flip(m))``; a row without real tokens
    gives a zero vector.
    """
    m = _check(hidden, mask)
    batch, length = m.shape
    flipped = m[:, ::-1] > 0
    has_token = flipped.any(axis=1)
    last = length - 1 - np.argmax(flipped, axis=1)
    out = hidden[np.arange(batch), last, :] * m[np.arange(batch), last][:, None]
    out[~has_token] = 0
    return out


_FUNCS = {
    "cls": cls_pooling,
    "mean": mean_pooling,
    "max": max_pooling,
    "mean_sqrt_len": mean_sqrt_len_pooling,
    "weightedmean": weighted_mean_pooling,
    "lasttoken": last_token_pooling,
}


_ALIASES = {
    "last_token": "lasttoken",
    "weighted_mean": "weightedmean",
    "mean_sqrt_len_tokens": "mean_sqrt_len",
    "cls_token": "cls",
    "mean_tokens": "mean",
    "max_tokens": "max",
}


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str | Sequence[str] = "mean") -> np.ndarray:
    """Pool ``hidden`` with one mode, or several concatenated in sentence-transformers order.

    ``mode`` is one of :data:`POOLING_ORDER` (``"last_token"``/``"weighted_mean"`` spellings
    are accepted too) or a sequence of them.
    """
    modes = [mode] if isinstance(mode, str) else list(mode)
    canon = [_ALIASES.get(m, m) for m in modes]
    unknown = [m for m in canon if m not in _FUNCS]
    if unknown or not canon:
        raise ValueError(f"unknown pooling mode(s) {unknown or modes}; choose from {POOLING_ORDER}")
    if len(canon) == 1:
        return _FUNCS[canon[0]](hidden, mask)
    ordered = [m for m in POOLING_ORDER if m in canon]
    return np.concatenate([_FUNCS[m](hidden, mask) for m in ordered], axis=-1)
