"""Tiny, seeded, random-initialised ColQwen2 / ColQwen2.5 checkpoints with a Qwen-style tokenizer, offline.

- :func:`qwen_style_tokenizer`: byte-level BPE trained here, with Qwen2-VL's special tokens
  (``<|endoftext|>`` = pad, ``<|im_start|>``, ``<|vision_start|>``, ``<|image_pad|>``, ...),
  wrapped as transformers' ``Qwen2TokenizerFast`` with left padding.
- :func:`tiny_colqwen2`: ``ColQwen2ForRetrieval`` over a tiny Qwen2-VL (``family="qwen2_vl"``)
  or Qwen2.5-VL (``family="qwen2_5_vl"``: window attention, full-attention block 1).
- :func:`write_tiny_colqwen2`: the checkpoint directory (weights, tokenizer, preprocessor config).
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_models import SEED, corpus_sentences

QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Small pixel bounds keep the tiny images' patch counts (and the tests) small.
PREPROCESSOR = {
    "image_processor_type": "Qwen2VLImageProcessor",
    "do_resize": True,
    "do_rescale": True,
    "do_normalize": True,
    "do_convert_rgb": True,
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "min_pixels": 4 * 28 * 28,
    "max_pixels": 48 * 28 * 28,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "processor_class": "ColQwen2Processor",
}


def qwen_style_tokenizer():
    """A byte-level BPE ``Qwen2TokenizerFast`` with the Qwen2-VL special tokens (pad = ``<|endoftext|>``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=list(QWEN_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus_sentences(), trainer)
    fast = Qwen2TokenizerFast(
        tokenizer_object=tok,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=list(QWEN_SPECIALS[1:]),
        padding_side="left",  # saved in tokenizer_config.json, as in the ColQwen2 checkpoints
    )
    return fast


def tiny_colqwen2(
    tok,
    family: str = "qwen2_vl",
    seed: int = SEED,
    *,
    text_sizes=None,
    vision_sizes=None,
    embedding_dim: int = 16,
):
    """A seeded ``ColQwen2ForRetrieval``, eval mode: tiny (hidden 32, 2 + 2 layers, dim 16) unless
    ``text_sizes`` / ``vision_sizes`` override config fields (the benchmark's real widths)."""
    import torch
    from transformers import ColQwen2Config, ColQwen2ForRetrieval

    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    text = dict(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        pad_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        bos_token_id=ids["<|endoftext|>"],
    )
    text.update(text_sizes or {})
    if family == "qwen2_vl":
        vision = dict(
            depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, hidden_act="quick_gelu"
        )
    else:  # Qwen2.5-VL: RMSNorm, SwiGLU, window attention (window 56 px = 2x2 merged tokens) but block 1
        vision = dict(
            depth=2,
            hidden_size=32,
            out_hidden_size=32,
            intermediate_size=48,
            num_heads=2,
            hidden_act="silu",
            window_size=56,
            fullatt_block_indexes=[1],
        )
    vision.update(vision_sizes or {})
    vlm = dict(
        model_type=family,
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        **text,
    )
    torch.manual_seed(seed)
    config = ColQwen2Config(vlm_config=vlm, embedding_dim=embedding_dim)
    model = ColQwen2ForRetrieval(config)
    with torch.no_grad():  # random init leaves norms at identity and biases at 0: perturb the 1-D weights
        gen = torch.Generator().manual_seed(seed + 1)
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model.eval()


def image_processor(**overrides):
    """transformers' slow ``Qwen2VLImageProcessor`` from :data:`PREPROCESSOR` (+ ``overrides``)."""
    from transformers import Qwen2VLImageProcessor

    cfg = {
        k: v
        for k, v in {**PREPROCESSOR, **overrides}.items()
        if k not in ("image_processor_type", "processor_class")
    }
    return Qwen2VLImageProcessor(**cfg)


def reference_processor(tok, query_prefix: str | None = None, **overrides):
    """transformers' ``ColQwen2Processor`` over :func:`image_processor` and ``tok``."""
    from transformers import ColQwen2Processor

    return ColQwen2Processor(
        image_processor=image_processor(**overrides), tokenizer=tok, query_prefix=query_prefix
    )


def write_tiny_colqwen2(path: Path, family: str = "qwen2_vl", *, preprocessor=None, **sizes) -> Path:
    """A ColQwen2 checkpoint directory at ``path``: weights, tokenizer files, preprocessor config.

    ``preprocessor`` overrides :data:`PREPROCESSOR` fields; ``sizes`` go to :func:`tiny_colqwen2`.
    """
    tok = qwen_style_tokenizer()
    model = tiny_colqwen2(tok, family, **sizes)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    config = {**PREPROCESSOR, **(preprocessor or {})}
    (path / "preprocessor_config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


__all__ = [
    "QWEN_SPECIALS",
    "PREPROCESSOR",
    "qwen_style_tokenizer",
    "tiny_colqwen2",
    "image_processor",
    "reference_processor",
    "write_tiny_colqwen2",
]
