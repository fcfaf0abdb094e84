"""Inference backends: the runtime that executes an artifact's graphs.

``open_graph(root, manifest, backend=...)`` returns an object with onnxruntime's session
surface (``run(output_names, feed)``, ``get_inputs()``, ``get_outputs()``) and the name of the
provider it runs on. Backends:

- ``"onnxruntime"`` (default): the fastest runtime variant of the graph that the installed
  onnxruntime supports (e.g. the pre-fused ``com.microsoft`` graph), otherwise the portable
  canonical graph optimised at load and cached on disk (:mod:`.graph_cache`);
- ``"openvino"`` (extra ``[openvino]``): the canonical graph on OpenVINO's CPU plugin in f32.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..artifact import Manifest, member_path
from ..errors import InvalidInputError
from .variants import PORTABLE, VARIANT_ENV, select_variant

__all__ = ["BACKENDS", "PORTABLE", "VARIANT_ENV", "open_graph", "select_variant"]

BACKENDS = ("onnxruntime", "openvino")


def open_graph(
    root: str | os.PathLike[str],
    manifest: Manifest,
    *,
    graph: str | None = None,
    backend: str = "onnxruntime",
    device: str | None = "auto",
    threads: int | None = None,
    providers: list[Any] | None = None,
    fallback: bool = True,
    spin: bool = False,
    prepack: bool = True,
    variant: str | None = None,
) -> tuple[Any, str]:
    """Open one graph of the artifact at ``root`` on ``backend``; return ``(session, provider name)``.

    ``graph``: the canonical graph file (default ``manifest.model_file``; two-graph artifacts name
    their others). ``device``/``threads``/``providers``/``fallback``/``spin``/``prepack``: see
    :func:`tessera_onnx.session.create_session` (OpenVINO uses ``device`` and ``threads`` only).
    ``variant``: ``"auto"`` (default; ``$TESSERA_GRAPH_VARIANT`` overrides it), ``"portable"``
    or a variant name from the manifest; onnxruntime only.
    """
    root = Path(root)
    graph = graph or manifest.model_file
    if backend == "onnxruntime":
        from .onnxruntime import open_onnxruntime

        return open_onnxruntime(
            root,
            manifest,
            graph,
            device=device,
            threads=threads,
            providers=providers,
            fallback=fallback,
            spin=spin,
            prepack=prepack,
            variant=variant,
        )
    if backend == "openvino":
        from .openvino import open_openvino

        if variant not in (None, "auto", PORTABLE):
            raise InvalidInputError(
                f"backend='openvino' runs the portable graph only, not variant {variant!r}"
            )
        return open_openvino(
            member_path(root, graph, "graph file"),
            device=device,
            threads=threads,
            providers=providers,
            fallback=fallback,
        )
    raise InvalidInputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
