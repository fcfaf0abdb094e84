"""Poincaré (and Euclidean) embeddings of a hierarchy, trained as in Nickel & Kiela (2017).

The loss for a closure edge ``(u, v)`` (u below v) is a softmax over distances,
``-log(exp(-d(u, v)) / Σ_{v' ∈ {v} ∪ N(u)} exp(-d(u, v')))``, where ``N(u)`` are ``negatives``
nodes sampled per edge that are neither ``u`` nor an ancestor of ``u`` (a draw that hits one is
redrawn, up to 10 times, as the reference code retries; the rare draw still linked after that is
masked out of the softmax). Riemannian SGD updates a Poincaré point with the Euclidean gradient
rescaled by the inverse metric, ``θ ← proj(θ - lr·(1-‖θ‖²)²/4·∇)``, and projects back to norm
``1 - eps``. The first ``burn_in`` epochs use ``lr·burn_in_lr_factor`` and draw negatives by node
degree to the power ``dampening`` (uniform afterwards), as the paper's burn-in. After it the lr is
constant, or decays linearly to ``lr_final``. Embeddings start uniform in ``±init_range``.

The learning rate is per edge: gradients of a node that appears several times in a mini-batch are
summed (as sequential SGD on the batch would add them), not averaged. The reference code averages
over its batch of 50, so its ``-lr 1.0`` is a per-edge step of 0.02. Too large a per-edge step
(1.0 here) throws most nodes out towards the projection radius and MAP stalls: on a WordNet subtree
lr 1.0 left 95% of the nodes beyond norm 1 - 1e-4 after 40 epochs and lr 0.3 none.

The Euclidean baseline runs the same loop with the Euclidean distance ``‖u - v‖`` and plain SGD
without a norm constraint. (The squared distance, which the reference code uses, has gradients that
grow with the distance and diverged here at learning rates the plain distance trains well with.)

Everything is vectorised numpy. Edges are taken in shuffled blocks of ``_BLOCK_EDGES``: the block's
negatives are drawn and checked in one go, and one ``np.unique`` gives every mini-batch of the
block its distinct rows and a flat index, so the scatter-add of the gradients is one ``np.bincount``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..ops.poincare import project
from .hierarchy import Hierarchy

__all__ = ["MANIFOLDS", "TrainConfig", "TrainResult", "sample_negatives", "train"]

MANIFOLDS = ("poincare", "euclidean")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train`.

    ``lr = 0.3`` gave the best Poincaré MAP of 0.3 / 1 / 3 on WordNet mammals (dim 10, 100 epochs);
    ``negatives = 10`` trained both faster and to a higher MAP there than 50, but large hierarchies
    need more: on the 82,115 WordNet nouns (dim 5) 10 negatives stalled at MAP 0.67 and 50 reached
    0.76 in 100 epochs, so use ``negatives=50`` from tens of thousands of nodes on; burn-in and
    initialisation follow the paper. ``lr_final`` (default ``None``: constant) makes the lr decay
    linearly from ``lr`` after the burn-in to ``lr_final`` at the last epoch.
    """

    dim: int = 10
    manifold: str = "poincare"
    epochs: int = 100
    lr: float = 0.3
    batch_size: int = 64
    negatives: int = 10
    burn_in: int = 10
    burn_in_lr_factor: float = 0.1
    dampening: float = 0.75
    init_range: float = 1e-3
    eps: float = 1e-5
    seed: int = 0
    lr_final: float | None = None

    def __post_init__(self) -> None:
        if self.manifold not in MANIFOLDS:
            raise InvalidInputError(f"manifold must be one of {MANIFOLDS}, got {self.manifold!r}")
        for name in ("dim", "batch_size", "negatives"):
            if int(getattr(self, name)) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.epochs < 0 or self.burn_in < 0:
            raise InvalidInputError("epochs and burn_in must be >= 0")
        if self.lr_final is not None and self.lr_final <= 0:
            raise InvalidInputError(
                f"lr_final must be > 0 (or None for a constant lr), got {self.lr_final!r}"
            )
        if not (self.lr > 0 and self.init_range > 0 and 0 < self.eps < 1):
            raise InvalidInputError("lr and init_range must be > 0 and eps in (0, 1)")


@dataclass
class TrainResult:
    """The trained table ``[n_nodes, dim]`` (float64), per-epoch mean losses and seconds."""

    embeddings: np.ndarray
    config: TrainConfig
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (config, final loss, training time)."""
        return {
            "config": asdict(self.config),
            "final_loss": self.losses[-1] if self.losses else None,
            "epochs_run": len(self.losses),
            "train_seconds": round(self.seconds, 3),
        }


_BLOCK_EDGES = 16384  # edges whose negatives and scatter plan are prepared in one go


def _epoch_lr(cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based): burn-in, then constant or linear decay to ``lr_final``."""
    if epoch < cfg.burn_in:
        return cfg.lr * cfg.burn_in_lr_factor
    if cfg.lr_final is None:
        return cfg.lr
    span = max(cfg.epochs - cfg.burn_in - 1, 1)
    frac = min((epoch - cfg.burn_in) / span, 1.0)
    return cfg.lr + (cfg.lr_final - cfg.lr) * frac


