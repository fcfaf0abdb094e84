"""JavaScript speed: tessera-onnx's npm package against transformers.js on the same model.

Node (onnxruntime-node) and Chromium (onnxruntime-web WASM), same threads, one run: texts/s on the
peer corpus (``benchmarks/corpus.py``), single-query p50, cold start, and each page's download size
(gzip). This script prepares the inputs and runs ``js/bench/speed.js``:

- the tessera artifact (default: ``js/fixtures/all-minilm-l6-v2``, built by ``scripts/js_fixtures.py``);
- the same graph as one self-contained ``onnx/model.onnx`` in transformers.js's local-model layout
  (``<root>/<id>/config.json``, ``tokenizer.json``, ``tokenizer_config.json``, ``onnx/model.onnx``);
- the corpus as JSON.

    .venv/bin/python benchmarks/js_speed.py [--n 1000] [--threads 1] [--no-browser]
    .venv/bin/python benchmarks/js_speed.py --smoke     # tiny model, 24 texts: checks the script runs

Results go to ``benchmarks/results/js_speed.json`` (``--smoke``: a temporary file). Needs
``npm ci --ignore-scripts`` in ``js/`` and ``/usr/bin/chromium`` for the browser half.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def transformers_js_layout(artifact: Path, root: Path, model_id: str = "model") -> Path:
    """Write ``artifact``'s graph and tokenizer in transformers.js's local layout under ``root``."""
    import onnx

    manifest = json.loads((artifact / "tessera.json").read_text(encoding="utf-8"))
    target = root / model_id
    (target / "onnx").mkdir(parents=True, exist_ok=True)
    graph = onnx.load(str(artifact / manifest["model_file"]), load_external_data=True)
    onnx.save_model(graph, str(target / "onnx" / "model.onnx"), save_as_external_data=False)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(artifact / name, target / name)
    source = Path(manifest.get("source", {}).get("path", ""))
    if not (source / "config.json").is_file():
        raise SystemExit(
            f"{artifact} does not name its source checkpoint's config.json (needed by transformers.js)"
        )
    shutil.copy(source / "config.json", target / "config.json")
    return target


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, default=None)
    parser.add_argument("--n", type=int, default=1000, help="corpus texts")
    parser.add_argument("--queries", type=int, default=100, help="single queries timed for the p50")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny model and corpus: check the script runs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "js_speed.json")
    args = parser.parse_args()
    from benchmarks.corpus import build_corpus

    fixtures = ROOT / "js" / "fixtures"
    artifact = args.artifact or fixtures / ("tiny-bert-dense" if args.smoke else "all-minilm-l6-v2")
    n, queries = (24, 5) if args.smoke else (args.n, args.queries)
    with tempfile.TemporaryDirectory(prefix="tessera-js-speed-") as tmp:
        work = Path(tmp)
        transformers_js_layout(artifact, work / "tjs")
        corpus = build_corpus(n, query_fraction=0.3, seed=0, tokenizer_json=str(artifact / "tokenizer.json"))
        (work / "corpus.json").write_text(json.dumps(corpus), encoding="utf-8")
        out = work / "result.json" if args.smoke else args.out
        cmd = [
            "node",
            str(ROOT / "js" / "bench" / "speed.js"),
            "--artifact",
            str(artifact),
            "--tjs-root",
            str(work / "tjs"),
            "--tjs-id",
            "model",
            "--corpus",
            str(work / "corpus.json"),
            "--threads",
            str(args.threads),
            "--queries",
            str(queries),
            "--out",
            str(out),
        ]
        if args.no_browser:
            cmd.append("--no-browser")
        subprocess.run(cmd, check=True, cwd=ROOT / "js")
        result = json.loads(out.read_text(encoding="utf-8"))
    if not args.smoke:
        from benchmarks.machine import cpu_info  # CPU model and flags next to the figures

        result["machine"] = cpu_info()
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("node", "browser")}, indent=2))


if __name__ == "__main__":
    main()
