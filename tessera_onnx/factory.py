"""``Tessera(model)``: open an artifact and return the class its manifest's paradigm calls for."""

from __future__ import annotations

import os
from typing import Any

from .arguments import public
from .artifact import read_manifest
from .locate import resolve_artifact
from .paradigms import PARADIGMS, get_paradigm

__all__ = ["Tessera", "load"]


@public
def Tessera(  # noqa: N802 - reads like the class it returns
    model: str | os.PathLike[str],
    *,
    cache: str | os.PathLike[str] | None = None,
    download: bool | None = None,
    **options: Any,
) -> Any:
    """Load ``model`` (an artifact directory or a model id) as the class its manifest names.

    The paradigm table (:mod:`tessera_onnx.paradigms`) maps the manifest's paradigm to the class:
    :class:`~tessera_onnx.TesseraDense`, :class:`~tessera_onnx.TesseraMultiVector`,
    :class:`~tessera_onnx.TesseraSparse`, :class:`~tessera_onnx.TesseraImageText`,
    :class:`~tessera_onnx.TesseraPages`, :class:`~tessera_onnx.TesseraTimeSeries` or
    :class:`~tessera_onnx.HyperbolicEmbedder`. ``options`` go to its constructor (``device``,
    ``threads``, ``max_length``, ``batch_size``, ...). The artifact is resolved once: the class
    receives the directory.
    """
    path = resolve_artifact(model, cache=cache, download=download)
    paradigm = get_paradigm(read_manifest(path).paradigm)
    return paradigm.load_runtime()(path, **options)


load = Tessera


def __getattr__(name: str) -> Any:
    if name == "PARADIGM_CLASSES":  # the table used to live here
        import warnings

        warnings.warn(
            "tessera_onnx.factory.PARADIGM_CLASSES is deprecated; use tessera_onnx.paradigms.PARADIGMS",
            DeprecationWarning,
            stacklevel=2,
        )
        return {p.name: tuple(p.runtime.split(":")) for p in PARADIGMS.values()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
