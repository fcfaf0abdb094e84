"""int8 page artifacts against their fp32 artifact: token-vector cosine and ranking agreement.

For one checkpoint, exports the fp32 artifact and one int8 artifact per profile of
``tessera_export.pages.PAGES_INT8_PROFILES``, embeds the same pages and queries with each, and
reports per profile:

- ``min_cosine_tokens`` / ``mean_cosine_tokens``: cosine of every kept token vector (pages and
  queries) to the fp32 artifact's;
- ``top1_agreement``: the share of queries whose best page is the fp32 artifact's best page;
- ``min_top10_overlap`` / ``mean_top10_overlap``: per query, the share of the fp32 top ten kept;
- ``min_spearman`` / ``mean_spearman`` and ``min_kendall_tau`` / ``mean_kendall_tau``: per query,
  the rank correlation of all MaxSim page scores;
- ``runtime_graph``: the graph files onnxruntime loads (variant or portable canonical graph).

The recommended default is the first profile, in the order of ``PAGES_INT8_PROFILES``, that meets
every figure of ``PAGES_INT8_FLOOR``; the result says which and why. Pages are your own
(``--pages`` images / PDFs) or rendered test pages; queries ``--queries`` (one per line) or a
built-in set. ``--real-text`` applies the same profiles to trained all-MiniLM-L6-v2 token vectors
(``benchmarks/pages_int8_text.py``): the query side and language tower of a page model, the only
trained transformer available offline; it is what ``DEFAULT_PAGES_INT8_PROFILE`` was chosen by.
Accuracy only; speed is measured by ``benchmarks/pages_speed.py``. Results carry the machine header
(``benchmarks/machine.py``) and a markdown table beside the JSON.

Run::

    python benchmarks/pages_int8.py --real-text     # -> benchmarks/results/pages_int8_text.json
    python benchmarks/pages_int8.py --tiny          # tiny random ColIdefics3 -> pages_int8.json
    python benchmarks/pages_int8.py --from-dir CKPT --pages docs/*.pdf --queries q.txt \\
        --out benchmarks/results/pages_int8_mine.json

On random weights (``--tiny``) the figures check the plumbing, not int8 itself (the result's
``note`` says so).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))  # tiny_page_models for --tiny and the rendered pages
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["compare_encodings", "compare_profiles", "ranking_agreement", "runtime_graphs", "main"]

QUERIES = (
    "total revenue in 2023",
    "a table of quarterly results",
    "who signed the agreement",
    "figure showing the growth rate",
    "the red box on the first page",
    "contact address and phone number",
)


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(len(values))
    return ranks


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    denom = float(np.linalg.norm(ra - ra.mean()) * np.linalg.norm(rb - rb.mean()))
    return float(((ra - ra.mean()) * (rb - rb.mean())).sum() / denom) if denom else 1.0


def _kendall_tau_b(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b over all pairs (ties count in neither direction); 1.0 for fewer than two items."""
    sa, sb = np.sign(a[:, None] - a[None, :]), np.sign(b[:, None] - b[None, :])
    denom = float(np.sqrt((sa * sa).sum() * (sb * sb).sum()))
    return float((sa * sb).sum() / denom) if denom else 1.0


def ranking_agreement(reference: np.ndarray, other: np.ndarray, k: int = 10) -> dict[str, float]:
    """How far ``other``'s rankings follow ``reference``'s, per query row of two ``[Q, P]`` score matrices.

    ``top1_agreement``: share of queries with the same best item; ``min/mean_top{k}_overlap``:
    ``|top-k ∩ reference top-k| / k`` (with ``k`` capped at ``P``; the name keeps ``k``); ``min/mean_spearman`` and
    ``min/mean_kendall_tau``: rank correlations of all ``P`` scores (Kendall's tau-b).
    """
    kept = min(k, reference.shape[1])
    top1 = float(np.mean(reference.argmax(1) == other.argmax(1)))
    overlaps, rhos, taus = [], [], []
    for a, b in zip(reference, other, strict=True):
        ta, tb = np.argsort(-a, kind="stable")[:kept], np.argsort(-b, kind="stable")[:kept]
        overlaps.append(len(set(ta.tolist()) & set(tb.tolist())) / kept)
        rhos.append(_spearman(a, b))
        taus.append(_kendall_tau_b(a, b))
    return {
        "top1_agreement": top1,
        f"min_top{k}_overlap": float(min(overlaps)),
        f"mean_top{k}_overlap": float(np.mean(overlaps)),
        "min_spearman": min(rhos),
        "mean_spearman": float(np.mean(rhos)),
        "min_kendall_tau": min(taus),
        "mean_kendall_tau": float(np.mean(taus)),
    }


def _token_cosines(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> np.ndarray:
    out = []
    for x, y in zip(a, b, strict=True):
        den = np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-12)
        out.append((x * y).sum(-1) / den)
    return np.concatenate(out)


