"""Embedding corpora on Ray Data (``pip install "tessera-onnx[ray]"``).

- :class:`TesseraBatchEmbedder`: the callable class for ``Dataset.map_batches`` with an actor
  pool: loads the artifact once per actor, onnxruntime threads = the actor's CPUs, CUDA when the
  actor holds a GPU; embeds one column into ``embedding`` (dense or multi-vector, optionally
  quantized) or ``sparse_indices`` / ``sparse_values`` columns.
- :func:`map_embeddings`: that ``map_batches`` call, for any Ray Dataset.
- :func:`embed_dataset`: Parquet / JSONL / text files → Parquet, in deterministic shards
  written atomically; a rerun after a failure writes only the missing shards.
- :func:`read_output`: the finished shards of an output directory as one Arrow table.

Importing this package needs neither Ray nor pyarrow; using it without them raises
:class:`~tessera_onnx.errors.MissingDependencyError` naming the ``[ray]`` extra.
"""

from __future__ import annotations

from .columns import Quantization, quantization_from_schema
from .embedder import TesseraBatchEmbedder
from .pipeline import EmbedReport, embed_dataset, map_embeddings
from .store import read_output

__all__ = [
    "TesseraBatchEmbedder",
    "Quantization",
    "EmbedReport",
    "embed_dataset",
    "map_embeddings",
    "read_output",
    "quantization_from_schema",
]
