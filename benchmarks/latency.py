"""Single-text latency: tessera vs fastembed, one text per call, same run, interleaved rounds.

    python -m benchmarks.latency                 # 5 rounds x (60 queries + 30 passages) per contender
    python -m benchmarks.latency --quick

Each contender runs in its own long-lived worker (``benchmarks/worker.py``, as in ``benchmarks.peers``:
fastembed in its own venv on the plain optimum export, tessera on its fp32 artifact, same intra-op
threads). Every round asks each worker, in a rotating order, for the per-call times of the same
queries and passages; the result is the median over rounds of the per-round p50 ratio
tessera / fastembed (target <= 0.8).

tessera runs in its intra-op thread modes: the default ``spin=False`` (threads sleep between
operators), ``spin="call"`` (they spin while a call runs and stop when it returns) and ``spin=True``
(always, onnxruntime's default), and with ``small_batch_threads=1`` (one text of at most 64
tokens runs on a second, one-thread session; longer texts on the main one). The rounds run twice:
idle, then at load 2 (``--load`` busy-looping processes started by this script); the default
passes when its idle p50 is <= 0.8x fastembed's idle p50 and its p50 at load 2 is <= 1.2x its own
idle p50. ``candidates`` in the result applies the same test to every tessera contender, so a
new default can be picked from one run.

Then, in this process, where one tessera call's time goes, per text: tokenisation, padding/feeds,
``InferenceSession.run``, pooling + normalisation, and the whole ``encode`` call; and the session
run at batch 1 against the fp32 GEMM peak measured now (useful FLOPs of that text / run time).
Then the floor (``benchmarks/floor.py``): the bytes of weights the graph reads per call (embedding
tables left out: a call reads only its tokens' rows) against the last-level cache, the read
bandwidth measured at 1 and ``--threads`` threads (a DRAM-sized tensor and a weights-sized one read
again and again), floor ms = weight bytes / bandwidth + tokenise + pool, its fraction of
fastembed's p50 (target 0.8), and the lowest load / idle ratio CPU fair share allows at ``--load``
(target 1.2). ``--floor-only`` runs the breakdown and the floor alone, in-process.
Writes ``benchmarks/results/latency.json`` (+ ``.md``) with the CPU and the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import peers, setup_peers
from benchmarks.corpus import build_corpus
from benchmarks.machine import load_average, run_header, save_result

RESULTS = peers.RESULTS
TARGET = 0.8
LOAD_TARGET = 1.2
SPIN = "tessera fp32 spin"
SLEEP = "tessera fp32 sleep"
CALL = "tessera fp32 spin call"
SMALL1 = "tessera fp32 1 thread for short"
FASTEMBED_SETTINGS = "fastembed's file and settings (threads spin, CPU arena)"


def breakdown(artifact: Path, queries: list[str], passages: list[str], threads: int) -> dict[str, Any]:
    """Median ms per stage of one ``Tessera.encode([text])`` call, by text kind (in this process)."""
    import tessera_onnx

    model = tessera_onnx.Tessera(str(artifact), threads=threads)
    emb = model.embedder if hasattr(model, "embedder") else model
    tok, out_name = emb._tokenizer, emb._output
    model.encode(queries[:2])
    res: dict[str, Any] = {}
    for kind, pool in (("query", queries), ("passage", passages)):
        stages: dict[str, list[float]] = {
            "tokenise": [],
            "feeds": [],
            "session_run": [],
            "pool": [],
            "encode": [],
        }
        tokens = []
        for text in pool:
            t0 = time.perf_counter()
            tk = tok.encode([text], emb.max_length)
            t1 = time.perf_counter()
            ids = np.asarray([tk.ids[0]], dtype=np.int64)
            mask = np.ones_like(ids)
            t2 = time.perf_counter()
            h = emb._run(out_name, ids, mask)
            t3 = time.perf_counter()
            v = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            t4 = time.perf_counter()
            model.encode([text])
            t5 = time.perf_counter()
            for k, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                stages[k].append(dt * 1e3)
            tokens.append(ids.shape[1])
        med = {k: statistics.median(v) for k, v in stages.items()}
        med["overhead"] = med["encode"] - med["session_run"]
        res[kind] = {
            "median_ms": med,
            "median_tokens": statistics.median(tokens),
            "tokens": tokens,
            "session_run_ms": stages["session_run"],
        }
    return res


def runtime_graph(artifact: Path) -> Path:
    """The graph the runtime loads by default: the onnxruntime variant when the artifact has one."""
    return artifact / ("model.ort.onnx" if (artifact / "model.ort.onnx").is_file() else "model.onnx")


def floor(
    artifact: Path,
    threads: int,
    parts: dict[str, Any],
    fastembed_p50: dict[str, float] | None,
    load: int,
    dram_bytes: int = 512 << 20,
) -> dict[str, Any]:
    """The memory-bandwidth floor of one call and the fair-share bound at load (``benchmarks/floor.py``).

    floor ms = (bytes of the weights the graph reads per call) / (read bandwidth of a tensor of that
    size, read again and again, at ``threads``) + the measured tokenise and pool + normalise medians
    of ``parts`` (:func:`breakdown`); with fastembed's p50 it is also given as a fraction of it,
    next to the 0.8 target. The fair-share rows give, for 1 and ``threads`` threads beside ``load``
    busy loops on this machine's cores, the lowest load / idle ratio a compute-bound call can have
    and the one a call bound by the measured read bandwidth can have, next to the 1.2 target.
    """
    import os

    from benchmarks.floor import (
        fair_share_cores,
        fair_share_ratio,
        last_level_cache,
        read_bandwidth,
        weight_bytes,
    )

    graph = runtime_graph(artifact)
    weights = weight_bytes(graph)
    counts = sorted({1, threads})
    dram = {t: read_bandwidth(dram_bytes, t, runs=5) for t in counts}
    repeated = {t: read_bandwidth(weights["bytes"], t, runs=15) for t in counts}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    kinds: dict[str, Any] = {}
    for kind, part in parts.items():
        md = part["median_ms"]
        host = md["tokenise"] + md["pool"]
        row = {
            "tokenise_plus_pool_ms": host,
            "floor_ms": weights["bytes"] / (repeated[threads]["gb_s"] * 1e9) * 1e3 + host,
            "floor_ms_at_dram_bandwidth": weights["bytes"] / (dram[threads]["gb_s"] * 1e9) * 1e3 + host,
        }
        if fastembed_p50:
            row["floor_fraction_of_fastembed_p50"] = row["floor_ms"] / fastembed_p50[kind]
        kinds[kind] = row
    speed = {t: r["gb_s"] for t, r in repeated.items()}
    return {
        "graph": graph.name,
        "weight_bytes": weights["bytes"],
        "weight_initializers": weights["initializers"],
        "excluded_embedding_tables_bytes": weights["excluded"],
        "last_level_cache": last_level_cache(),
        "read_bandwidth_dram": {str(t): r for t, r in dram.items()},
        "read_bandwidth_weights_size_repeated": {str(t): r for t, r in repeated.items()},
        "by_kind": kinds,
        "target": TARGET,
        "fair_share": {
            "k": load,
            "c": cores,
            "formula": "load/idle >= S(min(t,c)) / S(t*min(1, c/(k+t))); compute-bound S(n) = n*S(1): "
            "min(t,c)*(k+t)/(c*t), = (k+t)/c for t <= c < k+t",
            "by_threads": {
                str(t): {
                    "cores_at_load": fair_share_cores(load, cores, t),
                    "compute_bound_ratio": fair_share_ratio(load, cores, t),
                    "bandwidth_bound_ratio": fair_share_ratio(load, cores, t, speed),
                }
                for t in counts
            },
            "target": LOAD_TARGET,
        },
    }


def session_settings(
    artifact: Path, plain: Path, queries: list[str], passages: list[str], threads: int, rounds: int
) -> dict[str, Any]:
    """``InferenceSession.run`` ms per text under each session setting, in this process, rounds
    interleaving the settings: spinning vs sleeping intra-op threads, 1 thread, the CPU memory arena,
    and fastembed's model file (the plain export) with fastembed's settings. Ratio = median over rounds of
    the per-round p50 ratio to "fastembed's file and settings"."""
    import onnxruntime as ort

    from tessera_onnx.session import create_session
    from tessera_onnx.text.tokenize import TextTokenizer

    def plain_session(spin: bool) -> Any:
        so = ort.SessionOptions()  # as fastembed 0.9 builds it: arena on (default), ENABLE_ALL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = so.inter_op_num_threads = threads
        so.log_severity_level = 3
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(plain / "model.onnx"), so, providers=["CPUExecutionProvider"])

    model = str(runtime_graph(artifact))
    sessions = {
        FASTEMBED_SETTINGS: plain_session(spin=True),
        "fastembed's file, threads sleep": plain_session(spin=False),
        "tessera artifact, threads spin (before #17)": create_session(model, "cpu", threads, spin=True)[0],
        "tessera artifact, threads spin during a call": create_session(model, "cpu", threads, spin="call")[0],
        "tessera artifact, threads sleep (default)": create_session(model, "cpu", threads, spin=False)[0],
        "tessera artifact, threads sleep, CPU arena": create_session(
            model, "cpu", threads, arena=True, spin=False
        )[0],
        "tessera artifact, 1 thread": create_session(model, "cpu", 1)[0],
    }
    tok = TextTokenizer(artifact / "tokenizer.json", 256)

    def feeds(sess: Any, text: str) -> dict[str, np.ndarray]:
        ids = np.asarray([tok.encode([text], 256).ids[0]], dtype=np.int64)
        known = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return {i.name: known[i.name] for i in sess.get_inputs()}

    work = {
        name: {
            kind: [feeds(sess, t) for t in texts]
            for kind, texts in (("query", queries), ("passage", passages))
        }
        for name, sess in sessions.items()
    }
    p50: dict[str, dict[str, list[float]]] = {n: {"query": [], "passage": []} for n in sessions}
    names = list(sessions)
    for rnd in range(rounds):
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            sess = sessions[name]
            for kind, fs in work[name].items():
                sess.run(None, fs[0])
                times = []
                for f in fs:
                    t = time.perf_counter()
                    sess.run(None, f)
                    times.append((time.perf_counter() - t) * 1e3)
                p50[name][kind].append(statistics.median(times))
    return {
        name: {
            kind: {
                "p50_ms": statistics.median(v),
                "ratio_to_fastembed_settings": statistics.median(
                    a / b for a, b in zip(v, p50[FASTEMBED_SETTINGS][kind], strict=True)
                ),
            }
            for kind, v in d.items()
        }
        for name, d in p50.items()
    }


class Burners:
    """``n`` busy-looping processes for the duration of a ``with`` block (load ``n``)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[Any] = []

    def __enter__(self) -> Burners:
        import subprocess

        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(1.0)  # let the scheduler see them
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def rounds(
    servers: dict[str, Any], queries: list[str], passages: list[str], n_rounds: int, label: str
) -> dict[str, dict[str, list[float]]]:
    """Per-round p50 ms of every contender, contenders in a rotating order."""
    p50: dict[str, dict[str, list[float]]] = {n: {"query": [], "passage": []} for n in servers}
    names = list(servers)
    for rnd in range(n_rounds):
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            for kind, n in (("query", len(queries)), ("passage", len(passages))):
                times = servers[name].ask(cmd="latency", kind=kind, n=n)["times"]
                p50[name][kind].append(statistics.median(times) * 1e3)
        print(
            f"{label} round {rnd + 1}/{n_rounds}: "
            + json.dumps({n: {k: round(v[-1], 2) for k, v in d.items()} for n, d in p50.items()}),
            file=sys.stderr,
        )
    return p50


