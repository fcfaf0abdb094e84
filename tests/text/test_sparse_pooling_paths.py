"""SPLADE pooled in the graph and pooled at runtime (from the logits graph) give the same vectors.

Both tiny artifacts are committed exports of one checkpoint (tests/data/artifacts/tiny-splade and
tiny-splade-logits), so this runs with the runtime alone. Tolerance: max abs diff 1e-5 on the
dense form of every vector, and the same non-zero terms.
"""

from __future__ import annotations

import numpy as np

from tessera_onnx import Tessera

TEXTS = [
    "a short query",
    "Return the number of items in a container, or raise an error for a generator.",
    "zip, json and csv files; " * 30,  # truncated to the model's maximum length
]


def test_runtime_pooling_equals_graph_pooling(tiny_splade_artifact, tiny_splade_logits_artifact):
    graph = Tessera(tiny_splade_artifact, threads=1)
    runtime = Tessera(tiny_splade_logits_artifact, threads=1)
    assert graph.manifest.config["sparse"]["pooled_in_graph"] is True
    assert runtime.manifest.config["sparse"]["pooled_in_graph"] is False
    for a, b in zip(graph.encode(TEXTS), runtime.encode(TEXTS), strict=True):
        dim = graph.dimension
        np.testing.assert_allclose(a.to_dense(dim), b.to_dense(dim), atol=1e-5, rtol=0)
        assert a.nnz > 0 and set(a.to_dict()) == set(b.to_dict())
