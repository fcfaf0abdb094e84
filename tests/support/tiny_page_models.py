"""Tiny, seeded ColIdefics3 / ColPali checkpoints and test pages, built offline.

- :func:`idefics3_tokenizer` — a byte-level BPE (SmolLM-like) trained on standard-library
  docstrings, with the Idefics3 special tokens (``<image>``, ``<fake_token_around_image>``,
  ``<global-img>``, ``<row_r_col_c>``, ``<end_of_utterance>``, ``<|im_start|>``).
- :func:`write_tiny_colidefics3` — an ``Idefics3Model`` (SigLIP-like vision tower 64 px / patch 8,
  pixel-shuffle connector, 2-layer Llama) + ``linear`` to 128, saved with colpali-engine's key
  names (``model.*``, ``linear.*``), plus the processor files (tile 64 px, longest edge 256).
- :func:`colidefics3_reference` — the ColIdefics3 head as colpali-engine defines it, written
  here on top of transformers' ``Idefics3Model`` (colpali-engine needs transformers 5).
- :func:`page_images` — real bundled images plus rendered document pages at several sizes.
- :func:`write_pdf` — a multi-page PDF of rendered text pages (Pillow's PDF writer).
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_models import SEED, corpus_sentences

IDEFICS3_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
]
COLIDEFICS3_DOC_PROMPT = "<|im_start|>User:<image>Describe the image.<end_of_utterance>\nAssistant:"
TILE = 64
LONGEST_EDGE = 4 * TILE
IMAGE_SEQ_LEN = 16  # (64 / 8)^2 / 2^2


def idefics3_tokenizer():
    """Byte-level BPE with the Idefics3 special tokens; pad = ``<|endoftext|>`` (SmolVLM's)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=700, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(corpus_sentences()) + ["\n\n", "Describe the image.", "Assistant:"], trainer)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in IDEFICS3_SPECIALS])
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|endoftext|>",
        eos_token="<end_of_utterance>",
        additional_special_tokens=IDEFICS3_SPECIALS[1:],
        model_max_length=8192,
    )


def idefics3_image_processor_config() -> dict:
    """``preprocessor_config.json`` of the tiny checkpoint (SmolVLM's settings, scaled down)."""
    return {
        "image_processor_type": "Idefics3ImageProcessor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"longest_edge": LONGEST_EDGE},
        "resample": 1,
        "do_image_splitting": True,
        "max_image_size": {"longest_edge": TILE},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "do_pad": True,
        "processor_class": "Idefics3Processor",
    }


def idefics3_processor(tokenizer=None, image_seq_len: int = IMAGE_SEQ_LEN, **image_kwargs):
    """transformers' ``Idefics3Processor`` for the tiny settings (the preprocessing reference)."""
    from transformers import Idefics3ImageProcessor, Idefics3Processor

    cfg = {
        k: v
        for k, v in idefics3_image_processor_config().items()
        if k not in ("image_processor_type", "processor_class")
    }
    cfg.update(image_kwargs)
    tokenizer = tokenizer or idefics3_tokenizer()
    tokenizer.padding_side = "left"
    return Idefics3Processor(Idefics3ImageProcessor(**cfg), tokenizer, image_seq_len=image_seq_len)


TINY_IDEFICS3 = {
    "vision": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=TILE,
        patch_size=8,
    ),
    "text": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    ),
    "scale_factor": 2,
    "longest_edge": LONGEST_EDGE,
}


def _colidefics3_config(tok, shapes):
    from transformers import Idefics3Config

    text = dict(shapes["text"])
    text.setdefault("vocab_size", len(tok))
    return Idefics3Config(
        vision_config=dict(shapes["vision"]),
        text_config=dict(
            model_type="llama",
            rms_norm_eps=1e-5,
            pad_token_id=tok.pad_token_id,
            tie_word_embeddings=False,
            **text,
        ),
        scale_factor=shapes["scale_factor"],
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
        architectures=["ColIdefics3"],
    )


