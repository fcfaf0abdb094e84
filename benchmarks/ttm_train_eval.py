"""Train a small TinyTimeMixer on real series, export it, and score its ONNX forecasts (MASE).

No TTM weights can be downloaded here, so this shows the whole pipeline on a model that has
learned something: real series that ship inside statsmodels (weekly Mauna Loa CO2, monthly El
Nino sea-surface temperatures, yearly sunspots, quarterly US macro series) -> a granite-tsfm
``TinyTimeMixerForPrediction`` trained with a plain torch loop (seeded, 2 threads, a few
minutes) -> ``tessera_export.timeseries.build_timeseries_artifact`` (parity-checked ONNX) ->
``TesseraTimeSeries.forecast`` on the held-out tail of every series.

Metric: MASE = MAE(forecast) / MAE(in-sample seasonal-naive one-step-ahead error, season m),
averaged over the rolling forecast origins of the held-out tail (the last ``--test-windows``
x ``prediction_length`` steps, never seen in training). MASE < 1 means the forecast errs less
than the seasonal-naive method does in-sample; ``rel_mae_vs_snaive`` also compares against the
seasonal-naive *forecast* (repeat the last season) on the same held-out windows.

    python benchmarks/ttm_train_eval.py                 # full run, writes benchmarks/results/ttm_quality.json
    python benchmarks/ttm_train_eval.py --smoke         # seconds; used by the test suite
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ttm_quality.json"

CONTEXT = 96
PREDICTION = 24
PATCH = 8


def load_series() -> list[dict]:
    """Real series from statsmodels, with their seasonal period and pandas-style frequency."""
    import statsmodels.api as sm

    out = []
    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate().bfill().to_numpy()
    out.append({"name": "co2_weekly", "values": co2, "season": 52, "freq": "W", "horizon": 13})
    el = sm.datasets.elnino.load_pandas().data.drop(columns=["YEAR"]).to_numpy().reshape(-1)
    out.append({"name": "elnino_monthly", "values": el, "season": 12, "freq": "MS", "horizon": 18})
    ss = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    out.append({"name": "sunspots_yearly", "values": ss, "season": 11, "freq": "YS", "horizon": 6})
    md = sm.datasets.macrodata.load_pandas().data
    for col in ("realgdp", "cpi", "unemp", "tbilrate"):
        out.append(
            {
                "name": f"macro_{col}_quarterly",
                "values": md[col].to_numpy(),
                "season": 4,
                "freq": "QS",
                "horizon": 8,
            }
        )
    for s in out:
        s["values"] = np.asarray(s["values"], dtype=np.float64)
    return out


def split(series: list[dict], test_windows: int) -> None:
    for s in series:
        s["test_len"] = test_windows * PREDICTION
        s["train"] = s["values"][: -s["test_len"]]


def training_windows(
    series: list[dict], stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(past [N, CONTEXT, 1], mask, future [N, PREDICTION, 1], series id [N]) from the training
    parts only. Windows nearer the start than CONTEXT are left-padded (mask 0), the way the
    runtime feeds short series."""
    past, mask, fut, sid = [], [], [], []
    for k, s in enumerate(series):
        x = s["train"]
        for end in range(PATCH * 2, len(x) - PREDICTION + 1, stride):
            ctx = x[max(0, end - CONTEXT) : end]
            p = np.zeros(CONTEXT)
            m = np.zeros(CONTEXT)
            p[CONTEXT - len(ctx) :] = ctx
            m[CONTEXT - len(ctx) :] = 1
            past.append(p)
            mask.append(m)
            fut.append(x[end : end + PREDICTION])
            sid.append(k)
    return (
        np.asarray(past, np.float32)[..., None],
        np.asarray(mask, np.float32)[..., None],
        np.asarray(fut, np.float32)[..., None],
        np.asarray(sid),
    )


def build_model(seed: int):
    import torch
    from tessera_export.timeseries import load_tsfm

    modeling = load_tsfm()
    torch.manual_seed(seed)
    cfg = modeling.TinyTimeMixerConfig(
        context_length=CONTEXT,
        prediction_length=PREDICTION,
        patch_length=PATCH,
        patch_stride=PATCH,
        num_input_channels=1,
        d_model=64,
        num_layers=2,
        decoder_d_model=32,
        decoder_num_layers=2,
        adaptive_patching_levels=2,
        expansion_factor=2,
        dropout=0.1,
        head_dropout=0.1,
        scaling="std",
        loss="mae",
    )
    return modeling.TinyTimeMixerForPrediction(cfg)


