"""Input validation and tokenization with the ``tokenizers`` library (no padding there).

Texts are tokenized one window at a time (:data:`WINDOW` texts, :func:`iter_windows`) with
``encode_batch`` (Rust, multi-threaded); the ids go straight into one flat numpy array
(:class:`Tokenized`) so no ``Encoding`` object outlives the call, and padding happens per
length bucket in numpy. Texts far longer than the token limit are cut by characters first
(:meth:`TextTokenizer.encode`), without changing the tokens that survive truncation.
A :class:`TextTokenizer` is immutable after construction — one ``tokenizers.Tokenizer`` per
truncation length, created under a lock — so one instance serves many threads.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._warnings import warn as _warn
from ..errors import ArtifactError, InvalidInputError, TruncationWarning

__all__ = [
    "WINDOW",
    "CHARS_PER_TOKEN",
    "validate_texts",
    "iter_windows",
    "prepare_texts",
    "sanitize_text",
    "TextTokenizer",
    "Tokenized",
]

_SURROGATES = re.compile("[\ud800-\udfff]")

# Texts tokenized, length-sorted and batched together: bounds the memory of one call whatever
# the input size, while batches stay full (a few thousand texts give well-filled length buckets).
WINDOW = 2048
# A text longer than max_length × this many characters is cut (at a whitespace) before
# tokenizing; if the cut text no longer overflows max_length, it is re-tokenized with more.
CHARS_PER_TOKEN = 16
# How far back from the cut point a whitespace is looked for.
_WHITESPACE_LOOKBACK = 256


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


def _bad_item(index: int, item: Any) -> InvalidInputError:
    hint = "; decode bytes first" if isinstance(item, (bytes, bytearray)) else ""
    return InvalidInputError(f"texts[{index}] is {type(item).__name__} ({item!r:.40}), expected str{hint}")


def _check_str(index: int, item: Any) -> None:
    if not isinstance(item, str):
        raise _bad_item(index, item)


def iter_windows(
    texts: Any, size: int = WINDOW, check: Callable[[int, Any], None] | None = None
) -> tuple[Iterator[list[Any]], bool, int | None]:
    """Split ``texts`` (a str, a sequence or any iterable of str) into lists of ``size`` texts.

    Returns ``(windows, was_single_str, total)`` where ``total`` is ``None`` for an iterable
    without a length. A sequence is checked whole before the first window (an error costs no
    work); a generator is checked as it is consumed, so it is never held in memory. Errors are
    :class:`InvalidInputError` naming the offending index. ``check(index, item)`` replaces the
    str check for other items (the cross-encoder's text pairs); it raises on a bad item.
    """
    check = check or _check_str
    if isinstance(texts, str):
        return iter(([texts],)), True, 1
    if texts is None or isinstance(texts, (bytes, bytearray, memoryview)) or isinstance(texts, dict):
        validate_texts(texts)  # raises with the right message
    if isinstance(texts, np.ndarray):
        texts = texts.tolist() if texts.ndim == 1 else texts
    if isinstance(texts, Sequence):
        for index, item in enumerate(texts):
            check(index, item)
        n = len(texts)
        return (list(texts[i : i + size]) for i in range(0, n, size)), False, n
    if not isinstance(texts, Iterable):
        raise InvalidInputError(f"texts must be a str or a sequence of str, got {type(texts).__name__}")
    return _checked_windows(iter(texts), size, check), False, None


def _checked_windows(
    items: Iterator[Any], size: int, check: Callable[[int, Any], None]
) -> Iterator[list[Any]]:
    offset = 0
    while True:
        window = list(itertools.islice(items, size))
        if not window:
            return
        for index, item in enumerate(window):
            check(offset + index, item)
        offset += len(window)
        yield window


def sanitize_text(text: str) -> str:
    """Replace lone surrogates (which cannot be UTF-8 encoded) with U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def prepare_texts(
    texts: list[str], prefix: str = "", strip: bool = True, lowercase: bool = False
) -> list[str]:
    """Prefix (prompt), then strip and lowercase as sentence-transformers does."""
    if prefix:
        texts = [prefix + t for t in texts]
    if strip:
        texts = [t.strip() for t in texts]
    if lowercase:
        texts = [t.lower() for t in texts]
    return texts


class Tokenized:
    """Token ids of a list of texts, held as one flat int64 array.

    ``flat`` concatenates every text's ids, ``starts[i]``/``lengths[i]`` locate text ``i``;
    ``ids[i]`` (an int64 view) and :meth:`pad` read them. Build from per-text id lists with
    ``Tokenized(ids, truncated)`` or from the flat form with :meth:`from_flat`.
    """

    __slots__ = ("flat", "starts", "lengths", "truncated")

    def __init__(self, ids: Sequence[Sequence[int]], truncated: int = 0) -> None:
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        total = int(lengths.sum())
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=total)
        self._set(flat, lengths, truncated)

    @classmethod
    def from_flat(cls, flat: np.ndarray, lengths: np.ndarray, truncated: int = 0) -> Tokenized:
        """Wrap concatenated ids ``flat`` split by ``lengths`` (no copy)."""
        self = cls.__new__(cls)
        self._set(np.asarray(flat, dtype=np.int64), np.asarray(lengths, dtype=np.int64), truncated)
        return self

    def _set(self, flat: np.ndarray, lengths: np.ndarray, truncated: int) -> None:
        self.flat = flat
        self.lengths = lengths
        self.starts = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1], out=self.starts[1:])
        self.truncated = truncated

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def ids(self) -> list[np.ndarray]:
        """One int64 view per text."""
        return [
            self.flat[s : s + n] for s, n in zip(self.starts.tolist(), self.lengths.tolist(), strict=True)
        ]

    def with_token(self, token_id: int, position: int = 1) -> Tokenized:
        """A copy with ``token_id`` inserted at ``position`` of every text (ColBERT markers)."""
        where = self.starts + np.minimum(self.lengths, position)
        return Tokenized.from_flat(np.insert(self.flat, where, token_id), self.lengths + 1, self.truncated)

    def pad(
        self,
        index: np.ndarray,
        pad_id: int,
        *,
        length: int | None = None,
        side: str = "right",
        dtype: type = np.int64,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, attention_mask)`` of the texts ``index``, padded to ``length`` (default: the longest)."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        width = int(lengths.max(initial=0)) if length is None else length
        lengths = np.minimum(lengths, width)
        positions = np.arange(width)
        if side == "right":
            real = positions[None, :] < lengths[:, None]
        else:
            real = positions[None, :] >= (width - lengths)[:, None]
        # flat positions of each kept token, in row-major order (the order `real` is filled in)
        total = int(lengths.sum())
        row_offset = np.repeat(self.starts[index] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        ids = np.full((len(index), width), pad_id, dtype=dtype)
        ids[real] = self.flat[row_offset + np.arange(total)]
        return ids, real.astype(dtype)


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

        Lone surrogates are replaced with U+FFFD. A text longer than ``max_length ×``
        :data:`CHARS_PER_TOKEN` characters is cut at a whitespace before tokenizing; when the
        cut text no longer fills ``max_length`` tokens it is tokenized again with more
        characters (up to the whole text), so the kept tokens are those of the whole text for
        any tokenizer that splits words at whitespace. When some texts were truncated and
        ``warn``, a :class:`TruncationWarning` says how many.
        """
        length = max_length or self.max_length
        encodings = self._encode_cut(list(texts), length)
        tokens = _flatten(encodings, length, "ids")
        del encodings
        if tokens.truncated and warn:
            _warn_truncated(tokens.truncated, len(texts), length, "texts")
        return tokens

    def encode_pairs(
        self, pairs: list[tuple[str, str]], max_length: int | None = None, warn: bool = True
    ) -> tuple[Tokenized, Tokenized]:
        """Tokenize ``(first, second)`` pairs as one sequence each: ``(ids, token_type_ids)``.

        The tokenizer's pair template places the special tokens (``[CLS] a [SEP] b [SEP]`` for
        BERT, ``<s> a </s></s> b </s>`` for XLM-R); pairs longer than ``max_length`` are cut
        with the ``longest_first`` strategy (a token at a time from the end of the longer
        member), as transformers' tokenizers with ``truncation=True`` do. Long members are cut
        by characters first, as in :meth:`encode`. Both results share lengths.
        """
        length = max_length or self.max_length
        encodings = self._encode_cut([tuple(p) for p in pairs], length)
        ids = _flatten(encodings, length, "ids")
        types = _flatten(encodings, length, "type_ids")
        del encodings
        if ids.truncated and warn:
            _warn_truncated(ids.truncated, len(pairs), length, "pairs")
        return ids, types

    def _encode_cut(self, items: list[Any], length: int) -> list[Any]:
        """Encodings of ``items`` (str or pairs of str), long members cut by characters first."""
        tok = self._truncating(length)
        limit = length * CHARS_PER_TOKEN
        long = [i for i, t in enumerate(items) if _longest(t) > limit]
        originals = {i: items[i] for i in long}
        if long:
            items = list(items)
            for i in long:
                items[i] = _cut_item(originals[i], limit)
        encodings = _encode_batch(tok, items)
        while long:  # cut items that no longer overflow: give them more characters
            limit *= 8
            long = [
                i
                for i in long
                if not encodings[i].overflowing and _longest(items[i]) < _longest(originals[i])
            ]
            if long:
                retry = [_cut_item(originals[i], limit) for i in long]
                for i, item, enc in zip(long, retry, _encode_batch(tok, retry), strict=True):
                    items[i] = item
                    encodings[i] = enc
        return encodings


def _longest(item: Any) -> int:
    return len(item) if isinstance(item, str) else max(len(t) for t in item)


def _cut_item(item: Any, limit: int) -> Any:
    return _cut(item, limit) if isinstance(item, str) else tuple(_cut(t, limit) for t in item)


def _flatten(encodings: list[Any], length: int, field: str) -> Tokenized:
    """One :class:`Tokenized` of the ``field`` (``ids`` / ``type_ids``) of every encoding."""
    lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=len(encodings))
    truncated = sum(
        1 for e, n in zip(encodings, lengths.tolist(), strict=True) if n >= length and e.overflowing
    )
    flat = np.fromiter(
        itertools.chain.from_iterable(getattr(e, field) for e in encodings),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    return Tokenized.from_flat(flat, lengths, truncated)


def _warn_truncated(truncated: int, total: int, length: int, what: str) -> None:
    _warn(
        f"{truncated} of {total} {what} were longer than {length} tokens and were "
        "truncated (the model's maximum length)",
        TruncationWarning,
    )


def _encode_batch(tok: Any, texts: list[Any]) -> list[Any]:
    try:
        return tok.encode_batch(texts, add_special_tokens=True)
    except Exception:  # lone surrogates cannot cross into Rust: replace them and retry
        try:
            clean = [sanitize_text(t) if isinstance(t, str) else tuple(map(sanitize_text, t)) for t in texts]
            return tok.encode_batch(clean, add_special_tokens=True)
        except Exception as exc:
            raise InvalidInputError(f"the tokenizer rejected the input: {exc}") from exc


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, before a whitespace when one is near the end."""
    if len(text) <= limit:
        return text
    for end in range(limit, max(0, limit - _WHITESPACE_LOOKBACK), -1):
        if text[end].isspace():
            return text[:end]
    return text[:limit]
