"""The reconstruction benchmark of Nickel & Kiela (2017): mean rank and mean average precision.

For every node ``u`` with ancestors in the closure, all other nodes are ranked by distance to
``u``. The rank of a true ancestor ``v`` counts only the non-ancestors closer than it (the
paper's "rank among non-neighbours"); mean rank averages it over all closure edges. The average
precision of ``u`` is ``mean_i(i / r_i)`` over its ancestors sorted by distance, ``r_i`` being the
position of the ``i``-th among all other nodes; MAP averages it over nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from ..ops.poincare import pairwise_dist
from .hierarchy import Hierarchy

__all__ = ["Reconstruction", "distance_matrix", "reconstruction"]


@dataclass(frozen=True)
class Reconstruction:
    """Mean rank, MAP and how many nodes / edges they were computed over."""

    mean_rank: float
    map: float
    nodes: int
    edges: int


def distance_matrix(a: np.ndarray, b: np.ndarray, manifold: str) -> np.ndarray:
    """Distances ``[len(a), len(b)]``: Poincaré (c = 1) or Euclidean."""
    if manifold == "poincare":
        return pairwise_dist(a, b, 1.0)
    if manifold == "euclidean":
        sq = np.sum(a * a, 1)[:, None] + np.sum(b * b, 1)[None, :] - 2.0 * (a @ b.T)
        return np.sqrt(np.maximum(sq, 0.0))
    raise InvalidInputError(f"manifold must be 'poincare' or 'euclidean', got {manifold!r}")


def reconstruction(
    hierarchy: Hierarchy,
    embeddings: np.ndarray,
    manifold: str = "poincare",
    *,
    sample: int | None = None,
    seed: int = 0,
    chunk: int = 256,
) -> Reconstruction:
    """Mean rank and MAP of ``embeddings [n_nodes, dim]`` reconstructing ``hierarchy``.

    ``sample`` evaluates a random subset of that many nodes (with ancestors) instead of all.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != hierarchy.n_nodes:
        raise InvalidInputError(f"embeddings must be [{hierarchy.n_nodes}, dim], got {emb.shape}")
    if not np.all(np.isfinite(emb)):
        raise InvalidInputError("embeddings hold NaN or inf values: the training diverged")
    ancestors = hierarchy.ancestors()
    nodes = np.array([i for i, a in enumerate(ancestors) if len(a)], dtype=np.int64)
    if sample is not None and sample < len(nodes):
        nodes = np.sort(np.random.default_rng(seed).choice(nodes, size=sample, replace=False))
    rank_sum = 0.0
    n_edges = 0
    ap_sum = 0.0
    for lo in range(0, len(nodes), chunk):
        ids = nodes[lo : lo + chunk]
        dists = distance_matrix(emb[ids], emb, manifold)
        dists[np.arange(len(ids)), ids] = np.inf
        for row, u in enumerate(ids):
            drow = dists[row]
            pos = np.sort(drow[ancestors[u]])
            # how many nodes (ancestors included) are strictly closer than each ancestor
            closer = np.bincount(np.searchsorted(pos, drow, side="right"), minlength=len(pos) + 1)
            ranks_all = np.cumsum(closer)[: len(pos)] + 1  # j ancestors come before the j-th one
            idx = np.arange(len(pos))
            rank_sum += float(np.sum(ranks_all - idx))
            n_edges += len(pos)
            ap_sum += float(np.mean((idx + 1) / np.maximum(ranks_all, idx + 1)))
    return Reconstruction(
        mean_rank=rank_sum / max(n_edges, 1), map=ap_sum / max(len(nodes), 1), nodes=len(nodes), edges=n_edges
    )
