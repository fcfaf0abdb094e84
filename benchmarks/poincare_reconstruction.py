"""Nickel & Kiela (2017)'s WordNet reconstruction experiment: Poincaré vs Euclidean, and vs gensim.

Setup (once): ``apt-get install -y wordnet-base`` (WordNet 3.0 dictionary files in
``/usr/share/wordnet``; or set ``WORDNET_DIR``). The closures are built from them by
``benchmarks/wordnet_closure.py``: nouns 82,115 nodes / 743,241 edges, mammals 1,182 / 6,542.

Parts (each writes ``benchmarks/results/<name>.json`` + ``.md``):

- ``--part mammals`` (default, ~10 min): the mammal closure at dims 5, 10, 20, 50, 100, Poincaré
  and Euclidean trained by :func:`tessera_onnx.hyperbolic.train` with the same settings
  (``--epochs``), reconstruction mean rank and MAP on all nodes, training time, peak RSS; then
  gensim's ``PoincareModel`` on the same closure at dim 10 in ``--rounds`` interleaved rounds with
  ours (same epochs): training time and MAP (ours and gensim's own evaluator on gensim's vectors).
- ``--part nouns --dim D``: the full noun closure at one dimension, trained until ``--epochs`` or
  ``--time-budget`` seconds, MAP evaluated on ``--eval-sample`` random nodes every
  ``--eval-every`` epochs; results are rewritten after every evaluation (so a long background run
  can be read while it goes). Writes ``poincare_nouns_<manifold>_d<D>.json``.
- ``--quick``: a generated tree instead of WordNet, two dims, a few epochs (the smoke test).

    python benchmarks/poincare_reconstruction.py                       # mammals + gensim
    nohup python benchmarks/poincare_reconstruction.py --part nouns --dim 10 --time-budget 3600 &
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import wordnet_closure  # noqa: E402
from tessera_onnx.hyperbolic import (  # noqa: E402
    Hierarchy,
    TrainConfig,
    reconstruction,
    train,
    transitive_closure,
)

RESULTS = ROOT / "benchmarks" / "results"
BURN_IN = 10  # epochs at lr/10 with negatives drawn by degree (the paper's burn-in)
# Nickel & Kiela (2017), Table 1, WordNet nouns reconstruction MAP (only the figures quoted here).
PAPER_NOUNS_MAP = {
    ("poincare", 5): 0.823,
    ("poincare", 10): 0.851,
    ("euclidean", 5): 0.024,
    ("euclidean", 100): 0.162,
}


def machine() -> dict[str, Any]:
    """CPU model and flags (lscpu), cores, Python, load average now."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        info["cpu"] = fields.get("Model name", "").strip()
        info["flags"] = fields.get("Flags", "").strip()
    except OSError:
        info["cpu"] = platform.processor()
    info["loadavg"] = list(os.getloadavg())
    return info


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generated_tree(branching: int = 3, depth: int = 4) -> Hierarchy:
    """A balanced tree (``branching`` children per node, ``depth`` levels below the root) as a closure."""
    pairs = []
    level = ["n"]
    for _ in range(depth):
        nxt = []
        for parent in level:
            for j in range(branching):
                child = f"{parent}.{j}"
                pairs.append((child, parent))
                nxt.append(child)
        level = nxt
    return transitive_closure(pairs)


def load_closures(quick: bool) -> dict[str, Hierarchy]:
    """``{"mammals": ..., "nouns": ...}`` from WordNet, or a generated tree for ``quick``."""
    if quick:
        tree = generated_tree()
        return {"mammals": tree, "nouns": tree}
    nouns = wordnet_closure.noun_closure()
    return {"mammals": wordnet_closure.subtree_closure(nouns, "mammal.n.01"), "nouns": nouns}


def run_ours(h: Hierarchy, manifold: str, dim: int, epochs: int, lr: float, seed: int = 0) -> dict[str, Any]:
    """Train and evaluate (all nodes) one configuration."""
    cfg = TrainConfig(dim=dim, manifold=manifold, epochs=epochs, lr=lr, seed=seed)
    res = train(h, cfg)
    rec = reconstruction(h, res.embeddings, manifold)
    return {
        "manifold": manifold,
        "dim": dim,
        "epochs": epochs,
        "lr": lr,
        "train_seconds": round(res.seconds, 3),
        "final_loss": res.losses[-1],
        "mean_rank": rec.mean_rank,
        "map": rec.map,
        "table_mb": res.embeddings.nbytes / 2**20,
        "peak_rss_mb_so_far": peak_rss_mb(),
    }


