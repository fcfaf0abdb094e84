"""Prompt tokenization for page retrieval: one ``tokenizers.Tokenizer``, numpy ids, side-aware padding."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import ArtifactError

__all__ = ["PromptTokenizer", "pad_ids"]


def pad_ids(sequences: Sequence[np.ndarray], pad_token_id: int, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Pad 1-D int64 id arrays into ``(input_ids [B, T], attention_mask [B, T])`` on ``side``."""
    longest = max((len(s) for s in sequences), default=0)
    ids = np.full((len(sequences), longest), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(sequences), longest), dtype=np.int64)
    for row, seq in enumerate(sequences):
        n = len(seq)
        if n == 0:
            continue
        cols = slice(longest - n, longest) if side == "left" else slice(0, n)
        ids[row, cols] = seq
        mask[row, cols] = 1
    return ids, mask


class PromptTokenizer:
    """``tokenizer.json`` of a page-retrieval artifact; thread-safe (``tokenizers`` is)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from tokenizers import Tokenizer

        try:
            self._tok = Tokenizer.from_file(os.fspath(path))
        except Exception as exc:  # noqa: BLE001 - any parse failure of the file
            raise ArtifactError(f"cannot read tokenizer {path}: {exc}") from exc
        self._tok.no_truncation()
        self._tok.no_padding()

    def encode(self, text: str, add_special_tokens: bool = True, max_length: int = 0) -> np.ndarray:
        """Ids of ``text`` as int64, cut to ``max_length`` tokens when that is > 0."""
        ids = np.asarray(self._tok.encode(text, add_special_tokens=add_special_tokens).ids, dtype=np.int64)
        return ids[:max_length] if max_length > 0 else ids

    def token_id(self, token: str) -> int:
        """Id of a (special) token, or raise :class:`ArtifactError` if the vocabulary lacks it."""
        tid = self._tok.token_to_id(token)
        if tid is None:
            raise ArtifactError(f"the artifact's tokenizer has no token {token!r}")
        return int(tid)