def texts(n_queries: int, work: Path) -> tuple[Path, list[str], list[str]]:
    """The benchmark corpus written to ``work/corpus.json``: (that file, ``n_queries`` queries, half as many passages)."""
    corpus = build_corpus(
        n_queries * 4,
        query_fraction=0.5,
        seed=1,
        tokenizer_json=str(setup_peers.minilm_source_dir() / "tokenizer.json"),
    )
    work.mkdir(parents=True, exist_ok=True)
    corpus_file = work / "corpus.json"
    corpus_file.write_text(json.dumps(corpus))
    pairs = list(zip(corpus["texts"], corpus["kinds"], strict=True))
    queries = [t for t, k in pairs if k == "query"][:n_queries]
    passages = [t for t, k in pairs if k == "passage"][: n_queries // 2]
    return corpus_file, queries, passages


def run_floor_only(args: argparse.Namespace) -> dict[str, Any]:
    """``--floor-only``: the breakdown and the floor section alone, in this process (no workers, no fastembed)."""
    load_start = load_average()
    if args.artifact:
        artifact = Path(args.artifact)
    else:
        built, note = setup_peers.tessera_artifact("fp32")
        if built is None:
            raise SystemExit(f"the tessera fp32 artifact could not be built: {note}")
        artifact = built
    _, queries, passages = texts(args.n_queries, setup_peers.CACHE / "latency")
    parts = breakdown(artifact, queries, passages, args.threads)
    for part in parts.values():
        part.pop("tokens"), part.pop("session_run_ms")
    command = "python -m benchmarks.latency --floor-only" + (" --quick" if args.quick else "")
    return {
        **run_header("latency", command, args.threads, load_start),
        "floor_only": True,
        "texts": {"query": len(queries), "passage": len(passages)},
        "load": args.load,
        "tessera_breakdown": parts,
        "floor": floor(artifact, args.threads, parts, None, args.load, args.dram_mb << 20),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.gemm import encoder_flops, ort_gemm

    load_start = load_average()
    pargs = peers.parse_args(
        ["--contenders", "fastembed,tessera fp32", "--threads", str(args.threads)]
        + (["--artifact-fp32", args.artifact] if args.artifact else [])
    )
    notes: dict[str, Any] = {}
    contenders = [c for c in peers.discover(pargs, notes) if c.name in ("fastembed", "tessera fp32")]
    if {c.name for c in contenders} != {"fastembed", "tessera fp32"}:
        raise SystemExit(f"fastembed or the tessera artifact could not be set up: {notes}")
    ours = next(c for c in contenders if c.name == "tessera fp32")
    # the same artifact with always-spinning (tessera before #17) and never-spinning intra-op threads
    contenders.append(dataclasses.replace(ours, name=SPIN, options={"spin": True}, result={}))
    contenders.append(dataclasses.replace(ours, name=SLEEP, options={"spin": False}, result={}))
    contenders.append(dataclasses.replace(ours, name=CALL, options={"spin": "call"}, result={}))
    contenders.append(dataclasses.replace(ours, name=SMALL1, options={"small_batch_threads": 1}, result={}))
    work = setup_peers.CACHE / "latency"
    corpus_file, queries, passages = texts(args.n_queries, work)
    servers = {c.name: peers.Server(c, corpus_file, args.threads, work / f"{c.name}.log") for c in contenders}
    try:
        p50 = rounds(servers, queries, passages, args.rounds, "idle")
        with Burners(args.load):
            loaded = rounds(servers, queries, passages, args.rounds, f"load {args.load}")
            load_during = load_average()
    finally:
        for s in servers.values():
            s.close()

    def ratio(ours: str, peer: str, kind: str) -> float:
        return statistics.median(o / f for o, f in zip(p50[ours][kind], p50[peer][kind], strict=True))

    ratios = {kind: ratio("tessera fp32", "fastembed", kind) for kind in ("query", "passage")}
    idle_med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in p50.items()}
    load_med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in loaded.items()}
    under_load = {n: {k: load_med[n][k] / idle_med[n][k] for k in ("query", "passage")} for n in servers}
    default_met = {
        k: ratios[k] <= TARGET and under_load["tessera fp32"][k] <= LOAD_TARGET for k in ("query", "passage")
    }
    candidates = {
        name: {
            k: {
                "ratio_idle_vs_fastembed": ratio(name, "fastembed", k),
                "load_vs_own_idle": under_load[name][k],
                "met": ratio(name, "fastembed", k) <= TARGET and under_load[name][k] <= LOAD_TARGET,
            }
            for k in ("query", "passage")
        }
        for name in servers
        if name != "fastembed"
    }
    spin_ratios = {kind: ratio(SPIN, "fastembed", kind) for kind in ("query", "passage")}
    no_spin_gain = {kind: ratio("tessera fp32", SPIN, kind) for kind in ("query", "passage")}
    artifact = Path(next(c.model_dir for c in contenders if c.name == "tessera fp32"))
    parts = breakdown(artifact, queries, passages, args.threads)
    plain = Path(next(c.model_dir for c in contenders if c.name == "fastembed"))
    floor_res = floor(
        artifact,
        args.threads,
        parts,
        {k: idle_med["fastembed"][k] for k in ("query", "passage")},
        args.load,
        args.dram_mb << 20,
    )
    settings = session_settings(
        artifact, plain, queries[:20], passages[:8], args.threads, rounds=min(args.rounds, 3)
    )
    peak = max(r["gflops_median"] for spin in (True, False) for r in ort_gemm(args.threads, spin=spin))
    config = json.loads((setup_peers.minilm_source_dir() / "config.json").read_text())
    for kind in ("query", "passage"):
        part = parts[kind]
        flops = [encoder_flops(config, t)["total"] for t in part.pop("tokens")]
        runs = part.pop("session_run_ms")
        part["session_run_fraction_of_fp32_gemm_peak"] = statistics.median(
            f / (ms / 1e3) / 1e9 / peak for f, ms in zip(flops, runs, strict=True)
        )
    return {
        **run_header(
            "latency",
            "python -m benchmarks.latency" + (" --quick" if args.quick else ""),
            args.threads,
            load_start,
        ),
        "rounds": args.rounds,
        "texts": {"query": len(queries), "passage": len(passages)},
        "p50_ms_per_round": p50,
        "p50_ms": idle_med,
        "load": args.load,
        "load_average_during_load": load_during,
        "p50_ms_per_round_at_load": loaded,
        "p50_ms_at_load": load_med,
        "ratio_at_load_to_own_idle": under_load,
        "load_target": LOAD_TARGET,
        "default_met": default_met,
        "candidates": candidates,
        "ratio_tessera_vs_fastembed": ratios,
        "ratio_tessera_spin_vs_fastembed": spin_ratios,
        "ratio_tessera_vs_tessera_spin": no_spin_gain,
        "target": TARGET,
        "met": {k: v <= TARGET for k, v in ratios.items()},
        "fp32_gemm_peak_gflops": peak,
        "tessera_breakdown": parts,
        "floor": floor_res,
        "session_settings": settings,
        "versions": {n: s.hello.get("info", {}).get("versions") for n, s in servers.items()},
    }


