"""Image embedding speed: tessera-onnx (onnxruntime) vs transformers on torch, SigLIP base shapes.

The model has the architecture of ``google/siglip-base-patch16-224`` (vision ViT-B/16 at 224 px,
text 12 x 768 with a 32k vocabulary; random seeded weights, since no SigLIP weights can be
downloaded here; speed does not depend on the weight values). It is exported with
``tessera_export.build_artifact`` into ``benchmarks/.cache/vision/`` and timed as:

- ``torch``: ``SiglipImageProcessor`` (slow, PIL, what transformers 4.57 uses without torchvision)
  + ``SiglipModel.get_image_features`` under ``torch.inference_mode()``, ``torch.set_num_threads(T)``;
- ``tessera``: ``TesseraImageText(..., threads=T).encode_images`` — decoding and preprocessing in
  its thread pool, onnxruntime with T intra-op threads.

Both start from the same encoded image files (real photographs bundled by scikit-image /
scikit-learn / matplotlib, cycled). Figures:

- images/s at batch 32, end to end (files → vectors), and model-only (the same ``pixel_values``
  through each engine: torch in one call of 32, tessera in the runtime's calls of ``graph_batch``
  = 4 images), in interleaved rounds (medians; ratio = median of same-round ratios);
- single-image latency (one file → vector), interleaved, medians;
- cold start to the first image embedding and peak RSS, each engine in a fresh process
  (``VmHWM`` after embedding a batch of 32);
- cosine between the two engines' vectors;
- the machine limit: FLOPs per image of the ViT tower and the fp32 GEMM peak at the same thread
  count (``python -m benchmarks.gemm``), i.e. the most images/s any fp32 engine can reach here.

    python benchmarks/vision_speed.py            # ~10 min on 2 cores; writes benchmarks/results/vision_speed.json
    python benchmarks/vision_speed.py --quick    # tiny model, seconds (the smoke test runs this)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "vision_speed.json"
CACHE = ROOT / "benchmarks" / ".cache" / "vision"
sys.path.insert(
    0, str(ROOT / "tests" / "support")
)  # tiny_vision_models: tokenizer + preprocessor of the test checkpoints
if str(ROOT) not in sys.path:  # benchmarks.gemm when run as a script
    sys.path.insert(0, str(ROOT))

SIGLIP_BASE = {
    "text": dict(
        vocab_size=32000,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=64,
    ),
    "vision": dict(
        image_size=224,
        patch_size=16,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
    ),
}
QUICK = {
    "text": dict(
        vocab_size=1000,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
    ),
    "vision": dict(
        image_size=224,
        patch_size=16,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
    ),
}


def prepare(work: Path, shapes: dict, tag: str) -> tuple[Path, Path]:
    """Write a random-weight SigLIP checkpoint with ``shapes`` and export it; reuse a cached one."""
    ckpt, art = work / f"ckpt-{tag}", work / f"art-{tag}"
    if (art / "tessera.json").is_file():
        return ckpt, art
    import torch
    from tessera_export import build_artifact
    from tiny_vision_models import SIGLIP_PREPROCESSOR, _spiece_model
    from transformers import SiglipConfig, SiglipModel, SiglipTokenizer

    ckpt.mkdir(parents=True, exist_ok=True)
    tok = SiglipTokenizer(str(_spiece_model(ckpt / "spiece.model")))
    torch.manual_seed(0)
    text = dict(shapes["text"], pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=shapes["vision"])).eval()
    model.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    (ckpt / "preprocessor_config.json").write_text(json.dumps(SIGLIP_PREPROCESSOR))
    del model
    build_artifact(ckpt, art, model_id=f"siglip-{tag}-random", overwrite=True)
    return ckpt, art


def image_files(n: int) -> list[str]:
    from tiny_vision_models import real_image_paths

    paths = [str(p) for k, p in sorted(real_image_paths().items()) if not k.endswith(".gif")]
    if not paths:
        raise SystemExit("install scikit-image / scikit-learn / matplotlib for the benchmark images")
    return [paths[i % len(paths)] for i in range(n)]


_COLD = r"""
import time, sys, json
t0 = time.perf_counter()
engine, ckpt, art, threads, files = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
if engine == "tessera":
    from tessera_onnx import TesseraImageText
    m = TesseraImageText(art, threads=threads, device="cpu")
    first = m.encode_images(files[0])
    cold = time.perf_counter() - t0
    m.encode_images(files, batch_size=32)