def run_gensim(h: Hierarchy, dim: int, epochs: int, tsv: Path, seed: int = 0) -> dict[str, Any] | None:
    """gensim's PoincareModel (its defaults: lr 0.1, 10 negatives, batch 10, burn-in 10 at lr 0.01)."""
    try:
        from gensim.models.poincare import PoincareModel, ReconstructionEvaluation
    except ImportError:
        return None
    relations = [(h.names[a], h.names[b]) for a, b in h.edges]
    model = PoincareModel(relations, size=dim, negative=10, burn_in=10, seed=seed)
    t = time.perf_counter()
    model.train(epochs=epochs, print_every=10**9)
    seconds = time.perf_counter() - t
    table = np.stack([model.kv[name] for name in h.names]).astype(np.float64)
    rec = reconstruction(h, table, "poincare")
    own = ReconstructionEvaluation(str(tsv), model.kv).evaluate()
    return {
        "dim": dim,
        "epochs": epochs,
        "train_seconds": round(seconds, 3),
        "mean_rank": rec.mean_rank,
        "map": rec.map,
        "gensim_evaluator": {"mean_rank": float(own["mean_rank"]), "map": float(own["MAP"])},
    }


def part_mammals(args: argparse.Namespace) -> dict[str, Any]:
    """Poincaré vs Euclidean at every dim, then ours vs gensim in interleaved rounds."""
    h = load_closures(args.quick)["mammals"]
    out: dict[str, Any] = {
        "machine_start": machine(),
        "data": {"nodes": h.n_nodes, "edges": int(len(h.edges))},
    }
    runs = []
    for dim in args.dims:
        for manifold in ("poincare", "euclidean"):
            row = run_ours(h, manifold, dim, args.epochs, args.lr)
            runs.append(row)
            print(json.dumps(row), flush=True)
    out["runs"] = runs
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "mammals_closure.tsv"  # gensim's evaluator reads the relations from a file
        wordnet_closure.write_tsv(h, tsv)
        for r in range(args.rounds):
            ours = run_ours(h, "poincare", args.gensim_dim, args.gensim_epochs, args.lr, seed=r)
            peer = run_gensim(h, args.gensim_dim, args.gensim_epochs, tsv, seed=r)
            rounds.append({"round": r, "ours": ours, "gensim": peer})
            print(json.dumps(rounds[-1]), flush=True)
    if rounds and rounds[0]["gensim"] is not None:
        ratio = [x["gensim"]["train_seconds"] / x["ours"]["train_seconds"] for x in rounds]
        out["gensim"] = {
            "rounds": rounds,
            "median_seconds_ours": statistics.median(x["ours"]["train_seconds"] for x in rounds),
            "median_seconds_gensim": statistics.median(x["gensim"]["train_seconds"] for x in rounds),
            "median_speedup_vs_gensim": statistics.median(ratio),
            "median_map_ours": statistics.median(x["ours"]["map"] for x in rounds),
            "median_map_gensim": statistics.median(x["gensim"]["map"] for x in rounds),
        }
    elif not rounds:
        out["gensim"] = {"rounds": [], "skipped": "not run (--rounds 0)"}
    else:
        out["gensim"] = {"rounds": rounds, "skipped": "gensim is not installed (pip install gensim)"}
    out["machine_end"] = machine()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def paced_lr(args: argparse.Namespace, start: float) -> Any:
    """The nouns' learning rate per epoch: burn-in, then ``--lr`` decaying linearly to ``--lr-final``
    over the wall-clock ``--time-budget`` (constant without ``--lr-final``)."""
    burn_end: list[float] = []

    def lr_at(epoch: int) -> float:
        if epoch < BURN_IN:
            return args.lr * 0.1
        if not burn_end:
            burn_end.append(time.perf_counter())
        if args.lr_final is None:
            return args.lr
        span = max(args.time_budget - (burn_end[0] - start), 1.0)
        frac = min((time.perf_counter() - burn_end[0]) / span, 1.0)
        return args.lr + (args.lr_final - args.lr) * frac

    return lr_at


