"""Tiny, seeded, random-initialised ``*ForSequenceClassification`` checkpoints saved as sentence-transformers CrossEncoders.

:func:`write_tiny_cross_encoder` builds a BERT / XLM-RoBERTa / ModernBERT classifier (hidden 32,
2 layers, tokenizers of :mod:`tiny_models`) with ``num_labels`` outputs and saves it with
``sentence_transformers.CrossEncoder.save`` (config_sentence_transformers.json with the
activation and prompts), so tests compare against sentence-transformers' own outputs.
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import SEED, _config, build_tokenizer


def write_tiny_cross_encoder(
    arch: str,
    out_dir: str | Path,
    *,
    num_labels: int = 1,
    max_length: int = 128,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    seed: int = SEED,
) -> Path:
    """Write a tiny ``arch`` cross-encoder with ``num_labels`` labels into ``out_dir`` and return it."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification

    out = Path(out_dir)
    raw = out.with_name(out.name + "-hf")
    tok = build_tokenizer(arch)
    config = _config(arch, tok, mlm=False)
    config.num_labels = num_labels
    config.architectures = [type(AutoModelForSequenceClassification.from_config(config)).__name__]
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():  # wider logits than the default init, so scores differ between pairs
        gen = torch.Generator().manual_seed(seed + 1)
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
            if "classifier" in name or "score" in name:
                p.mul_(20.0)
    model.eval().save_pretrained(raw)
    tok.save_pretrained(raw)
    ce = CrossEncoder(
        str(raw), max_length=max_length, prompts=prompts, default_prompt_name=default_prompt_name
    )
    ce.save(str(out))
    return out
