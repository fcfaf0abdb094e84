"""The runtime never imports torch / transformers / optimum / onnx, and imports fast."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "optimum", "onnx", "sentence_transformers")

_PROBE = """
import json, sys, time
t = time.perf_counter()
import tessera_onnx
elapsed = time.perf_counter() - t
loaded_at_import = sorted(m for m in ("onnxruntime", "tokenizers") if m in sys.modules)
path = sys.argv[1] if len(sys.argv) > 1 else None
if path:
    model = tessera_onnx.Tessera(path, threads=1)
    model.encode(["a small test"])
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"heavy": heavy, "elapsed": elapsed, "eager": loaded_at_import}}))
"""


def _probe(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_nothing_heavy():
    result = _probe()
    assert result["heavy"] == []
    assert result["eager"] == []  # onnxruntime and tokenizers load with the first model
    assert result["elapsed"] < 1.0  # generous: the target is 0.15 s on an idle machine


def test_embedding_stays_torch_free(
    tiny_bert_dense_artifact, tiny_colbert_pylate_artifact, tiny_splade_artifact
):
    for artifact in (tiny_bert_dense_artifact, tiny_colbert_pylate_artifact, tiny_splade_artifact):
        assert _probe(str(artifact))["heavy"] == []


_INDEX_PROBE = """
import json, sys
import numpy as np
import tessera_onnx
from tessera_onnx.index import DenseIndex, MultiVectorIndex, SparseIndex, Retriever, reciprocal_rank_fusion
import tessera_onnx.integrations, tessera_onnx.integrations.qdrant
ix = DenseIndex(4)
ix.add([1, 2], np.eye(2, 4, dtype=np.float32))
assert ix.search(np.ones(4, np.float32), 1)[0].id == 1
optional = ("qdrant_client", "langchain_core", "llama_index", "onnxruntime")
print(json.dumps({{"heavy": sorted(m for m in {heavy!r} + optional if m in sys.modules)}}))
"""


def test_index_and_integrations_import_nothing_heavy():
    """The embedded index is numpy only; adapter modules import their library only when used."""
    out = subprocess.run(
        [sys.executable, "-c", _INDEX_PROBE.format(heavy=HEAVY)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["heavy"] == []


def test_vision_modules_import_without_torch_or_pillow():
    code = (
        "import sys, json\n"
        "import tessera_onnx.vision, tessera_onnx.vision.embedder, tessera_onnx.cli.vision\n"
        "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'optimum', 'onnx', 'PIL') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


_DISTRIBUTED_PROBE = """
import json, sys
import pyarrow as pa
from tessera_onnx.distributed import TesseraBatchEmbedder
out = TesseraBatchEmbedder(sys.argv[1], threads=1)(pa.table({{"text": ["a small test"]}}))
assert out.num_rows == 1
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_ray_batch_embedder_stays_torch_free(tiny_bert_dense_artifact):
    import pytest

    pytest.importorskip("pyarrow")
    out = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTED_PROBE.format(heavy=HEAVY), str(tiny_bert_dense_artifact)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


_HYPERBOLIC_PROBE = """
import json, sys, tempfile
from tessera_onnx import Tessera
from tessera_onnx.hyperbolic import TrainConfig, train, transitive_closure, write_artifact
import tessera_onnx.ops.poincare, tessera_onnx.cli.hyperbolic
h = transitive_closure([("b", "a"), ("c", "a"), ("d", "b")])
out = write_artifact(tempfile.mkdtemp() + "/t", h, train(h, TrainConfig(dim=2, epochs=2, batch_size=2, negatives=2)).embeddings)
Tessera(out).nearest("d", 2)
heavy = sorted(m for m in {heavy!r} + ("onnxruntime", "gensim", "geoopt") if m in sys.modules)
print(json.dumps({{"heavy": heavy}}))
"""


def test_hyperbolic_stays_torch_and_onnxruntime_free():
    out = subprocess.run(
        [sys.executable, "-c", _HYPERBOLIC_PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["heavy"] == []


def test_pages_modules_import_without_torch_pillow_or_pdfium():
    code = (
        "import sys, json\n"
        "import tessera_onnx.pages, tessera_onnx.pages.idefics3, tessera_onnx.pages.search, tessera_onnx.pages.pdf\n"
        "import tessera_onnx.pages.inputs, tessera_onnx.pages.embedder\n"
        "heavy = ('torch', 'transformers', 'optimum', 'onnx', 'PIL', 'pypdfium2')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
