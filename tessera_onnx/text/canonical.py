"""Text canonicalisation that some reference tokenizers apply before their subword model.

SigLIP's slow ``SiglipTokenizer`` (transformers 4.57) prepends ``"▁"`` (after turning any ``"▁"``
in the text into a space), lowercases, deletes every ASCII punctuation character
(``string.punctuation``), collapses whitespace runs to one space and strips the ends, then runs
SentencePiece without a dummy prefix. A converted ``tokenizer.json`` does none of that, so the
runtime applies :func:`siglip_canonicalize` first and feeds the result to a tokenizer whose
Metaspace pre-tokenizer does not prepend.
"""

from __future__ import annotations

import re
import string

__all__ = ["siglip_canonicalize", "siglip_canonicalize_chunk", "SiglipCanonicalEncoder", "CANONICALIZERS"]

SPIECE_UNDERLINE = "\u2581"
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_WHITESPACE = re.compile(r"\s+")


def siglip_canonicalize(text: str) -> str:
    """The string SigLIP's slow tokenizer hands to SentencePiece for ``text`` (no special tokens in it)."""
    return siglip_canonicalize_chunk((SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " ")).lower())


CANONICALIZERS = {"siglip": siglip_canonicalize}


class SiglipCanonicalEncoder:
    """Token ids exactly as SigLIP's slow tokenizer gives them, from a converted ``tokenizer.json``.

    Mirrors ``SiglipTokenizer.tokenize``: the text is prefixed with ``"▁"`` and lowercased,
    split around the special tokens (which swallow the whitespace next to them), every other
    chunk is canonicalised and segmented without special tokens, a leading lone ``"▁"`` before
    a special token is dropped, then EOS is appended unless the ids already end with it.
    Truncation keeps ``max_length - 1`` ids and the EOS, as the slow tokenizer does.
    """

    def __init__(self, tokenizer: object, special_tokens: dict[str, int], eos_token_id: int) -> None:
        self._tok = tokenizer
        self._specials = dict(special_tokens)
        self._eos = int(eos_token_id)
        self._underline = tokenizer.token_to_id(SPIECE_UNDERLINE)  # type: ignore[attr-defined]
        names = sorted(self._specials, key=len, reverse=True)
        self._split = re.compile(r"\s*(" + "|".join(re.escape(n) for n in names) + r")\s*") if names else None

    def _chunks(self, text: str) -> list[tuple[bool, str]]:
        text = (SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " ")).lower()
        if self._split is None:
            return [(False, text)]
        parts = self._split.split(text)
        return [(i % 2 == 1, p) for i, p in enumerate(parts) if p]

    def encode(self, texts: list[str], max_length: int) -> tuple[list[list[int]], int]:
        """``(ids per text, number truncated)``; ids include the final EOS, no padding."""
        plans = [self._chunks(t) for t in texts]
        plain = [siglip_canonicalize_chunk(p) for plan in plans for special, p in plan if not special]
        encoded = iter(self._tok.encode_batch(plain, add_special_tokens=False))  # type: ignore[attr-defined]
        out: list[list[int]] = []
        truncated = 0
        for plan in plans:
            ids: list[int] = []
            for special, part in plan:
                if special:
                    if ids == [self._underline]:  # SiglipTokenizer.tokenize drops it
                        ids = []
                    ids.append(self._specials[part])
                else:
                    ids.extend(next(encoded).ids)
            if len(ids) > max_length - 1:
                truncated += 1
                ids = ids[: max_length - 1]
            if not ids or ids[-1] != self._eos:
                ids.append(self._eos)
            out.append(ids)
        return out, truncated


def siglip_canonicalize_chunk(text: str) -> str:
    """``SiglipTokenizer.canonicalize_text``: drop ASCII punctuation, collapse whitespace, strip."""
    return _WHITESPACE.sub(" ", text.translate(_PUNCTUATION)).strip()
