"""L2 normalisation, parameter-free layer norm and Matryoshka truncation."""

from __future__ import annotations

import numpy as np

__all__ = ["l2_normalize", "layer_norm", "truncate_dim"]


def l2_normalize(
    x: np.ndarray, axis: int = -1, eps: float = 1e-12, out: np.ndarray | None = None
) -> np.ndarray:
    """``x / max(‖x‖₂, eps)`` along ``axis`` — ``torch.nn.functional.normalize``.

    A zero vector stays zero (no NaN). Pass ``out=x`` to normalise in place.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    norms = np.sqrt(np.einsum("...i,...i->...", x, x) if axis in (-1, x.ndim - 1) else (x * x).sum(axis=axis))
    norms = np.maximum(norms, eps)
    return np.divide(x, np.expand_dims(norms, axis), out=out)


def layer_norm(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Layer norm over the last axis without affine parameters (``F.layer_norm(x, (d,))``)."""
    x = np.asarray(x)
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(var + x.dtype.type(eps))


def truncate_dim(x: np.ndarray, dim: int | None, renormalize: bool = True) -> np.ndarray:
    """Matryoshka truncation: keep the first ``dim`` features, then L2-renormalise.

    ``dim=None`` or the full width returns ``x`` itself (renormalised only if asked).
    Raises ``ValueError`` when ``dim`` is not in ``1..x.shape[-1]``.
    """
    width = x.shape[-1]
    if dim is None or dim == width:
        return l2_normalize(x) if renormalize else x
    if not (0 < dim <= width):
        raise ValueError(f"cannot truncate {width}-d vectors to {dim} dimensions")
    cut = np.ascontiguousarray(x[..., :dim])
    return l2_normalize(cut, out=cut) if renormalize else cut