def runtime_graphs(artifact: Path) -> list[str]:
    """The graph files the runtime loads from ``artifact`` with onnxruntime's CPU provider.

    Each canonical graph, or its onnxruntime variant where the artifact has one this onnxruntime
    can run (``tessera_onnx.backends.variants.select_variant``, as the runtime chooses).
    """
    import onnxruntime as ort

    from tessera_onnx.artifact import read_manifest
    from tessera_onnx.backends.variants import select_variant, variant_file

    manifest = read_manifest(artifact)
    variant_files = {f for v in (manifest.variants or {}).values() for f in v.get("graphs", {}).values()}
    canonical = [f for f in manifest.files if f.endswith(".onnx") and f not in variant_files]
    return [
        variant_file(
            manifest,
            graph,
            select_variant(
                manifest,
                graph,
                runtime="onnxruntime",
                version=ort.__version__,
                provider="CPUExecutionProvider",
            ),
        )
        for graph in canonical
    ]


Encoded = tuple[list[np.ndarray], np.ndarray]  # every token-vector matrix (items and queries), [Q, P] scores


def compare_encodings(
    encode: Callable[[Path], Encoded], artifacts: dict[str, Path | str], floor: dict[str, float]
) -> dict[str, Any]:
    """Figures of every int8 artifact in ``artifacts`` (key ``"fp32"`` = the reference) and the recommendation.

    ``encode(path)`` returns the token-vector matrices and the MaxSim score matrix of one artifact on
    the fixed inputs. A value of ``artifacts`` that is a string instead of a path is the reason the
    export of that profile was refused.
    """
    ref_vectors, ref_scores = encode(Path(artifacts["fp32"]))
    profiles: dict[str, Any] = {}
    for name, path in artifacts.items():
        if name == "fp32":
            continue
        if isinstance(path, str):  # the export refused it: its parity missed the int8 floor
            profiles[name] = {"meets_floor": False, "export_refused": path}
            continue
        vectors, scores = encode(path)
        cos = _token_cosines(ref_vectors, vectors)
        figures = {
            "min_cosine_tokens": float(cos.min()),
            "mean_cosine_tokens": float(cos.mean()),
            "tokens": int(cos.size),
            **ranking_agreement(ref_scores, scores),
            "max_abs_diff_scores": float(np.abs(ref_scores - scores).max()),
            "runtime_graph": ", ".join(runtime_graphs(Path(path))),
        }
        figures["meets_floor"] = all(figures[k] >= v for k, v in floor.items())
        profiles[name] = figures
    chosen = next((n for n, f in profiles.items() if f["meets_floor"]), None)
    return {
        "floor": floor,
        "profiles": profiles,
        "recommended_default": chosen,
        "rule": "the first profile, in PAGES_INT8_PROFILES order, meeting every figure of the floor",
    }


def compare_profiles(
    artifacts: dict[str, Path | str], pages: Sequence[Any], queries: Sequence[str], floor: dict[str, float]
) -> dict[str, Any]:
    """:func:`compare_encodings` of page artifacts on ``pages`` and ``queries`` (MaxSim of queries over pages)."""
    from tessera_onnx import TesseraPages

    def encode(path: Path) -> Encoded:
        model = TesseraPages(path, threads=1)
        p, q = model.encode_images(list(pages)), model.encode_queries(list(queries))
        return p + q, np.asarray(model.similarity(q, p))

    return compare_encodings(encode, artifacts, floor)


def _tiny_checkpoint(work: Path) -> Path:
    from tiny_page_models import write_tiny_colidefics3

    path = work / "tiny-colidefics3"
    if not (path / "config.json").is_file():
        write_tiny_colidefics3(path)
    return path


def _pages(paths: Sequence[str]) -> list[Any]:
    if paths:
        return [Path(p) for p in paths]
    from tiny_page_models import rendered_page

    return [
        rendered_page(w, h, i) for i, (w, h) in enumerate(((612, 792), (900, 300), (300, 400), (500, 500)))
    ]


TINY_NOTE = (
    "random weights (tiny ColIdefics3): the figures check the plumbing (export, conversion, "
    "runtime, comparison), not int8 itself; choose the default from trained weights (--real-text "
    "for the text side, --from-dir with a trained checkpoint)"
)
REAL_TEXT_NOTE = (
    "trained text weights (all-MiniLM-L6-v2 token vectors, MaxSim): stands in for the query side and "
    "language tower of a page model; the vision tower is not covered; MiniLM was not trained for "
    "MaxSim, so the rankings measure how far int8 moves them, not retrieval quality"
)


