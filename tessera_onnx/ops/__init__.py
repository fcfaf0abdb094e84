"""Pure-numpy operations after the graph: pooling, normalisation, MaxSim, SPLADE.

Nothing here imports onnxruntime; every function works on plain numpy arrays.
"""

from __future__ import annotations

from .maxsim import maxsim, maxsim_scores, maxsim_scores_packed, pad_multivectors
from .normalize import l2_normalize, layer_norm, truncate_dim
from .pooling import (
    POOLING_ORDER,
    cls_pooling,
    last_token_pooling,
    max_pooling,
    mean_pooling,
    mean_sqrt_len_pooling,
    pool,
    weighted_mean_pooling,
)
from .splade import dense_to_sparse, splade_pool, top_k_sparse

__all__ = [
    "POOLING_ORDER",
    "cls_pooling",
    "mean_pooling",
    "mean_sqrt_len_pooling",
    "max_pooling",
    "weighted_mean_pooling",
    "last_token_pooling",
    "pool",
    "l2_normalize",
    "layer_norm",
    "truncate_dim",
    "maxsim",
    "maxsim_scores",
    "maxsim_scores_packed",
    "pad_multivectors",
    "splade_pool",
    "dense_to_sparse",
    "top_k_sparse",
]
