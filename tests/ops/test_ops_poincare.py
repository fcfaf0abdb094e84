"""Poincaré-ball ops against geoopt 0.5.1 (stored values, and live when geoopt is importable).

Tolerances: 1e-8 relative (``|a - b| <= 1e-8 (1 + |b|)``) against the stored geoopt values, which
include points at norm (1 - 1e-7)/√c; round trips 1e-9; Lorentz/arcosh forms vs geoopt's artanh
form 1e-7 away from the boundary (the artanh form has cancellation near it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tessera_onnx.errors import InvalidInputError
from tessera_onnx.ops import poincare as P

REFERENCE = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "poincare_geoopt_reference.json").read_text()
)
CASES = REFERENCE["cases"]
RTOL = 1e-8  # λ_x at norm 1 - 1e-7 is ~1e7: its float64 condition number alone gives ~1e-9


def _ours(name: str, case: dict) -> np.ndarray:
    c = case["c"]
    x, y, u = (np.array(case[k]) for k in ("x", "y", "u"))
    return {
        "mobius_add": lambda: P.mobius_add(x, y, c),
        "expmap0": lambda: P.expmap0(u, c),
        "logmap0": lambda: P.logmap0(y, c),
        "expmap": lambda: P.expmap(x, u, c),
        "logmap": lambda: P.logmap(x, y, c),
        "dist": lambda: P.dist(x, y, c),
        "dist0": lambda: P.dist0(y, c),
        "project": lambda: P.project(x * 1.5, c),
        "lambda_x": lambda: P.lambda_x(x, c),
        "parallel_transport": lambda: P.parallel_transport(x, y, u, c),
        "mobius_scalar_mul": lambda: P.mobius_scalar_mul(0.7, y, c),
    }[name]()


def _close(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.all(np.isfinite(a))
    err = np.max(np.abs(a - b) / (1.0 + np.abs(b)))
    assert err <= rtol, err


@pytest.mark.parametrize("name", sorted(CASES[0]["out"]))
@pytest.mark.parametrize("case", CASES, ids=[f"c={c['c']}" for c in CASES])
def test_parity_with_stored_geoopt_values(case, name):
    _close(_ours(name, case), np.array(case["out"][name]))


@pytest.mark.export
def test_parity_with_live_geoopt():
    torch = pytest.importorskip("torch")
    geoopt = pytest.importorskip("geoopt")
    rng = np.random.default_rng(7)
    for c in (1.0, 0.05, 4.0):
        ball = geoopt.PoincareBall(c=torch.tensor(c, dtype=torch.float64))
        x = P.project(rng.normal(size=(64, 7)) * 0.6 / np.sqrt(c), c)
        y = P.project(rng.normal(size=(64, 7)) * 0.6 / np.sqrt(c), c)
        u = rng.normal(size=(64, 7))
        t = torch.from_numpy
        _close(P.mobius_add(x, y, c), ball.mobius_add(t(x), t(y)).numpy())
        _close(P.dist(x, y, c), ball.dist(t(x), t(y)).numpy())
        _close(P.expmap(x, u, c), ball.expmap(t(x), t(u)).numpy())
        _close(P.logmap(x, y, c), ball.logmap(t(x), t(y)).numpy(), 1e-8)
        _close(P.parallel_transport(x, y, u, c), ball.transp(t(x), t(y), t(u)).numpy())


@pytest.mark.parametrize("c", [1.0, 0.3, 2.5])
def test_round_trips_symmetry_and_boundary(c):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(0, 0.9, (200, 1)) / np.sqrt(c)
    y = P.project(rng.normal(size=(200, 6)) * 0.5 / np.sqrt(c), c)
    # exp∘log = id, at 0 and at any point
    _close(P.expmap0(P.logmap0(y, c), c), y, 1e-9)
    _close(P.expmap(x, P.logmap(x, y, c), c), y, 1e-9)
    u = rng.normal(size=(200, 6)) * 0.1 / np.sqrt(c)  # log∘exp = id while exp stays off the boundary
    _close(P.logmap(x, P.expmap(x, u, c, project_result=False), c), u, 1e-7)
    # distance: symmetric, >= 0, zero on the diagonal, triangle inequality
    d = P.dist(x, y, c)
    _close(P.dist(y, x, c), d, 1e-9)
    assert np.all(d >= 0) and np.allclose(P.dist(x, x, c), 0, atol=1e-7)
    assert np.all(P.dist(x[:-1], x[1:], c) <= P.dist(x[:-1], y[:-1], c) + P.dist(y[:-1], x[1:], c) + 1e-9)
    # near-boundary points at norm (1 - 1e-7)/√c: finite everywhere
    edge = x / np.linalg.norm(x, axis=1, keepdims=True) * (1 - 1e-7) / np.sqrt(c)
    for out in (
        P.dist(edge, y, c),
        P.logmap0(edge, c),
        P.logmap(edge, y, c),
        P.mobius_add(edge, edge, c),
        P.expmap(edge, u, c),
        P.to_lorentz(edge, c),
        P.dist_arcosh(edge, edge[::-1], c),
        P.parallel_transport(edge, y, u, c),
        P.lambda_x(edge, c),
    ):
        assert np.all(np.isfinite(out))
    # tiny vectors and zero: no NaN
    assert np.all(P.expmap0(np.zeros((2, 6)), c) == 0) and np.all(P.logmap0(np.zeros(6), c) == 0)
    assert np.all(np.isfinite(P.logmap(x, x, c)))


@pytest.mark.parametrize("c", [1.0, 0.7])
def test_lorentz_model_and_closed_forms(c):
    rng = np.random.default_rng(1)
    # norms up to 0.9/√c: hyperboloid coordinates grow like 1/(1 - c‖x‖²), and the Minkowski
    # product loses float64 digits in proportion (about 1e-6 relative at norm 1 - 1e-5)
    x = rng.uniform(-0.45, 0.45, size=(50, 4)) / np.sqrt(c)
    z = P.to_lorentz(x, c)
    np.testing.assert_allclose(P.lorentz_inner(z, z), -1.0 / c, rtol=1e-9)
    np.testing.assert_allclose(P.from_lorentz(z, c), x, atol=1e-12)
    d = P.dist(x[:, None], x[None], c)
    np.testing.assert_allclose(P.lorentz_dist(z[:, None], z[None], c), d, atol=1e-6)
    np.testing.assert_allclose(P.pairwise_dist(x, x, c), d, atol=1e-6)
    np.testing.assert_allclose(P.dist_arcosh(x[:, None], x[None], c), d, atol=1e-6)
    # inner-product search over the index vectors ranks exactly by hyperbolic distance
    scores = P.lorentz_query_vectors(x, c) @ P.lorentz_index_vectors(x, c).T
    np.testing.assert_allclose(scores, -np.cosh(np.sqrt(c) * P.pairwise_dist(x, x, c)) / c, rtol=1e-8)
    for row in range(len(x)):
        np.testing.assert_array_equal(np.argsort(-scores[row])[:10], np.argsort(d[row], kind="stable")[:10])


def test_arcosh_form_is_not_capped_like_geoopt():
    a = np.array([1 - 1e-5, 0.0])
    b = np.array([-(1 - 1e-5), 0.0])
    exact = 2 * np.arctanh(1 - 1e-5) * 2  # both at distance 2·artanh(r) from 0, on one geodesic
    assert P.dist_arcosh(a, b) == pytest.approx(exact, rel=1e-6)
    assert P.dist(a, b) < exact  # geoopt's artanh clamp saturates at 2·artanh(1 - 1e-7)
    assert P.dist(a, b) == pytest.approx(2 * np.arctanh(1 - 1e-7), rel=1e-6)


def test_gyration_and_transport_properties():
    rng = np.random.default_rng(2)
    x, y = (rng.uniform(-0.5, 0.5, size=(20, 3)) for _ in range(2))
    w = rng.normal(size=(20, 3))
    # gyration is the closed form of ⊖(u ⊕ v) ⊕ (u ⊕ (v ⊕ w))
    slow = P.mobius_add(
        -P.mobius_add(x, y, project_result=False),
        P.mobius_add(x, P.mobius_add(y, w * 0.1, project_result=False), project_result=False),
        project_result=False,
    )
    np.testing.assert_allclose(P.gyration(x, y, w * 0.1), slow, atol=1e-12)
    # parallel transport is an isometry of the Riemannian norm λ_x‖v‖
    moved = P.parallel_transport(x, y, w)
    np.testing.assert_allclose(
        P.lambda_x(y) * np.linalg.norm(moved, axis=1), P.lambda_x(x) * np.linalg.norm(w, axis=1), rtol=1e-10
    )


def test_frechet_mean():
    rng = np.random.default_rng(3)
    pts = rng.uniform(-0.45, 0.45, size=(30, 4))
    m = P.frechet_mean(pts)
    # first-order optimality: the mean of the log maps at m vanishes
    assert np.linalg.norm(P.logmap(m[None], pts).mean(axis=0)) < 1e-9
    # it beats nearby candidates on the sum of squared distances
    cost = lambda q: np.sum(P.dist(q[None], pts) ** 2)  # noqa: E731
    for step in rng.normal(size=(10, 4)) * 1e-2:
        assert cost(m) <= cost(P.expmap(m, step))
    np.testing.assert_allclose(P.frechet_mean(np.repeat(pts[:1], 3, axis=0)), pts[0], atol=1e-12)
    # points spread up to the boundary: the backtracking keeps the iteration converging
    spread = P.project(rng.normal(size=(30, 4)) * 0.5)
    far = P.frechet_mean(spread, iters=300)
    far_cost = np.sum(P.dist_arcosh(far[None], spread) ** 2)
    for step in rng.normal(size=(10, 4)) * 1e-3:
        assert far_cost <= np.sum(P.dist_arcosh(P.expmap(far, step)[None], spread) ** 2)
    with pytest.raises(InvalidInputError):
        P.frechet_mean(pts, weights=np.zeros(30))


def test_small_curvature_uses_taylor_forms():
    x = np.array([[0.3, -0.2]])
    y = np.array([[0.1, 0.4]])
    assert np.all(np.isfinite(P.dist(x, y, 0.0)))
    np.testing.assert_allclose(P.dist(x, y, 1e-12), 2 * np.linalg.norm(x - y), rtol=1e-9)
    np.testing.assert_allclose(P.expmap0(x, 0.0), x)
    np.testing.assert_allclose(P.mobius_add(x, y, 0.0), x + y)


def test_bad_input_is_a_typed_error():
    with pytest.raises(InvalidInputError, match="outside the Poincaré ball"):
        P.check_in_ball([[0.6, 0.8]])
    with pytest.raises(InvalidInputError, match="outside the Poincaré ball"):
        P.to_lorentz([[2.0, 0.0]])
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        P.dist([np.nan, 0.0], [0.0, 0.0])
    with pytest.raises(InvalidInputError, match="curvature"):
        P.expmap0([0.1, 0.1], c=-1.0)
    with pytest.raises(InvalidInputError, match="upper sheet"):
        P.from_lorentz([[-1.0, 0.0, 0.0]])
    with pytest.raises(InvalidInputError):
        P.pairwise_dist(np.zeros((2, 3)), np.zeros((2, 4)))
    np.testing.assert_allclose(np.linalg.norm(P.project([[3.0, 4.0]])), 1 - 1e-5)