def breakdown_markdown(parts: dict[str, Any]) -> list[str]:
    """The "where one tessera call goes" table."""
    lines = [
        "",
        "Where one tessera call goes (median ms, in-process):",
        "",
        "| text | tokens | tokenise | feeds | session run | pool + normalise | whole encode | overhead "
        "(encode - run) | run at % of fp32 GEMM peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, part in parts.items():
        md = part["median_ms"]
        share = part.get("session_run_fraction_of_fp32_gemm_peak")
        lines.append(
            f"| {kind} | {part['median_tokens']:.0f} | {md['tokenise']:.3f} | {md['feeds']:.3f} | "
            f"{md['session_run']:.2f} | {md['pool']:.3f} | {md['encode']:.2f} | {md['overhead']:.2f} | "
            f"{'not measured' if share is None else f'{share * 100:.0f}%'} |"
        )
    return lines


def floor_markdown(f: dict[str, Any]) -> list[str]:
    """The floor section: weight bytes, read bandwidths, floor ms per text kind, fair-share bound."""
    llc = f["last_level_cache"]
    cache = f"L{llc['level']} {llc['bytes'] / 2**20:.0f} MiB" if llc["bytes"] else "last-level cache unknown"
    excluded = ", ".join(f"`{n}` {b / 1e6:.2f} MB" for n, b in f["excluded_embedding_tables_bytes"].items())
    lines = [
        "",
        f"Floor: `{f['graph']}` reads {f['weight_bytes'] / 1e6:.1f} MB of weights per call "
        f"({f['weight_initializers']} initializers; {cache}). Left out: the embedding tables, of which a call "
        f"reads only its tokens' and positions' rows ({excluded or 'none'}).",
        "",
        "| read | threads | method | GB/s | busy cores (CPU s / wall s) |",
        "|---|---|---|---|---|",
    ]
    for label, key in (
        ("DRAM (large tensor)", "read_bandwidth_dram"),
        ("weights-sized tensor, read again and again", "read_bandwidth_weights_size_repeated"),
    ):
        for t, r in f[key].items():
            lines.append(
                f"| {label}, {r['bytes'] / 1e6:.0f} MB | {t} | {r['method']} | {r['gb_s']:.1f} | {r['busy_cores']:.2f} |"
            )
    lines += [
        "",
        "floor ms = weight bytes / (weights-sized read bandwidth at the benchmark's threads) + tokenise + "
        "pool/normalise (measured above):",
        "",
        f"| text | tokenise + pool ms | floor ms | floor ms at DRAM bandwidth | floor / fastembed p50 | target <= {f['target']}x |",
        "|---|---|---|---|---|---|",
    ]
    for kind, row in f["by_kind"].items():
        frac = row.get("floor_fraction_of_fastembed_p50")
        lines.append(
            f"| {kind} | {row['tokenise_plus_pool_ms']:.3f} | {row['floor_ms']:.2f} | "
            f"{row['floor_ms_at_dram_bandwidth']:.2f} | {'not run' if frac is None else f'{frac:.2f}x'} | "
            f"{'not run' if frac is None else ('yes' if frac <= f['target'] else '**no**')} |"
        )
    fs = f["fair_share"]
    lines += [
        "",
        f"Fair-share bound at load {fs['k']} on {fs['c']} cores (Linux CFS: each of the k + t runnable threads "
        "gets min(1, c/(k+t)) of a core, so a call of t threads gets at most t·min(1, c/(k+t)) cores where idle "
        "it had min(t, c)). With S(n) the call's speed on n cores, load/idle >= S(min(t, c)) / "
        "S(t·min(1, c/(k+t))); compute-bound (S(n) = n·S(1)) that is min(t, c)·(k+t)/(c·t), i.e. (k+t)/c for "
        "t <= c < k+t; bandwidth-bound, S = the weights-sized read bandwidth measured at 1 and t threads "
        "(linear in between):",
        "",
        f"| threads t | cores at load | lowest load/idle, compute-bound | lowest load/idle, bandwidth-bound | "
        f"target <= {fs['target']}x |",
        "|---|---|---|---|---|",
    ]
    for t, row in fs["by_threads"].items():
        lines.append(
            f"| {t} | {row['cores_at_load']:.2f} | {row['compute_bound_ratio']:.2f}x | "
            f"{row['bandwidth_bound_ratio']:.2f}x | {'attainable' if row['compute_bound_ratio'] <= fs['target'] else 'not if compute-bound'} |"
        )
    return lines


def markdown(res: dict[str, Any]) -> str:
    """Tables of the latency result."""
    m, la = res["machine"], res["load_average"]
    if res.get("floor_only"):
        lines = [
            f"CPU: {m['model']} ({m['cores']} cores; {', '.join(m['simd_flags'])}); {res['threads']} threads; "
            f"load average {la['start'][0]:.2f} -> {la['end'][0]:.2f}; {res['date']}; floor only "
            f"({res['texts']['query']} queries + {res['texts']['passage']} passages, in-process; no fastembed).",
        ]
        lines += breakdown_markdown(res["tessera_breakdown"]) + floor_markdown(res["floor"])
        return "\n".join(lines) + "\n"
    lines = [
        f"CPU: {m['model']} ({m['cores']} cores; {', '.join(m['simd_flags'])}); {res['threads']} threads; load "
        f"average {la['start'][0]:.2f} -> {la['end'][0]:.2f}; {res['date']}; {res['rounds']} interleaved rounds of "
        f"{res['texts']['query']} queries + {res['texts']['passage']} passages, one text per call.",
        "",
        "| text | fastembed p50 ms | tessera p50 ms | tessera / fastembed (median of per-round ratios) | target "
        "<= 0.8x | tessera with spinning threads (before #17) p50 ms | its ratio to fastembed |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("query", "passage"):
        lines.append(
            f"| {kind} | {res['p50_ms']['fastembed'][kind]:.2f} | {res['p50_ms']['tessera fp32'][kind]:.2f} | "
            f"{res['ratio_tessera_vs_fastembed'][kind]:.2f}x | {'yes' if res['met'][kind] else '**no**'} | "
            f"{res['p50_ms'][SPIN][kind]:.2f} | {res['ratio_tessera_spin_vs_fastembed'][kind]:.2f}x |"
        )
    lines += [
        "",
        "tessera's intra-op threads sleep between operators (`spin=False`, the default); fastembed "
        "and the spinning variant busy-wait always (onnxruntime's default). All run the same onnxruntime at the same intra-op thread count, in their "
        "own worker processes.",
    ]
    if "p50_ms_at_load" in res:
        lines += [
            "",
            f"At load {res['load']} ({res['load']} busy-looping processes; load average during "
            f"{res['load_average_during_load'][0]:.2f}): p50 ms and the ratio to the same contender idle "
            f"(target for the default <= {res['load_target']}x):",
            "",
            "| contender | query p50 ms | / idle | passage p50 ms | / idle |",
            "|---|---|---|---|---|",
        ]
        for name, d in res["p50_ms_at_load"].items():
            r = res["ratio_at_load_to_own_idle"][name]
            lines.append(
                f"| {name} | {d['query']:.2f} | {r['query']:.2f}x | {d['passage']:.2f} | {r['passage']:.2f}x |"
            )
        met = res["default_met"]
        lines += ["", f"Default meets both targets: query {met['query']}, passage {met['passage']}."]
    if "candidates" in res:
        lines += [
            "",
            f"Every tessera setting against both targets (idle <= {res['target']}x fastembed, load <= "
            f"{res['load_target']}x own idle):",
            "",
            "| contender | query idle / fastembed | query load / idle | passage idle / fastembed | "
            "passage load / idle | meets both |",
            "|---|---|---|---|---|---|",
        ]
        for name, c in res["candidates"].items():
            q, p = c["query"], c["passage"]
            lines.append(
                f"| {name} | {q['ratio_idle_vs_fastembed']:.2f}x | {q['load_vs_own_idle']:.2f}x | "
                f"{p['ratio_idle_vs_fastembed']:.2f}x | {p['load_vs_own_idle']:.2f}x | "
                f"{'yes' if q['met'] and p['met'] else 'no'} |"
            )
    lines += breakdown_markdown(res["tessera_breakdown"])
    if "floor" in res:
        lines += floor_markdown(res["floor"])
    lines += [
        "",
        "`InferenceSession.run` alone under each session setting (in-process, same token ids, settings "
        "interleaved; p50 ms and the median per-round ratio to fastembed's file and settings):",
        "",
        "| session | query p50 ms | ratio | passage p50 ms | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, d in res.get("session_settings", {}).items():
        q, p = d["query"], d["passage"]
        lines.append(
            f"| {name} | {q['p50_ms']:.2f} | {q['ratio_to_fastembed_settings']:.2f}x | {p['p50_ms']:.2f} | "
            f"{p['ratio_to_fastembed_settings']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-queries", type=int, default=60, help="queries per round (passages: half)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--artifact", default=None, help="tessera fp32 artifact (default: built by setup_peers)")
    ap.add_argument("--load", type=int, default=2, help="busy-looping processes in the loaded phase")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 10 queries + 5 passages")
    ap.add_argument("--dram-mb", type=int, default=512, help="MiB of the tensor the DRAM read bandwidth sums")
    ap.add_argument(
        "--floor-only",
        action="store_true",
        help="only the per-call breakdown and the floor section, in this process (no fastembed, no load phase)",
    )
    ap.add_argument("--out", default=str(RESULTS / "latency.json"), help="'' to skip writing")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_queries, args.rounds = min(args.n_queries, 10), min(args.rounds, 2)
    res = run_floor_only(args) if args.floor_only else run(args)
    md = markdown(res)
    save_result(res, md, args.out)
    return res


if __name__ == "__main__":
    main()
