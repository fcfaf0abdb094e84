"""The small artifacts committed under ``tests/data/artifacts/``: what each one is and how it is made.

The runtime tests open these committed artifacts, so they run with the runtime alone (no torch).
Each recipe builds a tiny seeded checkpoint with the helpers of this folder and exports it with
``tessera_export`` (the hyperbolic table is trained by the runtime itself). Regenerate them all with
``python tests/data/make_artifacts.py`` (needs the ``[export]`` extra, granite-tsfm, sentencepiece,
Pillow and sentence-transformers); ``tests/export/test_committed_artifacts.py`` rebuilds each one and compares it with
the committed copy.

The tokenizers are trained on Python's own docstrings, so a different Python minor version gives
different vocabularies: :data:`GENERATED_WITH` records the version that made the committed files.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "data" / "artifacts"
GENERATED_WITH_FILE = ARTIFACTS_DIR / "generated_with.json"


@dataclass(frozen=True)
class Recipe:
    """How one committed artifact is made: a checkpoint writer and the export options."""

    name: str
    checkpoint: str  # key into CHECKPOINTS (several artifacts share one checkpoint)
    options: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


def _dense(path: Path) -> Path:
    from tiny_models import write_st_dense_dir

    return write_st_dense_dir("bert", path)


def _mlm(path: Path) -> Path:
    from tiny_models import build_tiny_text_model

    return build_tiny_text_model("bert", path, mlm=True)


def _pylate(path: Path) -> Path:
    from tiny_models import write_pylate_colbert_dir

    return write_pylate_colbert_dir("bert", path)


def _stanford(path: Path) -> Path:
    from tiny_models import write_stanford_colbert_dir

    return write_stanford_colbert_dir(path)


def _siglip(path: Path) -> Path:
    from tiny_vision_models import write_tiny_siglip

    return write_tiny_siglip(path)


def _clip(path: Path) -> Path:
    from tiny_vision_models import write_tiny_clip

    return write_tiny_clip(path)


def _colidefics3(path: Path) -> Path:
    from tiny_page_models import write_tiny_colidefics3

    return write_tiny_colidefics3(path)


def _cross_encoder(labels: int) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        from tiny_cross_encoders import write_tiny_cross_encoder

        return write_tiny_cross_encoder("bert", path, num_labels=labels)

    return write


def _ttm(variant: str) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        from ts_fixtures import tiny_model

        tiny_model(variant).save_pretrained(path)
        return path

    return write


CHECKPOINTS: dict[str, Callable[[Path], Path]] = {
    "bert-dense": _dense,
    "bert-mlm": _mlm,
    "bert-pylate": _pylate,
    "bert-stanford": _stanford,
    "siglip": _siglip,
    "clip": _clip,
    "colidefics3": _colidefics3,
    "ce-bert-1": _cross_encoder(1),
    "ce-bert-3": _cross_encoder(3),
    "ttm-plain": _ttm("plain"),
    "ttm-freq": _ttm("freq"),
}

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("tiny-bert-dense", "bert-dense", {"paradigm": "dense"}, "BERT, mean pooling + Normalize"),
        Recipe("tiny-colbert-pylate", "bert-pylate", {"paradigm": "multi_vector"}, "PyLate ColBERT"),
        Recipe("tiny-colbert-stanford", "bert-stanford", {"paradigm": "multi_vector"}, "Stanford ColBERT"),
        Recipe("tiny-splade", "bert-mlm", {"paradigm": "sparse"}, "SPLADE, pooling in the graph"),
        Recipe(
            "tiny-splade-logits",
            "bert-mlm",
            {"paradigm": "sparse", "splade_pooling": "runtime"},
            "SPLADE, pooling at runtime",
        ),
        Recipe("tiny-siglip", "siglip", {}, "SigLIP, SentencePiece tokenizer"),
        Recipe("tiny-clip", "clip", {}, "CLIP, WordPiece tokenizer"),
        Recipe("tiny-colidefics3", "colidefics3", {}, "ColIdefics3 pages"),
        Recipe("ce-bert-1", "ce-bert-1", {}, "BERT cross-encoder, one label"),
        Recipe("ce-bert-3", "ce-bert-3", {}, "BERT cross-encoder, three labels"),
        Recipe("tiny-ttm-plain", "ttm-plain", {}, "TinyTimeMixer, common channel"),
        Recipe("tiny-ttm-freq", "ttm-freq", {}, "TinyTimeMixer with a frequency token"),
    )
}
HYPERBOLIC = "tiny-poincare-tree"


def committed(name: str) -> Path:
    """The committed artifact ``name`` (must exist: the runtime tests rely on it)."""
    path = ARTIFACTS_DIR / name
    if not (path / "tessera.json").is_file():
        raise FileNotFoundError(f"{path} is missing; run `python tests/data/make_artifacts.py`")
    return path


def build_checkpoint(key: str, workdir: Path) -> Path:
    """Write checkpoint ``key`` under ``workdir`` once and return its directory."""
    path = workdir / f"ckpt-{key}"
    if not path.is_dir():
        CHECKPOINTS[key](path)
    return path


def build(name: str, out: Path, workdir: Path) -> Path:
    """Build artifact ``name`` into ``out`` (replacing it) from a fresh seeded checkpoint under ``workdir``."""
    if name == HYPERBOLIC:
        return build_hyperbolic(out)
    from tessera_export import build_artifact

    recipe = RECIPES[name]
    source = build_checkpoint(recipe.checkpoint, workdir)
    build_artifact(source, out, model_id=name, overwrite=True, **recipe.options)
    return out


def hyperbolic_pairs(branching: int = 3, depth: int = 3) -> list[tuple[str, str]]:
    """(child, parent) edges of a complete tree, node names like ``root.1.2``."""
    pairs, level = [], ["root"]
    for _ in range(depth):
        nxt = []
        for parent in level:
            for j in range(branching):
                pairs.append((f"{parent}.{j}", parent))
                nxt.append(f"{parent}.{j}")
        level = nxt
    return pairs


def build_hyperbolic(out: Path) -> Path:
    """Train the tiny Poincaré table (seeded, numpy only) and write it as an artifact at ``out``."""
    from tessera_onnx.hyperbolic import TrainConfig, reconstruction, train, transitive_closure, write_artifact

    tree = transitive_closure(hyperbolic_pairs())
    trained = train(tree, TrainConfig(dim=5, epochs=40, batch_size=16, seed=0))
    rec = reconstruction(tree, trained.embeddings)
    if out.exists():
        shutil.rmtree(out)
    return write_artifact(
        out,
        tree,
        trained.embeddings,
        model_id=HYPERBOLIC,
        training=trained.summary(),
        evaluation={"map": rec.map, "mean_rank": rec.mean_rank},
    )


def write_affine_graph(path: Path) -> Path:
    """``y = x * 2 + 1`` and ``rows = x`` over ``x [batch, 3]`` float (the batch-runner tests' graph)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["m"]),
            helper.make_node("Add", ["m", "one"], ["y"]),
            helper.make_node("Identity", ["x"], ["rows"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["batch", 3]),
        ],
        [numpy_helper.from_array(np.float32(2), "two"), numpy_helper.from_array(np.float32(1), "one")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(path))
    return path


def all_names() -> tuple[str, ...]:
    """Every committed artifact, recipes first, the hyperbolic table last."""
    return (*RECIPES, HYPERBOLIC)


def python_version() -> str:
    """``major.minor`` of this interpreter (the tokenizers depend on it, see the module docstring)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def generated_with() -> dict[str, Any]:
    """What made the committed files (``python``: major.minor)."""
    try:
        return json.loads(GENERATED_WITH_FILE.read_text(encoding="utf-8"))
    except OSError:
        return {}