Terms = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _poincare_terms(u: np.ndarray, v: np.ndarray) -> Terms:
    """Distances ``d [B, K]`` between ``u [B, dim]`` and ``v [B, K, dim]`` and the scalars
    ``(a_u, b_u, a_v, b_v)`` [B, K] of their Euclidean gradients, ``∂d/∂u = a_u·u + b_u·v`` and
    ``∂d/∂v = a_v·v + b_v·u`` (so the trainer never builds per-pair gradient vectors)."""
    uu = np.einsum("bd,bd->b", u, u)[:, None]
    vv = np.einsum("bkd,bkd->bk", v, v)
    uv = np.einsum("bd,bkd->bk", u, v)
    sq = np.maximum(uu + vv - 2.0 * uv, 0.0)
    alpha = 1.0 - uu
    beta = 1.0 - vv
    gamma = 1.0 + 2.0 * sq / (alpha * beta)
    d = np.arccosh(np.maximum(gamma, 1.0))
    common = 4.0 / np.sqrt(np.maximum(gamma * gamma - 1.0, 1e-15))
    coef_u = common / beta
    coef_v = common / alpha
    a_u = coef_u * (vv - 2.0 * uv + 1.0) / (alpha * alpha)
    a_v = coef_v * (uu - 2.0 * uv + 1.0) / (beta * beta)
    return d, a_u, -coef_u / alpha, a_v, -coef_v / beta


def _euclidean_terms(u: np.ndarray, v: np.ndarray) -> Terms:
    """As :func:`_poincare_terms` for ``d = ‖u - v‖``: ``∂d/∂u = (u - v)/d = -∂d/∂v``."""
    sq = (
        np.einsum("bd,bd->b", u, u)[:, None]
        + np.einsum("bkd,bkd->bk", v, v)
        - 2.0 * np.einsum("bd,bkd->bk", u, v)
    )
    d = np.sqrt(np.maximum(sq, 0.0))
    inv = 1.0 / np.maximum(d, 1e-15)
    return d, inv, -inv, inv, -inv


