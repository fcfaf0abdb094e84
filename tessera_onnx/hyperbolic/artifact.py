"""Write and read a hierarchy-embedding artifact: table, node names, closure, manifest.

Layout of the directory::

    tessera.json       manifest (paradigm "hyperbolic", precision "fp64", sha256 of every file)
    embeddings.npy     float64 [n_nodes, dim], read with allow_pickle=False
    nodes.txt          one node name per line (UTF-8), row i of the table
    edges.npy          int32 [E, 2] closure edges (child id, ancestor id), for re-evaluation

``config["hyperbolic"]`` holds ``manifold`` ("poincare" or "euclidean"), ``curvature``,
``n_nodes``, ``n_edges``, the training settings and the reconstruction figures measured after
training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..artifact import Manifest, read_manifest, verify_files, write_manifest
from ..errors import ArtifactError, InvalidInputError
from .hierarchy import Hierarchy

__all__ = ["TABLE_FILE", "NODES_FILE", "EDGES_FILE", "HierarchyArtifact", "write_artifact", "read_artifact"]

TABLE_FILE = "embeddings.npy"
NODES_FILE = "nodes.txt"
EDGES_FILE = "edges.npy"


@dataclass(frozen=True)
class HierarchyArtifact:
    """The contents of a hyperbolic artifact, loaded and checked."""

    path: Path
    manifest: Manifest
    embeddings: np.ndarray
    names: tuple[str, ...]
    edges: np.ndarray

    @property
    def settings(self) -> Mapping[str, Any]:
        """``config["hyperbolic"]`` of the manifest."""
        return self.manifest.config["hyperbolic"]

    @property
    def hierarchy(self) -> Hierarchy:
        """The stored closure as a :class:`Hierarchy`."""
        n = len(self.names)
        edges = self.edges.astype(np.int64)
        keys = edges[:, 0] * n + edges[:, 1]
        order = np.argsort(keys, kind="stable")
        return Hierarchy(names=self.names, edges=edges[order], keys=keys[order])


def write_artifact(
    directory: str | os.PathLike[str],
    hierarchy: Hierarchy,
    embeddings: np.ndarray,
    *,
    manifold: str = "poincare",
    curvature: float = 1.0,
    model_id: str | None = None,
    training: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> Path:
    """Write an artifact for ``embeddings [n_nodes, dim]`` of ``hierarchy``; returns its directory.

    Raises :class:`InvalidInputError` for a table of the wrong shape, non-finite values, Poincaré
    points outside the ball, or node names holding a newline.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != hierarchy.n_nodes:
        raise InvalidInputError(f"embeddings must be [{hierarchy.n_nodes}, dim], got {emb.shape}")
    if not np.all(np.isfinite(emb)):
        raise InvalidInputError("embeddings hold NaN or inf values")
    if manifold == "poincare" and np.any(curvature * np.sum(emb * emb, axis=1) >= 1.0):
        raise InvalidInputError("Poincaré embeddings must lie inside the ball; project them first")
    bad = [n for n in hierarchy.names if "\n" in n or "\r" in n]
    if bad:
        raise InvalidInputError(f"node names cannot hold line breaks: {bad[:3]}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / TABLE_FILE, emb, allow_pickle=False)
    np.save(root / EDGES_FILE, hierarchy.edges.astype(np.int32), allow_pickle=False)
    (root / NODES_FILE).write_text("".join(f"{n}\n" for n in hierarchy.names), encoding="utf-8")
    manifest = Manifest(
        model_id=model_id or root.name,
        paradigm="hyperbolic",
        architecture=f"{manifold}-table",
        dim=int(emb.shape[1]),
        inputs=(),
        outputs=(),
        precision="fp64",
        opset=0,
        model_file=TABLE_FILE,
        config={
            "hyperbolic": {
                "manifold": manifold,
                "curvature": float(curvature),
                "n_nodes": hierarchy.n_nodes,
                "n_edges": int(len(hierarchy.edges)),
                "nodes_file": NODES_FILE,
                "edges_file": EDGES_FILE,
                "training": dict(training or {}),
                "evaluation": dict(evaluation or {}),
            }
        },
        versions={"tessera_onnx": __version__, "numpy": np.__version__},
        source={"kind": "hierarchy", "n_nodes": hierarchy.n_nodes},
    ).with_files(root, [TABLE_FILE, NODES_FILE, EDGES_FILE])
    write_manifest(root, manifest)
    return root


def read_artifact(directory: str | os.PathLike[str], *, verify: bool | str = True) -> HierarchyArtifact:
    """Load and check a hyperbolic artifact (sha256 of every file unless ``verify=False``)."""
    root = Path(directory)
    manifest = read_manifest(root)
    if manifest.paradigm != "hyperbolic":
        raise ArtifactError(f"{root} holds a {manifest.paradigm!r} model, not a hyperbolic embedding")
    if verify:
        verify_files(root, manifest, cached=verify != "always")
    settings = manifest.config.get("hyperbolic")
    if not isinstance(settings, Mapping) or settings.get("manifold") not in ("poincare", "euclidean"):
        raise ArtifactError(f"manifest of {root} lacks a valid config['hyperbolic']; re-create the artifact")
    try:
        emb = np.load(root / TABLE_FILE, allow_pickle=False)
        edges = np.load(root / EDGES_FILE, allow_pickle=False)
        names = tuple((root / NODES_FILE).read_text(encoding="utf-8").splitlines())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read the arrays of {root} ({exc}); re-create the artifact") from exc
    if emb.ndim != 2 or emb.shape != (len(names), manifest.dim) or not np.all(np.isfinite(emb)):
        raise ArtifactError(
            f"{root}: table shape {emb.shape} does not match {len(names)} nodes x dim {manifest.dim} "
            "or holds non-finite values; re-create the artifact"
        )
    if (
        edges.ndim != 2
        or edges.shape[1] != 2
        or (edges.size and (edges.min() < 0 or edges.max() >= len(names)))
    ):
        raise ArtifactError(f"{root}: {EDGES_FILE} is not a valid [E, 2] edge list of node ids")
    return HierarchyArtifact(path=root, manifest=manifest, embeddings=emb, names=names, edges=edges)
