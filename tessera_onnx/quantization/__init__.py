"""Embedding quantization (binary, int8, int4) and fast search over compressed embeddings.

Pure numpy; no onnxruntime. Typical use::

    from tessera_onnx.quantization import quantize, search

    corpus_q = quantize(corpus_embeddings, "ubinary")       # 32x smaller
    hits = search(query_embedding, corpus_q, k=10)          # Hamming top-40, float rescoring
    hits.indices, hits.scores

See :mod:`.schemes` for the exact formats (bit order, int8/int4 codes) and :mod:`.retrieval` for the
two-stage retrieval. MaxSim over quantized corpora is :func:`quantized_maxsim_scores`; the float
scorer is :func:`tessera_onnx.ops.maxsim_scores` (the old name ``quantization.maxsim_scores``
still works, with a ``DeprecationWarning``, until the next release).
"""

from __future__ import annotations

from typing import Any

from .hamming import HAS_BITWISE_COUNT, PackedWords, hamming_distances, popcount
from .maxsim_quantized import binary_maxsim, int8_dot, int8_maxsim, quantized_maxsim_scores
from .retrieval import (
    DEFAULT_RECONSTRUCTION,
    DEFAULT_RESCORE_MULTIPLIER,
    SearchResult,
    exact_search,
    search,
    topk,
)
from .schemes import (
    BINARY_SCHEMES,
    SCALAR_SCHEMES,
    SCHEMES,
    QuantizedEmbeddings,
    calibration_ranges,
    dequantize,
    pack_bits,
    pack_int4,
    quantize,
    unpack_bits,
    unpack_int4,
)

__all__ = [
    "SCHEMES",
    "BINARY_SCHEMES",
    "SCALAR_SCHEMES",
    "QuantizedEmbeddings",
    "quantize",
    "dequantize",
    "calibration_ranges",
    "pack_bits",
    "unpack_bits",
    "pack_int4",
    "unpack_int4",
    "HAS_BITWISE_COUNT",
    "popcount",
    "hamming_distances",
    "PackedWords",
    "int8_dot",
    "binary_maxsim",
    "int8_maxsim",
    "quantized_maxsim_scores",
    "SearchResult",
    "DEFAULT_RESCORE_MULTIPLIER",
    "DEFAULT_RECONSTRUCTION",
    "search",
    "exact_search",
    "topk",
]


def __getattr__(name: str) -> Any:
    if name == "maxsim_scores":  # deprecated alias: one public ``maxsim_scores`` (tessera_onnx.ops)
        from .._warnings import deprecated

        deprecated(
            "tessera_onnx.quantization.maxsim_scores", "tessera_onnx.quantization.quantized_maxsim_scores"
        )
        return quantized_maxsim_scores
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
