"""Regenerate ``poincare_geoopt_reference.json``: geoopt 0.5.1's PoincareBall ops on fixed points.

    pip install --no-deps geoopt==0.5.1   # needs torch
    python tests/data/make_poincare_reference.py

The points mix the interior, tiny vectors and points at norm (1 - 1e-7)/√c (near the boundary).
The curvature is passed to geoopt as a float64 tensor (a Python float would be stored as float32).
"""

from __future__ import annotations

import json
from pathlib import Path

import geoopt
import numpy as np
import torch

CURVATURES = (1.0, 0.3, 2.5)


def points(rng: np.random.Generator, c: float, n: int = 12, d: int = 5) -> np.ndarray:
    direction = rng.normal(size=(n, d))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = rng.uniform(0.0, 0.95, size=(n, 1))
    radius[0] = 1e-9
    radius[1:4] = 1.0 - 1e-7  # near the boundary
    return direction * radius / np.sqrt(c)


def main() -> None:
    rng = np.random.default_rng(15)
    cases = []
    for c in CURVATURES:
        ball = geoopt.PoincareBall(c=torch.tensor(c, dtype=torch.float64))
        x, y = points(rng, c), points(rng, c)
        u = rng.normal(size=x.shape) * rng.uniform(0.0, 3.0, size=(len(x), 1))
        u[0] = 0.0
        t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
        out = {
            "mobius_add": ball.mobius_add(t(x), t(y)),
            "expmap0": ball.expmap0(t(u)),
            "logmap0": ball.logmap0(t(y)),
            "expmap": ball.expmap(t(x), t(u)),
            "logmap": ball.logmap(t(x), t(y)),
            "dist": ball.dist(t(x), t(y)),
            "dist0": ball.dist0(t(y)),
            "project": ball.projx(t(x * 1.5)),
            "lambda_x": ball.lambda_x(t(x)),
            "parallel_transport": ball.transp(t(x), t(y), t(u)),
            "mobius_scalar_mul": ball.mobius_scalar_mul(t(np.array(0.7)), t(y)),
        }
        cases.append(
            {
                "c": c,
                "x": x.tolist(),
                "y": y.tolist(),
                "u": u.tolist(),
                "out": {k: v.numpy().tolist() for k, v in out.items()},
            }
        )
    path = Path(__file__).with_name("poincare_geoopt_reference.json")
    meta = {"geoopt": geoopt.__version__, "torch": torch.__version__}
    path.write_text(json.dumps({"meta": meta, "cases": cases}) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