def _pages_body(args: argparse.Namespace, floor: dict[str, float]) -> dict[str, Any]:
    from tessera_export import build_artifact

    from tessera_onnx.errors import ParityError

    ckpt = _tiny_checkpoint(args.work) if args.tiny else args.from_dir
    artifacts: dict[str, Path | str] = {"fp32": args.fp32 or args.work / "fp32"}
    if args.fp32 is None:
        build_artifact(ckpt, artifacts["fp32"], model_id="fp32", overwrite=True)
    for name in args.profiles:
        artifacts[name] = args.work / f"int8-{name}"
        try:
            build_artifact(
                ckpt,
                artifacts[name],
                model_id=f"int8-{name}",
                precision="int8",
                int8_profile=name,
                overwrite=True,
            )
        except ParityError as exc:  # recorded: this profile misses the export's own int8 floor
            artifacts[name] = str(exc)[:500]
    queries = (
        [q for q in args.queries.read_text(encoding="utf-8").splitlines() if q.strip()]
        if args.queries
        else QUERIES
    )
    return {
        "checkpoint": "tiny random ColIdefics3" if args.tiny else str(ckpt),
        "pages": len(args.pages) or 4,
        "queries": len(queries),
        **compare_profiles(artifacts, _pages(args.pages), queries, floor),
    }


def markdown(res: dict[str, Any]) -> str:
    """The result as a short markdown report: machine line, what ran, one row per profile."""
    m, la = res["machine"], res["load_average"]
    items = f"{res['passages']} passages" if "passages" in res else f"{res['pages']} pages"
    lines = [
        f"CPU: {m['model']} ({m['cores']} cores; SIMD flags: {', '.join(m['simd_flags']) or 'none'}; "
        f"int8 flags: {', '.join(m['int8_flags']) or 'none'}); load average {la['start'][0] if la['start'] else '?'}; "
        f"{res['date']}. Accuracy only (no timings).",
        f"Checkpoint: {res['checkpoint']}; {res['queries']} queries x {items}.",
        f"Note: {res['note']}.",
        f"Floor: {', '.join(f'{k} >= {v}' for k, v in res['floor'].items())}.",
        "",
        "| profile | runtime graph | token cos min | token cos mean | top-1 | top-10 overlap mean (min) "
        "| Spearman mean (min) | Kendall tau mean (min) | meets floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in res["profiles"].items():
        if "export_refused" in f:
            lines.append(f"| {name} | export refused: {f['export_refused'][:80]} | | | | | | | no |")
            continue
        top = next(k for k in f if k.startswith("mean_top"))
        lines.append(
            f"| {name} | {f.get('runtime_graph', '')} | {f['min_cosine_tokens']:.4f} | {f['mean_cosine_tokens']:.4f} "
            f"| {f['top1_agreement']:.3f} | {f[top]:.3f} ({f[top.replace('mean', 'min', 1)]:.2f}) "
            f"| {f['mean_spearman']:.4f} ({f['min_spearman']:.4f}) "
            f"| {f['mean_kendall_tau']:.4f} ({f['min_kendall_tau']:.4f}) | {'yes' if f['meets_floor'] else 'no'} |"
        )
    lines += [
        "",
        f"Recommended by this run: {res['recommended_default']} ({res['rule']}); the exporter's default "
        f"(DEFAULT_PAGES_INT8_PROFILE): {res['exporter_default']}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry (see the module docstring); returns the result written to ``--out``."""
    from tessera_export.pages import DEFAULT_PAGES_INT8_PROFILE, PAGES_INT8_FLOOR, PAGES_INT8_PROFILES

    from benchmarks.machine import load_average, run_header, save_result

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-dir", type=Path, help="the checkpoint to export (any accepted layout)")
    src.add_argument("--tiny", action="store_true", help="a tiny random ColIdefics3 (smoke test)")
    src.add_argument(
        "--real-text",
        action="store_true",
        help="the profiles on trained all-MiniLM-L6-v2 token vectors (benchmarks/pages_int8_text.py)",
    )
    ap.add_argument("--pages", nargs="*", default=[], help="page images / PDFs (default: rendered pages)")
    ap.add_argument("--queries", type=Path, help="a text file, one query per line")
    ap.add_argument(
        "--fp32", type=Path, help="the checkpoint's fp32 page artifact, already exported (default: export it)"
    )
    ap.add_argument("--texts", type=int, default=1000, help="--real-text: peer-corpus texts (30%% queries)")
    ap.add_argument("--profiles", nargs="*", default=list(PAGES_INT8_PROFILES))
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".cache" / "pages_int8")
    ap.add_argument("--out", type=Path, help="default benchmarks/results/pages_int8[_text].json")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    load_start = load_average()
    floor = dict(PAGES_INT8_FLOOR)
    if args.real_text:
        from benchmarks.pages_int8_text import run_real_text

        body, note, name = (
            run_real_text(args.work, args.profiles, floor, args.texts),
            REAL_TEXT_NOTE,
            "pages_int8_text",
        )
    else:
        body = _pages_body(args, floor)
        note = TINY_NOTE if args.tiny else "the checkpoint given by --from-dir"
        name = "pages_int8"
    command = "python benchmarks/pages_int8.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {
        **run_header(name, command, 1, load_start),
        "note": note,
        **body,
        "exporter_default": DEFAULT_PAGES_INT8_PROFILE,
    }
    save_result(result, markdown(result), args.out or ROOT / "benchmarks" / "results" / f"{name}.json")
    return result


if __name__ == "__main__":
    main()
