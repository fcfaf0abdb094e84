"""Regenerate the small artifacts committed under ``tests/data/artifacts/`` (seeded, offline).

    python tests/data/make_artifacts.py            # every artifact
    python tests/data/make_artifacts.py tiny-splade tiny-siglip
    python tests/data/make_artifacts.py --retrain-tokenizers   # new WordPiece/Unigram vocabularies first

Needs the ``[export]`` extra plus granite-tsfm (``--no-deps``), sentencepiece and Pillow. What each
artifact is: ``tests/support/committed_artifacts.py``. Checkpoints are built in a temporary
directory that is removed afterwards; each artifact directory is replaced.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import committed_artifacts as ca  # noqa: E402
import tiny_models  # noqa: E402


def main(names: list[str]) -> None:
    """Build ``names`` (default: all) into ``tests/data/artifacts/`` and record the Python version.

    The committed WordPiece/Unigram vocabularies (``tests/data/tokenizers/``) are trained first
    when missing or when ``--retrain-tokenizers`` is given.
    """
    if "--retrain-tokenizers" in names or not all(
        (tiny_models.TOKENIZERS_DIR / f"{n}.json").is_file() for n in ("bert-wordpiece", "xlmr-unigram")
    ):
        tiny_models.write_tokenizer_files()
    names = [n for n in names if n != "--retrain-tokenizers"] or list(ca.all_names())
    unknown = sorted(set(names) - set(ca.all_names()))
    if unknown:
        raise SystemExit(f"unknown artifacts {unknown}; known: {list(ca.all_names())}")
    ca.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tessera-committed-"))
    try:
        for name in names:
            out = ca.build(name, ca.ARTIFACTS_DIR / name, work)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(f"{name}: {size / 1024:.0f} KiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ca.write_affine_graph(ca.ARTIFACTS_DIR / "affine.onnx")
    ca.GENERATED_WITH_FILE.write_text(json.dumps({"python": ca.python_version()}, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
