"""Tiny, seeded, random-initialised checkpoints built offline for export/runtime tests.

Every builder writes a Hugging Face style checkpoint directory (config.json, model.safetensors,
tokenizer.json + tokenizer_config.json) and returns its path. No network access: tokenizers are
trained with the ``tokenizers`` library on sentences taken from Python's own docstrings.

Builders:
- :func:`build_tiny_text_model` — BertModel / ModernBertModel / XLMRobertaModel, or their
  ``*ForMaskedLM`` variants (``mlm=True``), hidden 32, 2 layers.
- :func:`write_pylate_colbert_dir` — a sentence-transformers/PyLate ColBERT layout
  (modules.json, 1_Dense/, config_sentence_transformers.json with ``"[Q] "``/``"[D] "``).
- :func:`write_stanford_colbert_dir` — a Stanford ColBERT checkpoint (``bert.*`` + ``linear.weight``).
- :func:`write_st_dense_dir` — a sentence-transformers dense layout (modules.json, 1_Pooling).
"""

from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path

ARCHITECTURES = ("bert", "modernbert", "xlm-roberta")
HIDDEN = 32
SEED = 1234

_DOC_MODULES = (
    "os",
    "json",
    "collections",
    "re",
    "string",
    "textwrap",
    "argparse",
    "logging",
    "subprocess",
    "pathlib",
    "typing",
    "itertools",
    "functools",
    "datetime",
    "decimal",
    "fractions",
    "random",
    "statistics",
    "csv",
    "unittest",
    "doctest",
    "inspect",
    "ast",
    "pickle",
    "shutil",
    "tempfile",
    "zipfile",
    "tarfile",
    "gzip",
    "heapq",
    "bisect",
    "queue",
    "threading",
    "socket",
    "sqlite3",
    "difflib",
    "calendar",
    "codecs",
    "base64",
    "hashlib",
    "hmac",
    "contextlib",
    "dataclasses",
    "enum",
    "abc",
    "copy",
    "pprint",
    "operator",
    "glob",
    "fnmatch",
    "struct",
    "uuid",
    "zlib",
    "email",
    "html",
    "configparser",
    "sched",
    "selectors",
    "signal",
    "warnings",
    "weakref",
)


@lru_cache(maxsize=1)
def corpus_sentences() -> tuple[str, ...]:
    """A deterministic list of real English sentences from the standard library's docstrings.

    Collected in a fresh interpreter without site-packages (``python -I -S``): some packages
    (torch) replace standard-library functions when imported, which would change the corpus, the
    tokenizers trained on it, and every tiny checkpoint with them.
    """
    import json
    import subprocess
    import sys

    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import tiny_models; "
        "print(json.dumps(tiny_models.corpus_sentences_here()))"
    )
    here = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, here], capture_output=True, text=True, check=True
    )
    return tuple(json.loads(done.stdout))


def corpus_sentences_here() -> list[str]:
    """The corpus as collected in this interpreter (see :func:`corpus_sentences`)."""
    import importlib
    import inspect
    import re
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(_collect(importlib, inspect, re))


def _collect(importlib, inspect, re) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for name in _DOC_MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:  # pragma: no cover - platform specific modules
            continue
        docs = [inspect.getdoc(mod) or ""]
        for attr in sorted(dir(mod)):
            if attr.startswith("_"):
                continue
            obj = getattr(mod, attr, None)
            if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj):
                docs.append(inspect.getdoc(obj) or "")
        for doc in docs:
            text = " ".join(doc.split())
            for sent in re.split(r"(?<=[.!?])\s+", text):
                sent = sent.strip()
                if 20 <= len(sent) <= 240 and sent not in seen and not sent.startswith(">>>"):
                    seen.add(sent)
                    out.append(sent)
    return tuple(out)


# ----------------------------------------------------------------------------- tokenizers

# The WordPiece and Unigram trainers of `tokenizers` break ties in hash-map order, which changes
# from one process to the next: their trained vocabularies are committed here and loaded, so that
# every process builds the same tiny checkpoints (and they match tests/data/artifacts/). BPE
# training is deterministic and runs each time.
TOKENIZERS_DIR = Path(__file__).resolve().parent.parent / "data" / "tokenizers"
_RETRAIN = False


