"""``HyperbolicEmbedder``: look-ups, distances, nearest neighbours and is-a scores on a trained table.

Nearest neighbours use the Lorentz (hyperboloid) form: each ball point ``x`` maps to
``z = (z₀, z₁..z_d)`` on ``⟨z, z⟩_L = -1/c``, the index stores ``(-z₀, z₁..z_d)`` and a query
uses ``z`` itself, so the plain dot product is ``⟨q, x⟩_L = -cosh(√c·d(q, x))/c``: the largest
inner products are exactly the nearest points in hyperbolic distance. Any inner-product index
(exact or approximate, this one or an external one) can therefore serve hyperbolic neighbours;
:meth:`HyperbolicEmbedder.index_vectors` and :meth:`HyperbolicEmbedder.query_vectors` give the
two sides.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._warnings import deprecated as _deprecated
from ..errors import InvalidInputError, UnknownNodeError
from ..model import TesseraModel
from ..ops import poincare
from .artifact import read_artifact
from .hierarchy import Hierarchy

__all__ = ["HyperbolicEmbedder", "IS_A_ALPHA"]

IS_A_ALPHA = 1000.0


class HyperbolicEmbedder(TesseraModel):
    """A trained hierarchy embedding (``Tessera(artifact)`` returns one for ``hyperbolic`` artifacts).

    Options: ``verify`` (check sha256 of the files on load: ``True`` cached, ``"always"``,
    ``False``), ``cache`` / ``download`` (how a model id is resolved).
    """

    paradigm = "hyperbolic"

    def __init__(self, model: str | os.PathLike[str], *, verify: bool | str = True, **options: Any) -> None:
        super().__init__(model, verify=verify, **options)  # device/threads are accepted and unused: no graph
        art = read_artifact(self.path, verify=verify)
        self.manifold: str = str(art.settings["manifold"])
        self.curvature: float = float(art.settings.get("curvature", 1.0))
        self.names: tuple[str, ...] = art.names
        self.table: np.ndarray = art.embeddings
        self.table.setflags(write=False)
        self._artifact = art
        self._lookup = {name: i for i, name in enumerate(self.names)}
        if self.manifold == "poincare":
            poincare.check_in_ball(self.table, self.curvature, name="the artifact's table")
            self._index = poincare.lorentz_index_vectors(self.table, self.curvature)
        else:
            self._index = self.table

    @property
    def dimension(self) -> int:
        """Dimension of the embeddings."""
        return int(self.table.shape[1])

    @property
    def dim(self) -> int:
        """Deprecated alias of :attr:`dimension`."""
        _deprecated("HyperbolicEmbedder.dim", "dimension")
        return self.dimension

    def _info_extra(self) -> dict[str, Any]:
        return {"manifold": self.manifold, "curvature": self.curvature, "nodes": len(self.names)}

    @property
    def hierarchy(self) -> Hierarchy:
        """The closure the table was trained on."""
        return self._artifact.hierarchy

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._lookup

    def ids(self, names: str | Sequence[str]) -> np.ndarray:
        """Row ids of node names; raises :class:`UnknownNodeError` for a name not in the hierarchy."""
        items = [names] if isinstance(names, str) else list(names)
        out = []
        for name in items:
            if name not in self._lookup:
                raise UnknownNodeError(
                    f"node {name!r} is not in this embedding ({len(self.names)} nodes); "
                    "names are case-sensitive, list them with .names"
                )
            out.append(self._lookup[name])
        return np.asarray(out, dtype=np.int64)

    def encode(self, names: str | Sequence[str]) -> np.ndarray:
        """Vectors of ``names``: ``[dim]`` for one name, ``[n, dim]`` for a list (float64)."""
        vecs = self.table[self.ids(names)]
        return vecs[0] if isinstance(names, str) else vecs

    def _points(self, x: str | Sequence[str] | np.ndarray) -> np.ndarray:
        if isinstance(x, str) or (isinstance(x, Sequence) and x and isinstance(x[0], str)):
            return np.atleast_2d(self.encode(x))
        pts = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if pts.ndim != 2 or pts.shape[1] != self.dimension:
            raise InvalidInputError(f"vectors must have dimension {self.dimension}, got shape {pts.shape}")
        if self.manifold == "poincare":
            return poincare.check_in_ball(pts, self.curvature)
        if not np.all(np.isfinite(pts)):
            raise InvalidInputError("vectors hold NaN or inf values")
        return pts

    def distance(
        self, a: str | Sequence[str] | np.ndarray, b: str | Sequence[str] | np.ndarray
    ) -> np.ndarray:
        """Distances between ``a`` and ``b`` (names or vectors), paired row by row, broadcast 1-to-n."""
        pa, pb = self._points(a), self._points(b)
        if len(pa) != len(pb) and 1 not in (len(pa), len(pb)):
            raise InvalidInputError(f"cannot pair {len(pa)} points with {len(pb)} points")
        if self.manifold == "poincare":
            out = poincare.dist_arcosh(pa, pb, self.curvature)
        else:
            out = np.linalg.norm(pa - pb, axis=-1)
        return out[0] if isinstance(a, str) and isinstance(b, str) else out

    def index_vectors(self) -> np.ndarray:
        """Rows to load into an inner-product index (``(-z₀, z)`` Lorentz form for Poincaré tables)."""
        return self._index.copy()

    def query_vectors(self, x: str | Sequence[str] | np.ndarray) -> np.ndarray:
        """Query rows whose dot product with :meth:`index_vectors` ranks by distance (larger = nearer).

        For a Euclidean table, search the index by L2 with the raw vectors instead.
        """
        pts = self._points(x)
        if self.manifold == "poincare":
            return poincare.lorentz_query_vectors(pts, self.curvature)
        return pts

    def nearest(
        self, x: str | np.ndarray, k: int = 10, *, exclude_self: bool = True
    ) -> list[tuple[str, float]]:
        """The ``k`` nodes nearest to ``x`` (a name or one vector) as ``(name, distance)``, nearest first.

        Poincaré tables rank by the Lorentz inner product (one matrix-vector product).
        """
        if not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        q = self.query_vectors(x)
        if len(q) != 1:
            raise InvalidInputError("nearest takes one name or one vector")
        # larger score = nearer: the Lorentz inner product, or minus the squared L2 distance
        if self.manifold == "poincare":
            score = self._index @ q[0]
        else:
            score = -np.sum((self._index - q[0]) ** 2, axis=1)
        if exclude_self and isinstance(x, str):
            score[self._lookup[x]] = -np.inf
        k = min(k, len(score) - (1 if exclude_self and isinstance(x, str) else 0))
        if k < 1:
            return []
        top = np.argpartition(-score, k - 1)[:k]
        top = top[np.argsort(-score[top], kind="stable")]
        dist = self.distance(self.table[top], self._points(x))
        return [(self.names[i], float(d)) for i, d in zip(top, dist, strict=True)]

    def is_a_score(
        self, child: str | Sequence[str], parent: str | Sequence[str], *, alpha: float = IS_A_ALPHA
    ) -> Any:
        """Nickel & Kiela's score that ``parent`` is above ``child``: ``-(1 + α(‖p‖ - ‖c‖))·d(c, p)``.

        Higher is more likely (general concepts sit near the origin, so a parent with a smaller
        norm than the child raises the score). ``α = 1000`` as in the paper: the norm term then
        dominates, so the score mostly says "``parent`` is more general than ``child``"; when the
        parent's norm is smaller the factor is negative and the score grows with the distance. Use
        :meth:`distance` or :meth:`nearest` for "how closely related", this score for the direction.
        """
        pc, pp = self._points(child), self._points(parent)
        norm_c = np.linalg.norm(pc, axis=1)
        norm_p = np.linalg.norm(pp, axis=1)
        out = -(1.0 + alpha * (norm_p - norm_c)) * self.distance(pc, pp)
        return float(out[0]) if isinstance(child, str) and isinstance(parent, str) else out

    def __repr__(self) -> str:
        return (
            f"HyperbolicEmbedder({str(self.path)!r}, manifold={self.manifold!r}, nodes={len(self.names)}, "
            f"dimension={self.dimension})"
        )
