"""Serverless deployment bundle: its unpacked size and the cold start of a fresh process.

Builds the bundle with :func:`tessera_onnx.serving.bundle.build_bundle` (what ``tessera bundle``
runs: runtime dependencies, ``tessera_onnx``, an all-MiniLM-L6-v2 artifact under ``model/``,
trimmed), then starts ``--runs`` fresh Python processes that import the handler from the bundle
only (``python -S``: no site-packages) and answer one request; the cold start is the wall time
from process spawn to the first response.

    python benchmarks/serverless_bundle.py            # pip install --target (what a deployment does)
    python benchmarks/serverless_bundle.py --quick --from-env   # copies the installed packages (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from tessera_onnx.serving.lambda_handler import handler
t1 = time.perf_counter()
out = handler({"input": ["How do plants make food?"], "encoding_format": "base64"}, None)
t2 = time.perf_counter()
out2 = handler({"input": ["a second, warm request"], "encoding_format": "base64"}, None)
t3 = time.perf_counter()
heavy = sorted(m for m in ("torch", "transformers", "fastapi", "uvicorn") if m in sys.modules)
print(json.dumps({"import_s": t1 - t0, "first_s": t2 - t1, "warm_s": t3 - t2, "dim": len(out["data"][0]["embedding"]),
                  "heavy": heavy}), flush=True)
"""


def cold_start(bundle: Path, threads: int | None) -> dict:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(bundle),
        "LAMBDA_TASK_ROOT": str(bundle),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if threads:
        env["TESSERA_THREADS"] = str(threads)
    base = getattr(sys, "_base_executable", None) or sys.executable
    start = time.perf_counter()
    out = subprocess.run(
        [base, "-S", "-c", _CHILD], capture_output=True, text=True, env=env, cwd=bundle, timeout=300
    )
    total = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["spawn_to_first_response_s"] = total - row["warm_s"]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=None, help="fresh processes (default 5; 2 with --quick)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--from-env", action="store_true", help="copy installed packages instead of pip install")
    ap.add_argument("--artifact", type=Path, default=BENCH / ".cache" / "artifacts" / "fp32")
    ap.add_argument("--quick", action="store_true", help="2 runs (smoke test)")
    ap.add_argument("--no-strip", action="store_true", help="keep symbol tables in shared libraries")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "serverless_bundle.json")
    args = ap.parse_args(argv)
    if args.runs is None:
        args.runs = 2 if args.quick else 5
    sys.path.insert(0, str(ROOT))
    from benchmarks.serve_load import ensure_artifact

    artifact = ensure_artifact(args.artifact)
    load_start = os.getloadavg()
    from tessera_onnx.serving.bundle import LAMBDA_UNZIPPED_LIMIT, build_bundle, bundle_bytes

    with tempfile.TemporaryDirectory(prefix="tessera-bundle-") as tmp:
        bundle = Path(tmp) / "bundle"
        report = build_bundle(artifact, bundle, from_environment=args.from_env, strip=not args.no_strip)
        parts = {
            p.name: round(bundle_bytes(p) / 1e6, 1)
            for p in sorted(bundle.iterdir())
            if p.is_dir() and bundle_bytes(p) > 1e6
        }
        runs = [cold_start(bundle, args.threads) for _ in range(args.runs)]
    res = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/serverless_bundle.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "how": "copied from this environment" if args.from_env else "pip install --target (no .pyc)",
        "python": sys.version.split()[0],
        "cpu": _cpu(),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "threads": args.threads,
        "removed": report.removed,
        "stripped": report.stripped,
        "trimmed_bytes": report.saved_bytes,
        "bundle_bytes": report.total_bytes,
        "dependencies_bytes": report.dependencies_bytes,
        "model_bytes": report.model_bytes,
        "parts_mb": parts,
        "lambda_limit_bytes": LAMBDA_UNZIPPED_LIMIT,
        "fits": report.fits_lambda,
        "runs": runs,
        "cold_start_s_median": statistics.median(r["spawn_to_first_response_s"] for r in runs),
        "import_s_median": statistics.median(r["import_s"] for r in runs),
        "first_request_s_median": statistics.median(r["first_s"] for r in runs),
        "warm_request_s_median": statistics.median(r["warm_s"] for r in runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    md_text = (
        f"Bundle ({res['how']}, trimmed: {', '.join(report.removed)}): **{report.total_bytes:,} bytes unzipped** "
        f"= {report.dependencies_bytes / 1e6:.1f} MB code and dependencies + {report.model_bytes / 1e6:.1f} MB MiniLM "
        f"artifact (limit {LAMBDA_UNZIPPED_LIMIT:,} bytes); largest parts {parts} (MB = 10^6 bytes). Cold start, "
        f"fresh `python -S` process to first response (median of {len(runs)}): **{res['cold_start_s_median']:.2f} s** "
        f"(import {res['import_s_median']:.2f} s, first request incl. model load {res['first_request_s_median']:.2f} s); "
        f"a warm request {1000 * res['warm_request_s_median']:.0f} ms. {res['cpu']}, {args.threads} threads, "
        f"load average {load_start[0]:.1f} → {res['loadavg_end'][0]:.1f}.\n\n"
        f"Reproduce: `{res['command']}`\n"
    )
    args.out.with_suffix(".md").write_text(md_text)
    print(md_text)
    return 0


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