else:
    import torch
    from transformers import SiglipImageProcessor, SiglipModel
    from PIL import Image
    torch.set_num_threads(threads)
    model = SiglipModel.from_pretrained(ckpt).eval()
    proc = SiglipImageProcessor.from_pretrained(ckpt, do_convert_rgb=True)
    def run(paths):
        px = proc(images=[Image.open(p) for p in paths], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            return model.get_image_features(pixel_values=px).numpy()
    run(files[:1])
    cold = time.perf_counter() - t0
    run(files)
# VmHWM: this process's own peak (ru_maxrss would include the parent's RSS at fork)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"cold_start_s": cold, "peak_rss_mb": hwm}))
"""


def cold_runs(engine: str, ckpt: Path, art: Path, threads: int, files: list[str], rounds: int) -> list[dict]:
    out = []
    for _ in range(rounds):
        res = subprocess.run(
            [sys.executable, "-c", _COLD, engine, str(ckpt), str(art), str(threads), *files],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return out


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; write the JSON (+ .md) result and return it."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny model and few images (smoke test)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=32, help="images per throughput round (batch 32)")
    ap.add_argument("--latency-n", type=int, default=5, help="single-image calls per engine per round")
    ap.add_argument("--cold-rounds", type=int, default=2)
    ap.add_argument("--no-gemm", action="store_true", help="skip the fp32 GEMM peak measurement")
    ap.add_argument("--work", type=Path, default=CACHE)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    load_start = os.getloadavg()
    shapes, tag = (QUICK, "quick") if args.quick else (SIGLIP_BASE, "base")
    ckpt, art = prepare(args.work, shapes, tag)
    measure_gemm = not (args.quick or args.no_gemm)
    gemm_runs = [gemm_peak(args.threads)] if measure_gemm else []  # once before, once after the rounds

    import numpy as np
    import torch
    from PIL import Image
    from transformers import SiglipImageProcessor, SiglipModel

    from tessera_onnx import TesseraImageText

    torch.set_num_threads(args.threads)
    files = image_files(args.images)
    ours = TesseraImageText(art, threads=args.threads, device="cpu", batch_size=32)
    model = SiglipModel.from_pretrained(str(ckpt)).eval()
    proc = SiglipImageProcessor.from_pretrained(str(ckpt), do_convert_rgb=True)

    def torch_images(paths):
        px = proc(images=[Image.open(p) for p in paths], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            return model.get_image_features(pixel_values=px).numpy()

    pixels = ours.preprocessor.batch(files[:32], workers=ours.workers)

    def torch_model_only(px):
        with torch.inference_mode():
            return model.get_image_features(pixel_values=torch.from_numpy(px)).numpy()

    def ours_model_only(px):  # graph calls as the runtime makes them: graph_batch images each
        step = ours.graph_batch
        return [
            ours._image_session.run(["image_embeds"], {"pixel_values": px[i : i + step]})[0]
            for i in range(0, len(px), step)
        ]

    a = ours.encode_images(files, normalize=False)
    b = torch_images(files)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    rounds = []
    for r in range(args.rounds):
        row: dict[str, float] = {}
        order = ("tessera", "torch") if r % 2 == 0 else ("torch", "tessera")
        for engine in order:
            e2e = ours.encode_images if engine == "tessera" else torch_images
            only = ours_model_only if engine == "tessera" else torch_model_only
            row[f"{engine}_images_per_s"] = len(files) / timed(e2e, files)
            row[f"{engine}_model_only_images_per_s"] = len(pixels) / timed(only, pixels)
            row[f"{engine}_single_ms"] = statistics.median(
                timed(e2e, [files[i % len(files)]]) * 1000 for i in range(args.latency_n)
            )
        rounds.append(row)

    def med(key):
        return statistics.median(r[key] for r in rounds)

    def ratio(num, den):
        return statistics.median(r[num] / r[den] for r in rounds)

    cold = {
        e: cold_runs(e, ckpt, art, args.threads, files[:32], args.cold_rounds) for e in ("tessera", "torch")
    }
    cold_med = {
        e: {k: statistics.median(x[k] for x in v) for k in ("cold_start_s", "peak_rss_mb")} if v else {}
        for e, v in cold.items()
    }
    import onnxruntime

    if measure_gemm:
        gemm_runs.append(gemm_peak(args.threads))
    limit = machine_limit(shapes["vision"], gemm_runs)
    for engine in ("tessera", "torch"):
        rate = med(f"{engine}_model_only_images_per_s")
        limit[f"{engine}_model_only_gflops"] = rate * limit["gflop_per_image"]
        if limit.get("peak_gflops"):
            limit[f"{engine}_fraction_of_peak"] = limit[f"{engine}_model_only_gflops"] / limit["peak_gflops"]
    result = {
        "model": "SigLIP "
        + ("base-patch16-224 shapes" if not args.quick else "tiny shapes (quick)")
        + ", random weights",
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "vision_parameters": int(sum(p.numel() for p in model.vision_model.parameters())),
        "threads": args.threads,
        "rounds": args.rounds,
        "images_per_round": len(files),
        "batch_size": 32,
        "cosine_tessera_vs_torch": {"min": float(cos.min()), "mean": float(cos.mean())},
        "images_per_s": {
            "tessera": med("tessera_images_per_s"),
            "torch": med("torch_images_per_s"),
            "ratio": ratio("tessera_images_per_s", "torch_images_per_s"),
        },
        "model_only_images_per_s": {
            "tessera": med("tessera_model_only_images_per_s"),
            "torch": med("torch_model_only_images_per_s"),
            "ratio": ratio("tessera_model_only_images_per_s", "torch_model_only_images_per_s"),
        },
        "single_image_ms": {
            "tessera": med("tessera_single_ms"),
            "torch": med("torch_single_ms"),
            "ratio_torch_over_tessera": ratio("torch_single_ms", "tessera_single_ms"),
        },
        "cold_start_s": {e: v.get("cold_start_s") for e, v in cold_med.items()},
        "peak_rss_mb": {e: v.get("peak_rss_mb") for e, v in cold_med.items()},
        "targets": {
            "images_per_s_ratio": ">= 2",
            "cosine": ">= 0.9999",
            "cold_start_s": "<= 0.5",
            "peak_rss": "<= half of torch's",
        },
        "machine_limit": limit,
        "rounds_raw": rounds,
        "cold_raw": cold,
        "machine": {
            "cpu": _cpu(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
        },
        "versions": {
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "transformers": __import__("transformers").__version__,
            "numpy": np.__version__,
        },
        "command": "python benchmarks/vision_speed.py" + (" --quick" if args.quick else ""),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return result


def vision_flops(vision: dict) -> dict:
    """FLOPs of one image through a ViT vision tower (multiply-add = 2), as :func:`benchmarks.gemm.encoder_flops`
    counts a text encoder, plus the patch embedding (a GEMM over the patches). The SigLIP pooling head
    (one query token) and the norms are left out (< 1%)."""
    from benchmarks.gemm import encoder_flops

    patches = (vision["image_size"] // vision["patch_size"]) ** 2
    enc = encoder_flops(vision, patches)
    patch = 2 * patches * 3 * vision["patch_size"] ** 2 * vision["hidden_size"]
    return {
        "tokens": patches,
        "encoder": enc["total"],
        "patch_embedding": patch,
        "total": enc["total"] + patch,
    }


def gemm_peak(threads: int) -> dict:
    """``python -m benchmarks.gemm`` with the BLAS/OpenMP thread variables set before numpy loads."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks.gemm", "--threads", str(threads)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    if p.returncode != 0:
        return {"error": p.stderr[-500:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def machine_limit(vision: dict, gemm_runs: list[dict]) -> dict:
    """FLOPs per image and, from ``benchmarks.gemm`` runs, the images/s ceiling at the fp32 GEMM peak.

    The peak is the best of the runs (the machine is shared: the lower run saw more contention)."""
    flops = vision_flops(vision)
    out: dict = {"gflop_per_image": flops["total"] / 1e9, "flops": flops}
    peaks = [g["peak_gflops"] for g in gemm_runs if "peak_gflops" in g]
    if gemm_runs:
        out["gemm_runs"] = gemm_runs
    if peaks:
        out["peak_gflops_runs"] = peaks
        out["peak_gflops"] = max(peaks)
        out["images_per_s_at_peak"] = out["peak_gflops"] / out["gflop_per_image"]
    return out


def _cpu() -> dict:
    info = {"model": platform.processor(), "flags": ""}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["model"] = value.strip()
            if key.strip() == "Flags":
                flags = value.split()
                info["flags"] = " ".join(
                    f for f in flags if f.startswith(("avx", "fma", "f16c", "amx", "vnni"))
                )
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def markdown(res: dict) -> str:
    """The result as a small Markdown table."""
    m = res["machine"]
    ips, mo, lat = res["images_per_s"], res["model_only_images_per_s"], res["single_image_ms"]
    cs, rss = res["cold_start_s"], res["peak_rss_mb"]

    def f(v, fmt="{:.2f}"):
        return "—" if v is None else fmt.format(v)

    return "\n".join(
        [
            f"{res['model']}; {res['threads']} threads for both engines; {res['rounds']} interleaved rounds of "
            f"{res['images_per_round']} images at batch {res['batch_size']}. CPU: {m['cpu']['model']} "
            f"({m['cpu']['flags']}), {m['cores']} cores, load average {m['loadavg_start'][0]:.1f} → "
            f"{m['loadavg_end'][0]:.1f}. Command: `{res['command']}`.",
            "",
            "| | tessera (onnxruntime) | transformers (torch) | tessera / torch |",
            "|---|---|---|---|",
            f"| images/s, files → vectors, batch 32 | {f(ips['tessera'])} | {f(ips['torch'])} | {f(ips['ratio'])}× |",
            f"| images/s, model only, batch 32 | {f(mo['tessera'])} | {f(mo['torch'])} | {f(mo['ratio'])}× |",
            f"| single image, ms | {f(lat['tessera'], '{:.0f}')} | {f(lat['torch'], '{:.0f}')} | "
            f"{f(lat['ratio_torch_over_tessera'])}× faster |",
            f"| cold start to first image vector, s | {f(cs['tessera'])} | {f(cs['torch'])} | |",
            f"| peak RSS, MB | {f(rss['tessera'], '{:.0f}')} | {f(rss['torch'], '{:.0f}')} | "
            f"{f(None if not rss['torch'] else rss['tessera'] / rss['torch'])} |",
            f"| cosine tessera vs torch (min) | {res['cosine_tessera_vs_torch']['min']:.6f} | | |",
            "",
            *_limit_lines(res.get("machine_limit") or {}),
        ]
    )


def _limit_lines(lim: dict) -> list[str]:
    if not lim:
        return []
    line = f"Machine limit: {lim['gflop_per_image']:.1f} GFLOP per image (ViT encoder + patch embedding)"
    if lim.get("peak_gflops"):
        line += (
            f"; fp32 GEMM peak at these threads {lim['peak_gflops']:.0f} GFLOP/s (best of {len(lim['peak_gflops_runs'])} runs of `python -m benchmarks.gemm`) "
            f"→ at most {lim['images_per_s_at_peak']:.2f} images/s; model-only tessera "
            f"{lim['tessera_model_only_gflops']:.0f} GFLOP/s ({lim['tessera_fraction_of_peak'] * 100:.0f}% of peak), "
            f"torch {lim['torch_model_only_gflops']:.0f} GFLOP/s ({lim['torch_fraction_of_peak'] * 100:.0f}%)"
        )
    return [line + ".", ""]


if __name__ == "__main__":
    main()
