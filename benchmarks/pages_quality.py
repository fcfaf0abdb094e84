"""Retrieval quality of a page-retrieval artifact on your own labelled pages (needs real weights).

This machine has no trained ColPali-family weights, so the project measures speed and parity,
not quality. With a real checkpoint exported (``tessera-export build --from-dir CKPT --out ART``),
this script reports nDCG@k, recall@k and MRR@k — the ViDoRe metrics — for:

- a labelled set of your own: ``--pages`` (image files, folders, PDFs; each page's id is its
  name: the path, or ``<pdf>#page=N``) and ``--qrels`` (JSON lines ``{"query": "...",
  "relevant": ["<page id>", ...]}``);
- or a ViDoRe-style Hugging Face dataset (``--hf-dataset vidore/docvqa_test_subsampled``,
  columns ``query`` and ``image``; needs ``pip install datasets`` and network): each row's image
  is a page, each non-empty query is relevant to its row's page.

It reports exhaustive MaxSim and, with ``--prefetch N``, the pooled prefetch + rerank, for
each ``--storage`` (float, int8, binary). Example::

    python benchmarks/pages_quality.py artifacts/colsmol-256m --hf-dataset vidore/docvqa_test_subsampled \\
        --storage float int8 binary --prefetch 100 --out benchmarks/results/pages_quality.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["evaluate", "main", "ranking_metrics"]


def ranking_metrics(ranked: Sequence[Any], relevant: set[Any], k: int) -> dict[str, float]:
    """nDCG@k (binary gains), recall@k and MRR@k of one ranked list."""
    top = list(ranked[:k])
    dcg = sum(1.0 / math.log2(i + 2) for i, pid in enumerate(top) if pid in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    first = next((i for i, pid in enumerate(top) if pid in relevant), None)
    return {
        f"ndcg@{k}": dcg / ideal if ideal else 0.0,
        f"recall@{k}": len(relevant & set(top)) / len(relevant) if relevant else 0.0,
        f"mrr@{k}": 1.0 / (first + 1) if first is not None else 0.0,
    }


def _own_set(pages: Sequence[str], qrels: Path) -> tuple[list[Any], list[str], list[set[str]]]:
    items: list[Any] = []
    for p in pages:
        path = Path(p)
        items.extend(sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path])
    queries, relevant = [], []
    for line in qrels.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            queries.append(row["query"])
            relevant.append(set(row["relevant"]))
    return items, queries, relevant


def _hf_set(
    name: str, split: str, limit: int | None
) -> tuple[list[Any], list[str], list[set[str]], list[str]]:
    from datasets import load_dataset  # the user's environment; not a project dependency

    data = load_dataset(name, split=split)
    if limit:
        data = data.select(range(min(limit, len(data))))
    images, ids, queries, relevant = [], [], [], []
    for i, row in enumerate(data):
        images.append(row["image"])
        ids.append(f"row{i}")
        if row.get("query"):
            queries.append(row["query"])
            relevant.append({f"row{i}"})
    return images, queries, relevant, ids


def evaluate(
    model: Any,
    pages: Sequence[Any],
    queries: Sequence[str],
    relevant: Sequence[set[Any]],
    *,
    page_ids: Sequence[Any] | None = None,
    k: int = 5,
    storages: Sequence[str] = ("float",),
    prefetch: int | None = None,
) -> dict[str, Any]:
    """Embed ``pages`` and ``queries`` with ``model`` (a ``TesseraPages``) and score the rankings."""
    import numpy as np

    from tessera_onnx import PageIndex

    t = time.perf_counter()
    vectors, names = [], []
    for _, name, vec in model.iter_pages(pages):
        vectors.append(vec)
        names.append(name)
    ids = list(page_ids) if page_ids is not None else names
    embed_s = time.perf_counter() - t
    q_vecs = model.encode_queries(list(queries))
    out: dict[str, Any] = {
        "pages": len(ids),
        "queries": len(queries),
        "k": k,
        "embed_seconds": round(embed_s, 2),
    }
    for storage in storages:
        index = PageIndex(storage)
        index.add(vectors, ids)
        for label, pre in (("exhaustive", None), ("prefetch", prefetch)):
            if label == "prefetch" and not prefetch:
                continue
            rows = [
                ranking_metrics(index.search(q, k, prefetch=pre).ids, rel, k)
                for q, rel in zip(q_vecs, relevant, strict=True)
            ]
            out[f"{storage}/{label}"] = (
                {m: round(float(np.mean([r[m] for r in rows])), 4) for m in rows[0]} if rows else {}
            )
        out[f"{storage}/index_bytes"] = index.memory_bytes
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact")
    ap.add_argument("--pages", nargs="*", default=[], help="image files, folders or PDFs (with --qrels)")
    ap.add_argument("--qrels", type=Path, help='JSON lines {"query": ..., "relevant": [page ids]}')
    ap.add_argument("--hf-dataset", help="a ViDoRe-style dataset id (columns query, image)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None, help="first N dataset rows only")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--storage", nargs="+", default=["float"], choices=["float", "int8", "binary"])
    ap.add_argument("--prefetch", type=int, default=None)
    ap.add_argument("--image-size", type=int, default=None, help="the runtime knob (default: the artifact's)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from tessera_onnx import TesseraPages

    model = TesseraPages(args.artifact, threads=args.threads, image_size=args.image_size)
    if args.hf_dataset:
        pages, queries, relevant, ids = _hf_set(args.hf_dataset, args.split, args.limit)
    elif args.qrels and args.pages:
        pages, queries, relevant = _own_set(args.pages, args.qrels)
        ids = None
    else:
        ap.error("give --hf-dataset, or --pages with --qrels")
    res = evaluate(
        model, pages, queries, relevant, page_ids=ids, k=args.k, storages=args.storage, prefetch=args.prefetch
    )
    res.update(
        artifact=str(args.artifact), image_size=model.image_size, dataset=args.hf_dataset or str(args.qrels)
    )
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return res


if __name__ == "__main__":
    main()
