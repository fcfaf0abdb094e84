"""Two-stage retrieval over quantized embeddings: a cheap search, then float rescoring.

:func:`search` finds ``k × rescore_multiplier`` candidates in the compressed corpus (Hamming
distance for binary, the float query against the codes for int8/int4, MaxSim of those for
multi-vector corpora), rescores them with the float query, and returns the top ``k``.

Rescoring follows sentence-transformers (``semantic_search_faiss`` / ``_usearch``):
``score = q_float · candidate`` where the candidate is the stored vector unpacked to 0/1 bits
(binary) or the float corpus when you keep one (``rescore_with``). For int8/int4 the default
candidate is the bin-centre reconstruction rather than sentence-transformers' raw codes (which
weight every dimension by ``1/step``); ``reconstruction="codes"`` gives their behaviour. See the
README ``quantization`` section for the measurements behind the defaults.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..arguments import public
from ..errors import InvalidInputError
from ..ops.maxsim import maxsim_scores as float_maxsim_scores
from .hamming import PackedWords
from .maxsim_quantized import quantized_maxsim_scores
from .schemes import BINARY_RECONSTRUCTIONS, BINARY_SCHEMES, QuantizedEmbeddings, pack_bits

__all__ = [
    "SearchResult",
    "DEFAULT_RESCORE_MULTIPLIER",
    "DEFAULT_RECONSTRUCTION",
    "search",
    "exact_search",
    "topk",
]

#: Candidates per result searched before rescoring, per scheme (from benchmarks/quantization.py).
DEFAULT_RESCORE_MULTIPLIER: dict[str, int] = {"binary": 15, "ubinary": 15, "int8": 2, "int4": 2}
#: How candidates are reconstructed for rescoring when no float corpus is given.
DEFAULT_RECONSTRUCTION: dict[str, str] = {
    "binary": "bits",
    "ubinary": "bits",
    "int8": "dequantize",
    "int4": "dequantize",
}
_SCALAR_RECONSTRUCTIONS = ("dequantize", "codes")
_SCORE_BLOCK = 1 << 22  # float32 scores per (queries x corpus rows) block: 16 MiB


class SearchResult(NamedTuple):
    """Top-k ``indices`` (int64) and ``scores`` (float32), best first, ``(n_queries, k)``
    (or ``(k,)`` for a single query). Scores are rescored dot products / MaxSim when rescoring
    ran, else first-stage scores (binary: ``dim - 2·hamming``)."""

    indices: np.ndarray
    scores: np.ndarray


# --------------------------------------------------------------------------- top-k


@public
def topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row of ``scores`` ``(q, n)``, best first.

    ``np.argpartition`` then a sort of the ``k`` survivors only. Equal scores rank the lower index
    first, also at the cut-off: when more entries tie with the ``k``-th score than fit, the lowest
    indices are kept (``argpartition`` alone would keep arbitrary ones).
    """
    scores = np.atleast_2d(scores)
    n = scores.shape[1]
    k = min(k, n)
    if k <= 0:
        return np.zeros((scores.shape[0], 0), np.int64)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
        for r in np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k):  # ties at the cut-off
            cand = np.flatnonzero(scores[r] >= kth[r])
            part[r] = cand[np.lexsort((cand, -scores[r, cand]))[:k]]
    else:
        part = np.tile(np.arange(n), (scores.shape[0], 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def _smallest_ints(dist: np.ndarray, k: int, max_value: int) -> np.ndarray:
    """Indices of the ``k`` smallest of non-negative bounded ints, ties by lower index.

    A threshold select, no partition of the whole array: guess a threshold from a strided sample
    (one compare + one ``flatnonzero`` pass), check it admits ≥ k rows, else take the exact one
    from a histogram; then sort only the rows at or under it.
    """
    n = dist.shape[0]
    if k >= n:
        return np.argsort(dist, kind="stable")
    sel = None
    if n >= 8192:
        sample = dist[:: n // 1024]
        j = min(sample.size - 1, (4 * k * sample.size) // n + 1)
        threshold = np.partition(sample, j)[j]
        sel = np.flatnonzero(dist <= threshold)
        if sel.size < k:
            sel = None
    if sel is None:
        cum = np.cumsum(np.bincount(dist, minlength=max_value + 1))
        threshold = int(np.searchsorted(cum, k))  # smallest t with count(dist <= t) >= k
        sel = np.flatnonzero(dist <= threshold)
    order = np.argsort(dist[sel], kind="stable")[:k]
    return sel[order]


def _blocked_topk(
    score_block: Any, n: int, n_queries: int, k: int, max_block: int = 1 << 30
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` over ``n`` corpus rows whose scores come from ``score_block(start, stop)``.

    Blocks of at most ``max_block`` rows (and ``_SCORE_BLOCK`` scores); each block's own top-k is
    merged into a running ``(q, k)`` list, so memory stays ``O(q · block)``.
    """
    block = min(max_block, max(1024, _SCORE_BLOCK // max(1, n_queries)))
    best_idx = best_val = None
    for s in range(0, n, block):
        e = min(n, s + block)
        scores = score_block(s, e)
        loc = topk(scores, k)
        val, idx = np.take_along_axis(scores, loc, axis=1), loc + s
        if best_idx is not None and best_val is not None:
            val, idx = np.concatenate([best_val, val], axis=1), np.concatenate([best_idx, idx], axis=1)
            keep = topk(val, k)
            val, idx = np.take_along_axis(val, keep, axis=1), np.take_along_axis(idx, keep, axis=1)
        best_idx, best_val = idx, val
    if best_idx is None or best_val is None:  # empty corpus: no hits for any query
        return np.zeros((n_queries, 0), dtype=np.int64), np.zeros((n_queries, 0), dtype=np.float32)
    return best_idx, best_val


def _check_float_corpus(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(f"{what} must be floating-point, got {arr.dtype}")
    if arr.ndim != 2:
        raise InvalidInputError(f"{what} must be 2-D (n, dim), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


@public
def exact_search(query: Any, corpus: Any, k: int = 10) -> SearchResult:
    """Exact float dot-product top-k (the reference the two-stage search approximates)."""
    q, single = _dense_queries(query, None)
    c = _check_float_corpus(corpus, "corpus")
    if c.shape[1] != q.shape[1]:
        raise InvalidInputError(f"query dim {q.shape[1]} does not match corpus dim {c.shape[1]}")
    idx, val = _blocked_topk(lambda s, e: q @ c[s:e].T, c.shape[0], q.shape[0], _check_k(k))
    return _result(idx, val, single)


# --------------------------------------------------------------------------- inputs


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _float_tokens(x: Any, what: str, dim: int | None) -> np.ndarray:
    if isinstance(x, QuantizedEmbeddings):
        raise InvalidInputError(
            f"{what} must be float embeddings (rescoring needs the float query), not quantized"
        )
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(f"{what} must be floating-point, got dtype {arr.dtype}")
    if dim is not None and (arr.ndim == 0 or arr.shape[-1] != dim):
        raise InvalidInputError(
            f"{what} has dim {arr.shape[-1] if arr.ndim else 0}, the corpus has dim {dim}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} contains NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _dense_queries(query: Any, dim: int | None) -> tuple[np.ndarray, bool]:
    q = _float_tokens(query, "query", dim)
    if q.ndim not in (1, 2):
        raise InvalidInputError(f"query must be (dim,) or (n_queries, dim), got shape {q.shape}")
    return (q[None, :], True) if q.ndim == 1 else (q, False)


def _multi_queries(query: Any, dim: int) -> tuple[list[np.ndarray], bool]:
    if isinstance(query, (list, tuple)):
        qs = [_float_tokens(q, f"query[{i}]", dim) for i, q in enumerate(query)]
        if any(q.ndim != 2 for q in qs):
            raise InvalidInputError("each multi-vector query must be a (tokens, dim) array")
        return qs, False
    q = _float_tokens(query, "query", dim)
    if q.ndim == 3:
        return list(q), False
    if q.ndim != 2:
        raise InvalidInputError(f"a multi-vector query must be (tokens, dim), got shape {q.shape}")
    return [q], True


def _result(idx: np.ndarray, val: np.ndarray, single: bool) -> SearchResult:
    idx, val = idx.astype(np.int64), val.astype(np.float32)
    return SearchResult(idx[0], val[0]) if single else SearchResult(idx, val)


def _reconstruction(corpus: QuantizedEmbeddings, reconstruction: str | None) -> str:
    recon = reconstruction or DEFAULT_RECONSTRUCTION[corpus.scheme]
    allowed = BINARY_RECONSTRUCTIONS if corpus.scheme in BINARY_SCHEMES else _SCALAR_RECONSTRUCTIONS
    if recon not in allowed:
        raise InvalidInputError(
            f"reconstruction {recon!r} does not apply to {corpus.scheme}; choose one of {allowed}"
        )
    return recon


def _reconstruct(corpus: QuantizedEmbeddings, rows: np.ndarray, recon: str) -> np.ndarray:
    """Float32 vectors of ``rows`` for rescoring."""
    if recon == "codes":  # sentence-transformers: the int codes cast as they are
        if corpus.scheme == "int8":
            return corpus.data[rows].astype(np.float32)
        return corpus.codes(rows).astype(np.float32) - np.float32(8.0)
    if recon == "dequantize":
        return corpus.dequantize(rows)
    return corpus.dequantize(rows, reconstruction=recon)


def _rescore_rows(rescore_with: Any, corpus: QuantizedEmbeddings) -> Any:
    """``rows -> float32 vectors`` for rescoring from a float corpus or a finer quantized copy."""
    if isinstance(rescore_with, QuantizedEmbeddings):
        if rescore_with.scheme not in ("int8", "int4"):
            raise InvalidInputError(f"rescore_with may be an int8/int4 corpus, not {rescore_with.scheme}")
        if (rescore_with.n_rows, rescore_with.dim) != (corpus.n_rows, corpus.dim):
            raise InvalidInputError(
                f"rescore_with has {rescore_with.n_rows} x {rescore_with.dim} vectors, "
                f"the corpus {corpus.n_rows} x {corpus.dim}"
            )
        return rescore_with.dequantize
    flat = _float_rows(rescore_with, corpus)
    return lambda rows: flat[rows]


def _float_rows(rescore_with: Any, corpus: QuantizedEmbeddings) -> np.ndarray:
    """The float corpus as rows aligned with ``corpus.data`` (flattening per-document lists)."""
    if isinstance(rescore_with, (list, tuple)):
        if corpus.offsets is None:
            raise InvalidInputError("rescore_with is a list but the corpus is dense; pass an (n, dim) array")
        if len(rescore_with) != len(corpus):
            raise InvalidInputError(
                f"rescore_with has {len(rescore_with)} documents, the corpus has {len(corpus)}"
            )
        lengths = np.diff(corpus.offsets)
        for i, d in enumerate(rescore_with):
            if np.shape(d)[0] != lengths[i]:
                raise InvalidInputError(
                    f"rescore_with[{i}] has {np.shape(d)[0]} tokens, the quantized document has {lengths[i]}"
                )
        flat = np.concatenate([np.asarray(d).reshape(-1, corpus.dim) for d in rescore_with], axis=0)
    else:
        flat = rescore_with
    flat = _check_float_corpus(flat, "rescore_with")
    if flat.shape != (corpus.n_rows, corpus.dim):
        raise InvalidInputError(
            f"rescore_with must have shape ({corpus.n_rows}, {corpus.dim}) to match the corpus, got {flat.shape}"
        )
    return flat


# --------------------------------------------------------------------------- first stage


def _binary_words(corpus: QuantizedEmbeddings) -> PackedWords:
    words = corpus._cache.get("words")
    if words is None:
        words = corpus._cache.setdefault("words", PackedWords(corpus.bits()))
    return words


def _first_stage_dense(
    q: np.ndarray, corpus: QuantizedEmbeddings, n_cand: int
) -> tuple[np.ndarray, np.ndarray]:
    if corpus.scheme in BINARY_SCHEMES:
        words = _binary_words(corpus)
        qw = words.query_words(pack_bits(q))
        idx = np.empty((q.shape[0], n_cand), np.int64)
        val = np.empty((q.shape[0], n_cand), np.float32)
        for i in range(q.shape[0]):
            dist = words.distances(qw[i])
            idx[i] = _smallest_ints(dist, n_cand, corpus.dim)
            val[i] = corpus.dim - 2.0 * dist[idx[i]]
        return idx, val
    # float query against the bin centres, on the codes: q·(lo + (c + 0.5)·step) = (q·step)·c + const
    assert corpus.ranges is not None
    steps = corpus.steps()
    qs = (q * steps).astype(np.float32)
    const = q @ (corpus.ranges[0] + np.float32(0.5) * steps)
    if corpus.scheme == "int8":  # stored value = c - 128: cast it directly, fold the offset into const
        const = const + np.float32(128.0) * qs.sum(axis=1)

        def codes(s: int, e: int) -> np.ndarray:
            return corpus.data[s:e].astype(np.float32)

    else:

        def codes(s: int, e: int) -> np.ndarray:
            return corpus.codes(slice(s, e)).astype(np.float32)

    const = const.astype(np.float32)[:, None]
    return _blocked_topk(lambda s, e: qs @ codes(s, e).T + const, corpus.n_rows, q.shape[0], n_cand, 8192)


# --------------------------------------------------------------------------- search


@public
def search(
    query: Any,
    corpus: QuantizedEmbeddings,
    k: int = 10,
    *,
    rescore_multiplier: int | None = None,
    rescore: bool = True,
    rescore_with: Any = None,
    reconstruction: str | None = None,
) -> SearchResult:
    """Top-``k`` search of float ``query`` embeddings in a quantized ``corpus``.

    Dense corpus: ``query`` is ``(dim,)`` or ``(n_queries, dim)``. Multi-vector corpus: ``query``
    is one ``(tokens, dim)`` array or a list of them.

    1. First stage over the whole compressed corpus for ``k × rescore_multiplier`` candidates
       (default per scheme: :data:`DEFAULT_RESCORE_MULTIPLIER`).
    2. If ``rescore``: score the candidates with the float query against ``rescore_with`` when
       given (the float corpus, ``(n_rows, dim)`` or a per-document list; or an int8/int4
       :class:`QuantizedEmbeddings` of it, e.g. kept on disk next to a binary index), else against
       the candidates reconstructed with ``reconstruction`` (binary: ``"bits"`` 0/1 as
       sentence-transformers, or ``"sign"`` ±1, same ranking; int8/int4: ``"dequantize"`` bin
       centres, or ``"codes"`` as sentence-transformers), and keep the best ``k``.
    """
    if not isinstance(corpus, QuantizedEmbeddings):
        raise InvalidInputError(
            "corpus must be QuantizedEmbeddings (use quantize()); for float corpora use exact_search()"
        )
    k = _check_k(k)
    multiplier = (
        DEFAULT_RESCORE_MULTIPLIER[corpus.scheme] if rescore_multiplier is None else rescore_multiplier
    )
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, np.integer)) or multiplier < 1:
        raise InvalidInputError(f"rescore_multiplier must be a positive integer, got {rescore_multiplier!r}")
    recon = _reconstruction(corpus, reconstruction) if rescore else None
    floats = _rescore_rows(rescore_with, corpus) if rescore and rescore_with is not None else None
    n_items = len(corpus)
    if n_items == 0:
        raise InvalidInputError("the corpus is empty")
    k_eff = min(k, n_items)
    n_cand = min(n_items, k * int(multiplier)) if rescore else k_eff

    if corpus.offsets is None:
        q, single = _dense_queries(query, corpus.dim)
        idx, val = _first_stage_dense(q, corpus, n_cand)
        if not rescore:
            return _result(idx[:, :k_eff], val[:, :k_eff], single)
        rows = idx.ravel()
        cand = floats(rows) if floats is not None else _reconstruct(corpus, rows, recon or "")
        cand = cand.reshape(idx.shape[0], idx.shape[1], corpus.dim)
        rescored = np.einsum("qd,qcd->qc", q, cand)
        keep = topk(rescored, k_eff)
        return _result(
            np.take_along_axis(idx, keep, axis=1), np.take_along_axis(rescored, keep, axis=1), single
        )

    queries, single = _multi_queries(query, corpus.dim)
    all_idx = np.empty((len(queries), k_eff), np.int64)
    all_val = np.empty((len(queries), k_eff), np.float32)
    for i, qt in enumerate(queries):
        first = quantized_maxsim_scores(qt, corpus)
        cand_idx = topk(first[None, :], n_cand)[0]
        if not rescore:
            all_idx[i], all_val[i] = cand_idx[:k_eff], first[cand_idx[:k_eff]]
            continue
        docs = []
        for d in cand_idx:
            rows = np.arange(corpus.offsets[d], corpus.offsets[d + 1])
            docs.append(floats(rows) if floats is not None else _reconstruct(corpus, rows, recon or ""))
        rescored = float_maxsim_scores([qt], docs)[0]
        keep = topk(rescored[None, :], k_eff)[0]
        all_idx[i], all_val[i] = cand_idx[keep], rescored[keep]
    return _result(all_idx, all_val, single)