def train(
    model, data, *, epochs: int, max_seconds: float, seed: int, batch_size: int = 64, lr: float = 3e-3
) -> dict:
    """AdamW, 5% warm-up then cosine decay over ``max(step / total, elapsed / max_seconds)`` so the
    schedule completes whether the epoch count or the time budget ends training first. Each
    epoch draws N windows with every series equally likely (co2 has most of the windows)."""
    import math

    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    past, mask, fut = (torch.from_numpy(a) for a in data[:3])
    sid = data[3]
    n = past.shape[0]
    counts = np.bincount(sid)
    weights = 1.0 / counts[sid]
    weights /= weights.sum()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total_steps = max(1, epochs * steps_per_epoch)
    model.train()
    start = time.perf_counter()
    history = []
    done_epochs = 0
    step = 0
    finished = False
    for epoch in range(epochs):
        order = torch.from_numpy(rng.choice(n, size=n, replace=True, p=weights))
        total = 0.0
        for i in range(steps_per_epoch):
            progress = max(step / total_steps, (time.perf_counter() - start) / max_seconds)
            if progress >= 1.0:
                finished = True
                break
            warm = 0.05
            factor = (
                progress / warm
                if progress < warm
                else 0.5 * (1 + math.cos(math.pi * (progress - warm) / (1 - warm)))
            )
            for group in opt.param_groups:
                group["lr"] = lr * max(factor, 0.01)
            idx = order[i * batch_size : (i + 1) * batch_size]
            out = model(past_values=past[idx], past_observed_mask=mask[idx], return_loss=False)
            # MAE in the window's scaled space, so every series weighs the same whatever its units
            loss = ((out.prediction_outputs - fut[idx]).abs() / out.scale).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            total += float(loss.detach()) * len(idx)
        if finished and total == 0.0:
            break
        done_epochs = epoch + 1
        history.append(round(total / n, 5))
        print(
            f"epoch {done_epochs}: loss {history[-1]} ({time.perf_counter() - start:.0f} s)", file=sys.stderr
        )
        if finished:
            break
    model.eval()
    return {
        "epochs": done_epochs,
        "steps": step,
        "seconds": round(time.perf_counter() - start, 1),
        "loss_history": history,
        "windows": n,
    }


def seasonal_naive_scale(train: np.ndarray, m: int) -> float:
    m = m if len(train) > m + 1 else 1
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def evaluate(ts, series: list[dict], *, full_horizon: bool = False) -> list[dict]:
    """Rolling-origin forecasts over each held-out tail with the ONNX runtime.

    Horizon: the M4-competition horizon of the series' frequency (weekly 13, monthly 18,
    quarterly 8, yearly 6), or the model's full 24 steps with ``full_horizon``. Origins step by
    the horizon through the held-out tail, so every test point is forecast exactly once."""
    rows = []
    for s in series:
        x = s["values"]
        h = PREDICTION if full_horizon else s["horizon"]
        n_test = s["test_len"]
        origins = list(range(len(x) - n_test, len(x) - h + 1, h))
        batch = [x[max(0, o - CONTEXT) : o] for o in origins]
        preds = np.asarray(ts.forecast(batch, horizon=h))[..., 0]
        actual = np.stack([x[o : o + h] for o in origins])
        m = s["season"]
        snaive = np.stack([np.resize(x[o - m : o], h) for o in origins])
        scale = seasonal_naive_scale(x[: len(x) - n_test], m)
        mae = float(np.mean(np.abs(preds - actual)))
        mae_sn = float(np.mean(np.abs(snaive - actual)))
        rows.append(
            {
                "series": s["name"],
                "freq": s["freq"],
                "season": m,
                "horizon": h,
                "length": int(len(x)),
                "test_points": int(n_test),
                "origins": len(origins),
                "mae": round(mae, 5),
                "mase": round(mae / scale, 4),
                "snaive_mase": round(mae_sn / scale, 4),
                "rel_mae_vs_snaive": round(mae / mae_sn, 4),
            }
        )
    return rows


