"""ColQwen2 page and query speed: tessera-onnx (onnxruntime) vs transformers ``ColQwen2ForRetrieval`` on torch.

The model has the widths of Qwen2-VL-2B (vision 1280 wide, 16 heads, MLP 5120, merger to 1536;
language 1536 wide, 12 heads / 2 KV heads, MLP 8960, M-RoPE sections 16/24/24; projection to
128) with random seeded weights (no ColQwen2 weights can be downloaded here). The full model
(32 vision + 28 language layers, 2.2 B parameters, ~8.8 GB in fp32) does not fit the ~4 GB per
process this shared machine allows, so the depth is cut (default 2 vision + 2 language layers,
``--vision-layers`` / ``--text-layers``) and the vocabulary is the tests' 600-token one; time
per layer is what the two engines differ in. Pages are capped at 768 visual tokens
(colpali-engine's ``max_num_visual_tokens`` for ColQwen2, ``max_pixels = 768·28·28``).

- ``torch``: ``ColQwen2Processor`` (slow ``Qwen2VLImageProcessor``) + ``ColQwen2ForRetrieval``
  (default SDPA attention) under ``torch.inference_mode()``, ``torch.set_num_threads(T)``;
- ``tessera``: ``Tessera(artifact, threads=T)`` (``encode_images`` / ``encode_queries``);
- ``tessera int8``: the same checkpoint exported with ``precision="int8"`` (both graphs'
  MatMuls and the embedding Gather, weights int8 per channel, activations quantised on the fly).

Both embed the same PIL pages (a rendered letter page at 200 dpi → 768 visual tokens, and
scikit-image's scanned ``page.png``) one at a time, and the same queries one at a time, in
interleaved rounds (medians; ratio = median of the same-round ratios). Peak RSS per engine is
measured in a fresh process (``VmHWM`` after one page and one query). Cosine between the two
engines' vectors is reported.

    python benchmarks/pages_qwen2_speed.py           # ~5 min on 2 cores; benchmarks/results/pages_qwen2_speed.json
    python benchmarks/pages_qwen2_speed.py --quick   # tiny model, seconds (the smoke test runs this)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = {
    "qwen2_vl": ROOT / "benchmarks" / "results" / "pages_qwen2_speed.json",
    "qwen2_5_vl": ROOT / "benchmarks" / "results" / "pages_qwen2_5_speed.json",
}
CACHE = ROOT / "benchmarks" / ".cache" / "pages_qwen2"
sys.path.insert(
    0, str(ROOT / "tests" / "support")
)  # tiny_qwen2_models: tokenizer + checkpoint writer of the tests
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QWEN2_VL_2B_VISION = dict(
    embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4, hidden_act="quick_gelu"
)
QWEN2_VL_2B_TEXT = dict(
    hidden_size=1536,
    intermediate_size=8960,
    num_attention_heads=12,
    num_key_value_heads=2,
    rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
    rope_theta=1000000.0,
)
# Qwen2.5-VL-3B: SwiGLU vision MLP, RMSNorm, 112-px attention windows (4 of 32 blocks attend to the
# whole image: the cut model keeps one windowed and one full block), merger to 2048
QWEN25_VL_3B_VISION = dict(
    hidden_size=1280,
    out_hidden_size=2048,
    intermediate_size=3420,
    num_heads=16,
    hidden_act="silu",
    window_size=112,
)
QWEN25_VL_3B_TEXT = dict(
    hidden_size=2048,
    intermediate_size=11008,
    num_attention_heads=16,
    num_key_value_heads=2,
    rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
    rope_theta=1000000.0,
)
WIDTHS = {
    "qwen2_vl": ("Qwen2-VL-2B", QWEN2_VL_2B_TEXT, QWEN2_VL_2B_VISION, {"vision": 32, "text": 28}),
    "qwen2_5_vl": ("Qwen2.5-VL-3B", QWEN25_VL_3B_TEXT, QWEN25_VL_3B_VISION, {"vision": 32, "text": 36}),
}
QUERIES = [
    "What was the total revenue in the fourth quarter?",
    "organisational chart of the research division",
    "table of contents",
    "Which figure shows the temperature over time?",
]


def prepare(work: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """Write the random-weight checkpoint and export it with ``build_pages_artifact``; reuse a cached one."""
    tag = "quick" if args.quick else f"{args.family}-v{args.vision_layers}-t{args.text_layers}-{args.tokens}"
    ckpt, art = work / f"ckpt-{tag}", work / f"art-{tag}"
    if (art / "tessera.json").is_file():
        return ckpt, art
    if (ckpt / "config.json").is_file():  # checkpoint written by an earlier run: export only
        from tessera_export.pages import build_pages_artifact

        build_pages_artifact(ckpt, art, model_id=f"colqwen2-{tag}-random", overwrite=True)
        return ckpt, art
    from tessera_export.pages import build_pages_artifact
    from tiny_qwen2_models import write_tiny_colqwen2

    sizes = {}
    if not args.quick:
        _, text, vision, _ = WIDTHS[args.family]
        depth = {"depth": args.vision_layers}
        if args.family == "qwen2_5_vl":  # the last block attends to the whole image, the others to windows
            depth["fullatt_block_indexes"] = [args.vision_layers - 1]
        sizes = dict(
            text_sizes={**text, "num_hidden_layers": args.text_layers},
            vision_sizes={**vision, **depth},
            embedding_dim=128,
        )
    write_tiny_colqwen2(ckpt, args.family, preprocessor={"max_pixels": args.tokens * 28 * 28}, **sizes)
    build_pages_artifact(ckpt, art, model_id=f"colqwen2-{tag}-random", overwrite=True)
    return ckpt, art


def prepare_int8(ckpt: Path, art: Path) -> Path:
    """The int8 artifact of ``ckpt`` (both graphs, weights per channel; cosine floor vs fp32 torch); cached."""
    out = art.with_name(art.name + "-int8")
    if not (out / "tessera.json").is_file():
        from tessera_export.pages import build_pages_artifact

        build_pages_artifact(ckpt, out, model_id=out.name, precision="int8", overwrite=True)
    return out


def letter_page(dpi: int = 200):
    """A synthetic US-letter page (8.5 × 11 in at ``dpi``): title, paragraphs of text, a table, a chart."""
    from PIL import Image, ImageDraw

    w, h = int(8.5 * dpi), int(11 * dpi)
    page = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(page)
    draw.text((dpi, dpi // 2), "Quarterly report: revenue and operations", fill="black")
    for i in range(40):
        y = dpi + i * dpi // 6
        draw.text(
            (dpi, y),
            f"Line {i}: the quick brown fox jumps over the lazy dog; revenue grew {i}% this term.",
            fill="black",
        )
    for r in range(6):
        for c in range(4):
            x0, y0 = dpi + c * dpi, 8 * dpi + r * dpi // 4
            draw.rectangle((x0, y0, x0 + dpi, y0 + dpi // 4), outline="black")
    for i in range(10):
        draw.rectangle((6 * dpi + i * 12, 9 * dpi - i * 20, 6 * dpi + i * 12 + 8, 9 * dpi), fill="navy")
    return page


def pages_for_run(quick: bool) -> list:
    from PIL import Image
    from tiny_vision_models import real_image_paths

    pages = [letter_page(60 if quick else 200)]
    scan = real_image_paths().get("skimage/page.png")
    if scan is not None:
        with Image.open(scan) as im:
            pages.append(im.convert("RGB"))
    return pages


_RSS = r"""
import sys, json
engine, ckpt, art, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, sys.argv[5])
from pages_qwen2_speed import letter_page
page = letter_page(int(sys.argv[6]))
if engine == "tessera":
    from tessera_onnx import Tessera
    m = Tessera(art, threads=threads, device="cpu")
    m.encode_images(page); m.encode_queries("a query")