def _trained(name: str, tok, trainer):
    """``tok`` trained on the corpus: the committed ``TOKENIZERS_DIR/<name>.json`` when it exists."""
    from tokenizers import Tokenizer

    path = TOKENIZERS_DIR / f"{name}.json"
    if path.is_file() and not _RETRAIN:
        return Tokenizer.from_file(str(path))
    tok.train_from_iterator(corpus_sentences(), trainer)
    if _RETRAIN:
        TOKENIZERS_DIR.mkdir(parents=True, exist_ok=True)
        tok.save(str(path))
    return tok


def write_tokenizer_files() -> None:
    """Train the WordPiece and Unigram vocabularies again and save them under ``TOKENIZERS_DIR``."""
    global _RETRAIN
    _RETRAIN = True
    try:
        _bert_tokenizer()
        _xlmr_tokenizer()
    finally:
        _RETRAIN = False


def _bert_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=1200, special_tokens=specials, initial_alphabet=list(string.punctuation)
    )
    tok = _trained("bert-wordpiece", tok, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=512,
        do_lower_case=True,
    )


def _xlmr_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=900, special_tokens=specials, unk_token="<unk>", initial_alphabet=list(string.punctuation)
    )
    tok = _trained("xlmr-unigram", tok, trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tok.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
    )


def _modernbert_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=900, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus_sentences(), trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def build_tokenizer(arch: str):
    """A fast tokenizer for ``arch`` trained offline (deterministic)."""
    if arch == "bert":
        return _bert_tokenizer()
    if arch == "xlm-roberta":
        return _xlmr_tokenizer()
    if arch == "modernbert":
        return _modernbert_tokenizer()
    raise ValueError(f"unknown tiny architecture {arch!r}")


# ----------------------------------------------------------------------------- models


def _config(arch: str, tok, *, mlm: bool):
    from transformers import BertConfig, ModernBertConfig, XLMRobertaConfig

    vocab = len(tok)
    common = dict(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=tok.pad_token_id,
    )
    if arch == "bert":
        return BertConfig(
            **common,
            max_position_embeddings=512,
            type_vocab_size=2,
            architectures=["BertForMaskedLM" if mlm else "BertModel"],
        )
    if arch == "xlm-roberta":
        return XLMRobertaConfig(
            **common,
            max_position_embeddings=514,
            type_vocab_size=1,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            architectures=["XLMRobertaForMaskedLM" if mlm else "XLMRobertaModel"],
        )
    if arch == "modernbert":
        return ModernBertConfig(
            **common,
            max_position_embeddings=512,
            global_attn_every_n_layers=2,
            local_attention=16,
            cls_token_id=tok.cls_token_id,
            sep_token_id=tok.sep_token_id,
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id,
            architectures=["ModernBertForMaskedLM" if mlm else "ModernBertModel"],
        )
    raise ValueError(f"unknown tiny architecture {arch!r}")


def build_tiny_model(arch: str, tok, *, mlm: bool = False, seed: int = SEED):
    """A random-initialised (seeded) tiny model of ``arch``; ``mlm`` gives the MaskedLM variant."""
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM

    torch.manual_seed(seed)
    config = _config(arch, tok, mlm=mlm)
    cls = AutoModelForMaskedLM if mlm else AutoModel
    model = cls.from_config(config)
    # random init leaves LayerNorm at identity and biases at 0: perturb them so parity tests see them
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for _name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model.eval()


