"""Seconds per training epoch of the hyperbolic trainer: the current one vs an earlier git revision.

The earlier ``tessera_onnx/hyperbolic/train.py`` is read with ``git show REV:...`` and loaded as a
module next to the current one; both train one epoch (no burn-in, same settings) on the same
closure in ``--rounds`` interleaved rounds. Writes ``benchmarks/results/poincare_train_speed.json``
(+ ``.md``) with the CPU, its flags and the load averages.

    apt-get install -y wordnet-base     # WordNet 3.0 for the noun closure
    python benchmarks/poincare_train_speed.py --before 1af39df
    python benchmarks/poincare_train_speed.py --quick  # a generated tree (the smoke test)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import poincare_reconstruction as recon  # noqa: E402
from benchmarks import wordnet_closure  # noqa: E402
from tessera_onnx.hyperbolic import Hierarchy  # noqa: E402
from tessera_onnx.hyperbolic import train as _current_train  # noqa: E402

TRAIN_PATH = "tessera_onnx/hyperbolic/train.py"


def trainer_at(rev: str) -> ModuleType:
    """The trainer module as it was at git revision ``rev`` (loaded inside the package)."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{TRAIN_PATH}"], check=True, capture_output=True, text=True
    ).stdout
    name = "tessera_onnx.hyperbolic._train_before"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "tessera_onnx.hyperbolic"
    sys.modules[name] = mod  # dataclasses look their module up there
    exec(compile(src, f"{rev}:{TRAIN_PATH}", "exec"), mod.__dict__)  # noqa: S102 - our own file, older revision
    return mod


def one_epoch(mod: ModuleType, h: Hierarchy, dim: int, negatives: int) -> tuple[float, float]:
    """Wall and CPU seconds of this process for one epoch (no burn-in) with ``mod``'s trainer.

    On a shared machine the wall time depends on the other jobs; the CPU time much less."""
    cfg = mod.TrainConfig(dim=dim, epochs=1, burn_in=0, lr=0.3, negatives=negatives, batch_size=64)
    wall, cpu = time.perf_counter(), time.process_time()
    mod.train(h, cfg)
    return time.perf_counter() - wall, time.process_time() - cpu


def markdown(res: dict[str, Any]) -> str:
    """The results as a markdown table (wall and CPU seconds per epoch, before and now)."""
    start, end, data = res["machine_start"], res["machine_end"], res["data"]
    rounds = max(r["round"] for r in res["rows"]) + 1
    lines = [
        f"CPU: {start['cpu']}; load average {[round(x, 1) for x in start['loadavg']]} -> "
        f"{[round(x, 1) for x in end['loadavg']]}",
        "",
        f"one epoch on {data['source']} ({data['nodes']} nodes, {data['edges']} edges), dim {res['dim']}, "
        f"batch 64, medians of {rounds} interleaved rounds; before = {res['before']}",
        "",
        "| negatives | before s/epoch | now s/epoch | speed-up | before CPU s | now CPU s | CPU speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, s in res["summary"].items():
        lines.append(
            f"| {k} | {s['median_before_s']:.2f} | {s['median_current_s']:.2f} | {s['speedup']:.2f}x "
            f"| {s['median_before_cpu_s']:.2f} | {s['median_current_cpu_s']:.2f} | {s['speedup_cpu']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the interleaved rounds and write the results; returns them."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="1af39df", help="git revision of the earlier trainer")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--negatives", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--quick", action="store_true", help="a generated tree, one round")
    ap.add_argument("--out", type=Path, default=recon.RESULTS / "poincare_train_speed.json")
    args = ap.parse_args(argv)
    h = recon.generated_tree() if args.quick else wordnet_closure.noun_closure()
    rounds = 1 if args.quick else args.rounds
    before = trainer_at(args.before)
    current = sys.modules[_current_train.__module__]
    res: dict[str, Any] = {
        "machine_start": recon.machine(),
        "data": {"nodes": h.n_nodes, "edges": int(len(h.edges)), "source": "tree" if args.quick else "nouns"},
        "before": args.before,
        "dim": args.dim,
        "rows": [],
    }
    for r in range(rounds):
        for k in args.negatives:
            row = {"round": r, "negatives": k}
            for label, mod in (("before", before), ("current", current)):
                wall, cpu = one_epoch(mod, h, args.dim, k)
                row[f"{label}_s"], row[f"{label}_cpu_s"] = round(wall, 3), round(cpu, 3)
            res["rows"].append(row)
            print(json.dumps(row), flush=True)
    res["summary"] = {}
    for k in args.negatives:
        rows = [x for x in res["rows"] if x["negatives"] == k]
        b, c = (statistics.median(x[f"{w}_s"] for x in rows) for w in ("before", "current"))
        bc, cc = (statistics.median(x[f"{w}_cpu_s"] for x in rows) for w in ("before", "current"))
        res["summary"][str(k)] = {
            "median_before_s": b,
            "median_current_s": c,
            "speedup": round(b / c, 2),
            "median_before_cpu_s": bc,
            "median_current_cpu_s": cc,
            "speedup_cpu": round(bc / cc, 2),
        }
    res["machine_end"] = recon.machine()
    res["command"] = " ".join(["python", "benchmarks/poincare_train_speed.py", *(argv or sys.argv[1:])])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(res), encoding="utf-8")
    return res


if __name__ == "__main__":
    main()
