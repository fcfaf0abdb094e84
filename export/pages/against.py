"""Check a ``pages`` artifact against colpali-engine itself, run in its own venv.

:func:`compare_with_colpali_engine` hands the checkpoint, pages and queries to
:mod:`.colpali_engine_reference` under colpali-engine's python (a subprocess: colpali-engine's
current release needs transformers 5), runs the artifact on the same inputs with the runtime, and
compares:

- preprocessing: token ids of every page and query (identical), pixels (max abs ≤ 1e-5) and, for
  Qwen2-VL, the patch grid ``(t, h, w)`` (identical);
- vectors: every kept token vector, pages and queries (max abs ≤ :data:`VECTOR_TOLERANCE`);
- scores: the query × page MaxSim matrix of colpali-engine's ``score_multi_vector``, called pair
  by pair (max abs ≤ :data:`SCORE_TOLERANCE`). Called on a whole batch, colpali-engine pads the
  shorter pages with zero vectors, whose dot product 0 wins the max of any query token that
  scores below 0 on every real token of the page; that batch-dependent figure is reported as
  ``max_abs_diff_scores_batched`` and does not gate.

Pages and queries are each processed as ONE batch on both sides (left-padded models see the same
padding). The result records the reference's name and versions, for the manifest's parity block.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.errors import ExportError, ParityError

__all__ = [
    "compare_with_colpali_engine",
    "reference_python",
    "run_colpali_engine",
    "VECTOR_TOLERANCE",
    "SCORE_TOLERANCE",
    "PIXEL_TOLERANCE",
    "REFERENCE_SCRIPT",
]

VECTOR_TOLERANCE = 1e-4
SCORE_TOLERANCE = 1e-3
PIXEL_TOLERANCE = 1e-5
REFERENCE_SCRIPT = Path(__file__).with_name("colpali_engine_reference.py")
_REPO_VENV = Path(__file__).resolve().parents[2] / "benchmarks" / ".venvs" / "colpali" / "bin" / "python"


def reference_python(python: str | os.PathLike[str] | None = None) -> Path | None:
    """The python of colpali-engine's venv: ``python``, else ``$TESSERA_COLPALI_PYTHON``, else the repo's one."""
    for candidate in (python, os.environ.get("TESSERA_COLPALI_PYTHON"), _REPO_VENV):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def run_colpali_engine(
    python: Path, args: Sequence[str], *, timeout: float = 900.0
) -> subprocess.CompletedProcess[str]:
    """Run :mod:`.colpali_engine_reference` with colpali-engine's ``python``; raise with its stderr on failure."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    proc = subprocess.run(
        [str(python), str(REFERENCE_SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise ExportError(
            f"colpali-engine ({python}) failed on {' '.join(args[:2])}: {proc.stderr.strip()[-2000:]}"
        )
    return proc


def _max(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max()) if a.size else 0.0


def _reference_pixels(ref: dict[str, np.ndarray], family: str, i: int, page: Any) -> np.ndarray:
    if family == "qwen2_vl":
        thw = ref["pages.image_grid_thw"][i]
        return ref["pages.pixel_values"][i][: int(np.prod(thw))]
    if family == "idefics3":
        return ref["pages.pixel_values"][i][: len(page.vision_feeds["pixel_values"])]
    return ref["pages.pixel_values"][i][None]


def _our_pixels(page: Any, family: str) -> np.ndarray:
    if family != "qwen2_vl":
        return page.vision_feeds["pixel_values"]
    patches = page.vision_feeds["patches"]
    restore = page.vision_feeds.get("restore_index")
    if restore is not None:  # window order back to the processor's order
        patches = patches.reshape(len(restore), -1, patches.shape[-1])[restore].reshape(patches.shape)
    return patches


def compare_with_colpali_engine(
    artifact: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    queries: Sequence[str],
    *,
    python: str | os.PathLike[str] | None = None,
    raise_on_fail: bool = False,
    backend: str = "pil",
) -> dict[str, Any]:
    """Compare the artifact with colpali-engine on ``checkpoint`` for ``images`` and ``queries`` (see the module doc).

    ``backend``: ``"pil"`` (default) runs colpali-engine with transformers' PIL image processor, the
    pixels the runtime reproduces, and every check gates ``passed``; ``"torchvision"`` keeps
    colpali-engine's default processor, whose torchvision resize differs from PIL's by a few grey
    levels: ids and grids still gate, pixel/vector/score differences are only reported.
    """
    from PIL import Image

    from tessera_onnx.pages.embedder import TesseraPages

    exe = reference_python(python)
    if exe is None:
        raise ExportError(
            "no colpali-engine venv: build one with scripts/reference_venv.sh colpali, or pass its python "
            "(--python / $TESSERA_COLPALI_PYTHON)"
        )
    with tempfile.TemporaryDirectory() as work:
        request, out = Path(work) / "request.json", Path(work) / "out.npz"
        paths = [str(Path(p).resolve()) for p in images]
        request.write_text(
            json.dumps({"images": paths, "queries": list(queries), "backend": backend}), encoding="utf-8"
        )
        run_colpali_engine(exe, ["run", str(Path(checkpoint).resolve()), str(request), str(out)])
        with np.load(out) as data:
            ref = {k: data[k] for k in data.files}
    meta = json.loads(str(ref.pop("meta")))
    model = TesseraPages(
        artifact, threads=1, batch_size=max(len(paths), 1), query_batch_size=max(len(queries), 1)
    )
    family = model.config.family
    report: dict[str, Any] = {
        "reference": f"colpali-engine {meta['colpali_engine']} (transformers {meta['transformers']}, "
        f"torch {meta['torch']}), fp32 eager",
        "reference_versions": meta,
        "pages": len(paths),
        "queries": len(queries),
    }
    ids_equal, pixel_diff, grids_equal = True, 0.0, True
    for i, path in enumerate(paths):
        page = model.family.prepare_page(Image.open(path), i, Path(path).name, None)
        mask = ref["pages.attention_mask"][i].astype(bool)
        ids_equal &= np.array_equal(page.input_ids, ref["pages.input_ids"][i][mask])
        ours, theirs = _our_pixels(page, family), _reference_pixels(ref, family, i, page)
        if ours.shape != theirs.shape:
            pixel_diff = float("inf")
        else:
            pixel_diff = max(pixel_diff, _max(ours, theirs))
        if family == "qwen2_vl":
            grids_equal &= list(page.grid.extra["grid_thw"]) == ref["pages.image_grid_thw"][i].tolist()
    for i, text in enumerate(queries):
        mask = ref["queries.attention_mask"][i].astype(bool)
        ids_equal &= np.array_equal(model.family.query_ids(text, i), ref["queries.input_ids"][i][mask])
    pages_vectors = model.encode_images(paths) if paths else []
    query_vectors = model.encode_queries(list(queries)) if queries else []
    vec = 0.0
    for side, ours_list in (("pages", pages_vectors), ("queries", query_vectors)):
        for i, ours in enumerate(ours_list):
            theirs = ref[f"{side}.vectors.{i}"]
            vec = max(vec, _max(ours, theirs) if ours.shape == theirs.shape else float("inf"))
    score, batched = 0.0, 0.0
    if "scores" in ref:
        ours = np.asarray(model.similarity(query_vectors, pages_vectors))
        score = _max(ours, ref["scores_pairwise"])
        batched = _max(ours, ref["scores"])
    report.update(
        ids_equal=bool(ids_equal),
        max_abs_diff_pixels=pixel_diff,
        grids_equal=bool(grids_equal),
        max_abs_diff_vectors=vec,
        max_abs_diff_scores=score,
        max_abs_diff_scores_batched=batched,
        tolerance={"vectors": VECTOR_TOLERANCE, "scores": SCORE_TOLERANCE, "pixels": PIXEL_TOLERANCE},
    )
    numbers = pixel_diff <= PIXEL_TOLERANCE and vec <= VECTOR_TOLERANCE and score <= SCORE_TOLERANCE
    report["backend"] = backend
    report["passed"] = bool(ids_equal and grids_equal and (numbers or backend != "pil"))
    if raise_on_fail and not report["passed"]:
        raise ParityError(f"the artifact does not match colpali-engine: {report}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tessera_export.pages.against ARTIFACT CHECKPOINT IMAGE… [-q QUERY]…`` (prints the JSON report)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("checkpoint")
    parser.add_argument("images", nargs="*")
    parser.add_argument("-q", "--query", action="append", default=[])
    parser.add_argument("--python")
    parser.add_argument("--backend", choices=("pil", "torchvision"), default="pil")
    args = parser.parse_args(argv)
    report = compare_with_colpali_engine(
        args.artifact, args.checkpoint, args.images, args.query, python=args.python, backend=args.backend
    )
    print(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