def _poincare_grads(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances ``[B, K]`` and their Euclidean gradients w.r.t. ``u [B, d]`` and ``v [B, K, d]``."""
    d, a_u, b_u, a_v, b_v = _poincare_terms(u, v)
    gu = a_u[..., None] * u[:, None, :] + b_u[..., None] * v
    gv = a_v[..., None] * v + b_v[..., None] * u[:, None, :]
    return d, gu, gv


def _draw(rng: np.random.Generator, n: int, size: int, cdf: np.ndarray | None) -> np.ndarray:
    """``size`` node ids: uniform, or by the cumulative weights ``cdf`` (burn-in)."""
    if cdf is None:
        return rng.integers(0, n, size=size)
    return np.minimum(np.searchsorted(cdf, rng.random(size)), n - 1)


def sample_negatives(
    hierarchy: Hierarchy,
    u: np.ndarray,
    k: int,
    rng: np.random.Generator,
    cdf: np.ndarray | None = None,
    tries: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` negatives per node of ``u``: nodes that are neither ``u`` nor one of its ancestors.

    A draw that hits ``u`` or an ancestor of ``u`` is redrawn up to ``tries`` times (as the
    reference code retries); returns ``(neg [len(u), k], invalid [len(u), k])``, ``invalid``
    marking the few draws still linked after that, which the loss leaves out.
    """
    n = hierarchy.n_nodes
    neg = _draw(rng, n, len(u) * k, cdf).reshape(len(u), k)
    uu = np.broadcast_to(u[:, None], neg.shape)
    bad = (neg == uu) | hierarchy.has_edges(uu.ravel(), neg.ravel()).reshape(neg.shape)
    for _ in range(tries):
        rows, cols = np.nonzero(bad)
        if len(rows) == 0:
            break
        redraw = _draw(rng, n, len(rows), cdf)
        neg[rows, cols] = redraw
        bad[rows, cols] = (redraw == u[rows]) | hierarchy.has_edges(u[rows], redraw)
    return neg, bad


def _scatter_plan(bu: np.ndarray, cand: np.ndarray, batch_size: int, n: int, dim: int) -> list[tuple]:
    """Per mini-batch of a block: the distinct rows it touches and the flat index for ``bincount``.

    One ``np.unique`` over the whole block replaces a sort per mini-batch.
    """
    b_total = len(bu)
    batch_of = np.arange(b_total) // batch_size
    idx = np.concatenate([bu[:, None], cand], axis=1)  # [b, k + 2]; row 0 is u
    keys = (batch_of[:, None] * n + idx).ravel()
    uniq, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(idx.shape)
    bounds = np.searchsorted(uniq, np.arange(0, b_total + batch_size, batch_size) // batch_size * n)
    plan = []
    cols = np.arange(dim)
    for j, lo in enumerate(range(0, b_total, batch_size)):
        hi = min(lo + batch_size, b_total)
        s, e = bounds[j], bounds[j + 1]
        local = inverse[lo:hi] - s
        flat = (local[..., None] * dim + cols).ravel()
        plan.append((lo, hi, uniq[s:e] - j * n, flat, (e - s) * dim))
    return plan


def train(
    hierarchy: Hierarchy,
    config: TrainConfig | None = None,
    *,
    init: np.ndarray | None = None,
    on_epoch: Callable[[int, np.ndarray, float], None] | None = None,
    lr_at: Callable[[int], float] | None = None,
) -> TrainResult:
    """Train embeddings of ``hierarchy``'s closure; returns a :class:`TrainResult`.

    ``init`` continues from a table of shape ``[n_nodes, dim]``; ``on_epoch(epoch, table, loss)``
    is called after each epoch (e.g. to evaluate or checkpoint); ``lr_at(epoch)``, if given,
    replaces the config's learning-rate schedule (e.g. a decay paced by wall-clock time).
    """
    cfg = config or TrainConfig()
    n, dim, k = hierarchy.n_nodes, cfg.dim, cfg.negatives
    rng = np.random.default_rng(cfg.seed)
    if init is None:
        emb = rng.uniform(-cfg.init_range, cfg.init_range, size=(n, dim))
    else:
        emb = np.array(init, dtype=np.float64)
        if emb.shape != (n, dim):
            raise InvalidInputError(f"init must have shape {(n, dim)}, got {emb.shape}")
    edges = hierarchy.edges
    weights = hierarchy.degrees().astype(np.float64) ** cfg.dampening
    cdf = np.cumsum(weights / weights.sum())
    terms = _poincare_terms if cfg.manifold == "poincare" else _euclidean_terms
    poincare = cfg.manifold == "poincare"
    result = TrainResult(embeddings=emb, config=cfg)
    block = max(cfg.batch_size, (_BLOCK_EDGES // cfg.batch_size) * cfg.batch_size)
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        burn = epoch < cfg.burn_in
        lr = lr_at(epoch) if lr_at is not None else _epoch_lr(cfg, epoch)
        perm = rng.permutation(len(edges))
        total = 0.0
        for blo in range(0, len(perm), block):
            chunk = edges[perm[blo : blo + block]]
            bu = chunk[:, 0]
            neg, invalid = sample_negatives(hierarchy, bu, k, rng, cdf if burn else None)
            cand = np.concatenate([chunk[:, 1:2], neg], axis=1)
            for lo, hi, rows, flat, size in _scatter_plan(bu, cand, cfg.batch_size, n, dim):
                u_ids, c_ids = bu[lo:hi], cand[lo:hi]
                eu, ec = emb[u_ids], emb[c_ids]
                d, a_u, b_u, a_v, b_v = terms(eu, ec)
                logits = -d
                logits[:, 1:][invalid[lo:hi]] = -np.inf
                logits -= logits.max(axis=1, keepdims=True)
                p = np.exp(logits)
                p /= p.sum(axis=1, keepdims=True)
                total -= float(np.sum(np.log(np.maximum(p[:, 0], 1e-300))))
                coef = -p
                coef[:, 0] += 1.0  # dL/dd_i = [i = 0] - p_i
                # Σ_k coef·∂d_k/∂u for u; coef·∂d_k/∂v_k for each candidate
                upd = np.empty((hi - lo, k + 2, dim))
                np.einsum("bk,bkd->bd", coef * b_u, ec, out=upd[:, 0])
                upd[:, 0] += np.einsum("bk->b", coef * a_u)[:, None] * eu
                np.multiply((coef * a_v)[..., None], ec, out=upd[:, 1:])
                upd[:, 1:] += (coef * b_v)[..., None] * eu[:, None, :]
                acc = np.bincount(flat, weights=upd.ravel(), minlength=size).reshape(-1, dim)
                theta = emb[rows]
                if poincare:
                    scale = (1.0 - np.sum(theta * theta, axis=1, keepdims=True)) ** 2 * (lr / 4.0)
                    theta -= scale * acc
                    theta = project(theta, 1.0, eps=cfg.eps)
                else:
                    theta -= lr * acc
                emb[rows] = theta
            if not np.isfinite(total):
                raise InvalidInputError(
                    f"training diverged in epoch {epoch + 1} (non-finite loss); lower lr (now {cfg.lr})"
                )
        loss = total / max(len(edges), 1)
        result.losses.append(loss)
        result.seconds = time.perf_counter() - start
        if on_epoch is not None:
            on_epoch(epoch, emb, loss)
    result.seconds = time.perf_counter() - start
    return result
