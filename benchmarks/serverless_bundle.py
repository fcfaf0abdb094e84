"""Serverless deployment bundle: its unpacked size and the cold start of a fresh process.

Builds what you would zip for a function platform — the runtime dependencies (numpy,
onnxruntime, tokenizers, click), ``tessera_onnx`` and an all-MiniLM-L6-v2 artifact under
``model/`` — then starts ``--runs`` fresh Python processes that import the handler from the
bundle only (``python -S``: no site-packages) and answer one request; the cold start is the
wall time from process spawn to the first response.

    python benchmarks/serverless_bundle.py            # pip install --target (what a deployment does)
    python benchmarks/serverless_bundle.py --quick --from-env   # copies the installed packages (smoke test)
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RUNTIME = ("numpy", "onnxruntime", "tokenizers", "click")
LAMBDA_LIMIT_MB = 250

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


# Installed by pip as dependencies of dependencies, never imported by the handler: tokenizers pulls
# huggingface_hub (+ hf_xet, PyYAML) for from_pretrained downloads; onnxruntime ships its offline
# tools (transformer optimizer, quantization, converters) and console scripts.
SLIM = (
    "hf_xet",
    "huggingface_hub",
    "yaml",
    "_yaml",
    "bin",
    "onnxruntime/tools",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
)


def slim(bundle: Path) -> list[str]:
    """Delete :data:`SLIM` from ``bundle``; returns what was removed."""
    removed = []
    for name in SLIM:
        path = bundle / name
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(name)
    return removed


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def build_with_pip(bundle: Path) -> str:
    """``pip install --target`` the project (and so its runtime dependencies)."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--target", str(bundle), "--no-compile", str(ROOT)]
    subprocess.run(cmd, check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return "pip install --target BUNDLE . (runtime dependencies resolved by pip, no .pyc)"


def build_from_env(bundle: Path) -> str:
    """Copy the installed runtime distributions' files and the ``tessera_onnx`` sources (offline)."""
    for name in RUNTIME:
        dist = md.distribution(name)
        for f in dist.files or []:
            src = Path(dist.locate_file(f))
            if src.is_file() and "__pycache__" not in f.parts and ".." not in f.parts:
                dst = bundle / f
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    shutil.copytree(
        ROOT / "tessera_onnx", bundle / "tessera_onnx", ignore=shutil.ignore_patterns("__pycache__")
    )
    return "copied from the current environment (" + ", ".join(RUNTIME) + ") + tessera_onnx sources"


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
    ap.add_argument("--slim", action="store_true", help="also remove what the handler never imports (SLIM)")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "serverless_bundle.json")
    args = ap.parse_args(argv)
    if args.runs is None:
        args.runs = 2 if args.quick else 5
    sys.path.insert(0, str(ROOT))
    from benchmarks.serve_load import ensure_artifact

    artifact = ensure_artifact(args.artifact)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tessera-bundle-") as tmp:
        bundle = Path(tmp) / "bundle"
        bundle.mkdir()
        how = build_from_env(bundle) if args.from_env else build_with_pip(bundle)
        full_deps_mb = _dir_mb(bundle)
        removed = slim(bundle) if args.slim else []
        deps_mb = _dir_mb(bundle)
        shutil.copytree(artifact, bundle / "model")
        total_mb = _dir_mb(bundle)
        parts = {
            p.name: round(_dir_mb(p), 1) for p in sorted(bundle.iterdir()) if p.is_dir() and _dir_mb(p) > 1
        }
        runs = [cold_start(bundle, args.threads) for _ in range(args.runs)]
    res = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/serverless_bundle.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "how": how,
        "python": sys.version.split()[0],
        "cpu": _cpu(),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "threads": args.threads,
        "slim_removed": removed,
        "dependencies_before_slim_mb": round(full_deps_mb, 1),
        "bundle_mb": round(total_mb, 1),
        "dependencies_mb": round(deps_mb, 1),
        "model_mb": round(total_mb - deps_mb, 1),
        "parts_mb": parts,
        "lambda_limit_mb": LAMBDA_LIMIT_MB,
        "runs": runs,
        "cold_start_s_median": statistics.median(r["spawn_to_first_response_s"] for r in runs),
        "import_s_median": statistics.median(r["import_s"] for r in runs),
        "first_request_s_median": statistics.median(r["first_s"] for r in runs),
        "warm_request_s_median": statistics.median(r["warm_s"] for r in runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    md_text = (
        f"Bundle ({res['how']}{'; slimmed: removed ' + ', '.join(removed) if removed else ''}): "
        f"**{res['bundle_mb']} MB unpacked** = {res['dependencies_mb']} MB code and "
        f"dependencies + {res['model_mb']} MB MiniLM artifact (limit {LAMBDA_LIMIT_MB} MB); largest parts "
        f"{res['parts_mb']}. Cold start, fresh `python -S` process to first response (median of {len(runs)}): "
        f"**{res['cold_start_s_median']:.2f} s** (import {res['import_s_median']:.2f} s, first request incl. model "
        f"load {res['first_request_s_median']:.2f} s); a warm request {1000 * res['warm_request_s_median']:.0f} ms. "
        f"MB = MiB. {res['cpu']}, {args.threads} threads, load average {load_start[0]:.1f} → {res['loadavg_end'][0]:.1f}.\n\n"
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
