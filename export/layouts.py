"""Token layouts used for parity checks: plain padded batches and the exact ColBERT layouts.

Pure numpy + ``tokenizers`` so the numbers match what the runtime feeds the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["load_tokenizer", "encode_batch", "colbert_query_batch", "colbert_document_batch"]


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json`` with padding/truncation switched off."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def _encode(tok, texts: Sequence[str], max_length: int, *, lowercase: bool, strip: bool) -> list:
    prepared = [(t.strip() if strip else t) for t in texts]
    if lowercase:
        prepared = [t.lower() for t in prepared]
    tok.enable_truncation(max_length=max_length)
    try:
        return tok.encode_batch(prepared, add_special_tokens=True)
    finally:
        tok.no_truncation()


def _pad(rows: list[tuple[list[int], list[int], list[int]]], pad_id: int, length: int | None = None):
    length = length or max(len(r[0]) for r in rows)
    ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    types = np.zeros((len(rows), length), dtype=np.int64)
    for i, (a, m, t) in enumerate(rows):
        ids[i, : len(a)] = a
        mask[i, : len(m)] = m
        types[i, : len(t)] = t
    return ids, mask, types


def encode_batch(
    tok: Tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    pad_id: int,
    lowercase: bool = False,
    strip: bool = True,
) -> dict[str, np.ndarray]:
    """Right-padded ``input_ids``/``attention_mask``/``token_type_ids`` for ``texts``."""
    encs = _encode(tok, texts, max_length, lowercase=lowercase, strip=strip)
    ids, mask, types = _pad([(e.ids, e.attention_mask, e.type_ids) for e in encs], pad_id)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _with_marker(enc, marker_id: int) -> tuple[list[int], list[int], list[int]]:
    ids = list(enc.ids)
    return ids[:1] + [marker_id] + ids[1:], [1] * (len(ids) + 1), [0] * (len(ids) + 1)


def colbert_query_batch(
    tok: Tokenizer,
    texts: Sequence[str],
    *,
    query_length: int,
    marker_id: int,
    mask_token_id: int,
    pad_id: int,
    do_query_expansion: bool = True,
    attend_to_expansion_tokens: bool = False,
    lowercase: bool = False,
) -> dict[str, np.ndarray]:
    """``[CLS] [Q] q… [SEP] [MASK]…`` exactly ``query_length`` long (Stanford / PyLate layout)."""
    encs = _encode(tok, texts, query_length - 1, lowercase=lowercase, strip=True)
    rows = [_with_marker(e, marker_id) for e in encs]
    if do_query_expansion:
        ids, mask, types = _pad(rows, mask_token_id, query_length)
        if attend_to_expansion_tokens:
            mask[:] = 1
    else:
        ids, mask, types = _pad(rows, pad_id)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def colbert_document_batch(
    tok: Tokenizer,
    texts: Sequence[str],
    *,
    document_length: int,
    marker_id: int,
    pad_id: int,
    lowercase: bool = False,
) -> dict[str, np.ndarray]:
    """``[CLS] [D] d… [SEP]`` truncated to ``document_length``, padded to the longest in the batch."""
    encs = _encode(tok, texts, document_length - 1, lowercase=lowercase, strip=True)
    ids, mask, types = _pad([_with_marker(e, marker_id) for e in encs], pad_id)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
