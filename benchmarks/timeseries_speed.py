"""Forecast latency/throughput: tessera-onnx (onnxruntime) vs granite-tsfm on torch, same model.

The model has the architecture of ``ttm-r2-512-96`` (context 512, prediction 96, patch 64,
d_model 192, adaptive patching 3 levels, decoder 128 x 2 layers; random seeded weights, since no
TTM weights can be downloaded here - speed does not depend on the weight values). It is
exported with ``tessera_export.timeseries.build_timeseries_artifact`` and timed as:

- ``torch``: ``TinyTimeMixerForPrediction(past_values=torch.from_numpy(x))`` under
  ``torch.inference_mode()``, ``torch.set_num_threads(2)``, output back to numpy;
- ``tessera``: ``TesseraTimeSeries(..., threads=2).forecast(x)`` - the full runtime path
  (window fitting, observed mask, onnxruntime with 2 intra-op threads, output slicing).

Both get the same numpy ``[B, 512, 1]`` batch. Rounds alternate the engines (interleaved) and
the medians of the per-call latencies are reported, for batch 1 and batch 64.

    python benchmarks/timeseries_speed.py            # writes benchmarks/results/timeseries_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "timeseries_speed.json"

R2_512_96 = dict(
    context_length=512,
    prediction_length=96,
    patch_length=64,
    patch_stride=64,
    num_input_channels=1,
    d_model=192,
    num_layers=2,
    expansion_factor=2,
    adaptive_patching_levels=3,
    decoder_d_model=128,
    decoder_num_layers=2,
    decoder_adaptive_patching_levels=0,
    dropout=0.2,
    head_dropout=0.2,
    scaling="std",
    gated_attn=True,
    norm_mlp="LayerNorm",
)


def _calls(fn, x, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _time_engines(ts, torch_forecast, args, threads: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for b in (int(v) for v in args.batches.split(",")):
        t = np.arange(512)
        x = (
            np.sin(t[None, :, None] / rng.uniform(5, 50, size=(b, 1, 1))) * 3
            + 10
            + rng.normal(0, 0.3, size=(b, 512, 1))
        ).astype(np.float32)
        ref = torch_forecast(x)
        got = ts.forecast(x)
        max_diff = float(np.abs(ref - got).max())
        calls = max(3, args.calls // max(1, b // 8))
        for fn in (torch_forecast, ts.forecast):  # warm-up
            _calls(fn, x, 3)
        lat: dict[str, list[float]] = {"torch": [], "tessera": []}
        for r in range(args.rounds):
            order = (("torch", torch_forecast), ("tessera", ts.forecast))
            for name, fn in order if r % 2 == 0 else order[::-1]:
                lat[name].append(statistics.median(_calls(fn, x, calls)))
        med = {k: statistics.median(v) for k, v in lat.items()}
        rows.append(
            {
                "threads": threads,
                "batch": b,
                "torch_ms_median": round(med["torch"], 3),
                "tessera_ms_median": round(med["tessera"], 3),
                "speedup": round(med["torch"] / med["tessera"], 2),
                "torch_series_per_s": round(b * 1000 / med["torch"], 1),
                "tessera_series_per_s": round(b * 1000 / med["tessera"], 1),
                "torch_ms_rounds": [round(v, 3) for v in lat["torch"]],
                "tessera_ms_rounds": [round(v, 3) for v in lat["tessera"]],
                "max_abs_diff": max_diff,
            }
        )
        print(
            f"threads {threads} batch {b:3d}: torch {med['torch']:.2f} ms, tessera {med['tessera']:.2f} ms "
            f"-> {med['torch'] / med['tessera']:.2f}x",
            file=sys.stderr,
        )
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--also-threads",
        default="1",
        help="extra thread counts to time as a supplement (comma-separated; '' for none)",
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument(
        "--calls", type=int, default=20, help="calls per round at batch 1 (fewer for big batches)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import torch
    from tessera_export.timeseries import build_timeseries_artifact, load_tsfm

    from tessera_onnx.timeseries import TesseraTimeSeries

    torch.set_num_threads(args.threads)
    modeling = load_tsfm()
    torch.manual_seed(0)
    model = modeling.TinyTimeMixerForPrediction(modeling.TinyTimeMixerConfig(**R2_512_96)).eval()
    params = sum(p.numel() for p in model.parameters())

    def torch_forecast(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(past_values=torch.from_numpy(x), return_loss=False).prediction_outputs.numpy()

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(Path(tmp) / "ckpt")
        manifest = build_timeseries_artifact(
            Path(tmp) / "ckpt",
            Path(tmp) / "art",
            spec=None,
            model_id="ttm-r2-512-96-arch",
            progress=lambda m: None,
        )
        rows = []
        extra = [int(v) for v in args.also_threads.split(",") if v.strip()]
        for threads in [args.threads, *[t for t in extra if t != args.threads]]:
            torch.set_num_threads(threads)
            ts = TesseraTimeSeries(Path(tmp) / "art", device="cpu", threads=threads)
            rows.extend(_time_engines(ts, torch_forecast, args, threads))
    import onnxruntime

    result = {
        "model": "TinyTimeMixer, ttm-r2-512-96 architecture (random weights)",
        "parameters": params,
        "threads": args.threads,
        "note": "rows with threads == 2 are the specified comparison; other thread counts are a supplement",
        "rounds": args.rounds,
        "targets": {"batch_1": 3.0, "batch_64": 2.0},
        "results": rows,
        "parity_max_abs_diff": manifest.parity["max_abs_diff"],
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "versions": {
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
        },
        "command": "python benchmarks/timeseries_speed.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "results"}
            | {"results": [{k: v for k, v in r.items() if not k.endswith("rounds")} for r in rows]},
            indent=2,
        )
    )
    return result


if __name__ == "__main__":
    main()
