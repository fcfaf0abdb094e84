"""The onnxruntime backend: a runtime variant when one fits, else the portable graph optimised at load.

:func:`open_onnxruntime` chooses the graph file (:func:`~tessera_onnx.backends.variants.select_variant`),
then creates the session with :func:`tessera_onnx.session.create_session`. A canonical graph of a
current artifact is optimised by onnxruntime when the session starts, and on CPU the optimised
graph is kept on disk (:mod:`tessera_onnx.backends.graph_cache`) so the next load skips that work.
An artifact written before manifests had ``variants`` loads exactly as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..artifact import Manifest, member_path
from ..session import _session_options, create_session, resolve_device
from .graph_cache import cache_enabled, commit_dir, optimized_graph_dir, stage_dir
from .variants import select_variant, variant_file

__all__ = ["open_onnxruntime", "planned_provider"]


def planned_provider(device: str | None, providers: list[Any] | None, available: list[str]) -> str:
    """The execution provider a session for ``device``/``providers`` asks for first."""
    if providers:
        first = providers[0]
        return str(first[0] if isinstance(first, (tuple, list)) else first)
    kind, requested = resolve_device(device, available)
    first = requested[0]
    return str(first[0] if isinstance(first, (tuple, list)) else first)


def open_onnxruntime(
    root: Path,
    manifest: Manifest,
    graph: str,
    *,
    device: str | None,
    threads: int | None,
    providers: list[Any] | None,
    fallback: bool,
    spin: bool,
    prepack: bool,
    variant: str | None,
) -> tuple[Any, str]:
    """Open canonical graph ``graph`` of the artifact at ``root``; return ``(session, provider)``."""
    import onnxruntime as ort

    available = list(ort.get_available_providers())
    planned = planned_provider(device, providers, available)
    chosen = select_variant(
        manifest, graph, runtime="onnxruntime", version=ort.__version__, provider=planned, choice=variant
    )
    path = member_path(root, variant_file(manifest, graph, chosen), "graph file")
    common = {"providers": providers, "fallback": fallback}
    portable = manifest.variants is not None and chosen is None
    cached = (
        optimized_graph_dir(manifest, graph, ort.__version__)
        if portable and cache_enabled() and planned == "CPUExecutionProvider"
        else None
    )
    if cached is None:
        return create_session(path, device, threads, spin=spin, prepack=prepack, **common)
    name = Path(graph).name
    options = _session_options(threads, False, prepack, spin)
    if (cached / name).is_file():
        # already optimised for this onnxruntime and CPU: skip the optimisation passes
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return create_session(cached / name, device, threads, session_options=options, **common)
    stage = stage_dir(cached)
    if stage is not None:
        options.optimized_model_filepath = os.fspath(stage / name)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", name + ".data"
        )
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
        )
    session, provider = create_session(path, device, threads, session_options=options, **common)
    if stage is not None:
        if (stage / name).is_file() and provider == "CPUExecutionProvider":
            commit_dir(stage, cached)
        else:
            import shutil

            shutil.rmtree(stage, ignore_errors=True)
    return session, provider
