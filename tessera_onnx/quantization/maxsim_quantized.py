"""ColBERT MaxSim on quantized multi-vectors, plus exact int8 dot products.

``S(q, d) = Σ_i max_j sim(q_i, d_j)`` with

* binary: ``sim = dim - 2·hamming(q_i, d_j)``, the ±1 inner product of the sign vectors;
* int8 (symmetric): ``sim = q_i · d_j`` on the int8 codes, computed exactly;
* asymmetric (:func:`quantized_maxsim_scores`, the first stage of :func:`~tessera_onnx.quantization.search`):
  a float query against the bin-centre reconstruction of int8/int4 documents, or the Hamming
  similarity above for binary documents.

A document without tokens scores 0, as in :mod:`tessera_onnx.ops.maxsim` (which does the float
rescoring).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arguments import public
from ..errors import InvalidInputError
from ..ops.blas import single_threaded_blas
from .hamming import PackedWords, hamming_distances
from .schemes import BINARY_SCHEMES, QuantizedEmbeddings, pack_bits

__all__ = ["int8_dot", "binary_maxsim", "int8_maxsim", "quantized_maxsim_scores"]

_BLOCK_ROWS = 1 << 15


@public
def int8_dot(a: Any, b: Any) -> np.ndarray:
    """Exact pairwise dot products ``(len(a), len(b))`` (int64) of int8 vectors.

    Computed by BLAS on float32 blocks, which is exact while ``dim · 128² ≤ 2**24``
    (dim ≤ 1024), else on float64 (exact to 2**53).
    """
    a, b = np.asarray(a), np.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if x.dtype != np.int8:
            raise InvalidInputError(f"int8_dot needs int8 arrays; {name} is {x.dtype}")
    a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
    if a2.ndim != 2 or b2.ndim != 2 or a2.shape[1] != b2.shape[1]:
        raise InvalidInputError(f"int8_dot needs (n, d) and (m, d) arrays, got {a.shape} and {b.shape}")
    ftype = np.float32 if a2.shape[1] <= 1024 else np.float64
    af = a2.astype(ftype)
    out = np.empty((a2.shape[0], b2.shape[0]), np.int64)
    for s in range(0, b2.shape[0], _BLOCK_ROWS):
        e = min(b2.shape[0], s + _BLOCK_ROWS)
        out[:, s:e] = np.rint(af @ b2[s:e].astype(ftype).T)
    return out


def _packed_bits(x: Any, what: str) -> np.ndarray:
    if isinstance(x, QuantizedEmbeddings):
        return x.bits()
    arr = np.asarray(x)
    if arr.dtype == np.int8:  # the sentence-transformers "binary" form
        return arr.view(np.uint8) ^ np.uint8(0x80)
    if arr.dtype != np.uint8:
        raise InvalidInputError(f"{what} must be packed bits (uint8 ubinary or int8 binary), got {arr.dtype}")
    return arr


@public
def binary_maxsim(query_bits: Any, doc_bits: Any, dim: int) -> int:
    """MaxSim of one query ``(Tq, bytes)`` against one document ``(Td, bytes)`` of packed bits.

    Both sides must use the same binary form (uint8 ``ubinary`` or int8 ``binary``). Returns
    ``Σ_i max_j (dim - 2·hamming(q_i, d_j))``; 0 for a document without tokens.
    """
    q, d = _packed_bits(query_bits, "query_bits"), _packed_bits(doc_bits, "doc_bits")
    if d.shape[0] == 0:
        return 0
    h = hamming_distances(q, d).astype(np.int64)
    return int((dim - 2 * h).max(axis=1).sum())


@public
def int8_maxsim(query_codes: Any, doc_codes: Any) -> int:
    """MaxSim of int8 query tokens against int8 document tokens, exact (``Σ_i max_j q_i·d_j``)."""
    d = np.asarray(doc_codes)
    if d.ndim != 2:
        raise InvalidInputError(f"int8_maxsim needs (tokens, d) int8 document codes, got shape {d.shape}")
    if d.shape[0] == 0:
        return 0
    return int(int8_dot(query_codes, d).max(axis=1).sum())


def _doc_segments(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start rows of the non-empty documents (for ``reduceat``) and their document ids."""
    lengths = np.diff(offsets)
    docs = np.flatnonzero(lengths > 0)
    return offsets[docs], docs


@public
def quantized_maxsim_scores(query: np.ndarray, corpus: QuantizedEmbeddings) -> np.ndarray:
    """First-stage MaxSim of float query tokens ``(Tq, dim)`` against every document of ``corpus``.

    Binary corpora: the query is binarised and the Hamming similarity is used. Scalar corpora:
    the float query against the bin-centre reconstruction (exact, computed on the codes).
    Returns ``(n_docs,)`` float64 scores.
    """
    if not isinstance(corpus, QuantizedEmbeddings) or corpus.offsets is None:
        raise InvalidInputError(
            "quantized_maxsim_scores needs a multi-vector QuantizedEmbeddings corpus "
            f"(quantize a list of arrays), got {type(corpus).__name__}"
        )
    query = np.asarray(query)
    if query.ndim != 2 or query.shape[1] != corpus.dim or not np.issubdtype(query.dtype, np.floating):
        raise InvalidInputError(
            f"the query must be float token vectors (tokens, {corpus.dim}), got {query.dtype} {query.shape}"
        )
    starts, doc_ids = _doc_segments(corpus.offsets)
    scores = np.zeros(len(corpus), np.float64)
    if doc_ids.size == 0:
        return scores
    acc = np.zeros(doc_ids.size, np.float64)
    if corpus.scheme in BINARY_SCHEMES:
        words = corpus._cache.get("words")
        if words is None:
            words = corpus._cache.setdefault("words", PackedWords(corpus.bits()))
        qw = words.query_words(pack_bits(query))
        for t in range(qw.shape[0]):
            dist = words.distances(qw[t])
            best = np.minimum.reduceat(dist, starts)
            acc += corpus.dim - 2.0 * best
    else:
        steps = corpus.steps()
        assert corpus.ranges is not None
        qs = (query * steps).astype(np.float32)  # (Tq, dim)
        const = query.astype(np.float64) @ (corpus.ranges[0] + 0.5 * steps).astype(np.float64)
        best = np.full((query.shape[0], doc_ids.size), -np.inf)
        # blocks of whole documents, so that reduceat never crosses a block edge
        ends = corpus.offsets[doc_ids + 1]
        d0 = 0
        with single_threaded_blas():  # small block GEMMs: BLAS threads only add synchronisation
            while d0 < doc_ids.size:
                d1 = int(np.searchsorted(ends, starts[d0] + _BLOCK_ROWS, side="right"))
                d1 = max(d1, d0 + 1)
                r0, r1 = int(starts[d0]), int(ends[d1 - 1])
                sims = qs @ corpus.codes(slice(r0, r1)).astype(np.float32).T  # (Tq, rows)
                best[:, d0:d1] = np.maximum.reduceat(sims, starts[d0:d1] - r0, axis=1)
                d0 = d1
        acc = (best + const[:, None]).sum(axis=0)
    scores[doc_ids] = acc
    return scores
