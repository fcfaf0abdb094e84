"""Page retrieval speed: tessera-onnx vs the torch reference, ColSmol-256M shapes with random weights.

What it measures (``benchmarks/results/pages_speed.json`` + ``.md``):

1. **Per page and per query**, in interleaved rounds (tessera, torch, tessera, torch, ...) with the
   same thread count: tessera ``TesseraPages.encode_images`` / ``encode_queries`` vs transformers'
   ``Idefics3Processor`` + ``Idefics3Model`` + the ColIdefics3 head in torch (colpali-engine's
   ``ColIdefics3`` semantics; colpali-engine itself needs transformers 5). Medians and ratios.
2. **Peak RSS** of each engine in its own subprocess (load, embed the timing pages and queries).
3. **End to end** (tessera, own subprocess): render a generated PDF page by page, index every
   page (float32 / int8 / binary page vectors), then per query the latency without prefetch
   (MaxSim over every page) and with the mean-pooled prefetch + MaxSim rerank, and the fraction
   of queries whose prefetch+rerank top-10 equals the exhaustive top-10.

ColSmol-256M = SmolVLM-256M: SigLIP vision tower 512 px / patch 16 (768 wide, 12 layers), pixel
shuffle ×4 (64 image tokens per tile), SmolLM2-135M (576 wide, 30 layers, 9 heads, 3 KV heads).
The processor's longest edge is 2048 px (16 tiles + 1 global view = 1,088 image tokens per page);
``--image-size`` (default 512: one 512-px view, 64 tokens) is the runtime's knob, because a
2048-px page costs ~17× more on CPU. Random weights: speed and memory only, not quality.

Run: ``python benchmarks/pages_speed.py`` (full, ~10 min on 2 loaded cores) or ``--quick`` (tiny
model, seconds; the smoke test runs it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pages_speed.json"
CACHE = ROOT / "benchmarks" / ".cache" / "pages"
sys.path.insert(
    0, str(ROOT / "tests" / "support")
)  # tiny_page_models: tokenizer, checkpoint writer, reference head
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLSMOL_256M = {
    "vision": dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=512,
        patch_size=16,
    ),
    "text": dict(
        vocab_size=49280,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        rope_theta=100000.0,
    ),
    "scale_factor": 4,
    "longest_edge": 2048,
}
QUERIES = [
    "total revenue in the third quarter",
    "who signed the agreement",
    "table of contents",
    "figure showing the system architecture",
    "what is the capital of France?",
    "error rates by model size",
    "the red box in the diagram",
    "list of references",
]


def prepare(work: Path, quick: bool, image_size: int, precision: str = "fp32") -> tuple[Path, Path]:
    """Write the random-weight checkpoint and export it (cached under ``work``)."""
    from tiny_page_models import TINY_IDEFICS3, write_tiny_colidefics3

    tag = "tiny" if quick else "colsmol256m"
    suffix = "" if precision == "fp32" else f"-{precision}"
    ckpt, art = work / f"ckpt-{tag}", work / f"art-{tag}-{image_size}{suffix}"
    if not (ckpt / "model.safetensors").is_file():
        write_tiny_colidefics3(
            ckpt, TINY_IDEFICS3 if quick else COLSMOL_256M, init_std=0.08 if quick else None
        )
    # the export runs in a subprocess, so that this process never holds its memory
    if not (art / "tessera.json").is_file():
        cmd = [
            sys.executable,
            "-c",
            "from tessera_export.cli import main; main()",
            "build",
            f"colidefics3-{tag}-random",
        ]
        cmd += [
            "--from-dir",
            str(ckpt),
            "--out",
            str(art),
            "--image-size",
            str(image_size),
            "--overwrite",
            "-q",
        ]
        subprocess.run(cmd + ["--precision", precision], check=True)
    return ckpt, art


def pages(n: int, seed: int = 0) -> list[Any]:
    """``n`` rendered document pages (US letter aspect, varying text)."""
    from tiny_page_models import rendered_page

    return [rendered_page(612, 792, seed + i) for i in range(n)]


class Torch:
    """The torch reference: Idefics3Processor + Idefics3Model + ColIdefics3 head."""

    def __init__(self, ckpt: Path, image_size: int, threads: int) -> None:
        import torch
        from tiny_page_models import colidefics3_reference, idefics3_processor
        from transformers import AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = colidefics3_reference(ckpt)
        cfg = json.loads((ckpt / "preprocessor_config.json").read_text())
        seq = json.loads((ckpt / "processor_config.json").read_text())["image_seq_len"]
        self.processor = idefics3_processor(
            AutoTokenizer.from_pretrained(str(ckpt)),
            image_seq_len=seq,
            size={"longest_edge": image_size},
            max_image_size=cfg["max_image_size"],
        )
        from tiny_page_models import COLIDEFICS3_DOC_PROMPT

        self.prompt = COLIDEFICS3_DOC_PROMPT

    def encode_images(self, images: list[Any], batch: int) -> None:
        for start in range(0, len(images), batch):
            chunk = [im.convert("RGB") for im in images[start : start + batch]]
            enc = self.processor(
                text=[self.prompt] * len(chunk),
                images=[[im] for im in chunk],
                return_tensors="pt",
                padding="longest",
            )
            with self.torch.inference_mode():
                self.model(
                    input_ids=enc["input_ids"],
                    attention_mask=enc["attention_mask"],
                    pixel_values=enc["pixel_values"],
                )

    def encode_query(self, text: str) -> None:
        enc = self.processor(text=[text + "<end_of_utterance>" * 10], return_tensors="pt", padding="longest")
        with self.torch.inference_mode():
            self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])


def _rss_mb() -> float:
    """Peak RSS of this process in MB (``VmHWM``: unlike ``ru_maxrss`` it is not inherited across exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def leg_rss(engine: str, ckpt: Path, art: Path, image_size: int, threads: int, n_pages: int) -> dict:
    """One engine alone: load, embed ``n_pages`` pages and the queries; peak RSS (run in a subprocess)."""
    images = pages(n_pages)
    t = time.perf_counter()
    if engine == "tessera":
        from tessera_onnx import TesseraPages

        model = TesseraPages(art, threads=threads, image_size=image_size)
        model.encode_images(images)
        model.encode_queries(QUERIES)
    else:
        ref = Torch(ckpt, image_size, threads)
        ref.encode_images(images, 4)
        for q in QUERIES:
            ref.encode_query(q)
    return {
        "engine": engine,
        "peak_rss_mb": round(_rss_mb(), 1),
        "seconds": round(time.perf_counter() - t, 2),
    }


def corpus_pdf(work: Path, n_pages: int) -> Path:
    """The generated ``n_pages``-page PDF of the end-to-end run (written once, then reused)."""
    from tiny_page_models import write_pdf

    path = work / f"corpus-{n_pages}.pdf"
    if not path.exists():
        write_pdf(path.with_suffix(".tmp"), [(612, 792)] * n_pages).rename(path)
    return path


def leg_index(
    art: Path, image_size: int, threads: int, n_pages: int, k: int, prefetch: int, work: Path
) -> dict:
    """End to end in tessera: PDF → pages → index (float/int8/binary) → queries with/without prefetch."""
    import numpy as np

    from tessera_onnx import PageIndex, TesseraPages

    pdf = corpus_pdf(work, n_pages)
    model = TesseraPages(art, threads=threads, image_size=image_size)
    t = time.perf_counter()
    vectors = [vec for _, _, vec in model.iter_pages(pdf)]
    index_s = time.perf_counter() - t
    rss_after_index = _rss_mb()
    out: dict[str, Any] = {
        "pages": len(vectors),
        "index_seconds": round(index_s, 2),
        "seconds_per_page": round(index_s / max(1, len(vectors)), 3),
        "tokens_per_page": int(np.median([len(v) for v in vectors])),
        "storages": {},
    }
    queries = (QUERIES * (1 + 40 // len(QUERIES)))[:40]
    q_vecs = model.encode_queries(queries)
    for storage in ("float", "int8", "binary"):
        index = PageIndex(storage)
        index.add(vectors)
        exhaustive, fast, same, same_set, overlap = [], [], 0, 0, []
        for q in q_vecs:
            t = time.perf_counter()
            full = index.search(q, k)
            exhaustive.append(time.perf_counter() - t)
            t = time.perf_counter()
            pre = index.search(q, k, prefetch=prefetch)
            fast.append(time.perf_counter() - t)
            same += int(list(full.indices) == list(pre.indices))
            same_set += int(set(full.indices) == set(pre.indices))
            overlap.append(len(set(full.indices) & set(pre.indices)) / len(full.indices))
        out["storages"][storage] = {
            "index_bytes": index.memory_bytes,
            "pooled_bytes": index.pooled_bytes,
            "search_ms_exhaustive_median": round(1000 * statistics.median(exhaustive), 3),
            "search_ms_prefetch_median": round(1000 * statistics.median(fast), 3),
            "prefetch": prefetch,
            "top10_equal_fraction": round(same / len(q_vecs), 4),
            "top10_same_set_fraction": round(same_set / len(q_vecs), 4),
            "top10_overlap_mean": round(float(np.mean(overlap)), 4),
        }
    lat = []
    for q in queries[:10]:
        t = time.perf_counter()
        model.encode_queries(q)
        lat.append(time.perf_counter() - t)
    out["query_encode_ms_median"] = round(1000 * statistics.median(lat), 2)
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    out["rss_after_index_mb"] = round(rss_after_index, 1)
    return out


def _subprocess(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"leg {args[:2]} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; write the JSON and markdown results; return the result dict."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny model, few pages (the smoke test)")
    ap.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="runtime knob: longest edge in px (default 512; quick 64)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pages", type=int, default=None, help="pages per timing round (default 3; quick 2)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--index-pages", type=int, default=None, help="pages of the end-to-end run (default 24; quick 12)"
    )
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--prefetch", type=int, default=0, help="pooled prefetch size (0: max(2k, pages/5))")
    ap.add_argument(
        "--precision", choices=["fp32", "int8"], default="fp32", help="the tessera artifact's weights"
    )
    ap.add_argument("--work", type=Path, default=CACHE)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--index-only",
        action="store_true",
        help="only the end-to-end run (e.g. --index-pages 1000), no torch; writes pages_index.json by default",
    )
    ap.add_argument("--leg", choices=["tessera", "torch", "index"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    quick = args.quick
    image_size = args.image_size or (64 if quick else 512)
    n_pages = args.pages or (2 if quick else 3)
    index_pages = args.index_pages or (12 if quick else 24)
    prefetch = args.prefetch or max(2 * args.k, index_pages // 5)
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt, art = prepare(args.work, quick, image_size, args.precision)
    if args.leg in ("tessera", "torch"):
        res = leg_rss(args.leg, ckpt, art, image_size, args.threads, n_pages)
        print(json.dumps(res))
        return res
    if args.leg == "index":
        res = leg_index(art, image_size, args.threads, index_pages, args.k, prefetch, args.work)
        print(json.dumps(res))
        return res

    from benchmarks.machine import cpu_info, load_average
    from tessera_onnx import TesseraPages

    load_start = load_average()
    if args.index_only:
        return index_only(args, art, image_size, index_pages, prefetch, load_start)
    started = time.perf_counter()
    images = pages(n_pages, seed=100)
    ours = TesseraPages(art, threads=args.threads, image_size=image_size)
    ref = Torch(ckpt, image_size, args.threads)
    ours.encode_images(images[:1])  # warm-up both (session creation, first-call allocations)
    ref.encode_images(images[:1], 4)
    rounds = []
    for r in range(args.rounds):
        row: dict[str, float] = {"round": r}
        t = time.perf_counter()
        ours.encode_images(images)
        row["tessera_s_per_page"] = (time.perf_counter() - t) / n_pages
        t = time.perf_counter()
        ref.encode_images(images, 4)
        row["torch_s_per_page"] = (time.perf_counter() - t) / n_pages
        tq, rq = [], []
        for q in QUERIES:
            t = time.perf_counter()
            ours.encode_queries(q)
            tq.append(time.perf_counter() - t)
            t = time.perf_counter()
            ref.encode_query(q)
            rq.append(time.perf_counter() - t)
        row["tessera_query_ms"] = 1000 * statistics.median(tq)
        row["torch_query_ms"] = 1000 * statistics.median(rq)
        rounds.append(row)
    del ref
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0] if k != "round"}
    common = ["--work", str(args.work), "--threads", str(args.threads), "--image-size", str(image_size)]
    common += ["--pages", str(n_pages), "--index-pages", str(index_pages), "--prefetch", str(prefetch)]
    common += ["--quick"] if quick else []
    common += ["--precision", args.precision]
    rss = {leg: _subprocess(["--leg", leg, *common]) for leg in ("tessera", "torch")}
    index = _subprocess(["--leg", "index", *common])
    res = {
        "benchmark": "pages_speed",
        "command": "python benchmarks/pages_speed.py"
        + (" --quick" if quick else "")
        + (
            f" --precision {args.precision} --out {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"
            if args.precision != "fp32"
            else ""
        ),
        "precision": args.precision,
        "parity": json.loads((art / "tessera.json").read_text())["parity"].get("end_to_end"),
        "model": "ColSmol-256M shapes (SmolVLM-256M), random weights" if not quick else "tiny ColIdefics3",
        "image_size": image_size,
        "tokens_per_page": len(ours.encode_images(images[0])),
        "threads": args.threads,
        "rounds": rounds,
        "median": {k: round(v, 4) for k, v in med.items()},
        "speedup_per_page": round(med["torch_s_per_page"] / med["tessera_s_per_page"], 2),
        "speedup_per_query": round(med["torch_query_ms"] / med["tessera_query_ms"], 2),
        "peak_rss": rss,
        "end_to_end": index,
        "cpu": cpu_info(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "notes": "torch = transformers Idefics3Processor + Idefics3Model (default sdpa attention) + the "
        "ColIdefics3 head, same thread count; both legs include preprocessing. Random weights: no quality figures.",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(res))
    return res


def index_only(
    args: argparse.Namespace, art: Path, image_size: int, index_pages: int, prefetch: int, load_start: list
) -> dict:
    """The end-to-end leg alone (its own subprocess), written to ``--out`` (default pages_index.json)."""
    from benchmarks.machine import cpu_info, load_average

    started = time.perf_counter()
    corpus_pdf(args.work, index_pages)  # rendered here, so the leg's peak RSS is the indexing alone
    common = ["--work", str(args.work), "--threads", str(args.threads), "--image-size", str(image_size)]
    common += ["--index-pages", str(index_pages), "--prefetch", str(prefetch), "--k", str(args.k)]
    common += (["--quick"] if args.quick else []) + ["--precision", args.precision]
    out = args.out if args.out != RESULTS else RESULTS.with_name("pages_index.json")
    res = {
        "benchmark": "pages_index",
        "command": "python benchmarks/pages_speed.py --index-only"
        + (" --quick" if args.quick else "")
        + f" --index-pages {index_pages} --threads {args.threads} --precision {args.precision}",
        "precision": args.precision,
        "model": "ColSmol-256M shapes (SmolVLM-256M), random weights"
        if not args.quick
        else "tiny ColIdefics3",
        "image_size": image_size,
        "threads": args.threads,
        "end_to_end": _subprocess(["--leg", "index", *common]),
        "cpu": cpu_info(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "notes": "Random weights: every page's vectors come from an untrained model, so scores between "
        "pages are close to ties and the prefetch agreement says nothing about trained checkpoints "
        "(measure that with benchmarks/pages_quality.py and real weights).",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(index_markdown(res))
    return res


def index_markdown(res: dict) -> str:
    """Markdown for an ``--index-only`` run."""
    e = res["end_to_end"]
    lines = [
        f"# pages_index — {res['model']}, image_size {res['image_size']}, {res['precision']}",
        "",
        f"CPU: {res['cpu']['model']} ({res['cpu']['cores']} cores, {' '.join(res['cpu']['simd_flags'])}); "
        f"threads {res['threads']}; load average {res['load_average_start']} → {res['load_average_end']}.",
        f"Command: `{res['command']}`",
        "",
        *_end_to_end_lines(e),
        "",
        res["notes"],
    ]
    return "\n".join(lines) + "\n"


def _end_to_end_lines(e: dict) -> list[str]:
    lines = [
        f"End to end (tessera): {e['pages']} PDF pages indexed in {e['index_seconds']} s "
        f"({e['seconds_per_page']} s/page, peak RSS {e['peak_rss_mb']} MB); query encode {e['query_encode_ms_median']} ms.",
        "",
        "| storage | index bytes | search ms exhaustive | search ms prefetch | prefetch | top-10 identical | same top-10 set | top-10 overlap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in e["storages"].items():
        lines.append(
            f"| {name} | {s['index_bytes']} | {s['search_ms_exhaustive_median']} | {s['search_ms_prefetch_median']} | "
            f"{s['prefetch']} | {s['top10_equal_fraction']} | {s['top10_same_set_fraction']} | {s['top10_overlap_mean']} |"
        )
    return lines


def markdown(res: dict) -> str:
    """A short markdown table of the results."""
    m, e = res["median"], res["end_to_end"]
    lines = [
        f"# pages_speed — {res['model']}, image_size {res['image_size']} ({res['tokens_per_page']} vectors/page)",
        "",
        f"CPU: {res['cpu']['model']} ({res['cpu']['cores']} cores, {' '.join(res['cpu']['simd_flags'])}); "
        f"threads {res['threads']}; load average {res['load_average_start']} → {res['load_average_end']}.",
        f"Command: `{res['command']}`",
        "",
        "| | tessera-onnx | torch | ratio |",
        "|---|---|---|---|",
        f"| seconds per page (median of {len(res['rounds'])} rounds) | {m['tessera_s_per_page']:.3f} | "
        f"{m['torch_s_per_page']:.3f} | {res['speedup_per_page']}× |",
        f"| query latency ms (median) | {m['tessera_query_ms']:.1f} | {m['torch_query_ms']:.1f} | {res['speedup_per_query']}× |",
        f"| peak RSS MB (own process) | {res['peak_rss']['tessera']['peak_rss_mb']} | {res['peak_rss']['torch']['peak_rss_mb']} | |",
        "",
        *_end_to_end_lines(e),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