def part_nouns(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """One dim on the noun closure, time-boxed, results rewritten after every evaluation.

    Evaluations during training use ``--eval-sample`` random nodes; after the last epoch a larger
    ``--final-eval-sample`` (0: all nodes) gives the final figure.
    """
    h = load_closures(args.quick)["nouns"]
    manifold = args.manifold
    cfg = TrainConfig(
        dim=args.dim,
        manifold=manifold,
        epochs=args.epochs,
        lr=args.lr,
        negatives=args.negatives,
        batch_size=args.batch_size,
        burn_in=BURN_IN,
    )
    out: dict[str, Any] = {
        "machine_start": machine(),
        "data": {"nodes": h.n_nodes, "edges": int(len(h.edges))},
        "dim": args.dim,
        "manifold": manifold,
        "config": asdict(cfg),
        "lr": args.lr,
        "lr_final": args.lr_final,
        "lr_schedule": "burn-in at lr/10, then linear decay to lr_final over the wall-clock time budget"
        if args.lr_final is not None
        else "burn-in at lr/10, then constant",
        "epochs_max": args.epochs,
        "time_budget_s": args.time_budget,
        "eval_sample": args.eval_sample,
        "evals": [],
        "env_threads": {
            k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
    }
    start = time.perf_counter()
    lr_at = paced_lr(args, start)

    class Stop(Exception):
        pass

    eval_seconds = [0.0]
    last_table: list[np.ndarray] = []

    def evaluate(
        epoch: int, emb: np.ndarray, loss: float, elapsed: float, sample: int | None, seed: int
    ) -> dict:
        t = time.perf_counter()
        rec = reconstruction(h, emb, manifold, sample=sample, seed=seed)
        spent = time.perf_counter() - t
        row = {
            "epoch": epoch + 1,
            "loss": loss,
            "lr": lr_at(epoch),
            "wall_seconds": round(elapsed, 1),
            "train_seconds": round(elapsed - eval_seconds[0], 1),
            "mean_rank": rec.mean_rank,
            "map": rec.map,
            "eval_nodes": rec.nodes,
            "eval_seconds": round(spent, 1),
        }
        if manifold == "poincare":  # nodes stuck at the projection radius barely move (RSGD scale ~ eps²)
            norms = np.sqrt(np.sum(emb * emb, axis=1))
            row["frac_norm_above_1-1e-4"] = float(np.mean(norms > 1.0 - 1e-4))
            row["frac_norm_above_1-1e-3"] = float(np.mean(norms > 1.0 - 1e-3))
        eval_seconds[0] += spent
        out["peak_rss_mb"] = peak_rss_mb()
        out["machine_end"] = machine()
        return row

    def on_epoch(epoch: int, emb: np.ndarray, loss: float) -> None:
        elapsed = time.perf_counter() - start
        last = epoch + 1 == args.epochs or elapsed > args.time_budget
        out["epochs_run"] = epoch + 1
        out["seconds_per_epoch_last"] = round(elapsed - out.get("_prev_elapsed", 0.0), 2)
        out["_prev_elapsed"] = elapsed
        if (epoch + 1) % args.eval_every == 0 or last:
            if args.save_table is not None:  # a checkpoint of the table itself (not committed: MBs)
                np.save(args.save_table, emb)
            out["evals"].append(evaluate(epoch, emb, loss, elapsed, args.eval_sample, 1))
            write(out, path)
            print(json.dumps(out["evals"][-1]), flush=True)
        if last:
            last_table.append(emb)
            raise Stop

    try:
        train(h, cfg, on_epoch=on_epoch, lr_at=lr_at)
    except Stop:
        pass
    out.pop("_prev_elapsed", None)
    if last_table and args.final_eval_sample != args.eval_sample:
        ev = out["evals"][-1]
        sample = args.final_eval_sample or None
        final = evaluate(ev["epoch"] - 1, last_table[0], ev["loss"], ev["wall_seconds"], sample, 2)
        final["train_seconds"] = ev["train_seconds"]
        out["final"] = final
        print(json.dumps({"final": final}), flush=True)
    return out


def write(res: dict[str, Any], path: Path) -> None:
    """Write the JSON and its markdown table next to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    path.with_suffix(".md").write_text(markdown(res), encoding="utf-8")


def markdown(res: dict[str, Any]) -> str:
    """A table of the runs (mammals) or of the evaluations (nouns)."""
    cpu = res.get("machine_start", {}).get("cpu", "?")
    load = [round(x, 1) for x in res.get("machine_start", {}).get("loadavg", [])]
    lines = [f"CPU: {cpu}; load average at start {load}", ""]
    if "runs" in res:
        lines += [
            "| dim | Poincaré MAP | Poincaré mean rank | Euclidean MAP | Euclidean mean rank | train s (P / E) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        by = {(r["manifold"], r["dim"]): r for r in res["runs"]}
        for dim in sorted({r["dim"] for r in res["runs"]}):
            p, e = by[("poincare", dim)], by[("euclidean", dim)]
            lines.append(
                f"| {dim} | {p['map']:.3f} | {p['mean_rank']:.2f} | {e['map']:.3f} | {e['mean_rank']:.2f} "
                f"| {p['train_seconds']:.1f} / {e['train_seconds']:.1f} |"
            )
        g = res.get("gensim", {})
        if "median_seconds_gensim" in g:
            lines += [
                "",
                "| dim 10, same epochs | train s (median) | MAP (median) |",
                "|---|---:|---:|",
                f"| tessera | {g['median_seconds_ours']:.1f} | {g['median_map_ours']:.3f} |",
                f"| gensim PoincareModel | {g['median_seconds_gensim']:.1f} | {g['median_map_gensim']:.3f} |",
                "",
                f"median speed-up vs gensim: {g['median_speedup_vs_gensim']:.1f}x",
            ]
    if "evals" in res:
        paper = PAPER_NOUNS_MAP.get((res["manifold"], res["dim"]))
        lines += [
            f"nouns, {res['manifold']}, dim {res['dim']} (paper MAP: {paper if paper else 'not quoted'})",
            "",
            "| epoch | wall s | train s | lr | loss | MAP | mean rank | eval nodes | norm > 1-1e-4 |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = list(res["evals"]) + (
            [dict(res["final"], epoch=f"{res['final']['epoch']} (final)")] if "final" in res else []
        )
        for e in rows:
            edge = e.get("frac_norm_above_1-1e-4")
            lines.append(
                f"| {e['epoch']} | {e.get('wall_seconds', e['train_seconds']):.0f} | {e['train_seconds']:.0f} "
                f"| {e.get('lr', res.get('lr', 0)):.3g} | {e['loss']:.3f} | {e['map']:.3f} "
                f"| {e['mean_rank']:.1f} | {e['eval_nodes']} | {'' if edge is None else f'{edge:.3f}'} |"
            )
        if "epochs_run" in res:
            lines += ["", f"epochs run: {res['epochs_run']}; config: {json.dumps(res.get('config', {}))}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run the part, write the results; returns them."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["mammals", "nouns"], default="mammals")
    ap.add_argument("--quick", action="store_true", help="generated tree, 2 dims, few epochs")
    ap.add_argument("--dims", type=int, nargs="+", default=[5, 10, 20, 50, 100])
    ap.add_argument("--dim", type=int, default=10, help="nouns: the dimension")
    ap.add_argument("--manifold", choices=["poincare", "euclidean"], default="poincare", help="nouns")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds vs gensim")
    ap.add_argument("--gensim-dim", type=int, default=10)
    ap.add_argument("--gensim-epochs", type=int, default=50)
    ap.add_argument(
        "--time-budget", type=float, default=3600.0, help="nouns: stop training after this many seconds"
    )
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--eval-sample", type=int, default=2000)
    ap.add_argument("--final-eval-sample", type=int, default=10000, help="nouns: final evaluation (0: all)")
    ap.add_argument("--negatives", type=int, default=10, help="nouns: negatives per edge")
    ap.add_argument("--batch-size", type=int, default=64, help="nouns: edges per update")
    ap.add_argument("--lr-final", type=float, default=None, help="nouns: decay the lr linearly to this")
    ap.add_argument(
        "--save-table", type=Path, default=None, help="nouns: np.save the table at each evaluation"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:  # a generated tree; small defaults unless given explicitly
        given = set(argv if argv is not None else sys.argv[1:])
        args.dims = args.dims if "--dims" in given else [2, 5]
        args.epochs = args.epochs if "--epochs" in given else 5
        args.gensim_epochs = args.gensim_epochs if "--gensim-epochs" in given else 3
        args.rounds = args.rounds if "--rounds" in given else 1
        args.eval_every = args.eval_every if "--eval-every" in given else 1
    if args.part == "mammals":
        path = args.out or RESULTS / "poincare_reconstruction.json"
        res = part_mammals(args)
    else:
        path = args.out or RESULTS / f"poincare_nouns_{args.manifold}_d{args.dim}.json"
        res = part_nouns(args, path)
    res["command"] = " ".join(
        ["python", "benchmarks/poincare_reconstruction.py", *(argv if argv is not None else sys.argv[1:])]
    )
    write(res, path)
    return res


if __name__ == "__main__":
    main()