def summary(rows: list[dict]) -> dict:
    return {
        "mean_mase": round(float(np.mean([r["mase"] for r in rows])), 4),
        "mean_snaive_mase": round(float(np.mean([r["snaive_mase"] for r in rows])), 4),
        "mean_rel_mae_vs_snaive": round(float(np.mean([r["rel_mae_vs_snaive"] for r in rows])), 4),
        "series_with_mase_below_1": int(sum(r["mase"] < 1 for r in rows)),
        "series_beating_snaive": int(sum(r["rel_mae_vs_snaive"] < 1 for r in rows)),
        "series": rows,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=290.0,
        help="safety cap on training time (the LR schedule then ends early; the JSON records the epochs done)",
    )
    parser.add_argument("--test-windows", type=int, default=2, help="held-out forecast origins per series")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch training threads (1 is fastest for this 84k-parameter model; <= 2 cores)",
    )
    parser.add_argument("--ort-threads", type=int, default=2)
    parser.add_argument("--artifact", type=Path, default=None, help="keep the exported artifact here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--smoke", action="store_true", help="1 epoch on a subsample, no results file")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    series = load_series()
    split(series, args.test_windows)
    data = training_windows(series, stride=1)
    if args.smoke:
        keep = np.random.default_rng(args.seed).choice(
            len(data[0]), size=min(128, len(data[0])), replace=False
        )
        data = tuple(a[keep] for a in data)
        data = (*data[:3], np.searchsorted(np.unique(data[3]), data[3]))
        args.epochs, args.max_seconds = 1, 30.0
    model = build_model(args.seed)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"training TinyTimeMixer ({params:,} parameters) on {len(data[0])} windows from {len(series)} series",
        file=sys.stderr,
    )
    info = train(model, data, epochs=args.epochs, max_seconds=args.max_seconds, seed=args.seed)
    print(
        f"trained {info['epochs']} epochs in {info['seconds']} s; loss {info['loss_history'][-1]}",
        file=sys.stderr,
    )

    from tessera_export.timeseries import build_timeseries_artifact

    from tessera_onnx.timeseries import TesseraTimeSeries

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "checkpoint"
        model.save_pretrained(ckpt)
        art = args.artifact or Path(tmp) / "artifact"
        manifest = build_timeseries_artifact(
            ckpt,
            art,
            spec=None,
            model_id="ttm-statsmodels-demo",
            progress=lambda m: print(m, file=sys.stderr),
        )
        ts = TesseraTimeSeries(art, device="cpu", threads=args.ort_threads)
        m4 = evaluate(ts, series)
        full = evaluate(ts, series, full_horizon=True)

    result = {
        "model": {
            "context_length": CONTEXT,
            "prediction_length": PREDICTION,
            "patch_length": PATCH,
            "parameters": params,
        },
        "training": {**info, "seed": args.seed, "threads": args.threads},
        "parity_max_abs_diff": manifest.parity["max_abs_diff"],
        "metric": "MASE = MAE / in-sample seasonal-naive MAE (season m); rel_mae_vs_snaive = MAE / MAE of the "
        "seasonal-naive forecast on the same held-out windows",
        "m4_horizons": summary(m4),
        "full_horizon_24": summary(full),
        "command": "python benchmarks/ttm_train_eval.py" + (" --smoke" if args.smoke else ""),
    }
    result["series"] = result["m4_horizons"]["series"]
    if not args.smoke:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name in ("m4_horizons", "full_horizon_24"):
        block = result[name]
        print(
            f"{name}: mean MASE {block['mean_mase']} (seasonal naive {block['mean_snaive_mase']}), "
            f"MASE<1 on {block['series_with_mase_below_1']}/{len(block['series'])}, beats seasonal naive on "
            f"{block['series_beating_snaive']}/{len(block['series'])}",
            file=sys.stderr,
        )
        for r in block["series"]:
            print(
                f"  {r['series']:26s} h={r['horizon']:2d} MASE {r['mase']:.3f}  snaive {r['snaive_mase']:.3f}  "
                f"rel {r['rel_mae_vs_snaive']:.3f}",
                file=sys.stderr,
            )
    return result


if __name__ == "__main__":
    main()
