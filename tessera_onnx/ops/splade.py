"""SPLADE pooling of MLM logits and sparse-vector helpers (docs/reference-semantics.md §2).

``splade_pool`` computes ``agg_t act(z_t) · m_t`` with ``act = log1p(relu(.))`` (or a second
``log1p`` for OpenSearch models) and ``agg`` = max or sum over the sequence axis. The mask is
applied before the aggregation, [CLS]/[SEP] positions count, and ``np.log1p`` is used (not
``log(1 + x)``). For ``max`` the (non-decreasing) relu and ``log1p`` are applied after a max over
the real tokens: bit-identical, and they touch ``B×V`` instead of ``B×T×V`` values.
"""

from __future__ import annotations

import numpy as np

__all__ = ["splade_pool", "top_k_sparse", "dense_to_sparse"]

_ACTIVATIONS = ("log1p_relu", "log1p_log1p_relu")


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    np.log1p(x, out=x)
    if activation == "log1p_log1p_relu":
        np.log1p(x, out=x)
    return x


def splade_pool(
    logits: np.ndarray,
    mask: np.ndarray,
    activation: str = "log1p_relu",
    aggregation: str = "max",
    inplace: bool = False,
) -> np.ndarray:
    """Pool MLM ``logits`` ``[B, T, V]`` with ``mask`` ``[B, T]`` into ``[B, V]`` float32 weights.

    ``inplace=True`` lets the function overwrite ``logits`` (saves a B×T×V copy when the caller
    owns the buffer, e.g. an onnxruntime output).
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown sparse activation {activation!r}; choose from {_ACTIVATIONS}")
    if aggregation not in ("max", "sum"):
        raise ValueError(f"unknown sparse aggregation {aggregation!r}; choose 'max' or 'sum'")
    if logits.ndim != 3 or mask.shape != logits.shape[:2]:
        raise ValueError(f"logits must be [B, T, V] and mask [B, T]; got {logits.shape} and {mask.shape}")
    z = logits if inplace and logits.dtype == np.float32 else logits.astype(np.float32, copy=True)
    real = np.asarray(mask) > 0
    if aggregation == "max":
        # relu and log1p never decrease, so they commute with the max: take the max over the real
        # tokens first and activate B×V values (a text without real tokens gives -inf -> 0)
        z[~real] = -np.inf
        best = z.max(axis=1)
        np.maximum(best, 0.0, out=best)
        return _activate(best, activation)
    np.maximum(z, 0.0, out=z)  # relu
    z *= real.astype(np.float32)[:, :, None]  # mask before aggregating
    return _activate(z, activation).sum(axis=1)


def dense_to_sparse(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero ``(indices int64, values float32)`` of a 1-D weight vector, indices ascending."""
    indices = np.flatnonzero(row)
    return indices.astype(np.int64, copy=False), row[indices].astype(np.float32, copy=False)


def top_k_sparse(indices: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``k`` largest-|value| entries (as ST ``max_active_dims``), indices ascending.

    Ties at the boundary are broken by the lower index (deterministic; ``torch.topk`` order is
    unspecified).
    """
    if k < 0:
        raise ValueError(f"top_k must be non-negative, got {k}")
    if len(values) <= k:
        return indices, values
    # Stable sort on -|v| keeps lower indices first among ties.
    order = np.argsort(-np.abs(values), kind="stable")[:k]
    order.sort()
    return indices[order], values[order]
