"""The models a serving engine holds: lazy load, idle unload (``keep_alive``), LRU memory budget.

A :class:`ModelPool` knows every model it may serve (name → artifact path + load options) and
keeps the loaded ones. Loading happens in a worker thread (it reads and checksums the artifact
and builds the onnxruntime session); callers ``await`` it. A model in use (a batch is running
on it) is never evicted. The memory a model needs is estimated as the size of its artifact files
on disk (the ONNX graph dominates), which is what its session holds in RAM on CPU.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifact import read_manifest
from ..errors import ArtifactError, InvalidInputError, ModelNotFoundError, OverloadedError, TesseraError
from ..locate import resolve_artifact
from .protocol import clip

__all__ = ["ModelConfig", "ModelSlot", "ModelPool"]


@dataclass
class ModelConfig:
    """How to serve one artifact.

    ``path``: artifact directory or model id; ``name``: the name clients use (default: the
    manifest's ``model_id``); ``keep_alive``: seconds a loaded model may stay idle before it is
    unloaded (None: never); ``preload``: load at engine start instead of on first use;
    ``options``: keyword options for :func:`tessera_onnx.Tessera` (``threads``, ``device``,
    ``max_length``, ...).
    """

    path: str | os.PathLike[str]
    name: str | None = None
    keep_alive: float | None = None
    preload: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a config-file entry ``{"path": ..., "name": ..., "keep_alive": ..., ...}``;
        every other key is a load option."""
        if not isinstance(data, dict) or "path" not in data:
            raise InvalidInputError(f"a model entry needs at least a 'path', got {data!r}")
        rest = dict(data)
        return cls(
            path=rest.pop("path"),
            name=rest.pop("name", None),
            keep_alive=rest.pop("keep_alive", None),
            preload=bool(rest.pop("preload", False)),
            options=rest.pop("options", None) or rest,
        )


@dataclass
class ModelSlot:
    """One served model: its configuration, and the embedder while it is loaded."""

    name: str
    path: Path
    paradigm: str
    config: ModelConfig
    size_bytes: int
    embedder: Any = None
    last_used: float = 0.0
    in_use: int = 0
    loads: int = 0
    error: str | None = None  # why the last load or batch failed (None: healthy)
    failures: int = 0
    files: tuple[str, ...] = ()  # the manifest's file names
    snapshot: tuple[tuple[int, int], ...] = ()  # (size, mtime_ns) of each file when it was loaded
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def loaded(self) -> bool:
        """Whether the embedder is in memory."""
        return self.embedder is not None

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary (what ``/v1/models`` and ``Engine.list_models`` show)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "paradigm": self.paradigm,
            "loaded": self.loaded,
            "keep_alive": self.config.keep_alive,
            "size_bytes": self.size_bytes,
            "loads": self.loads,
            "last_used": self.last_used or None,
            "error": self.error,
        }


def _stat_files(slot: ModelSlot) -> tuple[tuple[int, int], ...]:
    out = []
    for name in slot.files:
        try:
            st = (slot.path / name).stat()
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((-1, -1))
    return tuple(out)


def _verify(path: Path) -> None:
    from ..artifact import verify_files

    verify_files(path, read_manifest(path))


def _artifact_bytes(path: Path, manifest: Any) -> int:
    sizes = [int(entry.get("size", 0)) for entry in manifest.files.values()]
    return sum(sizes) or sum(p.stat().st_size for p in path.iterdir() if p.is_file())


