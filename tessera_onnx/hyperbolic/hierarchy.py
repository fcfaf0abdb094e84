"""A hierarchy as integer node ids plus its transitive closure, built from (child, parent) pairs.

The closure is what Poincaré embeddings train on (Nickel & Kiela 2017): every node is linked to
all of its ancestors. Cycles are rejected with :class:`~tessera_onnx.errors.HierarchyError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HierarchyError, UnknownNodeError

__all__ = ["Hierarchy", "read_edges_tsv", "transitive_closure"]


@dataclass(frozen=True)
class Hierarchy:
    """Node names and the closure edges ``[E, 2]`` (child id, ancestor id), sorted by key.

    ``keys`` holds ``child * n + ancestor`` sorted, for fast vectorised "is (u, v) an edge"
    look-ups with :meth:`has_edges`.
    """

    names: tuple[str, ...]
    edges: np.ndarray
    keys: np.ndarray = field(repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.names)

    def index(self) -> dict[str, int]:
        """Map from node name to id."""
        return {name: i for i, name in enumerate(self.names)}

    def ids(self, names: Iterable[str]) -> np.ndarray:
        """Ids of ``names``; raises :class:`UnknownNodeError` naming the first unknown one."""
        lookup = self.index()
        out = []
        for name in names:
            if name not in lookup:
                raise UnknownNodeError(f"node {name!r} is not in the hierarchy ({self.n_nodes} nodes)")
            out.append(lookup[name])
        return np.asarray(out, dtype=np.int64)

    def has_edges(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Boolean array: is ``(u[i], v[i])`` a closure edge (u below v)?"""
        key = np.asarray(u, dtype=np.int64) * self.n_nodes + np.asarray(v, dtype=np.int64)
        pos = np.searchsorted(self.keys, key)
        pos = np.minimum(pos, len(self.keys) - 1)
        return self.keys[pos] == key

    def degrees(self) -> np.ndarray:
        """How many closure edges touch each node (as child or ancestor)."""
        return np.bincount(self.edges.ravel(), minlength=self.n_nodes)

    def ancestors(self) -> list[np.ndarray]:
        """Per node, the ids of its ancestors (the closure's out-neighbours)."""
        order = np.argsort(self.edges[:, 0], kind="stable")
        starts = np.searchsorted(self.edges[order, 0], np.arange(self.n_nodes + 1))
        targets = self.edges[order, 1]
        return [targets[starts[i] : starts[i + 1]] for i in range(self.n_nodes)]


def read_edges_tsv(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read ``child<TAB>parent`` lines (blank lines and ``#`` comments skipped).

    A third column (e.g. a weight) is ignored. Raises :class:`HierarchyError` for a line
    without two columns.
    """
    pairs: list[tuple[str, str]] = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise HierarchyError(f"{path}:{lineno}: expected 'child<TAB>parent', got {line!r}")
        pairs.append((cols[0].strip(), cols[1].strip()))
    return pairs


def transitive_closure(pairs: Sequence[tuple[str, str]], names: Sequence[str] | None = None) -> Hierarchy:
    """Build the :class:`Hierarchy` of ``(child, parent)`` pairs (a DAG: several parents are fine).

    ``names`` fixes the node order (every name in ``pairs`` must be in it); by default nodes are
    numbered in order of first appearance. Raises :class:`HierarchyError` for an empty list,
    a self-loop or a cycle (naming nodes on it).
    """
    if not pairs:
        raise HierarchyError("the hierarchy has no edges; give (child, parent) pairs")
    lookup: dict[str, int] = {}
    order: list[str] = []
    if names is not None:
        for name in names:
            if name not in lookup:
                lookup[name] = len(order)
                order.append(name)
    for child, parent in pairs:
        if child == parent:
            raise HierarchyError(f"self-loop on {child!r}: a node cannot be its own parent")
        for name in (child, parent):
            if name not in lookup:
                if names is not None:
                    raise UnknownNodeError(f"edge names {name!r}, which is not in the given node list")
                lookup[name] = len(order)
                order.append(name)
    n = len(order)
    parents: list[set[int]] = [set() for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for child, parent in pairs:
        c, p = lookup[child], lookup[parent]
        if p not in parents[c]:
            parents[c].add(p)
            children[p].append(c)
    # Kahn's algorithm from the roots down: a node is processed once all its parents are.
    pending = np.array([len(ps) for ps in parents])
    stack = [i for i in range(n) if pending[i] == 0]
    ancestors: list[frozenset[int]] = [frozenset()] * n
    done = 0
    while stack:
        node = stack.pop()
        done += 1
        anc: set[int] = set()
        for p in parents[node]:
            anc.add(p)
            anc |= ancestors[p]
        ancestors[node] = frozenset(anc)
        for ch in children[node]:
            pending[ch] -= 1
            if pending[ch] == 0:
                stack.append(ch)
    if done < n:
        stuck = [order[i] for i in range(n) if pending[i] > 0]
        raise HierarchyError(
            f"the hierarchy has a cycle: {len(stuck)} nodes never reach a root, e.g. {stuck[:5]}; "
            "remove the edge that closes the loop"
        )
    total = sum(len(a) for a in ancestors)
    edges = np.empty((total, 2), dtype=np.int64)
    pos = 0
    for node, anc in enumerate(ancestors):
        k = len(anc)
        edges[pos : pos + k, 0] = node
        edges[pos : pos + k, 1] = sorted(anc)
        pos += k
    keys = edges[:, 0] * n + edges[:, 1]
    sort = np.argsort(keys, kind="stable")
    return Hierarchy(names=tuple(order), edges=edges[sort], keys=keys[sort])
