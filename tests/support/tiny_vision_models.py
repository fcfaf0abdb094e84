"""Tiny, seeded, random-initialised SigLIP / SigLIP2 / CLIP checkpoints and real test images, offline.

- :func:`write_tiny_siglip` — SiglipModel + a SentencePiece model trained here, loaded by the
  slow ``SiglipTokenizer`` (the reference that canonicalises text), SigLIP preprocessor config.
- :func:`write_tiny_siglip2` — SiglipModel + a Gemma-style fast tokenizer built with ``tokenizers``
  (fixed-resolution SigLIP2 checkpoints are ``SiglipModel`` with a Gemma tokenizer).
- :func:`write_tiny_clip` — CLIPModel + a WordPiece fast tokenizer, the legacy OpenAI CLIP
  preprocessor config (``size: 224`` int, ``crop_size: 224``, ``CLIPFeatureExtractor``).
- :func:`real_images` — photographs and a scanned page bundled by scikit-image, scikit-learn and
  matplotlib (skipped by callers when a package is missing).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from tiny_models import SEED, build_tokenizer, corpus_sentences

HIDDEN = 32
SIGLIP_PREPROCESSOR = {
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "SiglipImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "SiglipProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 224, "width": 224},
}
CLIP_PREPROCESSOR = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}

# Varied texts for tokenizer and model parity: punctuation, case, CJK, emoji, empty, very long.
VARIED_TEXTS = (
    "a photo of a cat",
    "Hello, World!",
    "UPPER lower MiXeD case",
    "",
    " ",
    "!!!",
    "...hi...",
    "  leading and trailing  ",
    "tabs\tand\nnewlines\r\n here",
    "naïve café — résumé",
    "日本語のテキスト",
    "中文 文本 测试",
    "emoji 🐱🚀 test 👍🏽",
    "it's a dog's life",
    "e-mail: foo@bar.com #tag $5.00 (x) [y] {z}",
    "\u2581underline\u2581char",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ",
    "\u3000ideographic\u3000space",
    "nbsp\u00a0here",
    "İstanbul ÅNGSTRÖM",
    "the </s> token",
    "<unk> here",
    "</s>",
    "numbers 123 4,567.89",
    "x" * 300,
)


def long_text() -> str:
    """A text far longer than 64 tokens."""
    return " ".join(corpus_sentences()[:30])


def _spiece_model(path: Path) -> Path:
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_sentences()),
        model_writer=buf,
        vocab_size=1000,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        minloglevel=2,
        num_threads=1,
    )
    path.write_bytes(buf.getvalue())
    return path


def _vision_config(patch_size: int) -> dict:
    return dict(
        image_size=224,
        patch_size=patch_size,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
    )


def _siglip(path: Path, tokenizer, vocab_size: int, hidden_act: str | None = None) -> Path:
    import torch
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(SEED)
    config = SiglipConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=64,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **({"hidden_act": hidden_act} if hidden_act else {}),
        ),
        vision_config=_vision_config(16),
    )
    model = SiglipModel(config).eval()
    with torch.no_grad():  # non-default scale/bias so that the score function is exercised
        model.logit_scale.fill_(2.1)
        model.logit_bias.fill_(-3.5)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "preprocessor_config.json").write_text(json.dumps(SIGLIP_PREPROCESSOR), encoding="utf-8")
    return path


def write_tiny_siglip(path: Path, hidden_act: str | None = None) -> Path:
    """A SigLIP checkpoint directory (spiece.model, slow tokenizer) at ``path``.

    ``hidden_act``: the text tower's activation (transformers' default ``gelu_pytorch_tanh`` when None;
    ``"gelu"`` is the exact GELU of open_clip's published SigLIP text config)."""
    from transformers import SiglipTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = SiglipTokenizer(str(_spiece_model(path / "spiece.model")))
    return _siglip(path, tok, len(tok), hidden_act)


def gemma_style_tokenizer():
    """A Gemma-like fast tokenizer: BPE with byte fallback, ``<pad>``=0 ``<eos>``=1 ``<bos>``=2, EOS appended."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    trainer = trainers.BpeTrainer(
        vocab_size=1200, special_tokens=specials, initial_alphabet=[f"<0x{i:02X}>" for i in range(256)]
    )
    tok.train_from_iterator(corpus_sentences(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A <eos>", special_tokens=[("<eos>", 1)])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        model_max_length=64,
    )


def write_tiny_siglip2(path: Path, vocab_size: int | None = None) -> Path:
    """A fixed-resolution SigLIP2 checkpoint (Gemma-style tokenizer.json); ``vocab_size`` pads the table."""
    tok = gemma_style_tokenizer()
    return _siglip(Path(path), tok, max(len(tok), vocab_size or 0))


def write_tiny_clip(path: Path) -> Path:
    """A CLIP checkpoint (WordPiece fast tokenizer, EOS = [SEP]) with the legacy OpenAI preprocessor config."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    tok = build_tokenizer("bert")
    tok.model_max_length = 77
    torch.manual_seed(SEED)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id,
        ),
        vision_config=_vision_config(32),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "preprocessor_config.json").write_text(json.dumps(CLIP_PREPROCESSOR), encoding="utf-8")
    return path


def real_image_paths() -> dict[str, Path]:
    """Name → path of real images bundled by PyPI packages that are installed."""
    out: dict[str, Path] = {}
    try:
        import skimage

        d = Path(skimage.__file__).parent / "data"
        for name in (
            "astronaut.png",
            "coffee.png",
            "chelsea.png",
            "page.png",
            "logo.png",
            "camera.png",
            "rocket.jpg",
            "retina.jpg",
            "no_time_for_that_tiny.gif",
        ):
            if (d / name).is_file():
                out[f"skimage/{name}"] = d / name
    except ImportError:
        pass
    try:
        import sklearn

        d = Path(sklearn.__file__).parent / "datasets" / "images"
        for name in ("china.jpg", "flower.jpg"):
            if (d / name).is_file():
                out[f"sklearn/{name}"] = d / name
    except ImportError:
        pass
    try:
        import matplotlib

        d = Path(matplotlib.get_data_path()) / "sample_data"
        for name in ("grace_hopper.jpg", "logo2.png"):
            if (d / name).is_file():
                out[f"matplotlib/{name}"] = d / name
    except ImportError:
        pass
    return out


__all__ = [
    "VARIED_TEXTS",
    "SIGLIP_PREPROCESSOR",
    "CLIP_PREPROCESSOR",
    "write_tiny_siglip",
    "write_tiny_siglip2",
    "write_tiny_clip",
    "gemma_style_tokenizer",
    "real_image_paths",
    "long_text",
]
