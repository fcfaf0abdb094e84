"""Poincaré-ball geometry in numpy (float64 inside, curvature ``-c`` for any ``c > 0``).

The ball of curvature ``-c`` is ``{x : c‖x‖² < 1}`` (radius ``1/√c``). The formulas and their
numerical guards follow geoopt's ``PoincareBall(c)`` (``geoopt.manifolds.stereographic.math``),
which writes the curvature as ``k = -c``:

* ``tan_c(x) = tanh(clamp(√c·x, -15, 15)) / √c`` and
  ``artan_c(x) = artanh(clamp(√c·x, -1+1e-7, 1-1e-7)) / √c``; for ``c ≤ 1e-8`` the first-order
  Taylor forms ``x ∓ c·x³/3`` are used instead of dividing by ``√c``.
* norms are clamped below at ``1e-15`` (so the zero vector maps to zero, never NaN) and
  denominators below at ``1e-15``.
* :func:`project` pulls points back inside the ball at ``(1 - eps)/√c`` (``eps = 1e-5`` for float64,
  ``4e-3`` for float32).

Every function reduces over the last axis and broadcasts over the leading ones. Inputs are
validated: a non-finite value or a point on/outside the ball raises
:class:`~tessera_onnx.errors.InvalidInputError` (use :func:`project` first for points produced by
your own arithmetic).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "MIN_NORM",
    "project",
    "check_in_ball",
    "tan_c",
    "artan_c",
    "lambda_x",
    "mobius_add",
    "mobius_scalar_mul",
    "expmap0",
    "logmap0",
    "expmap",
    "logmap",
    "dist",
    "dist0",
    "pairwise_dist",
    "dist_arcosh",
    "gyration",
    "parallel_transport",
    "to_lorentz",
    "from_lorentz",
    "lorentz_inner",
    "lorentz_dist",
    "lorentz_index_vectors",
    "lorentz_query_vectors",
    "frechet_mean",
]

MIN_NORM = 1e-15
_TANH_CLAMP = 15.0
_ATANH_EPS = 1e-7
_TAYLOR_C = 1e-8


def _curvature(c: float) -> float:
    value = float(c)
    if not np.isfinite(value) or value < 0:
        raise InvalidInputError(
            f"curvature c must be a finite number >= 0 (the ball has curvature -c), got {c!r}"
        )
    return value


def _sqrt_c(c: float) -> float:
    return float(np.sqrt(c + 1e-15))


def _as_points(x: np.ndarray | list, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise InvalidInputError(
            f"{name} must be a vector or a batch of vectors (last axis = dimension), got a scalar"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} holds NaN or inf values; hyperbolic ops need finite coordinates")
    return arr


def _norm(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), MIN_NORM)


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sum(x * y, axis=-1, keepdims=True)


def check_in_ball(x: np.ndarray | list, c: float = 1.0, *, name: str = "x") -> np.ndarray:
    """Return ``x`` as float64 after checking every point lies strictly inside the ball.

    Raises :class:`InvalidInputError` for non-finite values or points with ``c‖x‖² ≥ 1``
    (call :func:`project` to pull such points back).
    """
    c = _curvature(c)
    arr = _as_points(x, name)
    if c > 0:
        sq = c * np.sum(arr * arr, axis=-1)
        if np.any(sq >= 1.0):
            worst = float(np.sqrt(np.max(sq) / c))
            raise InvalidInputError(
                f"{name} has points outside the Poincaré ball of radius {1 / np.sqrt(c):.6g} (largest norm "
                f"{worst:.6g}); pull them inside with tessera_onnx.ops.poincare.project"
            )
    return arr


def tan_c(x: np.ndarray, c: float = 1.0) -> np.ndarray:
    """``tanh(√c·x)/√c`` with geoopt's input clamp at ±15 (Taylor form ``x - c·x³/3`` for c≈0)."""
    c = _curvature(c)
    x = np.asarray(x, dtype=np.float64)
    if c <= _TAYLOR_C:
        return x - c * x**3 / 3.0
    s = _sqrt_c(c)
    return np.tanh(np.clip(s * x, -_TANH_CLAMP, _TANH_CLAMP)) / s


def artan_c(x: np.ndarray, c: float = 1.0) -> np.ndarray:
    """``artanh(√c·x)/√c`` with geoopt's clamp at ``1 - 1e-7`` (Taylor ``x + c·x³/3`` for c≈0)."""
    c = _curvature(c)
    x = np.asarray(x, dtype=np.float64)
    if c <= _TAYLOR_C:
        return x + c * x**3 / 3.0
    s = _sqrt_c(c)
    z = np.clip(s * x, -1.0 + _ATANH_EPS, 1.0 - _ATANH_EPS)
    return 0.5 * (np.log1p(z) - np.log1p(-z)) / s


