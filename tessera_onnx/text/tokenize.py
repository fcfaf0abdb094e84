"""Input validation and tokenization with the ``tokenizers`` library (no padding there).

Texts are tokenized once per call with ``encode_batch`` (Rust, multi-threaded); padding happens
per length bucket in numpy (:mod:`.batching`). A :class:`TextTokenizer` is immutable after
construction — one ``tokenizers.Tokenizer`` per truncation length, created under a lock — so
one instance serves many threads.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._warnings import warn as _warn
from ..errors import ArtifactError, InvalidInputError, TruncationWarning

__all__ = ["validate_texts", "prepare_texts", "sanitize_text", "TextTokenizer", "Tokenized"]

_SURROGATES = re.compile("[\ud800-\udfff]")


def validate_texts(texts: Any) -> tuple[list[str], bool]:
    """Check ``texts`` is a str or a sequence of str; return ``(list, was_single_str)``.

    Raises :class:`InvalidInputError` naming the first offending index (None, bytes, numbers,
    ...). An empty sequence is valid and returns ``[]``.
    """
    if isinstance(texts, str):
        return [texts], True
    if texts is None or isinstance(texts, (bytes, bytearray, memoryview)):
        raise InvalidInputError(
            f"texts must be a str or a sequence of str, got {type(texts).__name__}"
            + ("; decode bytes first, e.g. data.decode('utf-8')" if texts is not None else "")
        )
    if isinstance(texts, np.ndarray):
        texts = texts.tolist() if texts.ndim == 1 else texts
    if not isinstance(texts, Iterable) or isinstance(texts, dict):
        raise InvalidInputError(f"texts must be a str or a sequence of str, got {type(texts).__name__}")
    items = list(texts)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            hint = "; decode bytes first" if isinstance(item, (bytes, bytearray)) else ""
            raise InvalidInputError(
                f"texts[{index}] is {type(item).__name__} ({item!r:.40}), expected str{hint}"
            )
    return items, False


def sanitize_text(text: str) -> str:
    """Replace lone surrogates (which cannot be UTF-8 encoded) with U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def prepare_texts(texts: list[str], prefix: str = "", strip: bool = True, lowercase: bool = False) -> list[str]:
    """Prefix (prompt), then strip and lowercase as sentence-transformers does."""
    if prefix:
        texts = [prefix + t for t in texts]
    if strip:
        texts = [t.strip() for t in texts]
    if lowercase:
        texts = [t.lower() for t in texts]
    return texts


class Tokenized:
    """Token ids of a list of texts: ``ids[i]`` is a list of ints, ``lengths`` an int64 array."""

    __slots__ = ("ids", "lengths", "truncated")

    def __init__(self, ids: list[list[int]], truncated: int) -> None:
        self.ids = ids
        self.lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        self.truncated = truncated

    def __len__(self) -> int:
        return len(self.ids)


class TextTokenizer:
    """A ``tokenizer.json`` loaded with ``tokenizers``, padding off, truncation per length."""

    def __init__(self, path: str | Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        try:
            self._json = Path(path).read_text(encoding="utf-8")
            base = Tokenizer.from_str(self._json)
        except Exception as exc:  # missing file, bad JSON, unknown model type
            raise ArtifactError(f"cannot load tokenizer {path}: {exc}") from exc
        base.no_padding()
        base.enable_truncation(max_length=max_length)
        self._base = base  # never mutated again: safe to share between threads
        self.max_length = max_length
        self._lock = threading.Lock()
        self._by_length: dict[int, Any] = {max_length: base}
        self._vocab: list[str] | None = None

    @property
    def vocab_size(self) -> int:
        """Vocabulary size including added tokens."""
        return self._base.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        """The vocabulary id of ``token``, or None if it is not in the vocabulary."""
        return self._base.token_to_id(token)

    def id_to_token(self, index: int) -> str | None:
        """The token string for vocabulary id ``index``, or None if it is out of range."""
        return self._base.id_to_token(index)

    @property
    def vocabulary(self) -> list[str]:
        """``vocabulary[id]`` is the token string (built once, on first use)."""
        if self._vocab is None:
            vocab = [""] * self.vocab_size
            for token, index in self._base.get_vocab(with_added_tokens=True).items():
                if 0 <= index < len(vocab):
                    vocab[index] = token
            self._vocab = vocab
        return self._vocab

    def _truncating(self, length: int) -> Any:
        tok = self._by_length.get(length)
        if tok is None:
            with self._lock:
                tok = self._by_length.get(length)
                if tok is None:
                    from tokenizers import Tokenizer

                    tok = Tokenizer.from_str(self._json)
                    tok.no_padding()
                    tok.enable_truncation(max_length=length)
                    self._by_length[length] = tok
        return tok

    def special_prefix_length(self, text: str) -> int:
        """Tokens of ``text`` with specials, minus a trailing special token (ST prompt length)."""
        enc = self._base.encode(sanitize_text(text))
        n = len(enc.ids)
        if n and enc.special_tokens_mask[-1]:
            n -= 1
        return n

    def encode(self, texts: list[str], max_length: int | None = None, warn: bool = True) -> Tokenized:
        """Tokenize with special tokens, truncated to ``max_length`` (default: the model max).

        Lone surrogates are replaced with U+FFFD. When some texts were truncated and ``warn``,
        a :class:`TruncationWarning` says how many.
        """
        length = max_length or self.max_length
        tok = self._truncating(length)
        try:
            encodings = tok.encode_batch(texts, add_special_tokens=True)
        except Exception:  # lone surrogates cannot cross into Rust: replace them and retry
            try:
                encodings = tok.encode_batch([sanitize_text(t) for t in texts], add_special_tokens=True)
            except Exception as exc:
                raise InvalidInputError(f"the tokenizer rejected the input: {exc}") from exc
        ids = [e.ids for e in encodings]
        truncated = sum(1 for e, i in zip(encodings, ids, strict=True) if len(i) >= length and e.overflowing)
        if truncated and warn:
            _warn(
                f"{truncated} of {len(texts)} texts were longer than {length} tokens and were "
                "truncated (the model's maximum length)",
                TruncationWarning,
            )
        return Tokenized(ids, truncated)
