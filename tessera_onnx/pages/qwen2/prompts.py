"""Token ids of ColQwen2 documents and queries: prompt expansion, query template, left padding.

- Document: the visual prompt (``<|im_start|>user\\n<|vision_start|><|image_pad|><|vision_end|>
  Describe the image.<|im_end|><|endoftext|>``) with its ``<|image_pad|>`` repeated
  :attr:`~.image.ImageGrid.num_tokens` times (the same grid as the pixels).
- Query: ``prefix + query + augmentation × 10``. The prefix is ``"Query: "`` for
  colpali-engine ≤ 0.3.12 and transformers' ``ColQwen2Processor``, ``""`` for colpali-engine
  ≥ 0.3.13; the augmentation token is the tokenizer's pad token ``<|endoftext|>``, attended.
- Batches are padded on the left (``padding_side="left"``) with the pad id and mask 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...text.tokenize import TextTokenizer, Tokenized
from .image import ImageGrid

__all__ = ["DOCUMENT_PROMPT", "QwenPromptSettings", "document_batch", "query_batch"]

DOCUMENT_PROMPT = (
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe the image.<|im_end|><|endoftext|>"
)


@dataclass(frozen=True)
class QwenPromptSettings:
    """The text side of the input contract, pinned in the manifest."""

    document_prompt: str = DOCUMENT_PROMPT
    image_token: str = "<|image_pad|>"
    vision_start_token: str = "<|vision_start|>"
    query_prefix: str = "Query: "
    augmentation_token: str = "<|endoftext|>"
    augmentation_count: int = 10
    padding_side: str = "left"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QwenPromptSettings:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _pad(tokens: Tokenized, pad_id: int, side: str) -> tuple[np.ndarray, np.ndarray]:
    return tokens.pad(np.arange(len(tokens)), pad_id, side=side)


def document_batch(
    tokenizer: TextTokenizer, grids: Sequence[ImageGrid], settings: QwenPromptSettings, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` int64 ``[B, T]`` of one document prompt per grid."""
    if settings.document_prompt.count(settings.image_token) != 1:
        raise InvalidInputError(f"the document prompt must hold exactly one {settings.image_token}")
    head, tail = settings.document_prompt.split(settings.image_token)
    texts = [head + settings.image_token * g.num_tokens + tail for g in grids]
    longest = max((len(t) for t in texts), default=1)
    tokens = tokenizer.encode(texts, max_length=max(longest, tokenizer.max_length), warn=False)
    if tokens.truncated:
        raise InvalidInputError("a document prompt was truncated; raise the tokenizer's max length")
    return _pad(tokens, pad_id, settings.padding_side)


def query_batch(
    tokenizer: TextTokenizer, queries: Sequence[str], settings: QwenPromptSettings, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` int64 ``[B, T]`` of the templated queries.

    Empty (or whitespace-only) queries are refused: their vectors would be the template alone.
    """
    for index, query in enumerate(queries):
        if not query.strip():
            raise InvalidInputError(f"queries[{index}] is empty; a query needs text")
    suffix = settings.augmentation_token * settings.augmentation_count
    texts = [settings.query_prefix + q + suffix for q in queries]
    return _pad(tokenizer.encode(texts), pad_id, settings.padding_side)
