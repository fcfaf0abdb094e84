"""WordNet 3.0 noun and mammal closures, read from the dictionary files (no nltk needed).

Install the files once with ``apt-get install -y wordnet-base`` (Debian/Ubuntu: they land in
``/usr/share/wordnet``) or point ``--wordnet-dir``/``WORDNET_DIR`` at any WordNet 3.0 ``dict``
folder. Synsets are named like nltk does (``dog.n.01``: first lemma, lower-cased, and its sense
number in ``index.noun``). Edges are hypernym (``@``) and instance-hypernym (``@i``) pointers,
as in Nickel & Kiela's closure script; the mammal closure keeps the nodes below ``mammal.n.01``
(and it) and the closure edges between them.

``python benchmarks/wordnet_closure.py --out DIR`` writes ``nouns.tsv`` and ``mammals.tsv``
(closure edges, ``child<TAB>ancestor``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from tessera_onnx.hyperbolic.hierarchy import Hierarchy, transitive_closure

DEFAULT_DIR = Path(os.environ.get("WORDNET_DIR", "/usr/share/wordnet"))


def _sense_numbers(wordnet_dir: Path) -> dict[tuple[str, str], int]:
    """``(lemma, offset) -> sense number`` from ``index.noun``."""
    senses: dict[tuple[str, str], int] = {}
    with open(wordnet_dir / "index.noun", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(" "):
                continue
            cols = line.split()
            lemma, n_synsets, n_ptrs = cols[0], int(cols[2]), int(cols[3])
            offsets = cols[6 + n_ptrs : 6 + n_ptrs + n_synsets]
            for i, off in enumerate(offsets):
                senses[(lemma, off)] = i + 1
    return senses


def noun_pairs(wordnet_dir: Path = DEFAULT_DIR) -> list[tuple[str, str]]:
    """``(synset, hypernym)`` pairs of every noun synset (hypernyms and instance hypernyms)."""
    if not (wordnet_dir / "data.noun").is_file():
        raise SystemExit(
            f"no WordNet dictionary in {wordnet_dir}: run `apt-get install -y wordnet-base` "
            "or set WORDNET_DIR to a WordNet 3.0 dict folder"
        )
    senses = _sense_numbers(wordnet_dir)
    names: dict[str, str] = {}
    links: list[tuple[str, str]] = []
    with open(wordnet_dir / "data.noun", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(" "):
                continue
            cols = line.split(" | ")[0].split()
            offset, n_words = cols[0], int(cols[3], 16)
            lemma = cols[4].lower()
            names[offset] = f"{lemma}.n.{senses[(lemma, offset)]:02d}"
            pos = 4 + 2 * n_words
            n_ptrs = int(cols[pos])
            for j in range(n_ptrs):
                symbol, target, target_pos = cols[pos + 1 + 4 * j : pos + 4 + 4 * j]
                if symbol in ("@", "@i") and target_pos == "n":
                    links.append((offset, target))
    return [(names[a], names[b]) for a, b in links]


def noun_closure(wordnet_dir: Path = DEFAULT_DIR) -> Hierarchy:
    """The transitive closure of the WordNet noun hierarchy."""
    return transitive_closure(noun_pairs(wordnet_dir))


def subtree_closure(full: Hierarchy, root: str) -> Hierarchy:
    """The closure restricted to ``root`` and the nodes below it."""
    root_id = full.ids([root])[0]
    below = np.unique(full.edges[full.edges[:, 1] == root_id, 0])
    keep = np.zeros(full.n_nodes, dtype=bool)
    keep[below] = True
    keep[root_id] = True
    mask = keep[full.edges[:, 0]] & keep[full.edges[:, 1]]
    pairs = [(full.names[a], full.names[b]) for a, b in full.edges[mask]]
    return transitive_closure(pairs)


def write_tsv(h: Hierarchy, path: Path) -> None:
    """Write the closure edges as ``child<TAB>ancestor`` lines."""
    with open(path, "w", encoding="utf-8") as fh:
        for a, b in h.edges:
            fh.write(f"{h.names[a]}\t{h.names[b]}\n")


def main() -> None:
    """Write nouns.tsv and mammals.tsv closures to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--wordnet-dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    nouns = noun_closure(args.wordnet_dir)
    mammals = subtree_closure(nouns, "mammal.n.01")
    write_tsv(nouns, args.out / "nouns.tsv")
    write_tsv(mammals, args.out / "mammals.tsv")
    print(
        f"nouns: {nouns.n_nodes} nodes, {len(nouns.edges)} edges; "
        f"mammals: {mammals.n_nodes} nodes, {len(mammals.edges)} edges"
    )


if __name__ == "__main__":
    main()