else:
    import torch
    from transformers import ColQwen2ForRetrieval, ColQwen2Processor
    torch.set_num_threads(threads)
    model = ColQwen2ForRetrieval.from_pretrained(ckpt).eval()
    visual = model.vlm.visual
    if not hasattr(visual, "get_dtype"):  # transformers 4.57 calls it; only the Qwen2-VL tower has it
        visual.get_dtype = lambda: next(visual.parameters()).dtype
    proc = ColQwen2Processor.from_pretrained(ckpt)
    with torch.inference_mode():
        model(**proc.process_images([page])); model(**proc.process_queries(["a query"]))
with open("/proc/self/status") as fh:
    hwm = [int(l.split()[1]) for l in fh if l.startswith("VmHWM")][0]
print(json.dumps({"peak_rss_mb": round(hwm / 1024, 1)}))
"""


def peak_rss(engine: str, ckpt: Path, art: Path, threads: int, dpi: int) -> float:
    """Peak RSS (MB) of a fresh process that embeds one letter page and one query with ``engine``."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS,
            engine,
            str(ckpt),
            str(art),
            str(threads),
            str(Path(__file__).parent),
            str(dpi),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def _cos(a, b) -> float:
    import numpy as np

    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(((a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))).min())


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; write the JSON (+ .md) result unless ``--out ''``; return the result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny model, one round (smoke test)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vision-layers", type=int, default=2)
    parser.add_argument("--text-layers", type=int, default=2)
    parser.add_argument(
        "--tokens", type=int, default=768, help="max visual tokens per page (max_pixels / 784)"
    )
    parser.add_argument("--work", type=Path, default=CACHE)
    parser.add_argument("--no-rss", action="store_true", help="skip the fresh-process peak RSS runs")
    parser.add_argument(
        "--no-int8", action="store_true", help="skip the int8 artifact (always skipped with --quick)"
    )
    parser.add_argument(
        "--family", choices=sorted(RESULTS), default="qwen2_vl", help="ColQwen2 or ColQwen2.5"
    )
    parser.add_argument("--out", default=None, help="result JSON (default benchmarks/results/<family file>)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = str(RESULTS[args.family])
    if args.quick:
        args.rounds, args.tokens = 1, 48
    import numpy as np
    import torch
    from transformers import ColQwen2Processor

    from benchmarks.machine import load_average, run_header, save_result
    from tessera_onnx import Tessera

    load_start = load_average()
    ckpt, art = prepare(args.work, args)
    torch.set_num_threads(args.threads)
    from tessera_export.pages.qwen2vl import load_colqwen2

    ref_model = load_colqwen2(ckpt, attn_implementation="sdpa")  # transformers' default attention
    proc = ColQwen2Processor.from_pretrained(str(ckpt))
    ours = Tessera(art, threads=args.threads, device="cpu")
    art8 = None if (args.quick or args.no_int8) else prepare_int8(ckpt, art)
    pages = pages_for_run(args.quick)

    def torch_page(page):
        with torch.inference_mode():
            batch = proc.process_images([page])
            out = ref_model(**batch).embeddings[0]
            return out[batch["attention_mask"][0] > 0].numpy()

    def torch_query(text):
        with torch.inference_mode():
            batch = proc.process_queries([text])
            out = ref_model(**batch).embeddings[0]
            return out[batch["attention_mask"][0] > 0].numpy()

    engines = {
        "torch": (torch_page, torch_query),
        "tessera": (ours.encode_images, ours.encode_queries),
    }
    if art8 is not None:
        ours8 = Tessera(art8, threads=args.threads, device="cpu")
        engines["tessera int8"] = (ours8.encode_images, ours8.encode_queries)
    contenders = [e for e in engines if e != "torch"]
    tokens = [ours.family.compute_grid(p.width, p.height).image_tokens for p in pages]
    for fn_page, fn_query in engines.values():  # warm-up (sessions, allocator, first-call costs)
        fn_page(pages[0])
        fn_query(QUERIES[0])
    per_page: dict[str, list[float]] = {e: [] for e in engines}
    per_query: dict[str, list[float]] = {e: [] for e in engines}
    page_ratios: dict[str, list[float]] = {e: [] for e in contenders}
    query_ratios: dict[str, list[float]] = {e: [] for e in contenders}
    vectors: dict[str, list] = {e: [] for e in engines}
    for rnd in range(args.rounds):
        order = list(engines) if rnd % 2 == 0 else list(reversed(engines))
        round_page, round_query = {}, {}
        for name in order:
            fn_page, fn_query = engines[name]
            t0 = time.perf_counter()
            outs = [fn_page(p) for p in pages]
            round_page[name] = (time.perf_counter() - t0) / len(pages)
            times = []
            for q in QUERIES:
                t = time.perf_counter()
                fn_query(q)
                times.append(time.perf_counter() - t)
            round_query[name] = statistics.median(times)
            per_page[name].append(round_page[name])
            per_query[name].append(round_query[name])
            if rnd == 0:
                vectors[name] = outs
        for e in contenders:
            page_ratios[e].append(round_page["torch"] / round_page[e])
            query_ratios[e].append(round_query["torch"] / round_query[e])
    cosine = {
        e: round(min(_cos(a, b) for a, b in zip(vectors[e], vectors["torch"], strict=True)), 6)
        for e in contenders
    }
    rss = {}
    if not args.no_rss:
        dpi = 60 if args.quick else 200
        arts = {"torch": art, "tessera": art, "tessera int8": art8}
        rss = {e: peak_rss(e.split()[0], ckpt, arts[e], args.threads, dpi) for e in engines}
    manifest = json.loads((art / "tessera.json").read_text())
    command = "python benchmarks/pages_qwen2_speed.py" + (" --quick" if args.quick else "")
    for flag, value, default in (
        ("--family", args.family, "qwen2_vl"),
        ("--vision-layers", args.vision_layers, 2),
        ("--text-layers", args.text_layers, 2),
        ("--tokens", args.tokens, 48 if args.quick else 768),
        ("--threads", args.threads, 2),
    ):
        if value != default:
            command += f" {flag} {value}"
    widths, _, _, full_layers = WIDTHS[args.family]
    res = {
        **run_header("pages_qwen2_speed", command, args.threads, load_start),
        "model": {
            "family": args.family,
            "widths": widths if not args.quick else "tiny test model",
            "vision_layers": args.vision_layers if not args.quick else 2,
            "text_layers": args.text_layers if not args.quick else 2,
            "full_model_layers": full_layers,
            "max_visual_tokens": args.tokens,
            "page_image_tokens": tokens,
            "parameters_mb_fp32": round(sum(p.numel() for p in ref_model.parameters()) * 4 / 2**20, 1),
            "export_parity_end_to_end": manifest["parity"].get("end_to_end", {}),
        },
        "rounds": args.rounds,
        "seconds_per_page": {e: round(statistics.median(v), 4) for e, v in per_page.items()},
        "seconds_per_query": {e: round(statistics.median(v), 5) for e, v in per_query.items()},
        "speedup_per_page": {e: round(statistics.median(v), 3) for e, v in page_ratios.items()},
        "speedup_per_query": {e: round(statistics.median(v), 3) for e, v in query_ratios.items()},
        "min_cosine_page_vectors_vs_torch": cosine,
        "int8_export_parity": json.loads((art8 / "tessera.json").read_text())["parity"] if art8 else None,
        "peak_rss_mb": rss,
        "raw": {"per_page": per_page, "per_query": per_query},
        "versions": {
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "onnxruntime": __import__("onnxruntime").__version__,
            "numpy": np.__version__,
        },
    }
    res["load_average"]["end"] = load_average()
    md = (
        f"# ColQwen2 speed ({res['model']['widths']}, {res['model']['vision_layers']} vision + "
        f"{res['model']['text_layers']} language layers, ≤{args.tokens} visual tokens, {args.threads} threads)\n\n"
        f"CPU: {res['machine']['model']}; load {res['load_average']}\n\n"
        "| engine | s / page | s / query | page speed-up vs torch | query speed-up | min cosine to torch "
        "(page vectors) | peak RSS MB |\n|---|---|---|---|---|---|---|\n"
        + "".join(
            f"| {e} | {res['seconds_per_page'][e]} | {res['seconds_per_query'][e]} | "
            f"{res['speedup_per_page'].get(e, '-')} | {res['speedup_per_query'].get(e, '-')} | "
            f"{cosine.get(e, '-')} | {rss.get(e, '-')} |\n"
            for e in engines
        )
        + f"\nMedians of {args.rounds} interleaved rounds (speed-up: median of same-round ratios); pages of "
        f"{tokens} visual tokens.\n\n`{command}`\n"
    )
    save_result(res, md, args.out)
    return res


if __name__ == "__main__":
    main()
