"""Text → ``input_ids``/``attention_mask`` for the text tower of an image–text dual encoder.

SigLIP pads every text to ``max_length`` (64) with the pad id and pools the last position, so
the padding is part of the input: padding to the longest text of a batch would make a text's
vector depend on its neighbours. CLIP pools at the EOS token under a causal mask, so padding
to the longest text of the batch gives the same vectors and is faster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._warnings import warn
from ..errors import TruncationWarning
from ..text.batching import pad_batch
from ..text.canonical import SiglipCanonicalEncoder
from ..text.config import TextConfig
from ..text.tokenize import TextTokenizer
from .config import ImageTextConfig

__all__ = ["DualEncoderTokenizer"]


class DualEncoderTokenizer:
    """Tokenize and pad texts exactly as the model's reference tokenizer + processor do."""

    def __init__(self, tokenizer_file: str | Path, text: TextConfig, model: ImageTextConfig) -> None:
        self.text = text
        self.model = model
        self._tokenizer = TextTokenizer(tokenizer_file, text.max_length)
        self._canonical: SiglipCanonicalEncoder | None = None
        if model.canonicalize == "siglip":
            from tokenizers import Tokenizer

            backend = Tokenizer.from_file(str(tokenizer_file))
            backend.no_padding()
            backend.no_truncation()
            self._canonical = SiglipCanonicalEncoder(backend, dict(model.special_tokens), model.eos_token_id)

    def ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text (with special tokens, truncated to ``max_length``), unpadded."""
        if self._canonical is None:
            return self._tokenizer.encode(texts, self.text.max_length).ids
        ids, truncated = self._canonical.encode(texts, self.text.max_length)
        if truncated:
            warn(
                f"{truncated} of {len(texts)} texts were longer than {self.text.max_length} tokens and were "
                "truncated (the model's maximum length)",
                TruncationWarning,
            )
        return ids

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)`` int64 ``[B, T]``: T = max_length or the longest text."""
        rows = self.ids(texts)
        length = self.text.max_length if self.model.text_padding == "max_length" else None
        return pad_batch(rows, self.text.pad_token_id, length=length, side=self.text.padding_side)

    @property
    def backend(self) -> Any:
        """The underlying :class:`~tessera_onnx.text.tokenize.TextTokenizer`."""
        return self._tokenizer
