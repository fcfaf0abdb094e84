"""Fusing ranked lists from several searches: reciprocal rank fusion and a weighted score sum.

Both take ``{source name: [Hit, ...]}`` (each list best first, as every index's ``search``
returns), or a plain list of such lists (sources named by position: ``weights`` is then a list
too), and give one fused list of :class:`~tessera_onnx.index.Hit`:

- :func:`reciprocal_rank_fusion`: ``score(d) = Σ_s w_s / (k + rank_s(d))`` with 1-based ranks
  (Cormack et al., 2009; ``k = 60`` there). Uses ranks only, so sources with incomparable score
  scales (dot products, MaxSim sums, sparse weights) mix safely.
- :func:`weighted_score_fusion`: ``score(d) = Σ_s w_s · norm_s(score_s(d))`` where ``norm`` is a
  min-max scaling of each source's returned scores to [0, 1] (``normalize="minmax"``, the
  default) or the raw score (``"none"``). A document a source did not return adds 0 for it.

Ties rank the document with the better best rank first, then the one seen first (sources in
the order given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..arguments import public
from ..errors import InvalidInputError
from .base import DocId, Hit

__all__ = ["reciprocal_rank_fusion", "weighted_score_fusion", "fuse", "FUSION_METHODS", "DEFAULT_RRF_K"]

DEFAULT_RRF_K = 60
FUSION_METHODS = ("rrf", "weighted")


Results = Mapping[str, Sequence[Hit]] | Sequence[Sequence[Hit]]
Weights = Mapping[str, float] | Sequence[float]


def _sources(results: Any, weights: Any) -> tuple[dict[Any, list[Hit]], Any]:
    """``results`` as ``{source: [Hit, ...]}`` (a list of lists is keyed by position), with ``weights``."""
    if isinstance(results, Mapping):
        sources = dict(results)
    elif isinstance(results, Sequence) and not isinstance(results, (str, bytes)):
        sources = dict(enumerate(results))
        if weights is not None and not isinstance(weights, Mapping):
            if (
                isinstance(weights, (str, bytes))
                or not isinstance(weights, Sequence)
                or len(weights) != len(sources)
            ):
                raise InvalidInputError(
                    f"weights for {len(sources)} ranked lists must be a list of {len(sources)} numbers, got {weights!r}"
                )
            weights = dict(enumerate(weights))
    else:
        raise InvalidInputError(
            "results must be {source name: [Hit, ...]} or a list of ranked [Hit, ...] lists "
            f"(as index.search returns), got {type(results).__name__}"
        )
    for name, hits in sources.items():
        if isinstance(hits, (str, bytes, Mapping)) or not isinstance(hits, Sequence):
            raise InvalidInputError(
                f"the results of source {name!r} must be a list of Hit (as index.search returns), "
                f"got {type(hits).__name__}"
            )
        bad = next((h for h in hits if not isinstance(h, Hit)), None)
        if bad is not None:
            raise InvalidInputError(
                f"the results of source {name!r} hold a {type(bad).__name__}; pass the Hit lists that "
                "index.search returns"
            )
        sources[name] = list(hits)
    if weights is not None and not isinstance(weights, Mapping):
        raise InvalidInputError(f"weights must be {{source name: number}}, got {type(weights).__name__}")
    return sources, weights


def _weights(results: Mapping[Any, Sequence[Hit]], weights: Mapping[Any, float] | None) -> dict[Any, float]:
    if weights is None:
        return dict.fromkeys(results, 1.0)
    unknown = set(weights) - set(results)
    if unknown:
        raise InvalidInputError(f"weights name sources that gave no results list: {sorted(unknown)}")
    out = {}
    for name in results:
        w = weights.get(name, 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise InvalidInputError(f"weight of {name!r} must be a number >= 0, got {w!r}")
        out[name] = float(w)
    return out


def _fused(
    results: Mapping[str, Sequence[Hit]], contribution: Mapping[str, Sequence[float]], limit: int | None
) -> list[Hit]:
    score: dict[DocId, float] = {}
    best_rank: dict[DocId, int] = {}
    first_seen: dict[DocId, int] = {}
    meta: dict[DocId, dict[str, Any]] = {}
    for name, hits in results.items():
        for rank, (hit, c) in enumerate(zip(hits, contribution[name], strict=True)):
            score[hit.id] = score.get(hit.id, 0.0) + c
            best_rank[hit.id] = min(best_rank.get(hit.id, rank), rank)
            first_seen.setdefault(hit.id, len(first_seen))
            meta.setdefault(hit.id, hit.metadata)
    order = sorted(score, key=lambda d: (-score[d], best_rank[d], first_seen[d]))
    if limit is not None:
        order = order[:limit]
    return [Hit(d, score[d], dict(meta[d])) for d in order]


def _check_limit(limit: Any) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInputError(f"limit must be a positive integer or None, got {limit!r}")
    return limit


@public
def reciprocal_rank_fusion(
    results: Results,
    k: float = DEFAULT_RRF_K,
    *,
    weights: Weights | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """RRF of ranked lists: ``Σ_s weights[s] / (k + rank)`` (rank 1 = best); ``limit`` cuts the result.

    ``results``: ``{source name: [Hit, ...]}`` or a list of ``[Hit, ...]`` lists, each best first.
    """
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k >= 0:
        raise InvalidInputError(f"RRF k must be a number >= 0, got {k!r}")
    results, weights = _sources(results, weights)
    w = _weights(results, weights)
    contribution = {name: [w[name] / (k + r + 1) for r in range(len(hits))] for name, hits in results.items()}
    return _fused(results, contribution, _check_limit(limit))


@public
def weighted_score_fusion(
    results: Results,
    *,
    weights: Weights | None = None,
    normalize: str = "minmax",
    limit: int | None = None,
) -> list[Hit]:
    """Weighted sum of (min-max normalised) scores; ``limit`` cuts the result.

    ``results``: ``{source name: [Hit, ...]}`` or a list of ``[Hit, ...]`` lists, each best first.
    """
    if normalize not in ("minmax", "none"):
        raise InvalidInputError(f"normalize must be 'minmax' or 'none', got {normalize!r}")
    results, weights = _sources(results, weights)
    w = _weights(results, weights)
    contribution = {}
    for name, hits in results.items():
        scores = [h.score for h in hits]
        if normalize == "minmax" and scores:
            lo, hi = min(scores), max(scores)
            scores = [1.0 if hi == lo else (s - lo) / (hi - lo) for s in scores]
        contribution[name] = [w[name] * s for s in scores]
    return _fused(results, contribution, _check_limit(limit))


@public
def fuse(results: Results, method: str = "rrf", **options: Any) -> list[Hit]:
    """:func:`reciprocal_rank_fusion` (``method="rrf"``) or :func:`weighted_score_fusion` (``"weighted"``)."""
    if method == "rrf":
        return reciprocal_rank_fusion(results, **options)
    if method == "weighted":
        return weighted_score_fusion(results, **options)
    raise InvalidInputError(f"fusion method must be one of {FUSION_METHODS}, got {method!r}")
