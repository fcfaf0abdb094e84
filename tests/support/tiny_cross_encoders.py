"""Tiny, seeded, random-initialised ``*ForSequenceClassification`` checkpoints saved as sentence-transformers CrossEncoders.

:func:`write_tiny_cross_encoder` builds a BERT / XLM-RoBERTa / ModernBERT classifier (hidden 32,
2 layers, tokenizers of :mod:`tiny_models`) with ``num_labels`` outputs and saves it with
``sentence_transformers.CrossEncoder.save`` (config_sentence_transformers.json with the
activation and prompts), so tests compare against sentence-transformers' own outputs.
"""

from __future__ import annotations

import json
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
    activation_fn: str | None = None,
    initializer_range: float = 0.2,
    seed: int = SEED,
) -> Path:
    """Write a tiny ``arch`` cross-encoder with ``num_labels`` labels into ``out_dir`` and return it.

    ``activation_fn``: a ``torch.nn`` class name (``"Tanh"``) saved as the model's activation.
    """
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification

    out = Path(out_dir)
    raw = out.with_name(out.name + "-hf")
    tok = build_tokenizer(arch)
    config = _config(arch, tok, mlm=False)
    config.num_labels = num_labels
    # a wider init than BERT's 0.02 makes the first token's state depend on the whole pair, so scores
    # vary between pairs as a trained reranker's do (fp16/int8 floors compare scores across pairs)
    config.initializer_range = initializer_range
    config.architectures = [type(AutoModelForSequenceClassification.from_config(config)).__name__]
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():  # LayerNorm weights and biases away from 1/0, so parity sees them
        gen = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    model.eval().save_pretrained(raw)
    tok.save_pretrained(raw)
    if arch == "bert":
        # name BERT's tokenizer class, as real BERT rerankers do: transformers 5 gives a generic
        # PreTrainedTokenizerFast no token_type_ids (sentence-transformers 6 then scores every pair
        # with segment 0), transformers 4 gives them; with the class named both give them
        tc_path = raw / "tokenizer_config.json"
        tc = json.loads(tc_path.read_text())
        tc["tokenizer_class"] = "BertTokenizer"
        tc_path.write_text(json.dumps(tc, indent=2))
    act = getattr(torch.nn, activation_fn)() if activation_fn else None
    ce = CrossEncoder(
        str(raw),
        max_length=max_length,
        prompts=prompts,
        default_prompt_name=default_prompt_name,
        activation_fn=act,
    )
    ce.save(str(out))
    return out


def build_cross_encoder(export_cache, arch: str, labels: int, **kwargs) -> tuple[Path, Path]:
    """(checkpoint, fp32 artifact) of a tiny cross-encoder, cached in the session's ``export_cache``.

    ``kwargs`` go to :func:`write_tiny_cross_encoder`; the cache name holds the arch, the label
    count and the keyword names, so every test that asks for the same model shares one export.
    """
    from tessera_export import build_artifact

    name = f"ce-{arch}-{labels}" + "".join(f"-{k}" for k in sorted(kwargs))
    ckpt = export_cache.get(
        name + "-ckpt", lambda out: write_tiny_cross_encoder(arch, out, num_labels=labels, **kwargs)
    )
    art = export_cache.get(name, lambda out: build_artifact(ckpt, out, model_id=name))
    return ckpt, art