def project(x: np.ndarray | list, c: float = 1.0, *, eps: float | None = None) -> np.ndarray:
    """Pull points back inside the ball: norms above ``(1 - eps)/√c`` are scaled down to it.

    ``eps`` defaults to geoopt's ``1e-5`` for float64 input and ``4e-3`` for float32 input; the
    result is float64 either way.
    """
    c = _curvature(c)
    raw = np.asarray(x)
    if eps is None:
        eps = 4e-3 if raw.dtype == np.float32 else 1e-5
    arr = _as_points(raw)
    if c <= 0:
        return arr.copy()
    maxnorm = (1.0 - eps) / _sqrt_c(c)
    norm = _norm(arr)
    return np.where(norm > maxnorm, arr / norm * maxnorm, arr)


def lambda_x(x: np.ndarray, c: float = 1.0, *, keepdims: bool = False) -> np.ndarray:
    """The conformal factor ``2 / (1 - c‖x‖²)`` (denominator clamped at 1e-15)."""
    c = _curvature(c)
    x = _as_points(x)
    out = 2.0 / np.maximum(1.0 - c * np.sum(x * x, axis=-1, keepdims=True), MIN_NORM)
    return out if keepdims else out[..., 0]


def _mobius_add(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    x2 = _dot(x, x)
    y2 = _dot(y, y)
    xy = _dot(x, y)
    num = (1.0 + 2.0 * c * xy + c * y2) * x + (1.0 - c * x2) * y
    den = 1.0 + 2.0 * c * xy + c * c * x2 * y2
    return num / np.maximum(den, MIN_NORM)


def mobius_add(x: np.ndarray, y: np.ndarray, c: float = 1.0, *, project_result: bool = True) -> np.ndarray:
    """Möbius addition ``x ⊕_c y`` (not commutative), projected into the ball like geoopt's default."""
    c = _curvature(c)
    out = _mobius_add(_as_points(x, "x"), _as_points(y, "y"), c)
    return project(out, c) if project_result else out


def mobius_scalar_mul(r: float | np.ndarray, x: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Möbius scalar multiplication ``r ⊗_c x = tan_c(r·artan_c(‖x‖))·x/‖x‖``, projected."""
    c = _curvature(c)
    x = _as_points(x)
    norm = _norm(x)
    r = np.asarray(r, dtype=np.float64)
    if r.ndim and r.shape[-1:] != (1,):
        r = r[..., None]
    return project(tan_c(r * artan_c(norm, c), c) * x / norm, c)


def expmap0(u: np.ndarray, c: float = 1.0, *, project_result: bool = True) -> np.ndarray:
    """Exponential map at the origin: ``tan_c(‖u‖)·u/‖u‖`` (projected, as geoopt's default)."""
    c = _curvature(c)
    u = _as_points(u, "u")
    norm = _norm(u)
    out = tan_c(norm, c) * u / norm
    return project(out, c) if project_result else out


def logmap0(y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Logarithmic map at the origin: ``artan_c(‖y‖)·y/‖y‖``."""
    c = _curvature(c)
    y = _as_points(y, "y")
    norm = _norm(y)
    return artan_c(norm, c) * y / norm


def expmap(x: np.ndarray, u: np.ndarray, c: float = 1.0, *, project_result: bool = True) -> np.ndarray:
    """Exponential map at ``x``: ``x ⊕_c tan_c(λ_x‖u‖/2)·u/‖u‖`` (projected)."""
    c = _curvature(c)
    x = _as_points(x, "x")
    u = _as_points(u, "u")
    norm = _norm(u)
    second = tan_c(lambda_x(x, c, keepdims=True) * norm / 2.0, c) * u / norm
    out = _mobius_add(x, second, c)
    return project(out, c) if project_result else out


def logmap(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Logarithmic map at ``x``: ``(2/λ_x)·artan_c(‖s‖)·s/‖s‖`` with ``s = (-x) ⊕_c y``."""
    c = _curvature(c)
    x = _as_points(x, "x")
    s = _mobius_add(-x, _as_points(y, "y"), c)
    norm = _norm(s)
    return 2.0 / lambda_x(x, c, keepdims=True) * artan_c(norm, c) * s / norm


def dist(x: np.ndarray, y: np.ndarray, c: float = 1.0, *, keepdims: bool = False) -> np.ndarray:
    """Geodesic distance ``2·artan_c(‖(-x) ⊕_c y‖)``, broadcast over leading axes."""
    c = _curvature(c)
    s = _mobius_add(-_as_points(x, "x"), _as_points(y, "y"), c)
    out = 2.0 * artan_c(np.linalg.norm(s, axis=-1, keepdims=True), c)
    return out if keepdims else out[..., 0]


def dist0(x: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Distance to the origin, ``2·artan_c(‖x‖)``."""
    c = _curvature(c)
    return 2.0 * artan_c(np.linalg.norm(_as_points(x), axis=-1), c)


def pairwise_dist(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """All distances between rows of ``x [n, d]`` and ``y [m, d]`` as ``[n, m]``.

    Uses the closed form ``arcosh(1 + 2c‖x-y‖²/((1-c‖x‖²)(1-c‖y‖²)))/√c``, equal to :func:`dist`
    for points inside the ball and computed with one matrix product.
    """
    c = _curvature(c)
    x = _as_points(x, "x")
    y = _as_points(y, "y")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InvalidInputError(f"pairwise_dist needs [n, d] and [m, d] arrays, got {x.shape} and {y.shape}")
    x2 = np.sum(x * x, axis=1)
    y2 = np.sum(y * y, axis=1)
    sq = np.maximum(x2[:, None] + y2[None, :] - 2.0 * (x @ y.T), 0.0)
    if c <= _TAYLOR_C:
        return 2.0 * np.sqrt(sq)
    alpha = np.maximum(1.0 - c * x2, MIN_NORM)
    beta = np.maximum(1.0 - c * y2, MIN_NORM)
    arg = 1.0 + 2.0 * c * sq / (alpha[:, None] * beta[None, :])
    return np.arccosh(np.maximum(arg, 1.0)) / _sqrt_c(c)


def dist_arcosh(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Distance in the closed form ``arcosh(1 + 2c‖x-y‖²/((1-c‖x‖²)(1-c‖y‖²)))/√c``, broadcast.

    Equal to :func:`dist` inside the ball, but without its artanh clamp, which caps geoopt's form
    at ``2·artanh(1 - 1e-7)/√c ≈ 16.8/√c`` for points near the boundary.
    """
    c = _curvature(c)
    x = _as_points(x, "x")
    y = _as_points(y, "y")
    diff = x - y
    sq = np.sum(diff * diff, axis=-1)
    if c <= _TAYLOR_C:
        return 2.0 * np.sqrt(sq)
    alpha = np.maximum(1.0 - c * np.sum(x * x, axis=-1), MIN_NORM)
    beta = np.maximum(1.0 - c * np.sum(y * y, axis=-1), MIN_NORM)
    return np.arccosh(np.maximum(1.0 + 2.0 * c * sq / (alpha * beta), 1.0)) / _sqrt_c(c)


def gyration(u: np.ndarray, v: np.ndarray, w: np.ndarray, c: float = 1.0) -> np.ndarray:
    """The gyration ``gyr[u, v] w = ⊖(u ⊕ v) ⊕ (u ⊕ (v ⊕ w))`` in its closed form."""
    c = _curvature(c)
    u, v, w = _as_points(u, "u"), _as_points(v, "v"), _as_points(w, "w")
    k = -c
    u2, v2 = _dot(u, u), _dot(v, v)
    uv, uw, vw = _dot(u, v), _dot(u, w), _dot(v, w)
    k2 = k * k
    a = -k2 * uw * v2 - k * vw + 2.0 * k2 * uv * vw
    b = -k2 * vw * u2 + k * uw
    d = 1.0 - 2.0 * k * uv + k2 * u2 * v2
    return w + 2.0 * (a * u + b * v) / np.maximum(d, MIN_NORM)


def parallel_transport(x: np.ndarray, y: np.ndarray, v: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Move tangent vector ``v`` at ``x`` to ``y``: ``gyr[y, -x] v · λ_x / λ_y``."""
    c = _curvature(c)
    x = _as_points(x, "x")
    y = _as_points(y, "y")
    return gyration(y, -x, v, c) * lambda_x(x, c, keepdims=True) / lambda_x(y, c, keepdims=True)


def to_lorentz(x: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Map ball points ``[..., d]`` to the hyperboloid ``⟨z, z⟩_L = -1/c`` as ``[..., d+1]``.

    ``z₀ = (1 + c‖x‖²) / (√c (1 - c‖x‖²))`` and ``z_i = 2x_i / (1 - c‖x‖²)``.
    """
    c = _curvature(c)
    if c <= 0:
        raise InvalidInputError("the Lorentz model needs c > 0")
    x = check_in_ball(x, c)
    x2 = np.sum(x * x, axis=-1, keepdims=True)
    den = np.maximum(1.0 - c * x2, MIN_NORM)
    z0 = (1.0 + c * x2) / (_sqrt_c(c) * den)
    return np.concatenate([z0, 2.0 * x / den], axis=-1)


def from_lorentz(z: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Map hyperboloid points ``[..., d+1]`` back into the ball: ``x = z_{1:} / (1 + √c z₀)``."""
    c = _curvature(c)
    if c <= 0:
        raise InvalidInputError("the Lorentz model needs c > 0")
    z = _as_points(z, "z")
    if z.shape[-1] < 2:
        raise InvalidInputError(f"Lorentz points need at least 2 coordinates, got shape {z.shape}")
    if np.any(z[..., 0] <= 0):
        raise InvalidInputError("Lorentz points must lie on the upper sheet (z₀ > 0)")
    return z[..., 1:] / (1.0 + _sqrt_c(c) * z[..., :1])


def lorentz_inner(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The Minkowski product ``⟨z, w⟩_L = -z₀w₀ + Σ z_i w_i`` over the last axis."""
    z = _as_points(z, "z")
    w = _as_points(w, "w")
    return -z[..., 0] * w[..., 0] + np.sum(z[..., 1:] * w[..., 1:], axis=-1)


def lorentz_dist(z: np.ndarray, w: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Hyperboloid distance ``arcosh(-c⟨z, w⟩_L)/√c`` (equal to :func:`dist` of the ball points)."""
    c = _curvature(c)
    return np.arccosh(np.maximum(-c * lorentz_inner(z, w), 1.0)) / _sqrt_c(c)


def lorentz_index_vectors(x: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Vectors to store in an inner-product index: ``(-z₀, z₁, …, z_d)`` of each ball point.

    Their plain dot product with :func:`lorentz_query_vectors` of a query is ``⟨q, x⟩_L =
    -cosh(√c·d(q, x))/c``, which decreases strictly with the hyperbolic distance: the top-k by inner
    product (maximum inner product search, no normalisation) are the exact k nearest neighbours.
    """
    z = to_lorentz(x, c)
    z[..., 0] *= -1.0
    return z


def lorentz_query_vectors(x: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Query vectors for an index built with :func:`lorentz_index_vectors`: the hyperboloid points."""
    return to_lorentz(x, c)


def frechet_mean(
    x: np.ndarray, c: float = 1.0, *, weights: np.ndarray | None = None, iters: int = 100, tol: float = 1e-12
) -> np.ndarray:
    """The Fréchet (Karcher) mean of points ``[n, d]``: ``argmin_m Σ w_i d(m, x_i)²``.

    Iterates ``m ← exp_m(t·Σ w_i log_m(x_i) / Σ w_i)`` (Riemannian gradient descent, ``t = 1``
    halved until the cost decreases); the ball has negative curvature, so the minimiser is unique.
    Starts from the point nearest the origin.
    """
    c = _curvature(c)
    pts = check_in_ball(x, c)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise InvalidInputError(f"frechet_mean needs a non-empty [n, d] array, got shape {pts.shape}")
    w = np.ones(pts.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (pts.shape[0],) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise InvalidInputError("weights must be one finite non-negative number per point, not all zero")
    w = w / w.sum()

    def cost(m: np.ndarray) -> float:
        return float(np.sum(w * dist_arcosh(m[None, :], pts, c) ** 2))

    mean = pts[np.argmin(np.sum(pts * pts, axis=1))]
    current = cost(mean)
    for _ in range(iters):
        # log_m(x) = d(m, x)/λ_m · s/‖s‖ with s = (-m) ⊕ x, d in the unclamped arcosh form
        s = _mobius_add(-mean[None, :], pts, c)
        scale = dist_arcosh(mean[None, :], pts, c)[:, None] / float(lambda_x(mean, c)) / _norm(s)
        step = np.sum(w[:, None] * scale * s, axis=0)
        if np.linalg.norm(step) * float(lambda_x(mean, c)) < tol:
            break
        t = 1.0  # backtracking: the full Karcher step can overshoot when the points are far apart
        while t > 1e-6:
            candidate = expmap(mean, t * step, c)
            value = cost(candidate)
            if value <= current:
                break
            t /= 2.0
        else:
            break
        mean, current = candidate, value
    return mean
