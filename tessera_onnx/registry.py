"""The model registry: ``models.json``, the single source of truth for every model id.

Each entry becomes a frozen :class:`ModelSpec`. Common fields are typed attributes; the
paradigm-specific facts (pooling, markers, context length, ...) are in ``options``.
The file is validated on load: unique kebab-case ids, positive dims, Matryoshka sizes within
the output dim, and the fields each paradigm requires.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ModelNotFoundError, RegistryError
from .paradigms import PARADIGMS

__all__ = ["ModelSpec", "load_registry", "list_models", "get_model", "registry_path"]

_ID_RE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
_COMMON = ("id", "hf_repo", "paradigm", "architecture", "dim", "license")


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: where a model lives and the facts needed to export and run it."""

    id: str
    hf_repo: str
    paradigm: str
    architecture: str
    dim: int
    license: str
    revision: str | None = None
    matryoshka_dims: tuple[int, ...] = ()
    max_length: int | None = None
    trust_remote_code: bool = False
    code_revision: str | None = None  # commit of custom modelling code kept in another repo
    notes: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        """Return a paradigm-specific field of the entry (``default`` when absent)."""
        return self.options.get(name, default)


def registry_path() -> Path:
    """Path of the packaged ``models.json`` (falls back to the source checkout's copy)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models.json", here.parent / "models.json"):
        if candidate.is_file():
            return candidate
    raise RegistryError("models.json is missing from the installation; reinstall tessera-onnx")


def _parse_entry(raw: Mapping[str, Any], index: int) -> ModelSpec:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"models.json entry #{index} must be an object")
    missing = [k for k in _COMMON if k not in raw]
    if missing:
        raise RegistryError(f"models.json entry #{index} ({raw.get('id', '?')}) lacks {missing}")
    mid = raw["id"]
    if not isinstance(mid, str) or not _ID_RE.match(mid):
        raise RegistryError(f"models.json id {mid!r} must be lower-case kebab-case (a-z, 0-9, '-', '.')")
    paradigm = raw["paradigm"]
    if paradigm not in PARADIGMS:
        raise RegistryError(f"model {mid!r}: paradigm {paradigm!r} is not one of {list(PARADIGMS)}")
    lacking = [k for k in PARADIGMS[paradigm].registry_fields if k not in raw]
    if lacking:
        raise RegistryError(f"model {mid!r}: paradigm {paradigm!r} requires fields {lacking}")
    dim = raw["dim"]
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
        raise RegistryError(f"model {mid!r}: dim must be a positive integer, got {dim!r}")
    mdims = raw.get("matryoshka_dims", [])
    if not isinstance(mdims, list) or not all(isinstance(d, int) and 0 < d <= dim for d in mdims):
        raise RegistryError(f"model {mid!r}: matryoshka_dims {mdims!r} must be integers in 1..{dim}")
    if mdims and (sorted(set(mdims), reverse=True) != mdims or mdims[0] != dim):
        raise RegistryError(
            f"model {mid!r}: matryoshka_dims {mdims} must be distinct, descending and start at dim {dim}"
        )
    max_length = raw.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length <= 0):
        raise RegistryError(f"model {mid!r}: max_length must be a positive integer, got {max_length!r}")
    known = set(_COMMON) | {
        "revision",
        "code_revision",
        "matryoshka_dims",
        "max_length",
        "trust_remote_code",
        "notes",
    }
    options = {k: v for k, v in raw.items() if k not in known}
    return ModelSpec(
        id=mid,
        hf_repo=raw["hf_repo"],
        paradigm=paradigm,
        architecture=raw["architecture"],
        dim=dim,
        license=raw["license"],
        revision=raw.get("revision"),
        matryoshka_dims=tuple(mdims),
        max_length=max_length,
        trust_remote_code=bool(raw.get("trust_remote_code", False)),
        code_revision=raw.get("code_revision"),
        notes=raw.get("notes", ""),
        options=options,
    )


def parse_registry(data: Mapping[str, Any]) -> dict[str, ModelSpec]:
    """Validate parsed ``models.json`` content and return ``{id: ModelSpec}`` in file order."""
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        raise RegistryError("models.json must be an object with a 'models' list")
    out: dict[str, ModelSpec] = {}
    for index, raw in enumerate(models):
        spec = _parse_entry(raw, index)
        if spec.id in out:
            raise RegistryError(f"models.json lists id {spec.id!r} twice; ids must be unique")
        out[spec.id] = spec
    return out


@lru_cache(maxsize=4)
def load_registry(path: str | None = None) -> dict[str, ModelSpec]:
    """Load and validate the registry (the packaged ``models.json`` unless ``path`` is given)."""
    file = Path(path) if path else registry_path()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"cannot read registry {file}: {exc}") from exc
    return parse_registry(data)


def list_models(paradigm: str | None = None) -> list[ModelSpec]:
    """Return the registry's models, optionally only those of one ``paradigm``."""
    if paradigm is not None and paradigm not in PARADIGMS:
        raise RegistryError(f"unknown paradigm {paradigm!r}; choose one of {list(PARADIGMS)}")
    return [m for m in load_registry().values() if paradigm is None or m.paradigm == paradigm]


def get_model(model_id: str) -> ModelSpec:
    """Return the registry entry of ``model_id`` (case-insensitive; HF repo names accepted too).

    Raises :class:`ModelNotFoundError` suggesting the closest ids when it is unknown.
    """
    registry = load_registry()
    key = model_id.strip().lower()
    if key in registry:
        return registry[key]
    for spec in registry.values():
        if spec.hf_repo.lower() == key:
            return spec
    close = difflib.get_close_matches(key, list(registry), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ModelNotFoundError(
        f"unknown model id {model_id!r}.{hint} Run `tessera models` to list the registry, "
        "or pass the path of an artifact directory."
    )