class ModelPool:
    """Named models with lazy loading, ``keep_alive`` idle unloading and an LRU memory budget.

    ``memory_budget_bytes``: the most the loaded models may take together (None: no limit);
    loading a model that does not fit evicts the least recently used idle models first.
    ``busy``: a callback telling whether a model still has queued work (then it is not
    evicted or unloaded for idleness).
    """

    def __init__(
        self,
        executor: Executor,
        memory_budget_bytes: int | None = None,
        busy: Callable[[str], bool] | None = None,
        loader: Callable[..., Any] | None = None,
    ) -> None:
        self._executor = executor
        self.memory_budget_bytes = memory_budget_bytes
        self._busy = busy or (lambda _name: False)
        self._loader = loader
        self.slots: dict[str, ModelSlot] = {}
        self.evictions = 0

    # ------------------------------------------------------------------ registry

    def add(self, config: ModelConfig) -> str:
        """Register a model (not loaded yet); returns its name."""
        path = resolve_artifact(config.path)
        manifest = read_manifest(path)
        name = config.name or manifest.model_id
        if name in self.slots:
            raise InvalidInputError(f"a model named {name!r} is already registered; give it another name")
        if config.keep_alive is not None and float(config.keep_alive) < 0:
            raise InvalidInputError(f"keep_alive must be >= 0 seconds or None, got {config.keep_alive!r}")
        size = _artifact_bytes(path, manifest)
        if self.memory_budget_bytes is not None and size > self.memory_budget_bytes:
            raise InvalidInputError(
                f"model {name!r} needs about {size / 2**20:.0f} MiB, more than the whole memory budget "
                f"({self.memory_budget_bytes / 2**20:.0f} MiB): raise the budget"
            )
        self.slots[name] = ModelSlot(name, path, manifest.paradigm, config, size, files=tuple(manifest.files))
        return name

    def slot(self, name: str) -> ModelSlot:
        """The slot of ``name``; :class:`ModelNotFoundError` listing the served names otherwise."""
        slot = self.slots.get(name)
        if slot is None:
            raise ModelNotFoundError(
                f"model {clip(name)} is not served here; choose one of {sorted(self.slots) or 'none (add one)'}"
            )
        return slot

    # ------------------------------------------------------------------ load / unload

    def loaded_bytes(self) -> int:
        """Estimated memory of the loaded models."""
        return sum(s.size_bytes for s in self.slots.values() if s.loaded)

    async def ensure_loaded(self, name: str) -> Any:
        """The embedder of ``name``, loading it (and evicting others for memory) when needed."""
        slot = self.slot(name)
        slot.last_used = time.monotonic()
        if slot.embedder is not None:
            return slot.embedder
        async with slot.lock:
            if slot.embedder is None:
                self._make_room(slot)
                loop = asyncio.get_running_loop()
                try:
                    slot.embedder = await loop.run_in_executor(self._executor, self._load, slot)
                except TesseraError as exc:  # corrupt or missing files: this model only is unavailable
                    self.mark_failed(slot, exc)
                    raise ArtifactError(
                        f"model {slot.name!r} cannot be loaded: {slot.error}; the other models are "
                        "unaffected. Restore the artifact (tessera-export verify) and retry"
                    ) from exc
                slot.error = None
                slot.snapshot = _stat_files(slot)
                slot.loads += 1
                slot.last_used = time.monotonic()
        return slot.embedder

    def mark_failed(self, slot: ModelSlot, exc: BaseException) -> None:
        """Record why ``slot`` failed and drop its embedder (the next request tries to load it again)."""
        # the artifact's location stays on the server: clients see the model's name
        slot.error = f"{type(exc).__name__}: {exc}".replace(str(slot.path), f"<{slot.name}>")
        slot.failures += 1
        self._drop(slot)

    def _load(self, slot: ModelSlot) -> Any:
        if self._loader is not None:
            return self._loader(slot.path, **slot.config.options)
        from ..factory import Tessera

        return Tessera(slot.path, **slot.config.options)

    def _make_room(self, slot: ModelSlot) -> None:
        budget = self.memory_budget_bytes
        if budget is None:
            return
        candidates = sorted(
            (s for s in self.slots.values() if s.loaded and s is not slot),
            key=lambda s: s.last_used,
        )
        for other in candidates:
            if self.loaded_bytes() + slot.size_bytes <= budget:
                return
            if other.in_use or self._busy(other.name):
                continue
            self._drop(other)
            self.evictions += 1
        if self.loaded_bytes() + slot.size_bytes > budget:
            raise OverloadedError(
                f"cannot load {slot.name!r} ({slot.size_bytes / 2**20:.0f} MiB): the memory budget "
                f"({budget / 2**20:.0f} MiB) is taken by models that are busy; retry shortly",
                retry_after=1.0,
            )

    @staticmethod
    def _drop(slot: ModelSlot) -> None:
        slot.embedder = None

    async def unload(self, name: str) -> bool:
        """Unload ``name`` now (it reloads on next use); False if it was not loaded."""
        slot = self.slot(name)
        async with slot.lock:
            if slot.embedder is None:
                return False
            while slot.in_use:  # let a running batch finish
                await asyncio.sleep(0.005)
            self._drop(slot)
            return True

    async def check_files(self) -> list[str]:
        """Re-verify the loaded models whose files changed on disk since they were loaded (size or
        mtime); unload those that no longer match their manifest's checksums (reported in
        :attr:`ModelSlot.error`, so ``/health`` shows them). Returns the names unloaded."""
        failed = []
        loop = asyncio.get_running_loop()
        for slot in list(self.slots.values()):
            if slot.embedder is None or not slot.snapshot:
                continue
            now = _stat_files(slot)
            if now == slot.snapshot:
                continue
            try:
                await loop.run_in_executor(self._executor, _verify, slot.path)
            except TesseraError as exc:
                self.mark_failed(slot, exc)
                failed.append(slot.name)
            else:
                slot.snapshot = now  # touched, not altered
        return failed

    def expire_idle(self, now: float | None = None) -> list[str]:
        """Unload the models idle for longer than their ``keep_alive``; returns their names."""
        now = time.monotonic() if now is None else now
        dropped = []
        for slot in self.slots.values():
            keep = slot.config.keep_alive
            if keep is None or not slot.loaded or slot.in_use or self._busy(slot.name) or slot.lock.locked():
                continue
            if now - slot.last_used >= float(keep):
                self._drop(slot)
                dropped.append(slot.name)
        return dropped
