"""Maximal marginal relevance: pick results that are relevant and unlike the ones already picked.

Carbonell & Goldstein (1998): repeatedly take the candidate maximising
``λ · relevance(d) − (1 − λ) · max_{s picked} cos(d, s)``. ``λ = 1`` keeps the relevance order,
``λ = 0`` picks the most spread-out set. Relevance is min-max scaled to ``[0, 1]`` over the
candidates first, so scores of any scale (cosine, RRF, cross-encoder logits) weigh the same
against cosine similarity.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

__all__ = ["maximal_marginal_relevance"]


def maximal_marginal_relevance(
    relevance: np.ndarray, vectors: np.ndarray, k: int, lambda_: float = 0.5
) -> np.ndarray:
    """Indices of ``k`` candidates in MMR order.

    ``relevance``: ``(n,)`` scores (higher is better); ``vectors``: ``(n, d)`` candidate vectors
    (cosine similarity is taken, so they need not be normalised); ``lambda_`` in ``[0, 1]``.
    Ties go to the earlier candidate.
    """
    if isinstance(lambda_, bool) or not isinstance(lambda_, (int, float)) or not 0.0 <= float(lambda_) <= 1.0:
        raise InvalidInputError(f"mmr lambda must be a number in [0, 1], got {lambda_!r}")
    rel = np.asarray(relevance, dtype=np.float64).reshape(-1)
    vecs = np.asarray(vectors, dtype=np.float64)
    if vecs.ndim != 2 or len(vecs) != len(rel):
        raise InvalidInputError(f"mmr needs one vector per candidate: {vecs.shape} for {len(rel)} scores")
    n = len(rel)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones(n)
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    lam = float(lambda_)
    chosen = [int(np.argmax(rel))]
    # the largest similarity of every candidate to the picked set, updated as the set grows
    closest = unit @ unit[chosen[0]]
    taken = np.zeros(n, dtype=bool)
    taken[chosen[0]] = True
    while len(chosen) < k:
        gain = lam * rel - (1.0 - lam) * closest
        gain[taken] = -np.inf
        pick = int(np.argmax(gain))
        chosen.append(pick)
        taken[pick] = True
        np.maximum(closest, unit @ unit[pick], out=closest)
    return np.asarray(chosen, dtype=np.int64)