def build_tiny_text_model(arch: str, out_dir: str | Path, *, mlm: bool = False, seed: int = SEED) -> Path:
    """Write a tiny ``arch`` checkpoint (model + tokenizer) into ``out_dir`` and return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(arch)
    model = build_tiny_model(arch, tok, mlm=mlm, seed=seed)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


# ----------------------------------------------------------------------------- layouts


def _save_dense_module(
    dir_: Path,
    in_f: int,
    out_f: int,
    *,
    bias: bool,
    seed: int,
    activation: str = "torch.nn.modules.linear.Identity",
    pylate: bool = True,
) -> None:
    import torch
    from safetensors.torch import save_file

    dir_.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    tensors = {"linear.weight": (torch.randn(out_f, in_f, generator=gen) / in_f**0.5).contiguous()}
    if bias:
        tensors["linear.bias"] = (0.1 * torch.randn(out_f, generator=gen)).contiguous()
    save_file(tensors, str(dir_ / "model.safetensors"))
    config = {"in_features": in_f, "out_features": out_f, "bias": bias, "activation_function": activation}
    if pylate:  # PyLate's Dense adds use_residual; sentence-transformers' Dense rejects the key
        config["use_residual"] = False
    (dir_ / "config.json").write_text(json.dumps(config, indent=2))


def write_pylate_colbert_dir(
    arch: str,
    out_dir: str | Path,
    *,
    dim: int = 16,
    seed: int = SEED,
    query_length: int = 12,
    document_length: int = 40,
) -> Path:
    """A PyLate (sentence-transformers) ColBERT checkpoint: "[Q] "/"[D] " added tokens + 1_Dense."""
    from tokenizers import AddedToken

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(arch)
    tok.add_tokens([AddedToken("[Q] ", normalized=False), AddedToken("[D] ", normalized=False)])
    model = build_tiny_model(arch, tok, mlm=False, seed=seed)
    model.resize_token_embeddings(len(tok))
    model.config.vocab_size = len(tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    _save_dense_module(out / "1_Dense", HIDDEN, dim, bias=True, seed=seed + 7)
    write_pylate_config(out, query_length=query_length, document_length=document_length, max_seq_length=64)
    return out


def write_pylate_config(out: Path, *, query_length: int, document_length: int, max_seq_length: int) -> None:
    """PyLate's module list and sentence-transformers configs for ``out`` (encoder + ``1_Dense``)."""
    (out / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
            ],
            indent=2,
        )
    )
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    (out / "config_sentence_transformers.json").write_text(
        json.dumps(
            {
                "__version__": {"pylate": "1.2.0"},
                "prompts": {},
                "default_prompt_name": None,
                "similarity_fn_name": "MaxSim",
                "query_prefix": "[Q] ",
                "document_prefix": "[D] ",
                "query_length": query_length,
                "document_length": document_length,
                "attend_to_expansion_tokens": False,
                "skiplist_words": list(string.punctuation),
                "do_query_expansion": True,
            },
            indent=2,
        )
    )


def write_stanford_colbert_dir(out_dir: str | Path, *, dim: int = 16, seed: int = SEED) -> Path:
    """A Stanford ColBERT (HF_ColBERT) checkpoint: ``bert.*`` weights + ``linear.weight`` (no bias)."""
    import torch
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer("bert")
    model = build_tiny_model("bert", tok, seed=seed)
    gen = torch.Generator().manual_seed(seed + 11)
    state = {f"bert.{k}": v.contiguous() for k, v in model.state_dict().items()}
    state["linear.weight"] = (torch.randn(dim, HIDDEN, generator=gen) / HIDDEN**0.5).contiguous()
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config["architectures"] = ["HF_ColBERT"]
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tok.save_pretrained(out)
    (out / "artifact.metadata").write_text(
        json.dumps(
            {
                "query_maxlen": 12,
                "doc_maxlen": 40,
                "dim": dim,
                "attend_to_mask_tokens": False,
                "query_token_id": "[unused0]",
                "doc_token_id": "[unused1]",
                "mask_punctuation": True,
            },
            indent=2,
        )
    )
    return out


def write_st_dense_dir(
    arch: str, out_dir: str | Path, *, pooling: str = "mean", seed: int = SEED, max_seq_length: int = 64
) -> Path:
    """A sentence-transformers dense checkpoint (Transformer + Pooling + Normalize)."""
    out = build_tiny_text_model(arch, out_dir, seed=seed)
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": HIDDEN,
                "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_max_tokens": pooling == "max",
                "pooling_mode_mean_sqrt_len_tokens": False,
            }
        )
    )
    (out / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        )
    )
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    return out
