"""Embedding on Ray Data vs the plain single-process runtime: texts/s, per-batch overhead, N-machine projection.

One command::

    .venv/bin/python -m benchmarks.ray_scaling                 # 2,000 texts, 3 interleaved rounds
    .venv/bin/python -m benchmarks.ray_scaling --texts 100000  # the corpus repeated to 100k (hours on 2 cores)
    # what README quotes at 100k: texts cut at 8 tokens, one round, the heavy side contenders skipped
    .venv/bin/python -m benchmarks.ray_scaling --texts 100000 --rounds 1 --max-length 8 \
        --skip-plain-batched --skip-embed-dataset --out benchmarks/results/ray_scaling_100k.json

Corpus: the 2,000-text benchmark corpus (:mod:`benchmarks.corpus`, real prose from
:mod:`benchmarks.real_corpus`), repeated (cycled) to ``--texts``. Model: all-MiniLM-L6-v2 fp32,
the artifact built by :func:`benchmarks.setup_peers.tessera_artifact` (or ``--artifact``).

Contenders, each run once per round, rounds interleaved with a rotating order, all with 2
onnxruntime threads in total on a local Ray instance of 2 CPUs:

- ``plain``: ``Tessera(a, threads=2).encode(all texts)`` in this process (the whole corpus in one call).
- ``plain, batches of B``: the same, one ``encode`` call per ``B`` texts (what one Ray batch sees).
- ``ray 1 actor x 2 CPUs``, ``ray 2 actors x 1 CPU``: :func:`tessera_onnx.distributed.map_embeddings`
  over a Dataset of ``B``-row blocks, consumed with ``iter_batches``. Wall time includes starting
  the actors and loading the model in each; "steady" excludes everything up to the first output batch.
- ``embed_dataset 2 x 1``: :func:`tessera_onnx.distributed.embed_dataset` end to end: Parquet in,
  shards of ``B`` rows, Parquet out with markers (fresh output directory each round).
- ``ray no-op``: the same 1-actor pipeline whose actor returns a zero 384-d column without
  embedding: its steady time per batch is Ray Data's own per-batch overhead.

Writes ``benchmarks/results/ray_scaling.json`` and ``.md`` (CPU model + flags, load averages at
start and end). ``--quick`` runs a tiny corpus once (used by the smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DIM = 384


def machine() -> dict[str, Any]:
    """CPU model, core count and ISA flags (``lscpu``), Python and Ray versions."""
    info: dict[str, Any] = {"cores": os.cpu_count(), "python": platform.python_version()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        info["cpu"] = fields.get("Model name", "").strip()
        flags = fields.get("Flags", "").split()
        info["flags"] = [f for f in flags if f.startswith(("avx", "fma", "amx", "sse4")) or "vnni" in f]
    except (OSError, subprocess.CalledProcessError):
        info["cpu"] = platform.processor()
    import ray

    info["ray"] = ray.__version__
    return info


def corpus_texts(n: int, tokenizer_json: str | None, quick: bool) -> tuple[list[str], dict]:
    """The benchmark corpus cycled to ``n`` texts."""
    from benchmarks.corpus import build_corpus

    base = build_corpus(
        min(n, 2000) if quick else 2000, seed=0, tokenizer_json=tokenizer_json, use_real=not quick
    )
    texts = [base["texts"][i % len(base["texts"])] for i in range(n)]
    return texts, {"base_texts": len(base["texts"]), "texts": n, "passage_source": base["passage_source"]}


class _NoOp:
    """Actor that answers each batch with a zero embedding column, without a model."""

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        zeros = np.zeros(batch.num_rows * DIM, np.float32)
        return batch.drop_columns(["text"]).append_column(
            "embedding", pa.FixedSizeListArray.from_arrays(pa.array(zeros), DIM)
        )


def time_ray(ds: Any) -> dict[str, float]:
    """Consume ``ds``; wall time, time to the first output batch, batches and rows."""
    start = time.perf_counter()
    first = None
    rows = batches = 0
    first_rows = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        if first is None:
            first, first_rows = time.perf_counter() - start, batch.num_rows
        rows += batch.num_rows
        batches += 1
    total = time.perf_counter() - start
    steady = (rows - first_rows) / (total - first) if first is not None and total > first else float("nan")
    return {
        "seconds": total,
        "first_batch_s": first or 0.0,
        "rows": rows,
        "batches": batches,
        "steady_texts_per_s": steady,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from tessera_onnx import Tessera
    from tessera_onnx.distributed import embed_dataset, map_embeddings
    from tessera_onnx.errors import TruncationWarning

    warnings.simplefilter("ignore", TruncationWarning)  # the corpus has passages past 256 tokens on purpose
    load_start = os.getloadavg()
    artifact = Path(args.artifact) if args.artifact else None
    if artifact is None:
        from benchmarks import setup_peers

        artifact, note = setup_peers.tessera_artifact("fp32")
        if artifact is None:
            raise SystemExit(f"no artifact: {note}")
    texts, corpus_info = corpus_texts(args.texts, str(artifact / "tokenizer.json"), args.quick)
    b = args.batch_size
    table = pa.table({"id": list(range(len(texts))), "text": texts})
    blocks = [table.slice(i, b) for i in range(0, len(texts), b)]
    work = Path(tempfile.mkdtemp(prefix="ray_scaling_"))
    pq.write_table(table, work / "corpus.parquet", row_group_size=b)

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False

    t = time.perf_counter()
    opts = {"max_length": args.max_length} if args.max_length else {}
    plain_model = Tessera(artifact, threads=2, **opts)
    load_s = time.perf_counter() - t
    plain_model.encode(texts[:8])  # warm-up

    def plain() -> dict[str, float]:
        t0 = time.perf_counter()
        plain_model.encode(texts)
        return {"seconds": time.perf_counter() - t0, "rows": len(texts), "batches": 1}

    def tokenize_only() -> dict[str, float]:
        t0 = time.perf_counter()
        for i in range(0, len(texts), b):
            plain_model.tokenizer.encode(texts[i : i + b], warn=False)
        return {"seconds": time.perf_counter() - t0, "rows": len(texts), "batches": len(blocks)}

    def plain_batched() -> dict[str, float]:
        t0 = time.perf_counter()
        for i in range(0, len(texts), b):
            plain_model.encode(texts[i : i + b])
        return {"seconds": time.perf_counter() - t0, "rows": len(texts), "batches": len(blocks)}

    def ray_pool(actors: int, cpus: int):
        def go() -> dict[str, float]:
            ds = map_embeddings(
                ray.data.from_arrow(blocks),
                artifact,
                actors=actors,
                cpus_per_actor=cpus,
                batch_size=b,
                model_options=opts,
            )
            return time_ray(ds)

        return go

    def noop() -> dict[str, float]:
        ds = ray.data.from_arrow(blocks).map_batches(
            _NoOp,
            batch_size=b,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=1,
        )
        return time_ray(ds)

    def helper(round_no: int):
        def go() -> dict[str, float]:
            out = work / f"out-{round_no}-{time.monotonic_ns()}"
            t0 = time.perf_counter()
            report = embed_dataset(
                work / "corpus.parquet",
                out,
                artifact,
                id_column="id",
                shard_rows=b,
                actors=2,
                cpus_per_actor=1,
                model_options=opts,
            )
            seconds = time.perf_counter() - t0
            assert report.rows_total == len(texts), report
            shutil.rmtree(out, ignore_errors=True)
            return {"seconds": seconds, "rows": report.rows_total, "batches": report.shards_total}

        return go

    names = [
        "plain",
        f"plain, batches of {b}",
        "ray 1 actor x 2 CPUs",
        "ray 2 actors x 1 CPU",
        "embed_dataset 2 x 1",
        "ray no-op",
        "tokenize only",
    ]
    if args.skip_plain_batched:  # the whole-corpus call stands in for it (saves one pass at 100k texts)
        names.remove(f"plain, batches of {b}")
    if args.skip_embed_dataset:  # measured at 2,000 texts; at 100k it adds a full pass
        names.remove("embed_dataset 2 x 1")
    results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(args.rounds):
        contenders = {
            "plain": plain,
            f"plain, batches of {b}": plain_batched,
            "ray 1 actor x 2 CPUs": ray_pool(1, 2),
            "ray 2 actors x 1 CPU": ray_pool(2, 1),
            "embed_dataset 2 x 1": helper(r),
            "ray no-op": noop,
            "tokenize only": tokenize_only,
        }
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            res = contenders[name]()
            res["texts_per_s"] = res["rows"] / res["seconds"]
            res["round"] = r
            results[name].append(res)
            print(
                f"round {r}: {name:24s} {res['texts_per_s']:8.1f} texts/s  ({res['seconds']:.1f} s)",
                flush=True,
            )
        if args.partial:  # the raw runs of the finished rounds, in case the run is cut short
            Path(args.partial).write_text(json.dumps(results, indent=1))
    if started_ray:
        ray.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    return summarize(results, names, b, len(blocks), load_s, corpus_info, load_start, args)


def summarize(results, names, b, n_batches, load_s, corpus_info, load_start, args) -> dict[str, Any]:
    med = statistics.median
    plain_name = names[0]
    batched = f"plain, batches of {b}" if f"plain, batches of {b}" in results else plain_name
    rows = {}
    for name in names:
        runs = results[name]
        row = {
            "texts_per_s": med(r["texts_per_s"] for r in runs),
            "seconds": med(r["seconds"] for r in runs),
            "runs": runs,
        }
        if "steady_texts_per_s" in runs[0]:
            row["steady_texts_per_s"] = med(r["steady_texts_per_s"] for r in runs)
            row["first_batch_s"] = med(r["first_batch_s"] for r in runs)
        if name not in ("ray no-op", "tokenize only"):
            row["vs_plain"] = med(
                r["texts_per_s"] / p["texts_per_s"] for r, p in zip(runs, results[plain_name], strict=True)
            )
        rows[name] = row
    noop = results["ray no-op"]
    overhead_direct = med((r["seconds"] - r["first_batch_s"]) / max(1, r["batches"] - 1) for r in noop)
    overhead_derived = med(
        (a["seconds"] - p["seconds"]) / n_batches
        for a, p in zip(results["ray 1 actor x 2 CPUs"], results[batched], strict=True)
    )
    tokenize_share = med(
        t["seconds"] / p["seconds"] for t, p in zip(results["tokenize only"], results[batched], strict=True)
    )
    per_actor = rows["ray 2 actors x 1 CPU"]["steady_texts_per_s"] / 2
    batch_compute = b / per_actor
    efficiency = batch_compute / (batch_compute + max(overhead_direct, 0.0))
    startup = rows["ray 2 actors x 1 CPU"]["first_batch_s"]
    projection = []
    for machines, cores in ((1, 2), (4, 16), (16, 16), (64, 16)):
        rate = machines * cores * per_actor * efficiency
        projection.append(
            {
                "machines": machines,
                "cores_each": cores,
                "actors": machines * cores,
                "texts_per_s": rate,
                "hours_per_100M_texts": 1e8 / rate / 3600,
                "seconds_for_100k": startup + 1e5 / rate,
            }
        )
    return {
        "machine": machine(),
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
        "corpus": corpus_info,
        "batch_size": b,
        "batches": n_batches,
        "rounds": args.rounds,
        "model_load_s": load_s,
        "contenders": rows,
        "overhead_per_batch_s": {
            "no_op_pipeline": overhead_direct,
            "ray_minus_plain_batched": overhead_derived,
        },
        "overhead_reference": batched,
        "max_length": args.max_length,
        "tokenize_share_of_encode": tokenize_share,
        "per_actor_texts_per_s": per_actor,
        "batch_efficiency": efficiency,
        "projection": projection,
        "command": "python -m benchmarks.ray_scaling " + " ".join(sys.argv[1:]),
    }


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        f"Machine: {m.get('cpu')}, {m['cores']} cores (flags: {' '.join(m.get('flags', []))}); Ray {m['ray']}; "
        f"load average {res['load_average_start'][0]:.1f} at start, {res['load_average_end'][0]:.1f} at end. "
        f"{res['corpus']['texts']} texts (the {res['corpus']['base_texts']}-text corpus cycled), batches of "
        f"{res['batch_size']} ({res['batches']} batches), {res['rounds']} interleaved rounds, medians; "
        f"texts truncated at {res.get('max_length') or 'the artifact max_length (256)'} tokens; "
        "2 onnxruntime threads in total everywhere.",
        "",
        "| contender | texts/s (wall) | vs plain | steady texts/s | start to first batch s |",
        "|---|---|---|---|---|",
    ]
    for name, row in res["contenders"].items():
        vs = f"{row['vs_plain']:.2f}x" if "vs_plain" in row else "—"
        steady = f"{row['steady_texts_per_s']:.1f}" if "steady_texts_per_s" in row else "—"
        first = f"{row['first_batch_s']:.1f}" if "first_batch_s" in row else "—"
        lines.append(f"| {name} | {row['texts_per_s']:.1f} | {vs} | {steady} | {first} |")
    o = res["overhead_per_batch_s"]
    lines += [
        "",
        f"Per-batch overhead of Ray Data: {o['no_op_pipeline'] * 1000:.1f} ms (no-op actor pipeline, steady state); "
        f"{o['ray_minus_plain_batched'] * 1000:+.0f} ms (wall time of the 1-actor pipeline, actor start and model "
        f"load included, minus the '{res.get('overhead_reference', 'plain batched')}' encode, per batch; "
        "same-round differences, median). "
        f"Per-actor (1 CPU) steady throughput {res['per_actor_texts_per_s']:.1f} texts/s; a batch computes for "
        f"{res['batch_size'] / res['per_actor_texts_per_s']:.1f} s, so the overhead leaves "
        f"{res['batch_efficiency'] * 100:.2f} % of actor time for embedding. Tokenization (the artifact's "
        f"tokenizer on the same batches) is {res['tokenize_share_of_encode'] * 100:.1f} % of the "
        f"'{res.get('overhead_reference', 'plain batched')}' "
        "encode time.",
        "",
        "| machines x cores | actors (1 CPU each) | projected texts/s | 100k texts s | hours per 100M texts |",
        "|---|---|---|---|---|",
    ]
    for p in res["projection"]:
        lines.append(
            f"| {p['machines']} x {p['cores_each']} | {p['actors']} | {p['texts_per_s']:.0f} | "
            f"{p['seconds_for_100k']:.0f} | {p['hours_per_100M_texts']:.1f} |"
        )
    lines += ["", f"Command: `{res['command']}`"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=2000, help="corpus size (the 2,000-text corpus cycled)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256, help="texts per Ray batch / shard")
    ap.add_argument(
        "--artifact", default=None, help="all-MiniLM-L6-v2 artifact (default: build/reuse benchmarks/.cache)"
    )
    ap.add_argument(
        "--quick", action="store_true", help="tiny smoke run: 24 generated texts, batches of 8, 1 round"
    )
    ap.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="truncate texts to this many tokens (default: the artifact's 256); shorter texts make "
        "Ray's per-batch overhead weigh more, and make 100k texts fit a short session",
    )
    ap.add_argument(
        "--skip-plain-batched",
        action="store_true",
        help="do not time 'plain, batches of B'; overheads are then derived against the whole-corpus call",
    )
    ap.add_argument(
        "--skip-embed-dataset", action="store_true", help="do not time the embed_dataset helper end to end"
    )
    ap.add_argument("--out", default=str(RESULTS / "ray_scaling.json"))
    ap.add_argument("--partial", default=None, help="also write the raw runs here after every round")
    args = ap.parse_args(argv)
    if args.quick:
        args.texts, args.batch_size, args.rounds = min(args.texts, 24), min(args.batch_size, 8), 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    res = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    md = markdown(res)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
