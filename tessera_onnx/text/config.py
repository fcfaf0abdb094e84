"""The text paradigms' manifest blocks: ``text`` (tokenization) and ``dense``/``multi_vector``/``sparse``.

The exporter writes these with ``to_dict()``; the runtime reads them with ``from_dict()``.
Unknown keys are ignored on read (forward compatibility); missing keys take the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config_base import _ConfigBase

__all__ = ["TextConfig", "DenseConfig", "MultiVectorConfig", "SparseConfig", "POOLING_MODES"]

POOLING_MODES = ("cls", "mean", "max", "mean_sqrt_len", "weightedmean", "lasttoken")


@dataclass(frozen=True)
class TextConfig(_ConfigBase):
    """How text becomes token ids: shared by the dense, multi-vector and sparse paradigms.

    ``max_length`` is the model's sequence limit (sentence-transformers ``max_seq_length``),
    ``strip`` mirrors sentence-transformers' ``text.strip()``, ``lowercase`` its
    ``do_lower_case``. ``query_prefix``/``document_prefix`` are text prepended before tokenizing
    (e5/bge/nomic prompts); ColBERT markers live in :class:`MultiVectorConfig` instead.
    """

    tokenizer_file: str = "tokenizer.json"
    max_length: int = 512
    strip: bool = True
    lowercase: bool = False
    pad_token_id: int = 0
    padding_side: str = "right"
    query_prefix: str = ""
    document_prefix: str = ""
    prompts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_length <= 0:
            raise ValueError(f"max_length must be positive, got {self.max_length}")
        if self.padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {self.padding_side!r}")


@dataclass(frozen=True)
class DenseConfig(_ConfigBase):
    """Dense pooling after the encoder: sentence-transformers ``Pooling`` (+ ``Normalize``).

    ``pooling`` is one of :data:`POOLING_MODES`. ``layer_norm`` applies a parameter-free
    layer norm before truncation (nomic-embed-text-v1.5). ``normalize`` is the model's own
    Normalize module. ``pooled_in_graph`` is true when the graph already returns the pooled
    ``sentence_embedding`` (for example when Dense modules are baked in).
    """

    pooling: str = "mean"
    normalize: bool = True
    layer_norm: bool = False
    include_prompt: bool = True
    pooled_in_graph: bool = False

    def __post_init__(self) -> None:
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")


@dataclass(frozen=True)
class MultiVectorConfig(_ConfigBase):
    """ColBERT late-interaction settings (Stanford and PyLate conventions, docs/reference-semantics.md §1).

    Marker ids are inserted at position 1 (after [CLS]); queries are padded to
    ``query_length`` with ``mask_token_id`` (query expansion), documents are padded to the
    longest in the batch. ``skiplist_ids`` are dropped from documents only. The projection is
    baked into the graph, whose output is the un-normalised ``token_embeddings`` [B, T, dim].
    """

    query_marker_id: int = 1
    document_marker_id: int = 2
    mask_token_id: int = 103
    query_length: int = 32
    document_length: int = 180
    attend_to_expansion_tokens: bool = False
    do_query_expansion: bool = True
    skiplist_ids: tuple[int, ...] = ()
    normalize: bool = True

    def __post_init__(self) -> None:
        if self.query_length < 3 or self.document_length < 3:
            raise ValueError("query_length and document_length must be at least 3")


@dataclass(frozen=True)
class SparseConfig(_ConfigBase):
    """SPLADE settings (docs/reference-semantics.md §2).

    ``activation`` is ``log1p_relu`` (SPLADE) or ``log1p_log1p_relu`` (OpenSearch models);
    ``aggregation`` is ``max`` or ``sum`` over the sequence axis. When ``pooled_in_graph`` the
    graph returns ``sparse_embedding`` [B, vocab] and the runtime never sees B×T×V logits;
    otherwise it returns ``logits`` [B, T, vocab] and the runtime pools in numpy.
    """

    activation: str = "log1p_relu"
    aggregation: str = "max"
    pooled_in_graph: bool = True
    vocab_size: int = 30522

    def __post_init__(self) -> None:
        if self.activation not in ("log1p_relu", "log1p_log1p_relu"):
            raise ValueError(f"unknown sparse activation {self.activation!r}")
        if self.aggregation not in ("max", "sum"):
            raise ValueError(f"unknown sparse aggregation {self.aggregation!r}")
