"""``Tessera(model)``: open an artifact and return the embedder its manifest's paradigm calls for."""

from __future__ import annotations

import importlib
import os
from typing import Any

from ..artifact import read_manifest
from ..errors import ArtifactError
from ..locate import resolve_artifact

__all__ = ["PARADIGM_CLASSES", "Tessera", "load"]

# paradigm -> (module, class); imported only when an artifact of that paradigm is opened.
PARADIGM_CLASSES: dict[str, tuple[str, str]] = {
    "dense": ("tessera_onnx.embedders.dense", "TesseraDense"),
    "multi_vector": ("tessera_onnx.embedders.multi_vector", "TesseraMultiVector"),
    "sparse": ("tessera_onnx.embedders.sparse", "TesseraSparse"),
    "timeseries": ("tessera_onnx.timeseries", "TesseraTimeSeries"),
    "vision": ("tessera_onnx.embedders.image_text", "TesseraImageText"),
    "hyperbolic": ("tessera_onnx.hyperbolic.embedder", "HyperbolicEmbedder"),
    "pages": ("tessera_onnx.embedders.pages", "TesseraPages"),
    "cross_encoder": ("tessera_onnx.cross_encoder.model", "TesseraCrossEncoder"),
}


def Tessera(  # noqa: N802 - reads like the class it returns
    model: str | os.PathLike[str],
    *,
    cache: str | os.PathLike[str] | None = None,
    download: bool | None = None,
    **options: Any,
) -> Any:
    """Load ``model`` (an artifact directory or a model id) as the embedder its manifest names.

    Returns a :class:`~tessera_onnx.TesseraDense`, :class:`~tessera_onnx.TesseraMultiVector`,
    :class:`~tessera_onnx.TesseraSparse`, ``TesseraTimeSeries`` or ``HyperbolicEmbedder``; ``options`` go to its
    constructor (``device``, ``threads``, ``max_length``, ``dimension``, ...).
    """
    path = resolve_artifact(model, cache=cache, download=download)
    paradigm = read_manifest(path).paradigm
    if paradigm not in PARADIGM_CLASSES:
        raise ArtifactError(
            f"{path} holds a {paradigm!r} model, which this version of tessera-onnx cannot run yet"
        )
    module_name, class_name = PARADIGM_CLASSES[paradigm]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(path, **options)


load = Tessera
