"""The on-disk cache of graphs onnxruntime optimised at load.

A portable (canonical) graph carries only standard ONNX operators; onnxruntime fuses attention,
LayerNorm, GELU and int8 MatMuls into its own kernels when a session starts. The first load saves
the optimised graph under ``<artifact cache>/optimized/<key>/``; later loads read that file with
graph optimisation off, so they start as fast as an artifact shipped pre-fused. The key holds the
graph's sha256 (and its weights file's) from the manifest, the onnxruntime version and the CPU's
instruction-set flags (an ``ORT_ENABLE_ALL`` graph may use layouts only this CPU runs).
``TESSERA_GRAPH_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from ..artifact import Manifest

__all__ = ["CACHE_ENV", "cache_enabled", "cpu_flags", "optimized_graph_dir", "stage_dir", "commit_dir"]

CACHE_ENV = "TESSERA_GRAPH_CACHE"


def cache_enabled() -> bool:
    """Whether optimised graphs are cached on disk (``$TESSERA_GRAPH_CACHE`` not ``0``/``false``/``no``)."""
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@lru_cache(maxsize=1)
def cpu_flags() -> str:
    """A short digest of this CPU's model and instruction-set flags (``/proc/cpuinfo`` on Linux)."""
    text = f"{platform.machine()}|{platform.processor()}"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key = line.split(":", 1)[0].strip()
                if key in ("flags", "Features", "model name"):
                    text += "|" + line.split(":", 1)[1].strip()
                if key in ("flags", "Features"):
                    break
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def optimized_graph_dir(manifest: Manifest, graph_file: str, runtime_version: str) -> Path | None:
    """The cache directory of ``graph_file``'s optimised form, or ``None`` when it cannot be keyed.

    Keyed by the sha256 of the graph and of its ``.data`` weights (from the manifest: an artifact
    without checksums is not cached), ``runtime_version`` and :func:`cpu_flags`.
    """
    entry = manifest.files.get(graph_file)
    if not entry or not entry.get("sha256"):
        return None
    digest = hashlib.sha256(str(entry["sha256"]).encode())
    data = manifest.files.get(graph_file + ".data")
    if data:
        digest.update(str(data.get("sha256")).encode())
    from ..locate import cache_dir

    key = f"{digest.hexdigest()[:20]}-ort{runtime_version}-{cpu_flags()}"
    return cache_dir() / "optimized" / key


def stage_dir(final: Path) -> Path | None:
    """A fresh staging directory beside ``final`` (``None`` when the cache is not writable)."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    except OSError:
        return None


def commit_dir(stage: Path, final: Path) -> None:
    """Move a fully written ``stage`` to ``final``; another process that got there first wins."""
    try:
        os.replace(stage, final)
    except OSError:
        shutil.rmtree(stage, ignore_errors=True)