def colidefics3_reference(model_dir: Path):
    """The ColIdefics3 reference (colpali-engine ``ColIdefics3.forward``) on transformers' Idefics3Model.

    The vision position ids are the NaViT bucketing (``arange`` for a full tile), as transformers
    5 computes them, not transformers 4.55–4.57's regressed form.

    ``proj = linear(last_hidden_state)``; ``proj / ‖proj‖`` (no eps); ``× attention_mask``.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import Idefics3Config, Idefics3Model

    class ColIdefics3Reference(torch.nn.Module):
        def __init__(self, config):
            super().__init__()
            self.model = Idefics3Model(config)
            self.linear = torch.nn.Linear(config.text_config.hidden_size, 128)

        def forward(self, **kwargs):
            hidden = self.model(**kwargs).last_hidden_state
            proj = self.linear(hidden)
            proj = proj / proj.norm(dim=-1, keepdim=True)
            return proj * kwargs["attention_mask"].unsqueeze(-1)

    config = Idefics3Config.from_pretrained(model_dir)
    ref = ColIdefics3Reference(config)
    missing, unexpected = ref.load_state_dict(
        load_file(str(Path(model_dir) / "model.safetensors")), strict=False
    )
    assert not unexpected and not [m for m in missing if "position_ids" not in m], (missing, unexpected)
    # transformers 4.55-4.57 compute a full tile's vision position ids wrongly; colpali-engine on
    # transformers 5 uses the NaViT bucketing (arange for a full tile)
    from tessera_export.pages.idefics3 import fix_vision_position_ids

    fix_vision_position_ids(ref.model)
    return ref.eval()


def write_tiny_colidefics3(path: Path, shapes: dict | None = None, init_std: float | None = 0.08) -> Path:
    """A ColIdefics3 checkpoint directory (config, safetensors, tokenizer, processor files).

    ``shapes``: :data:`TINY_IDEFICS3` by default; the benchmark passes ColSmol-256M's. ``init_std``:
    redraw every matrix from N(0, init_std) (tiny models: so that numbers are not all ~0), or None
    to keep transformers' initialisation.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import Idefics3Model

    shapes = shapes or TINY_IDEFICS3
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = idefics3_tokenizer()
    config = _colidefics3_config(tok, shapes)
    torch.manual_seed(SEED)
    model = Idefics3Model(config).eval()
    if init_std is not None:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() > 1:
                    p.normal_(0.0, init_std)
    linear = torch.nn.Linear(config.text_config.hidden_size, 128)
    state = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    state.update({f"linear.{k}": v.contiguous() for k, v in linear.state_dict().items()})
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    del model, state
    config.save_pretrained(path)
    tok.save_pretrained(path)
    tile = int(shapes["vision"]["image_size"])
    seq = int((tile // shapes["vision"]["patch_size"]) ** 2 / shapes["scale_factor"] ** 2)
    processor = idefics3_image_processor_config()
    processor.update(size={"longest_edge": shapes["longest_edge"]}, max_image_size={"longest_edge": tile})
    (path / "preprocessor_config.json").write_text(json.dumps(processor), encoding="utf-8")
    (path / "processor_config.json").write_text(
        json.dumps({"image_seq_len": seq, "processor_class": "Idefics3Processor"}), encoding="utf-8"
    )
    return path


def rendered_page(width: int, height: int, seed: int = 0):
    """An RGB document page: title bar, lines of text, a box; deterministic."""
    from PIL import Image, ImageDraw

    sentences = corpus_sentences()
    img = Image.new("RGB", (width, height), (250, 250, 245))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, width - 1, max(4, height // 12)], fill=(30, 60, 120))
    y, i = max(6, height // 10), seed * 7
    while y < height - 12:
        draw.text(
            (max(2, width // 20), y), sentences[i % len(sentences)][: max(4, width // 6)], fill=(10, 10, 10)
        )
        y += 14
        i += 1
    draw.rectangle(
        [width // 2, height // 2, width // 2 + width // 5, height // 2 + height // 8], outline=(200, 0, 0)
    )
    return img


def write_pdf(path: Path, sizes: list[tuple[int, int]]) -> Path:
    """A PDF with one rendered page per ``(width, height)`` (Pillow's PDF writer, 72 dpi)."""
    pages = [rendered_page(w, h, seed=i) for i, (w, h) in enumerate(sizes)]
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=72.0)
    return Path(path)


# ----------------------------------------------------------------------------- ColPali (PaliGemma)

COLPALI_SIDE = 56
COLPALI_SEQ = (COLPALI_SIDE // 14) ** 2  # 16 image tokens


def gemma_tokenizer():
    """A Gemma-like BPE (``<pad>``=0, ``<eos>``=1, ``<bos>``=2, ``<image>`` special) as ``GemmaTokenizerFast``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, trainers
    from transformers import GemmaTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=specials, initial_alphabet=[f"<0x{i:02X}>" for i in range(256)]
    )
    tok.train_from_iterator(list(corpus_sentences()) + ["Describe the image.\n", "Question: "], trainer)
    tok.add_special_tokens([AddedToken("<image>", normalized=False, special=True)])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    # GemmaTokenizerFast adds BOS through its post-processor (as Gemma's); ColPaliProcessor turns it off
    return GemmaTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )


def colpali_image_processor_config() -> dict:
    """``preprocessor_config.json`` of the tiny ColPali (PaliGemma's SigLIP settings at 56 px)."""
    return {
        "image_processor_type": "SiglipImageProcessor",
        "do_resize": True,
        "size": {"height": COLPALI_SIDE, "width": COLPALI_SIDE},
        "resample": 3,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "image_seq_length": COLPALI_SEQ,
        "processor_class": "ColPaliProcessor",
    }


def colpali_processor(tokenizer=None):
    """transformers' ``ColPaliProcessor`` for the tiny settings (the reference processor)."""
    from transformers import ColPaliProcessor, SiglipImageProcessor

    cfg = {
        k: v
        for k, v in colpali_image_processor_config().items()
        if k not in ("image_processor_type", "processor_class")
    }
    seq = cfg.pop("image_seq_length")
    image_processor = SiglipImageProcessor(**cfg)
    image_processor.image_seq_length = seq
    return ColPaliProcessor(image_processor=image_processor, tokenizer=tokenizer or gemma_tokenizer())


def write_tiny_colpali(path: Path) -> Path:
    """A transformers-native ``ColPaliForRetrieval`` checkpoint (PaliGemma: tiny SigLIP + tiny Gemma)."""
    import torch
    from transformers import ColPaliConfig, ColPaliForRetrieval

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = gemma_tokenizer()
    image_id = tok.convert_tokens_to_ids("<image>")
    vlm = dict(
        model_type="paligemma",
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=COLPALI_SIDE,
            patch_size=14,
            vision_use_head=False,
        ),
        text_config=dict(
            model_type="gemma",
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=8,
            max_position_embeddings=512,
            pad_token_id=tok.pad_token_id,
        ),
        image_token_index=image_id,
        vocab_size=len(tok),
        projection_dim=32,
        hidden_size=32,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(SEED)
    model = ColPaliForRetrieval(ColPaliConfig(vlm_config=vlm, embedding_dim=128)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.08)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "preprocessor_config.json").write_text(
        json.dumps(colpali_image_processor_config()), encoding="utf-8"
    )
    return path
