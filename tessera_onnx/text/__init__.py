"""Text preprocessing: input validation, tokenization and length-bucketed batching."""

from __future__ import annotations

from .batching import pad_batch, plan_batches
from .tokenize import TextTokenizer, prepare_texts, validate_texts

__all__ = ["TextTokenizer", "validate_texts", "prepare_texts", "plan_batches", "pad_batch"]
