"""Negative sampling, the mini-batch scatter plan and the learning-rate schedule of the trainer.

All exact (integer ids and closed-form rates); no tolerances needed beyond 1e-12 on the rates.
"""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx.errors import InvalidInputError
from tessera_onnx.hyperbolic import TrainConfig, transitive_closure
from tessera_onnx.hyperbolic.train import _epoch_lr, _scatter_plan, sample_negatives


def chain_and_fan() -> tuple:
    """A root with a 6-deep chain under it plus 30 leaves: chain nodes have many ancestors."""
    pairs = [(f"c{i + 1}", f"c{i}") for i in range(6)] + [("c0", "root")]
    pairs += [(f"leaf{j}", "root") for j in range(30)]
    return transitive_closure(pairs)


@pytest.mark.parametrize("by_degree", [False, True])
def test_negatives_are_never_the_node_or_its_ancestors(by_degree):
    h = chain_and_fan()
    rng = np.random.default_rng(0)
    deep = h.ids(["c6"] * 400)  # c6 has 7 ancestors among 38 nodes
    cdf = None
    if by_degree:  # burn-in style: hubs (root, top of the chain) are drawn most
        w = h.degrees().astype(float) ** 0.75
        cdf = np.cumsum(w / w.sum())
    neg, invalid = sample_negatives(h, deep, 10, rng, cdf)
    assert neg.shape == invalid.shape == (400, 10)
    linked = set(h.ids(["c6", "c5", "c4", "c3", "c2", "c1", "c0", "root"]).tolist())
    drawn_valid = neg[~invalid]
    assert not (set(drawn_valid.tolist()) & linked)
    # the redraws leave (almost) nothing masked, even when hubs dominate the draw
    assert invalid.mean() < 0.01
    # without redraws (tries=0) many draws would have been linked: the check is not vacuous
    _, raw_invalid = sample_negatives(h, deep, 10, np.random.default_rng(0), cdf, tries=0)
    assert raw_invalid.mean() > 0.1
    assert np.all(np.isin(neg[raw_invalid & ~invalid], list(set(range(h.n_nodes)) - linked)))


def test_scatter_plan_maps_every_slot_back_to_its_node():
    rng = np.random.default_rng(1)
    n, dim, b, k, batch = 50, 3, 37, 4, 8
    bu = rng.integers(0, n, b)
    cand = rng.integers(0, n, (b, k + 1))
    plan = _scatter_plan(bu, cand, batch, n, dim)
    assert [p[0] for p in plan] == list(range(0, b, batch)) and plan[-1][1] == b
    for lo, hi, rows, flat, size in plan:
        idx = np.concatenate([bu[lo:hi, None], cand[lo:hi]], axis=1)
        assert np.array_equal(np.sort(rows), np.unique(idx))  # distinct rows of this batch only
        assert size == len(rows) * dim
        slots = flat.reshape(hi - lo, k + 2, dim)
        assert np.array_equal(rows[slots[..., 0] // dim], idx)
        assert np.array_equal(slots % dim, np.broadcast_to(np.arange(dim), slots.shape))
        # a bincount over the plan sums duplicates like a sequential scatter-add
        vals = rng.random(slots.shape)
        acc = np.bincount(flat, weights=vals.ravel(), minlength=size).reshape(-1, dim)
        ref = np.zeros((n, dim))
        np.add.at(ref, idx.ravel(), vals.reshape(-1, dim))
        assert np.allclose(acc, ref[rows], rtol=0, atol=1e-12)


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, burn_in=2, burn_in_lr_factor=0.1, epochs=12)
    assert [_epoch_lr(cfg, e) for e in (0, 1, 2, 11)] == [0.1, 0.1, 1.0, 1.0]
    dec = TrainConfig(lr=1.0, lr_final=0.1, burn_in=2, epochs=12)
    rates = [_epoch_lr(dec, e) for e in range(12)]
    assert rates[2] == 1.0 and abs(rates[-1] - 0.1) < 1e-12
    assert all(a > b for a, b in zip(rates[2:], rates[3:], strict=False))
    with pytest.raises(InvalidInputError, match="lr_final"):
        TrainConfig(lr_final=0.0)
