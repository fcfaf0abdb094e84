"""tessera-onnx against its peers on all-MiniLM-L6-v2, side by side, on this machine, in one run.

    bash benchmarks/run.sh                      # = .venv/bin/python -m benchmarks.peers
    .venv/bin/python -m benchmarks.peers --n 2000 --rounds 3 --threads 2 [--readme]

What it does, in order:
 1. setup (benchmarks/setup_peers.py): plain ONNX export for fastembed, the fastembed venv, a
    runtime-only venv for tessera, the tessera fp32/int8 artifacts (all git-ignored, reused).
 2. a deterministic corpus (benchmarks/corpus.py): 30% short queries, 70% passages of 50-300 tokens.
 3. machine limit: fp32 GEMM GFLOP/s at the same thread count (benchmarks/gemm.py), and the
    encoder FLOPs of the corpus.
 4. per contender, a fresh process: import + load + first embedding, then the whole corpus ->
    embeddings (agreement check against sentence-transformers) and ru_maxrss (peak RSS).
    A contender that disagrees (fp32: min cosine < 0.9999; int8: mean < 0.99 or min < 0.95,
    a sanity gate: the int8 quality target, mean >= 0.995, is a target row) is not timed.
 5. more fresh processes for cold start, interleaved; `import tessera_onnx` alone.
 6. one long-lived worker per contender; rounds interleaved (the order rotates every round):
    whole corpus, a fixed batch, single-text latency for queries and passages. Medians over
    rounds, and same-round ratios against sentence-transformers and fastembed.
 7. installed size of each contender's requirement closure (+ model files).
Results: benchmarks/results/peers.json and peers.md; --readme also rewrites the README's
`benchmarks` section. Every contender runs in its own process (benchmarks/worker.py) with the same
intra-op thread count (and OMP/MKL/OpenBLAS/RAYON thread variables set to it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import setup_peers
from benchmarks.corpus import build_corpus, describe

ROOT = setup_peers.ROOT
WORKER = ROOT / "benchmarks" / "worker.py"
RESULTS = ROOT / "benchmarks" / "results"

GATE_FP32_MIN_COS = 0.9999
# int8 is not expected to be identical: its timing gate only rejects broken outputs; the quality
# target (mean cosine >= 0.995) is reported as a target row.
GATE_INT8_MEAN_COS = 0.99
GATE_INT8_MIN_COS = 0.95
TARGET_INT8_MEAN_COS = 0.995


@dataclass
class Contender:
    name: str
    kind: str  # worker loader: st | fastembed | ort-loop | tessera
    python: str
    model_dir: str
    precision: str = "fp32"
    reference: bool = False  # the ST baseline others are compared with
    note: str = ""
    size_roots: list[str] = field(default_factory=list)
    editable_dirs: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)  # extra constructor keywords (tessera workers)

    def cfg(self, threads: int, **kw) -> dict:
        extra = {"options": self.options} if self.options else {}
        return {"kind": self.kind, "model_dir": self.model_dir, "threads": threads, **extra, **kw}


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def worker_env(threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "RAYON_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
    ):
        env[var] = str(threads)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        TOKENIZERS_PARALLELISM="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_once(python: str, mode: str, cfg: dict, threads: int, log: Path, timeout: float = 1800) -> dict:
    """A fresh worker process; returns its JSON answer (with spawn timestamps) or {'error': ...}."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t_spawn = time.time()
    with open(log, "a") as err:
        try:
            p = subprocess.run(
                [python, str(WORKER), mode, json.dumps(cfg)],
                stdout=subprocess.PIPE,
                stderr=err,
                env=worker_env(threads),
                cwd=str(ROOT),
                timeout=timeout,
                text=True,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s (log: {log})"}
    t_end = time.time()
    if p.returncode != 0 or not p.stdout.strip():
        return {"error": f"exit {p.returncode} (log: {log}): {_tail(log)}"}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["spawn_to_exit_s"] = t_end - t_spawn
    if "t_first_wall" in res:
        res["spawn_to_first_s"] = res["t_first_wall"] - t_spawn
    return res


def _tail(path: Path, n: int = 600) -> str:
    try:
        return path.read_text()[-n:].replace("\n", " | ")
    except OSError:
        return ""


class Server:
    """A long-lived worker answering JSON-line commands."""

    def __init__(self, c: Contender, corpus_file: Path, threads: int, log: Path, timeout: float = 1800):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log, self.timeout = log, timeout
        self._err = open(log, "a")
        self.p = subprocess.Popen(
            [c.python, str(WORKER), "serve", json.dumps(c.cfg(threads, corpus_file=str(corpus_file)))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=worker_env(threads),
            cwd=str(ROOT),
            text=True,
            bufsize=1,
        )
        self.hello = self._read()

    def _read(self) -> dict:
        ready, _, _ = select.select([self.p.stdout], [], [], self.timeout)
        line = self.p.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError(f"worker gave no answer (log: {self.log}): {_tail(self.log)}")
        res = json.loads(line)
        if res.get("ok") is False:
            raise RuntimeError(res.get("error"))
        return res

    def ask(self, **cmd) -> dict:
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        return self._read()

    def close(self) -> dict:
        res = {}
        if self.p.poll() is None:
            try:
                self.p.stdin.write('{"cmd": "quit"}\n')
                self.p.stdin.flush()
                line = self.p.stdout.readline()
                res = json.loads(line) if line else {}
            except (OSError, ValueError):
                pass
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
        self._err.close()
        return res


# ---------------------------------------------------------------------------------------------
# Stats
# ---------------------------------------------------------------------------------------------


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def cosine_agreement(a, b) -> dict:
    import numpy as np

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": float(cos.min()), "mean": float(cos.mean()), "max_abs_diff": float(np.abs(a - b).max())}


# ---------------------------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------------------------


def discover(args, notes: dict) -> list[Contender]:
    """Set up (unless --no-setup) and list the contenders that can run; reasons for the rest in notes."""
    want = set(args.contenders.split(",")) if args.contenders else None
    out: list[Contender] = []
    src = str(setup_peers.minilm_source_dir())

    def wanted(name):
        return want is None or name in want

    out.append(
        Contender(
            "sentence-transformers",
            "st",
            sys.executable,
            src,
            reference=True,
            note="torch CPU, model.encode(batch_size=32)",
            size_roots=["sentence-transformers"],
        )
    )

    plain, plain_note = (None, "not requested")
    if wanted("fastembed") or wanted("ort-loop"):
        plain, plain_note = (
            setup_peers.plain_onnx()
            if args.setup
            else _cached(setup_peers.CACHE / "minilm-plain-onnx" / "model.onnx")
        )
        plain = plain.parent if plain is not None and plain.name == "model.onnx" else plain
    notes["plain_onnx"] = plain_note

    if wanted("fastembed"):
        fe_py, fe_note = (
            setup_peers.fastembed_venv()
            if args.setup
            else _cached(setup_peers.VENVS / "fastembed" / "bin" / "python")
        )
        notes["fastembed_venv"] = fe_note
        if fe_py and plain:
            out.append(
                Contender(
                    "fastembed",
                    "fastembed",
                    str(fe_py),
                    str(plain),
                    note="plain (unfused) optimum export, embed(batch_size=256)",
                    size_roots=["fastembed"],
                )
            )
        else:
            notes["fastembed"] = f"skipped: venv: {fe_note}; onnx: {plain_note}"

    rt_py, rt_note = (None, "not requested")
    if args.setup:
        rt_py, rt_note = setup_peers.tessera_runtime_venv()
    else:
        rt_py, rt_note = _cached(setup_peers.VENVS / "tessera-runtime" / "bin" / "python")
    notes["tessera_runtime_venv"] = rt_note
    runtime_python = str(rt_py) if rt_py else sys.executable

    if wanted("ort-loop") and plain:
        out.append(
            Contender(
                "ort-loop (reference)",
                "ort-loop",
                runtime_python,
                str(plain),
                note="minimal length-sorted onnxruntime+tokenizers+numpy loop, batch 32, plain export",
                size_roots=["onnxruntime", "tokenizers", "numpy"],
            )
        )

    ok, why = setup_peers.tessera_available()
    notes["tessera"] = why
    for precision in ("fp32", "int8"):
        name = f"tessera {precision}"
        if not (wanted(name) or wanted("tessera")) or not ok:
            continue
        art, art_note = (args.artifact_fp32 if precision == "fp32" else args.artifact_int8), "given"
        if art:
            art = Path(art)
        elif args.setup:
            art, art_note = setup_peers.tessera_artifact(precision)
        else:
            art, art_note = _cached(setup_peers.CACHE / "artifacts" / precision / "model.onnx")
            art = art.parent if art else None
        notes[f"artifact_{precision}"] = art_note
        if not art:
            continue
        out.append(
            Contender(
                name,
                "tessera",
                runtime_python,
                str(art),
                precision=precision,
                note=f"runtime-only venv ({'yes' if rt_py else 'no: project venv'})",
                size_roots=["tessera-onnx"],
                editable_dirs={"tessera-onnx": [str(ROOT / "tessera_onnx")]},
            )
        )
    if args.baseline:
        base_src, base_note = setup_peers.baseline_source(args.baseline)
        notes["baseline"] = base_note
        base_py = None
        if base_src is not None:
            base_py, venv_note = setup_peers.tessera_runtime_venv(
                source=base_src, name=f"tessera-runtime-{base_src.name}"
            )
            notes["baseline_runtime_venv"] = venv_note
        for precision in ("fp32", "int8"):
            name = f"tessera {precision}"
            if base_py is None or not (wanted(name) or wanted("tessera")):
                continue
            art, art_note = setup_peers.baseline_artifact(args.baseline, precision)
            notes[f"baseline_artifact_{precision}"] = art_note
            if art is None:
                continue
            out.append(
                Contender(
                    f"{name} @{base_src.name}",
                    "tessera",
                    str(base_py),
                    str(art),
                    precision=precision,
                    note=f"baseline: runtime and exporter of {base_src.name}",
                    size_roots=["tessera-onnx"],
                    editable_dirs={"tessera-onnx": [str(base_src / "tessera_onnx")]},
                )
            )
    return [
        c
        for c in out
        if want is None
        or c.name in want
        or c.kind in want
        or (c.kind == "tessera" and "tessera" in want)
        or (c.kind == "tessera" and c.name.split(" @")[0] in want)
        or c.reference
    ]


def _cached(path: Path):
    return (path, "cached") if path.exists() else (None, f"missing {path} (run without --no-setup)")


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def run(args) -> dict:
    import numpy as np

    t_run = time.time()
    threads = args.threads
    work = Path(args.work_dir) if args.work_dir else setup_peers.CACHE / "run"
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    notes: dict = {}
    contenders = discover(args, notes)
    say(f"contenders: {', '.join(c.name for c in contenders)}")

    src = setup_peers.minilm_source_dir()
    corpus = build_corpus(
        args.n,
        query_fraction=args.query_fraction,
        seed=args.seed,
        tokenizer_json=str(src / "tokenizer.json"),
        use_real=args.corpus == "real",
    )

    corpus_file = work / "corpus.json"
    corpus_file.write_text(json.dumps(corpus))
    corpus_info = describe(corpus, max_len=setup_peers.MAX_SEQ)
    say(f"corpus: {corpus_info}")
    queries = [t for t, k in zip(corpus["texts"], corpus["kinds"], strict=True) if k == "query"]
    first_text = queries[0] if queries else corpus["texts"][0]

    # --- machine limit -------------------------------------------------------------------------
    from benchmarks.gemm import corpus_flops, encoder_flops

    model_cfg = json.loads((src / "config.json").read_text())
    flops = corpus_flops(model_cfg, corpus["tokens"], setup_peers.MAX_SEQ)
    hardware: dict = {
        "model_flops_per_token_linear": encoder_flops(model_cfg, 1)["linear"],
        "corpus_gflop": flops["total"] / 1e9,
        "corpus_gflop_attention": flops["attention"] / 1e9,
    }
    if not args.no_gemm:
        say("GEMM GFLOP/s ...")
        p = subprocess.run(
            [sys.executable, "-m", "benchmarks.gemm", "--threads", str(threads)],
            capture_output=True,
            text=True,
            env={**worker_env(threads), "PYTHONPATH": str(ROOT)},
            cwd=str(ROOT),
        )
        if p.returncode == 0:
            hardware["gemm"] = json.loads(p.stdout.strip().splitlines()[-1])
            hardware["peak_gflops"] = hardware["gemm"]["peak_gflops"]
            hardware["corpus_floor_s"] = hardware["corpus_gflop"] / hardware["peak_gflops"]
        else:
            hardware["gemm_error"] = p.stderr[-500:]

    # --- fresh process: cold + whole corpus -> embeddings, peak RSS ---------------------------
    emb_dir = work / "embeddings"
    emb_dir.mkdir(exist_ok=True)
    for c in contenders:
        say(f"[{c.name}] fresh process: load + whole corpus (agreement, peak RSS)")
        out_npy = emb_dir / f"{c.name.replace(' ', '_')}.npy"
        r = run_once(
            c.python,
            "cold",
            c.cfg(threads, first_text=first_text, corpus_file=str(corpus_file), save=str(out_npy)),
            threads,
            logs / f"{c.name}.cold.log",
        )
        c.result["first_pass"] = r
        if "error" in r:
            c.result["skipped"] = f"failed: {r['error']}"
            say(f"  FAILED: {r['error']}")
        else:
            c.result["info"] = r["info"]
            c.result["peak_rss_mb"] = r["maxrss_mb"]
            say(f"  {r['corpus_s']:.1f} s, peak RSS {r['maxrss_mb']:.0f} MB")

    ref = next(c for c in contenders if c.reference)
    ref_npy = emb_dir / f"{ref.name.replace(' ', '_')}.npy"
    ref_emb = np.load(ref_npy) if ref_npy.exists() and "skipped" not in ref.result else None
    for c in contenders:
        if "skipped" in c.result:
            continue
        npy = emb_dir / f"{c.name.replace(' ', '_')}.npy"
        if ref_emb is None:
            c.result["skipped"] = "no sentence-transformers reference embeddings"
            continue
        agree = cosine_agreement(np.load(npy), ref_emb)
        c.result["agreement"] = agree
        if c.precision == "int8":
            agree["gate"] = f"mean cos >= {GATE_INT8_MEAN_COS}, min cos >= {GATE_INT8_MIN_COS}"
            ok = agree["mean"] >= GATE_INT8_MEAN_COS and agree["min"] >= GATE_INT8_MIN_COS
        else:
            agree["gate"], ok = f"min cos >= {GATE_FP32_MIN_COS}", agree["min"] >= GATE_FP32_MIN_COS
        agree["passed"] = ok
        if not ok:
            c.result["skipped"] = (
                f"disagrees with sentence-transformers (min cos {agree['min']:.6f}, "
                f"mean {agree['mean']:.6f}; gate {agree['gate']})"
            )
        say(
            f"[{c.name}] agreement min {agree['min']:.6f} mean {agree['mean']:.6f} -> {'ok' if ok else 'NOT TIMED'}"
        )
    timed = [c for c in contenders if "skipped" not in c.result]

    # --- cold start, interleaved ------------------------------------------------------------------
    for c in timed:
        c.result["cold"] = []
    for r_i in range(args.cold_rounds):
        for c in rotate(timed, r_i):
            r = run_once(
                c.python, "cold", c.cfg(threads, first_text=first_text), threads, logs / f"{c.name}.cold.log"
            )
            if "error" not in r:
                c.result["cold"].append(r)
    imports = []
    tessera_py = next((c.python for c in timed if c.kind == "tessera"), None)
    if tessera_py:
        for _ in range(max(1, args.cold_rounds)):
            r = run_once(tessera_py, "import", {"module": "tessera_onnx"}, threads, logs / "import.log")
            if "error" not in r:
                imports.append(r)
    say("cold start done")

    # --- timed rounds in long-lived workers -----------------------------------------------------
    servers: dict[str, Server] = {}
    for c in timed:
        try:
            servers[c.name] = Server(c, corpus_file, threads, logs / f"{c.name}.serve.log")
            servers[c.name].ask(cmd="fixed_batch", batch=min(16, args.n), reps=1)  # warm-up
        except Exception as e:
            c.result["skipped"] = f"worker failed: {e}"
            servers.pop(c.name, None)
    live = [c for c in timed if c.name in servers]
    for c in live:
        c.result.update(
            corpus_rounds=[], fixed_batch=[], latency_query=[], latency_passage=[], round_order=[]
        )
    for r_i in range(args.rounds):
        order = rotate(live, r_i)
        say(f"round {r_i + 1}/{args.rounds}: {' -> '.join(c.name for c in order)}")
        for c in order:
            s = servers[c.name]
            try:
                res = s.ask(cmd="corpus")
                c.result["corpus_rounds"].append(res["texts_per_s"])
                fb = s.ask(cmd="fixed_batch", batch=args.fixed_batch, reps=args.fixed_reps)
                c.result["fixed_batch"].append(fb["batch"] / median(fb["times"]))
                c.result["latency_query"] += s.ask(cmd="latency", kind="query", n=args.latency_n)["times"]
                c.result["latency_passage"] += s.ask(
                    cmd="latency", kind="passage", n=max(1, args.latency_n // 2)
                )["times"]
                say(f"  {c.name:28s} {res['texts_per_s']:8.1f} texts/s")
            except Exception as e:
                c.result.setdefault("errors", []).append(str(e))
                c.result["corpus_rounds"].append(None)
    for c in live:
        c.result["serve_maxrss_mb"] = servers[c.name].close().get("maxrss_mb")

    # --- installed size ---------------------------------------------------------------------------
    for c in contenders:
        if not c.size_roots:
            continue
        r = run_once(
            c.python,
            "size",
            {"roots": c.size_roots, "editable_dirs": c.editable_dirs},
            threads,
            logs / "size.log",
        )
        model_bytes = setup_peers.dir_bytes(Path(c.model_dir))
        c.result["size"] = {
            "env_bytes": r.get("total_bytes"),
            "model_bytes": model_bytes,
            "packages": r.get("packages"),
            "missing": r.get("missing"),
            "error": r.get("error"),
        }

    results = summarize(contenders, args, corpus_info, hardware, imports, notes)
    results["wall_s"] = time.time() - t_run
    return results


def rotate(xs, k):
    k %= max(len(xs), 1)
    return xs[k:] + xs[:k]


def say(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Summary, targets, table
# ---------------------------------------------------------------------------------------------


def summarize(contenders, args, corpus_info, hardware, imports, notes) -> dict:
    by = {c.name: c for c in contenders}
    st = by.get("sentence-transformers")
    fe = by.get("fastembed")

    def same_round_ratio(c, other):
        if not other or "corpus_rounds" not in other.result or "corpus_rounds" not in c.result:
            return None
        pairs = [
            a / b
            for a, b in zip(c.result["corpus_rounds"], other.result["corpus_rounds"], strict=False)
            if a and b
        ]
        return median(pairs)

    def baseline_of(c):
        """The ``@REV`` contender of the same precision, for a checkout tessera contender."""
        if c.kind != "tessera" or " @" in c.name:
            return None
        return next((o for o in contenders if o.name.startswith(c.name + " @")), None)

    rows = {}
    for c in contenders:
        r = c.result
        row = {
            "name": c.name,
            "precision": c.precision,
            "note": c.note,
            "python": c.python,
            "model_dir": c.model_dir,
            "versions": r.get("info", {}).get("versions"),
            "threads": r.get("info", {}).get("threads"),
            "agreement": r.get("agreement"),
            "skipped": r.get("skipped"),
            "errors": r.get("errors"),
        }
        if r.get("corpus_rounds"):
            tps = median(r["corpus_rounds"])
            row.update(
                corpus_texts_per_s=tps,
                corpus_rounds=r["corpus_rounds"],
                vs_st=same_round_ratio(c, st) if c is not st else 1.0,
                vs_fastembed=same_round_ratio(c, fe) if fe and c is not fe else (1.0 if c is fe else None),
                vs_baseline=same_round_ratio(c, baseline_of(c)) if baseline_of(c) else None,
                fixed_batch=args.fixed_batch,
                fixed_batch_texts_per_s=median(r["fixed_batch"]),
                query_p50_ms=1e3 * pct(r["latency_query"], 0.5),
                query_p95_ms=1e3 * pct(r["latency_query"], 0.95),
                passage_p50_ms=1e3 * pct(r["latency_passage"], 0.5),
                passage_p95_ms=1e3 * pct(r["latency_passage"], 0.95),
            )
            if tps and hardware.get("peak_gflops"):
                achieved = hardware["corpus_gflop"] * tps / corpus_info["texts"]
                row["achieved_gflops"] = achieved
                row["fraction_of_gemm_peak"] = achieved / hardware["peak_gflops"]
        cold = r.get("cold") or []
        if not cold and r.get("first_pass") and "error" not in r["first_pass"] and not args.cold_rounds:
            cold = [r["first_pass"]]  # --cold-rounds 0: the first fresh process is the only sample
            row["cold_note"] = "from the first fresh process only (--cold-rounds 0)"
        if cold:
            row.update(
                cold_start_s=median([x["cold_in_process_s"] for x in cold]),
                cold_spawn_to_first_s=median([x.get("spawn_to_first_s") for x in cold]),
                cold_import_s=median([x["import_s"] for x in cold]),
                cold_load_s=median([x["load_s"] for x in cold]),
                cold_first_embed_s=median([x["first_embed_s"] for x in cold]),
            )
        if "peak_rss_mb" in r:
            row["peak_rss_mb"] = r["peak_rss_mb"]
            row["first_pass_corpus_s"] = r["first_pass"].get("corpus_s")
        if "size" in r:
            s = r["size"]
            row["env_mb"] = s["env_bytes"] / 1e6 if s.get("env_bytes") else None
            row["model_mb"] = s["model_bytes"] / 1e6
            row["installed_mb"] = (row["env_mb"] or 0) + row["model_mb"] if row["env_mb"] else None
            row["size_packages"] = s.get("packages")
        rows[c.name] = row

    if imports:
        for name, row in rows.items():
            if name.startswith("tessera"):
                row["import_tessera_s"] = median([x["import_s"] for x in imports])
                row["import_loaded_modules"] = imports[0].get("loaded")

    results = {
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(args.threads),
        "settings": {k: v for k, v in vars(args).items() if k not in ("func",)},
        "corpus": corpus_info,
        "hardware": hardware,
        "setup_notes": notes,
        "contenders": rows,
    }
    results["targets"] = targets(rows)
    return results


def targets(rows) -> list[dict]:
    """The issue's targets, each checked against the summarised rows (``met`` is None when unmeasured)."""
    fp = rows.get("tessera fp32", {})
    i8 = rows.get("tessera int8", {})
    fe = rows.get("fastembed", {})
    query_ratio = (
        fp["query_p50_ms"] / fe["query_p50_ms"] if fp.get("query_p50_ms") and fe.get("query_p50_ms") else None
    )
    # (what, measured value, ">=" or "<=", limit, shown goal, value format)
    checks = [
        (
            "fp32 whole-corpus throughput vs sentence-transformers",
            fp.get("vs_st"),
            ">=",
            2.5,
            "2.5x",
            "{:.2f}x",
        ),
        ("fp32 whole-corpus throughput vs fastembed", fp.get("vs_fastembed"), ">=", 3.5, "3.5x", "{:.2f}x"),
        (
            "fp32 agreement with sentence-transformers (min cosine)",
            (fp.get("agreement") or {}).get("min"),
            ">=",
            0.9999,
            "0.9999",
            "{:.6f}",
        ),
        ("int8 whole-corpus throughput vs sentence-transformers", i8.get("vs_st"), ">=", 6, "6x", "{:.2f}x"),
        (
            "int8 mean cosine vs sentence-transformers",
            (i8.get("agreement") or {}).get("mean"),
            ">=",
            TARGET_INT8_MEAN_COS,
            str(TARGET_INT8_MEAN_COS),
            "{:.5f}",
        ),
        ("single short query p50 vs fastembed", query_ratio, "<=", 0.8, "0.8x", "{:.2f}x"),
        (
            "cold start to first embedding (import + load + first)",
            fp.get("cold_start_s"),
            "<=",
            0.35,
            "0.35 s",
            "{:.3f} s",
        ),
        ("import tessera_onnx", fp.get("import_tessera_s"), "<=", 0.15, "0.15 s", "{:.3f} s"),
        ("peak RSS over the whole corpus (fp32)", fp.get("peak_rss_mb"), "<=", 400, "400 MB", "{:.0f} MB"),
    ]
    # --baseline REV: the checkout's default path against REV's, same rounds (no regression, with
    # 3 % allowed for round-to-round noise).
    for precision, row in (("fp32", fp), ("int8", i8)):
        if row.get("vs_baseline") is not None:
            what = f"{precision} whole-corpus throughput vs the baseline revision"
            checks.append((what, row["vs_baseline"], ">=", 0.97, "0.97x", "{:.3f}x"))
    return [
        {
            "target": what,
            "value": None if value is None else fmt.format(value),
            "goal": f"{op} {goal}",
            "met": None if value is None else bool(value >= limit if op == ">=" else value <= limit),
        }
        for what, value, op, limit, goal, fmt in checks
    ]


def machine_info(threads) -> dict:
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_end": os.getloadavg(),
    }


def _f(v, fmt="{:.1f}", none="—"):
    return none if v is None else fmt.format(v)


def markdown(res: dict) -> str:
    rows = res["contenders"]
    hw = res["hardware"]
    m = res["machine"]
    c = res["corpus"]
    s = res["settings"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, **{m['threads']} intra-op threads for every contender**; "
        f"{res['generated']}. Corpus: {c['texts']} texts ({c['queries']} queries, median {c['query_tokens_median']} "
        f"tokens; {c['passages']} passages, median {c['passage_tokens_median']} tokens, range "
        f"{c['passage_tokens_min_max']}), {c['total_tokens_truncated']} tokens after truncation at 256; passages from "
        f"{c['passage_source']}. {s['rounds']} interleaved rounds (medians; ratios are medians of same-round ratios).",
        "",
        "| contender | agreement vs ST (min / mean cos) | corpus texts/s | vs ST | vs fastembed | "
        f"batch-{s['fixed_batch']} texts/s | query p50 / p95 ms | passage p50 / p95 ms | % of GEMM peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        ag = r.get("agreement") or {}
        agree = (
            f"{ag['min']:.6f} / {ag['mean']:.6f}"
            if ag
            else "reference"
            if r["name"] == "sentence-transformers"
            else "—"
        )
        if r["name"] == "sentence-transformers" and ag:
            agree = "reference"
        if r.get("skipped"):
            lines.append(f"| {r['name']} | {agree} | not timed: {r['skipped'][:120]} | | | | | | |")
            continue
        lines.append(
            f"| {r['name']} | {agree} | {_f(r.get('corpus_texts_per_s'))} | {_f(r.get('vs_st'), '{:.2f}x')} | "
            f"{_f(r.get('vs_fastembed'), '{:.2f}x')} | {_f(r.get('fixed_batch_texts_per_s'))} | "
            f"{_f(r.get('query_p50_ms'))} / {_f(r.get('query_p95_ms'))} | "
            f"{_f(r.get('passage_p50_ms'))} / {_f(r.get('passage_p95_ms'))} | "
            f"{_f((r.get('fraction_of_gemm_peak') or 0) * 100 if r.get('fraction_of_gemm_peak') else None, '{:.0f}%')} |"
        )
    lines += [
        "",
        "| contender | cold start s (import + load + first) | peak RSS MB | installed MB (env + model) | versions | threads |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        cold = (
            f"{_f(r.get('cold_start_s'), '{:.2f}')} ({_f(r.get('cold_import_s'), '{:.2f}')} + "
            f"{_f(r.get('cold_load_s'), '{:.2f}')} + {_f(r.get('cold_first_embed_s'), '{:.3f}')})"
            if r.get("cold_start_s") is not None
            else "—"
        )
        inst = (
            f"{r['installed_mb']:.0f} ({r['env_mb']:.0f} + {r['model_mb']:.0f})"
            if r.get("installed_mb")
            else "—"
        )
        vers = ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items())
        thr = ", ".join(f"{k}={v}" for k, v in (r.get("threads") or {}).items())
        lines.append(
            f"| {r['name']} | {cold} | {_f(r.get('peak_rss_mb'), '{:.0f}')} | {inst} | {vers} | {thr} |"
        )
    lines.append("")
    if hw.get("peak_gflops"):
        lines.append(
            f"Machine limit: fp32 GEMM {hw['peak_gflops']:.0f} GFLOP/s on {m['threads']} threads (best of numpy / "
            f"onnxruntime MatMul, median timings); MiniLM-L6 costs {hw['model_flops_per_token_linear'] / 1e6:.1f} "
            f"MFLOP per token in its linear layers plus attention, {hw['corpus_gflop']:.0f} GFLOP for this corpus: "
            f"at the GEMM peak the corpus would take {hw['corpus_floor_s']:.1f} s "
            f"({res['corpus']['texts'] / hw['corpus_floor_s']:.0f} texts/s)."
        )
        int8_gops = (hw.get("gemm") or {}).get("int8_peak_gops")
        if int8_gops:
            lines.append(
                f"int8 GEMM (onnxruntime DynamicQuantizeMatMul, as the int8 artifact runs it): {int8_gops:.0f} GOP/s, "
                f"{int8_gops / hw['peak_gflops']:.2f}x the fp32 peak: an int8 model at that peak would embed the "
                f"corpus at {res['corpus']['texts'] * int8_gops / hw['corpus_gflop']:.0f} texts/s."
            )
    imp = next((r.get("import_tessera_s") for r in rows.values() if r.get("import_tessera_s")), None)
    if imp is not None:
        lines.append(f"`import tessera_onnx`: {imp:.3f} s in a fresh process.")
    lines += ["", "| target | goal | reached | met |", "|---|---|---|---|"]
    for t in res["targets"]:
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {t['goal']} | {t['value'] or '—'} | {met} |")
    return "\n".join(lines) + "\n"


def update_readme(table_md: str, readme: Path = ROOT / "README.md") -> bool:
    text = readme.read_text()
    start, end = "<!-- section: benchmarks -->", "<!-- /section: benchmarks -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    old, tail = rest.split(end, 1)
    marker = "<!-- table: peers -->"
    body = (
        "\n## Benchmarks\n\n"
        "tessera-onnx against sentence-transformers (torch CPU) and fastembed on all-MiniLM-L6-v2, same machine, "
        "same run, same intra-op threads, every contender in its own process. Reproduce with:\n\n"
        "```bash\nbash benchmarks/run.sh            # sets up the peers (git-ignored venvs/caches), ~30 min for 2,000 texts\n```\n\n"
        f"{marker}\n{table_md}{marker}\n"
    )
    if marker in old:  # keep the hand-written prose around the table
        before, _table, after = old.split(marker, 2)
        body = f"{before}{marker}\n{table_md}{marker}{after}"
    readme.write_text(f"{head}{start}{body}{end}{tail}")
    return True


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="corpus size (texts)")
    ap.add_argument("--query-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--corpus",
        choices=["real", "synthetic"],
        default="real",
        help="passages from benchmarks/real_corpus.py (docs shipped with installed packages; falls back to "
        "synthetic when absent) or from the template generator in benchmarks/corpus.py",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    ap.add_argument("--cold-rounds", type=int, default=5)
    ap.add_argument("--fixed-batch", type=int, default=32)
    ap.add_argument("--fixed-reps", type=int, default=3)
    ap.add_argument(
        "--latency-n", type=int, default=40, help="single-text calls per round (queries; passages half)"
    )
    ap.add_argument(
        "--contenders",
        default=None,
        help="comma list of: sentence-transformers,fastembed,ort-loop,tessera fp32,tessera int8 (or 'tessera')",
    )
    ap.add_argument(
        "--baseline",
        default=None,
        metavar="REV",
        help="also run tessera as of git revision REV (its runtime and its exporter's artifacts), "
        "interleaved with the checkout: the regression check of the default path",
    )
    ap.add_argument("--no-setup", dest="setup", action="store_false", help="use only what is already set up")
    ap.add_argument("--no-gemm", action="store_true")
    ap.add_argument(
        "--artifact-fp32", default=None, help="use this tessera fp32 artifact instead of building one"
    )
    ap.add_argument("--artifact-int8", default=None)
    ap.add_argument(
        "--work-dir", default=None, help="corpus, embeddings and logs (default benchmarks/.cache/run)"
    )
    ap.add_argument("--out", default=str(RESULTS / "peers.json"), help="JSON results ('' to skip writing)")
    ap.add_argument(
        "--readme", action="store_true", help="rewrite the README's benchmarks section with the table"
    )
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    res = run(args)
    md = markdown(res)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1, default=str) + "\n")
        out.with_suffix(".md").write_text(md)
        say(f"wrote {out} and {out.with_suffix('.md')}")
    if args.readme:
        say("README updated" if update_readme(md) else "README has no benchmarks section markers")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
