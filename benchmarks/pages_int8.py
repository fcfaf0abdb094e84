"""int8 page artifacts against their fp32 artifact: token-vector cosine and ranking agreement.

For one checkpoint, exports the fp32 artifact and one int8 artifact per profile of
``tessera_export.pages.PAGES_INT8_PROFILES``, embeds the same pages and queries with each, and
reports per profile:

- ``min_cosine_tokens`` / ``mean_cosine_tokens``: cosine of every kept token vector (pages and
  queries) to the fp32 artifact's;
- ``top1_agreement``: the share of queries whose best page is the fp32 artifact's best page;
- ``min_spearman`` / ``mean_spearman``: per query, the rank correlation of the MaxSim page scores.

The recommended default is the first profile, in the order of ``PAGES_INT8_PROFILES``, that meets
every figure of ``PAGES_INT8_FLOOR``; the result says which and why. Pages are your own
(``--pages`` images / PDFs) or rendered test pages; queries ``--queries`` (one per line) or a
built-in set. Accuracy only; speed is measured by ``benchmarks/pages_speed.py``.

Run::

    python benchmarks/pages_int8.py --from-dir CKPT --pages docs/*.pdf --queries q.txt \\
        --out benchmarks/results/pages_int8.json
    python benchmarks/pages_int8.py --tiny          # tiny random ColIdefics3 (the smoke test)

On random weights (``--tiny``) the figures check the script, not int8 itself: choose the default
from a run on a trained checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))  # tiny_page_models for --tiny and the rendered pages
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["compare_profiles", "ranking_agreement", "main"]

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


def ranking_agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and Spearman rank correlation (min, mean over queries) of two ``[Q, P]`` score matrices."""
    top1 = float(np.mean(reference.argmax(1) == other.argmax(1)))
    rhos = []
    for a, b in zip(reference, other, strict=True):
        ra, rb = _ranks(a), _ranks(b)
        denom = float(np.linalg.norm(ra - ra.mean()) * np.linalg.norm(rb - rb.mean()))
        rhos.append(float(((ra - ra.mean()) * (rb - rb.mean())).sum() / denom) if denom else 1.0)
    return {"top1_agreement": top1, "min_spearman": min(rhos), "mean_spearman": float(np.mean(rhos))}


def _token_cosines(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> np.ndarray:
    out = []
    for x, y in zip(a, b, strict=True):
        den = np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-12)
        out.append((x * y).sum(-1) / den)
    return np.concatenate(out)


def compare_profiles(
    artifacts: dict[str, Path | str], pages: Sequence[Any], queries: Sequence[str], floor: dict[str, float]
) -> dict[str, Any]:
    """Figures of every int8 artifact in ``artifacts`` (key ``"fp32"`` = the reference) and the recommendation.

    A value that is a string instead of a path is the reason the export of that profile was refused.
    """
    from tessera_onnx import TesseraPages

    def run(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        model = TesseraPages(path, threads=1)
        p, q = model.encode_images(list(pages)), model.encode_queries(list(queries))
        return p, q, np.asarray(model.similarity(q, p))

    ref_pages, ref_queries, ref_scores = run(artifacts["fp32"])
    profiles: dict[str, Any] = {}
    for name, path in artifacts.items():
        if name == "fp32":
            continue
        if isinstance(path, str):  # the export refused it: its parity missed the int8 floor
            profiles[name] = {"meets_floor": False, "export_refused": path}
            continue
        got_pages, got_queries, scores = run(path)
        cos = _token_cosines(ref_pages + ref_queries, got_pages + got_queries)
        figures = {
            "min_cosine_tokens": float(cos.min()),
            "mean_cosine_tokens": float(cos.mean()),
            **ranking_agreement(ref_scores, scores),
            "max_abs_diff_scores": float(np.abs(ref_scores - scores).max()),
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry (see the module docstring); returns the result written to ``--out``."""
    from tessera_export import build_artifact
    from tessera_export.pages import PAGES_INT8_FLOOR, PAGES_INT8_PROFILES

    from tessera_onnx.errors import ParityError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-dir", type=Path, help="the checkpoint to export (any accepted layout)")
    src.add_argument("--tiny", action="store_true", help="a tiny random ColIdefics3 (smoke test)")
    ap.add_argument("--pages", nargs="*", default=[], help="page images / PDFs (default: rendered pages)")
    ap.add_argument("--queries", type=Path, help="a text file, one query per line")
    ap.add_argument("--profiles", nargs="*", default=list(PAGES_INT8_PROFILES))
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".cache" / "pages_int8")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pages_int8.json")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt = _tiny_checkpoint(args.work) if args.tiny else args.from_dir
    artifacts = {"fp32": args.work / "fp32"}
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
    result = {
        "checkpoint": "tiny random ColIdefics3" if args.tiny else str(ckpt),
        "pages": len(args.pages) or 4,
        "queries": len(queries),
        **compare_profiles(artifacts, _pages(args.pages), queries, dict(PAGES_INT8_FLOOR)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
