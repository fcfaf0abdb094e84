"""The paradigm table: every fact about a paradigm that the rest of the package needs, in one row.

A paradigm is a kind of model output (dense vectors, token vectors, sparse weights, image–text
vectors, page token vectors, forecasts, hyperbolic points, ...). Everything that lists or
dispatches on paradigms reads this table: the manifest validator (:mod:`tessera_onnx.artifact`),
the registry (required ``models.json`` fields), :func:`tessera_onnx.Tessera` (which class opens an
artifact), the CLI (``--paradigm`` choices, which commands take which models), the server (what
each model offers), and ``tessera-export build``/``verify`` (which exporter writes it, how a
checkpoint is recognised).

Adding a paradigm is one :class:`Paradigm` row here plus its own runtime package (and an exporter
in ``export/``). Class and exporter locations are ``"module:attribute"`` strings, imported only
when used, so importing this module imports nothing heavy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ArtifactError

__all__ = [
    "Paradigm",
    "PARADIGM_TABLE",
    "PARADIGMS",
    "get_paradigm",
    "paradigm_names",
    "paradigms_offering",
    "runtime_class",
    "import_object",
]


def _model_type_in(*types: str) -> Callable[[Mapping[str, Any]], bool]:
    def match(config: Mapping[str, Any]) -> bool:
        return config.get("model_type") in types

    return match


def _architecture_prefix(prefix: str) -> Callable[[Mapping[str, Any]], bool]:
    def match(config: Mapping[str, Any]) -> bool:
        return any(str(a).startswith(prefix) for a in config.get("architectures") or ())

    return match


def _architecture_suffix(suffix: str) -> Callable[[Mapping[str, Any]], bool]:
    def match(config: Mapping[str, Any]) -> bool:
        return any(str(a).endswith(suffix) for a in config.get("architectures") or ())

    return match


@dataclass(frozen=True)
class Paradigm:
    """One row of the paradigm table.

    - ``name``: the manifest's ``paradigm`` and the registry's ``paradigm`` field.
    - ``summary``: one line for help texts and docs.
    - ``runtime``: ``"module:Class"`` of the runtime class that opens its artifacts.
    - ``config_key``: the manifest ``config`` block that class needs (None: none required).
    - ``exporter``: ``"module:function"`` of the ``tessera_export`` function that writes it
      (None: made by other means, e.g. trained in the runtime).
    - ``registry_fields``: fields a ``models.json`` entry of this paradigm must have.
    - ``cli``: the ``tessera`` commands that accept models of this paradigm.
    - ``server``: what ``tessera serve`` offers for it (route groups, see the serving docs).
    - ``matches_checkpoint``: recognises a checkpoint's ``config.json`` as this paradigm when
      neither the caller nor the registry names one (None: never inferred this way).
    - ``has_graph``: whether the artifact holds an ONNX graph.
    """

    name: str
    summary: str
    runtime: str
    config_key: str | None
    exporter: str | None
    registry_fields: tuple[str, ...] = ()
    cli: tuple[str, ...] = ()
    server: tuple[str, ...] = ()
    matches_checkpoint: Callable[[Mapping[str, Any]], bool] | None = None
    has_graph: bool = True

    def load_runtime(self) -> type:
        """Import and return the runtime class."""
        return import_object(self.runtime)

    def load_exporter(self) -> Callable[..., Any]:
        """Import and return the exporter function (needs the ``[export]`` extra)."""
        if self.exporter is None:
            raise ArtifactError(f"paradigm {self.name!r} has no exporter: {self.summary}")
        return import_object(self.exporter)


PARADIGM_TABLE: tuple[Paradigm, ...] = (
    Paradigm(
        name="dense",
        summary="one vector per text (sentence-transformers bi-encoders)",
        runtime="tessera_onnx.text.dense:TesseraDense",
        config_key="dense",
        exporter="tessera_export.text:build_text_artifact",
        registry_fields=("pooling", "max_length"),
        cli=("encode", "similarity", "info"),
        server=("embeddings", "embed", "similarity", "rerank"),
    ),
    Paradigm(
        name="multi_vector",
        summary="one vector per token, scored by MaxSim (ColBERT / PyLate)",
        runtime="tessera_onnx.text.multi_vector:TesseraMultiVector",
        config_key="multi_vector",
        exporter="tessera_export.text:build_text_artifact",
        registry_fields=("query_length", "document_length", "query_marker", "document_marker", "max_length"),
        cli=("encode", "similarity", "info"),
        server=("embed_all", "multi_vector", "rerank"),
    ),
    Paradigm(
        name="sparse",
        summary="vocabulary-sized sparse weights (SPLADE)",
        runtime="tessera_onnx.text.sparse:TesseraSparse",
        config_key="sparse",
        exporter="tessera_export.text:build_text_artifact",
        registry_fields=("max_length", "activation"),
        cli=("encode", "similarity", "info"),
        server=("embed_sparse", "sparse", "rerank"),
    ),
    Paradigm(
        name="cross_encoder",
        summary="a relevance score per (query, passage) pair (cross-encoder rerankers)",
        runtime="tessera_onnx.cross_encoder.model:TesseraCrossEncoder",
        config_key="cross_encoder",
        exporter="tessera_export.cross_encoder:build_cross_encoder_artifact",
        registry_fields=("max_length",),
        cli=("info",),
        server=("rerank",),
        matches_checkpoint=_architecture_suffix("ForSequenceClassification"),
    ),
    Paradigm(
        name="vision",
        summary="image and text vectors in one space (SigLIP, SigLIP2, CLIP)",
        runtime="tessera_onnx.vision.embedder:TesseraImageText",
        config_key="vision",
        exporter="tessera_export.vision:build_vision_artifact",
        registry_fields=("image_size", "max_length"),
        cli=("embed-images", "classify", "info"),
        server=("embeddings", "images"),
        matches_checkpoint=_model_type_in("siglip", "siglip2", "clip"),
    ),
    Paradigm(
        name="pages",
        summary="document pages as images → token vectors, scored by MaxSim (ColPali family)",
        runtime="tessera_onnx.pages.embedder:TesseraPages",
        config_key="pages",
        exporter="tessera_export.pages:build_pages_artifact",
        registry_fields=(),
        cli=("info",),
        server=("pages", "page_search"),
        matches_checkpoint=_architecture_prefix("Col"),
    ),
    Paradigm(
        name="timeseries",
        summary="forecasts and series embeddings (IBM TinyTimeMixer)",
        runtime="tessera_onnx.timeseries.embedder:TesseraTimeSeries",
        config_key="timeseries",
        exporter="tessera_export.timeseries:build_timeseries_artifact",
        registry_fields=("context_length", "prediction_length", "patch_length", "patch_stride", "freq_token"),
        cli=("forecast", "embed-series", "info"),
        server=("forecast", "series"),
        matches_checkpoint=_model_type_in("tinytimemixer"),
    ),
    Paradigm(
        name="hyperbolic",
        summary="a trained hierarchy embedding in the Poincaré ball (a table, no graph)",
        runtime="tessera_onnx.hyperbolic.embedder:HyperbolicEmbedder",
        config_key="hyperbolic",
        exporter=None,
        registry_fields=(),
        cli=("hyperbolic query", "hyperbolic evaluate", "info"),
        server=(),
        has_graph=False,
    ),
)

PARADIGMS: Mapping[str, Paradigm] = {p.name: p for p in PARADIGM_TABLE}


def paradigm_names() -> tuple[str, ...]:
    """The names of every paradigm, in table order."""
    return tuple(PARADIGMS)


def get_paradigm(name: str) -> Paradigm:
    """The row of paradigm ``name``; :class:`ArtifactError` listing the known ones otherwise."""
    try:
        return PARADIGMS[name]
    except (KeyError, TypeError):
        raise ArtifactError(
            f"unknown paradigm {name!r}; this version of tessera-onnx knows {list(PARADIGMS)} "
            "(upgrade tessera-onnx if the artifact is newer)"
        ) from None


def paradigms_offering(what: str, field: str = "server") -> tuple[str, ...]:
    """Paradigms whose ``field`` (``"server"`` or ``"cli"``) lists ``what``."""
    return tuple(p.name for p in PARADIGM_TABLE if what in getattr(p, field))


def runtime_class(name: str) -> type:
    """The runtime class of paradigm ``name``."""
    return get_paradigm(name).load_runtime()


def import_object(path: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
