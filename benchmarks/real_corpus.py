"""An offline corpus of real English passages: docs that ship with Python and installed packages.

Sources: docstrings of the standard library and of installed packages (parsed with ``ast``, never
imported), the ``.md`` / ``.rst`` files in site-packages, and the long descriptions in
``*.dist-info/METADATA``. Each text is split into paragraphs (blank lines), whitespace is
collapsed, and a paragraph is kept when it has 20–200 words and reads like prose (mostly
alphabetic words, no doctest or code lines). Exact duplicates are dropped and at most
``per_file`` paragraphs come from one file, so no single module dominates.

Deterministic: files are visited in the order of ``sha1(f"{seed}:{label}")`` where ``label`` is
the path relative to its root (``stdlib/json/__init__.py``, ``site/numpy/...``), and collection
stops once enough paragraphs are found. The same seed on the same Python + installed packages
gives the same corpus; a different environment gives a different (still real) one.

    from benchmarks.real_corpus import build, passages
    data = build(n_passages=5000, n_queries=500, seed=0)
    data["passages"], data["queries"]      # queries: first sentences of held-out paragraphs
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

__all__ = ["source_files", "paragraphs_of", "iter_paragraphs", "passages", "build"]

_MAX_FILE_BYTES = 400_000
_SKIP_PARTS = {"test", "tests", "testing", "__pycache__", "idle_test", "_vendor", "vendored", "node_modules"}
_WORD = re.compile(r"^[A-Za-z][A-Za-z'\-]*[.,;:!?)]*$")
_CODEY = re.compile(r"(>>>|\.\.\. |^\s*[$#] |```|\{\{|\}\}|==|!=|->|\w+\(.*\)\s*$|</?\w+>)", re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_RST_MARKUP = re.compile(r":(?:\w+:)+`([^`]*)`|``([^`]*)``|`([^`<]*?)(?:\s*<[^>]*>)?`_{0,2}")


def _roots() -> list[tuple[str, Path]]:
    paths = sysconfig.get_paths()
    roots = [("stdlib", Path(paths["stdlib"]))]
    roots.append(("site", Path(paths["purelib"])))  # stdlib's own site-packages is skipped below
    return roots


def source_files(seed: int = 0) -> list[tuple[str, Path]]:
    """``(label, path)`` of every candidate file, in the deterministic visiting order."""
    found: dict[str, Path] = {}
    for name, root in _roots():
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root)
            dirnames[:] = [
                d
                for d in dirnames
                if d not in _SKIP_PARTS
                and not (name == "stdlib" and not rel_dir.parts and d == "site-packages")
            ]
            in_dist_info = bool(rel_dir.parts) and rel_dir.parts[0].endswith(".dist-info")
            for fname in filenames:
                if fname.endswith((".py", ".md", ".rst")) or (fname == "METADATA" and in_dist_info):
                    found[f"{name}/{(rel_dir / fname).as_posix()}"] = Path(dirpath) / fname
    return sorted(found.items(), key=lambda kv: hashlib.sha1(f"{seed}:{kv[0]}".encode()).hexdigest())


def _docstrings(text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                out.append(doc)
    return out


def _metadata_body(text: str) -> str:
    head, _, body = text.partition("\n\n")
    return body if body.strip() else ""


def _clean(paragraph: str) -> str | None:
    """One paragraph → a single-line passage, or None when it is not prose."""
    lines = [ln for ln in paragraph.splitlines() if ln.strip()]
    if not lines:
        return None
    if any(set(ln.strip()) <= set("=-~^*#+`_:|.") for ln in lines):  # rst/md rules, headings, tables
        return None
    if any(ln.lstrip().startswith(("|", ".. ", ":param", ":return", "@", "#", "- [", "* [")) for ln in lines):
        return None
    if _CODEY.search(paragraph):
        return None
    text = " ".join(" ".join(lines).split())
    text = _RST_MARKUP.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    text = text.replace("**", "").replace("::", ":")
    words = text.split()
    if not 20 <= len(words) <= 200:
        return None
    if sum(bool(_WORD.match(w)) for w in words) < 0.75 * len(words):
        return None
    if not re.search(r"[.!?:]$", text):  # a sentence, not a fragment cut mid-way
        return None
    return text


def paragraphs_of(path: Path) -> list[str]:
    """Prose paragraphs of one file (docstrings for .py, the text for .md/.rst/METADATA)."""
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            return []
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if path.suffix == ".py":
        blocks = _docstrings(text)
    elif path.name == "METADATA":
        blocks = [_metadata_body(text)]
    else:
        blocks = [text]
    out = []
    for block in blocks:
        for para in re.split(r"\n\s*\n", block):
            cleaned = _clean(para)
            if cleaned:
                out.append(cleaned)
    return out


def iter_paragraphs(seed: int = 0, per_file: int = 12) -> Iterator[tuple[str, str]]:
    """``(label, paragraph)`` in deterministic order, duplicates removed."""
    seen: set[str] = set()
    for label, path in source_files(seed):
        taken = 0
        for para in paragraphs_of(path):
            key = para.lower()
            if key in seen:
                continue
            seen.add(key)
            yield label, para
            taken += 1
            if taken >= per_file:
                break


def _first_sentence(paragraph: str, max_words: int = 32) -> str:
    pieces = _SENTENCE_END.split(paragraph)
    sentence = pieces[0]
    for nxt in pieces[1:]:  # do not stop after "e.g." / "i.e." / "etc." / "vs."
        if not re.search(r"\b(?:e\.g|i\.e|etc|vs|cf|Mr|Dr|No)\.$", sentence):
            break
        sentence += " " + nxt
    return " ".join(sentence.split()[:max_words])


def build(n_passages: int = 5000, n_queries: int = 500, seed: int = 0, per_file: int = 12) -> dict:
    """``{"passages", "passage_sources", "queries", "query_sources", "seed"}``.

    Queries are the first sentence (≤ 32 words, ≥ 5 words) of paragraphs that are *not* in the
    passages. Raises RuntimeError when the environment holds too little text.
    """
    passages_: list[str] = []
    p_src: list[str] = []
    queries: list[str] = []
    q_src: list[str] = []
    # every 10th paragraph is held out for queries until there are enough, so both sides mix sources
    for i, (label, para) in enumerate(iter_paragraphs(seed, per_file)):
        want_query = len(queries) < n_queries and (i % 10 == 9 or len(passages_) >= n_passages)
        if want_query:
            q = _first_sentence(para)
            if len(q.split()) >= 5:
                queries.append(q)
                q_src.append(label)
                continue
        if len(passages_) < n_passages:
            passages_.append(para)
            p_src.append(label)
        if len(passages_) >= n_passages and len(queries) >= n_queries:
            break
    if len(passages_) < n_passages or len(queries) < n_queries:
        raise RuntimeError(
            f"only {len(passages_)} passages / {len(queries)} queries of real text found "
            f"(wanted {n_passages} / {n_queries}); install more packages or ask for fewer"
        )
    return {
        "passages": passages_,
        "passage_sources": p_src,
        "queries": queries,
        "query_sources": q_src,
        "seed": seed,
    }


def passages(seed: int = 0, n: int = 2000) -> list[str]:
    """``n`` real passages (the corpus side of :func:`build`)."""
    return build(n_passages=n, n_queries=0, seed=seed)["passages"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-passages", type=int, default=20)
    ap.add_argument("--n-queries", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = build(args.n_passages, args.n_queries, args.seed)
    json.dump({k: v for k, v in data.items()}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
