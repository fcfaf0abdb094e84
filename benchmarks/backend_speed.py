"""Speed of one text artifact on each backend: onnxruntime (default graph and portable graph) and OpenVINO.

Same machine, same threads, one process per configuration run in turn (interleaved ``--rounds``
times so that drifting load hits every configuration alike). Figures per configuration:

- ``load_cold_s``: ``Tessera(path)`` (after the import) in a fresh process with an empty graph cache (for the portable
  graph this includes onnxruntime's optimisation pass and writing the cache);
- ``load_warm_s``: the same, the cache filled by the cold load;
- ``texts_per_s``: ``encode`` over the benchmark corpus (``benchmarks/corpus.py``);
- ``query_p50_ms``: one short text per call, median.

Run it on an idle machine::

    python -m benchmarks.backend_speed ARTIFACT --threads 2 --texts 2000 --out benchmarks/results/backend_speed.json

``--texts 20 --queries 5 --rounds 1`` is a smoke run (seconds; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["CONFIGS", "measure", "main", "markdown"]

# name -> (Tessera options, $TESSERA_GRAPH_VARIANT)
CONFIGS: dict[str, tuple[dict[str, Any], str]] = {
    "onnxruntime (default graph)": ({}, "auto"),
    "onnxruntime (portable graph)": ({}, "portable"),
    "openvino": ({"backend": "openvino"}, "portable"),
}


def _child(artifact: str, config: str, threads: int, texts: int, queries: int, seed: int) -> dict[str, Any]:
    """Inside a fresh process: load once (timed), then throughput and single-query latency."""
    from benchmarks.corpus import build_corpus
    from tessera_onnx import Tessera

    options, _ = CONFIGS[config]
    start = time.perf_counter()
    model = Tessera(artifact, threads=threads, **options)
    load = time.perf_counter() - start
    corpus = build_corpus(
        texts, query_fraction=0.3, seed=seed, tokenizer_json=str(Path(artifact) / "tokenizer.json")
    )
    items = list(corpus["texts"])
    model.encode(items[: min(16, len(items))])  # warm-up
    start = time.perf_counter()
    model.encode(items)
    throughput = len(items) / (time.perf_counter() - start)
    short = [t for t, k in zip(items, corpus["kinds"], strict=True) if k == "query"] or items
    times = []
    for i in range(queries):
        t0 = time.perf_counter()
        model.encode(short[i % len(short)])
        times.append(time.perf_counter() - t0)
    return {
        "load_s": load,
        "texts_per_s": throughput,
        "query_p50_ms": 1000 * statistics.median(times),
        "provider": model.provider,
    }


def _spawn(artifact: str, config: str, args: argparse.Namespace, home: Path) -> dict[str, Any]:
    env = {**os.environ, "TESSERA_HOME": str(home), "TESSERA_GRAPH_VARIANT": CONFIGS[config][1]}
    command = [
        sys.executable,
        "-m",
        "benchmarks.backend_speed",
        artifact,
        "--child",
        config,
        "--threads",
        str(args.threads),
        "--texts",
        str(args.texts),
        "--queries",
        str(args.queries),
    ]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(artifact: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration, ``args.rounds`` interleaved rounds of (cold load, warm load + speed)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.configs}
    for _ in range(args.rounds):
        for name in args.configs:
            with tempfile.TemporaryDirectory() as home:
                cold = _spawn(artifact, name, args, Path(home))
                warm = _spawn(artifact, name, args, Path(home))
            runs[name].append({**warm, "load_cold_s": cold["load_s"], "load_warm_s": warm["load_s"]})
    summary = {}
    for name, rows in runs.items():
        summary[name] = {
            key: statistics.median(r[key] for r in rows)
            for key in ("load_cold_s", "load_warm_s", "texts_per_s", "query_p50_ms")
        } | {"provider": rows[0]["provider"], "rounds": len(rows)}
    return {
        "artifact": artifact,
        "threads": args.threads,
        "texts": args.texts,
        "results": summary,
        "runs": runs,
    }


def markdown(res: dict[str, Any]) -> str:
    """The result table (medians over rounds)."""
    lines = [
        f"Artifact `{Path(res['artifact']).name}`, {res['threads']} threads, {res['texts']} texts.",
        "",
        "| backend | load cold (s) | load warm (s) | texts/s | single query p50 (ms) |",
        "|---|---|---|---|---|",
    ]
    for name, r in res["results"].items():
        lines.append(
            f"| {name} | {r['load_cold_s']:.3f} | {r['load_warm_s']:.3f} | {r['texts_per_s']:.1f} | {r['query_p50_ms']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line; see the module docs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifact")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out", default="")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.artifact, args.child, args.threads, args.texts, args.queries, 0)))
        return {}
    from benchmarks.machine import load_average, run_header, save_result

    start = load_average()
    res = {
        **run_header("backend_speed", " ".join(sys.argv), args.threads, start),
        **measure(args.artifact, args),
    }
    save_result(res, markdown(res), args.out)
    return res


if __name__ == "__main__":
    main()
