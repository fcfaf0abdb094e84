"""Hierarchy embeddings in the Poincaré ball (Nickel & Kiela 2017): training, evaluation, runtime.

- :mod:`.hierarchy`: (child, parent) pairs → transitive closure (cycles rejected).
- :mod:`.train`: Riemannian SGD with negative sampling and burn-in; a Euclidean baseline.
- :mod:`.evaluate`: the reconstruction benchmark (mean rank, MAP).
- :mod:`.artifact`: the artifact on disk (table, node names, closure, manifest with sha256).
- :mod:`.embedder`: :class:`HyperbolicEmbedder`, what ``Tessera(artifact)`` returns.

The geometry itself lives in :mod:`tessera_onnx.ops.poincare`. Everything is numpy only.
"""

from __future__ import annotations

from .artifact import HierarchyArtifact, read_artifact, write_artifact
from .embedder import HyperbolicEmbedder
from .evaluate import Reconstruction, reconstruction
from .hierarchy import Hierarchy, read_edges_tsv, transitive_closure
from .train import TrainConfig, TrainResult, train

__all__ = [
    "Hierarchy",
    "HierarchyArtifact",
    "HyperbolicEmbedder",
    "Reconstruction",
    "TrainConfig",
    "TrainResult",
    "read_artifact",
    "read_edges_tsv",
    "reconstruction",
    "train",
    "transitive_closure",
    "write_artifact",
]
