"""The artifact format: a directory holding ``tessera.json``, ``model.onnx`` and the tokenizer.

``tessera.json`` (the manifest) makes an artifact self-describing: the runtime embeds from it
alone, with no registry entry. Layout of the manifest (``format_version`` 1)::

    {
      "format": "tessera-artifact", "format_version": 1,
      "model_id": "all-minilm-l6-v2", "paradigm": "dense", "architecture": "bert",
      "dim": 384, "matryoshka_dims": [], "precision": "fp32", "opset": 17,
      "inputs": ["input_ids", "attention_mask", "token_type_ids"],
      "outputs": ["last_hidden_state"],
      "config": {...},            # paradigm-specific settings, see the embedder modules
      "parity": {...},            # figures measured against the torch model at export time
      "versions": {...},          # library versions used by the export
      "source": {...},            # hf repo / local dir the weights came from
      "files": {"model.onnx": {"sha256": "...", "size": 123}, ...},
      "variants": {...},          # optional runtime-specific graphs, see below
      "created": "2026-11-22T10:00:00+00:00"
    }

The graphs named by ``model_file`` (and the paradigm config's other graph files) are the
*canonical* graphs: standard ``ai.onnx`` operators only, runnable by any ONNX runtime. ``variants``
(absent in artifacts written before it existed) names optional graphs for one runtime, fastest
first, e.g. onnxruntime's fused transformer graph::

    "variants": {
      "onnxruntime-fused": {
        "graphs": {"model.onnx": "model.ort-fused.onnx"},   # canonical file -> variant file
        "runtime": "onnxruntime>=1.17",
        "providers": ["CPUExecutionProvider", "CUDAExecutionProvider"],
        "ops_domains": ["ai.onnx", "com.microsoft"],
        "description": "..."
      }
    }

A manifest without ``variants`` comes from an older exporter whose ``model_file`` may itself be
onnxruntime-specific; it loads exactly as before.

A ``hyperbolic`` artifact (a trained hierarchy embedding, see ``tessera_onnx.hyperbolic``) has no
ONNX graph: its ``model_file`` is the ``.npy`` table, ``inputs``/``outputs`` are empty and its
precision is ``fp64``.

Loading an artifact never executes code from it: only JSON, ONNX, tokenizer files and ``.npy``
arrays (read with ``allow_pickle=False``) are read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .cache import cache_dir
from .errors import ArtifactError, ChecksumError
from .paradigms import paradigm_names

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "PARADIGMS",
    "PRECISIONS",
    "Manifest",
    "sha256_file",
    "file_entries",
    "read_manifest",
    "write_manifest",
    "verify_files",
    "member_path",
]

FORMAT = "tessera-artifact"
FORMAT_VERSION = 1
MANIFEST_NAME = "tessera.json"
PARADIGMS = paradigm_names()  # the paradigm table (tessera_onnx.paradigms) is the one list
PRECISIONS = ("fp32", "fp16", "int8", "fp64")
_CHUNK = 1 << 20
# parsed manifests by (path, size, mtime, ctime, inode): a rewritten file is parsed again
_MANIFESTS: dict[tuple[Any, ...], Manifest] = {}


@dataclass(frozen=True)
class Manifest:
    """The parsed ``tessera.json`` of an artifact.

    ``config`` holds the paradigm-specific settings (pooling, markers, lengths, ...); each
    embedder parses it into its own typed config. ``files`` maps a file name relative to the
    artifact directory to ``{"sha256": hex, "size": bytes}``.
    """

    model_id: str
    paradigm: str
    architecture: str
    dim: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    matryoshka_dims: tuple[int, ...] = ()
    precision: str = "fp32"
    opset: int = 17
    model_file: str = "model.onnx"
    parity: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Any]] | None = None
    created: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.paradigm not in PARADIGMS:
            raise ArtifactError(
                f"manifest paradigm {self.paradigm!r} is not one of {PARADIGMS}; "
                "re-export the artifact with a current tessera-export"
            )
        if self.precision not in PRECISIONS:
            raise ArtifactError(f"manifest precision {self.precision!r} is not one of {PRECISIONS}")
        if not isinstance(self.dim, int) or self.dim <= 0:
            raise ArtifactError(f"manifest dim must be a positive integer, got {self.dim!r}")
        bad = [d for d in self.matryoshka_dims if not (0 < d <= self.dim)]
        if bad:
            raise ArtifactError(f"manifest matryoshka_dims {bad} are outside 1..{self.dim}")
        _check_member_name(self.model_file, "model_file")
        for name in self.files:
            _check_member_name(name, "files entry")
        if self.variants is not None:
            if not isinstance(self.variants, Mapping):
                raise ArtifactError("manifest variants must be an object {name: {graphs, runtime, ...}}")
            for vname, variant in self.variants.items():
                graphs = variant.get("graphs") if isinstance(variant, Mapping) else None
                if not isinstance(graphs, Mapping) or not graphs:
                    raise ArtifactError(f"manifest variant {vname!r} names no graphs; re-export the artifact")
                for canonical, file in graphs.items():
                    _check_member_name(canonical, f"variant {vname!r} graph")
                    _check_member_name(file, f"variant {vname!r} file")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable manifest, with ``format`` and tuples as lists."""
        data = asdict(self)
        data = {"format": FORMAT, **data}
        for key in ("inputs", "outputs", "matryoshka_dims"):
            data[key] = list(data[key])
        if data.get("variants") is None:
            data.pop("variants", None)  # an older-format manifest stays as it was
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Build a manifest from parsed JSON, raising :class:`ArtifactError` when malformed."""
        if data.get("format") != FORMAT:
            raise ArtifactError(
                f"not a tessera artifact manifest (format={data.get('format')!r}, expected {FORMAT!r})"
            )
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(
                f"artifact format_version {version!r} is not supported by this tessera-onnx "
                f"(supports {FORMAT_VERSION}); upgrade tessera-onnx or re-export the artifact"
            )
        required = ("model_id", "paradigm", "architecture", "dim", "inputs", "outputs")
        missing = [k for k in required if k not in data]
        if missing:
            raise ArtifactError(f"manifest is missing required fields {missing}")
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("inputs", "outputs", "matryoshka_dims"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except TypeError as exc:  # wrong field types
            raise ArtifactError(f"manifest is malformed: {exc}") from exc

    def with_files(self, directory: str | os.PathLike[str], names: Iterable[str]) -> Manifest:
        """Return a copy whose ``files`` records sha256 and size of ``names`` in ``directory``."""
        from dataclasses import replace

        return replace(self, files=file_entries(directory, names))


def _check_member_name(name: Any, what: str) -> None:
    """Refuse a manifest file name that is not a plain relative path inside the artifact."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ArtifactError(f"manifest {what} {name!r} is not a file name; re-export the artifact")
    parts = name.replace("\\", "/").split("/")
    if (
        name.startswith(("/", "\\"))
        or os.path.isabs(name)
        or (name[:1].isalpha() and name[1:2] == ":")
        or ".." in parts
    ):
        raise ArtifactError(
            f"manifest {what} {name!r} points outside the artifact directory (absolute path or '..'); "
            "the manifest was crafted or corrupted: re-export or re-download the artifact"
        )


def member_path(directory: str | os.PathLike[str], name: str, what: str = "files entry") -> Path:
    """The path of artifact file ``name``, refusing any that resolves outside ``directory``.

    Absolute names, ``..`` components and symlinks leading out of the artifact raise
    :class:`ArtifactError` naming the entry.
    """
    _check_member_name(name, what)
    root = Path(directory).resolve()
    path = (root / name).resolve()
    if path != root and root not in path.parents:
        raise ArtifactError(
            f"manifest {what} {name!r} resolves to {path}, outside the artifact directory {root} "
            "(a symlink leads out); refusing to read it"
        )
    return path


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(directory: str | os.PathLike[str], names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Checksum entries ``{name: {"sha256", "size"}}`` for files of an artifact directory."""
    root = Path(directory)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(names)):
        path = root / name
        if not path.is_file():
            raise ArtifactError(f"cannot checksum {name!r}: no such file in {root}")
        out[name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return out


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Read and validate ``tessera.json`` of an artifact directory (checksums not checked)."""
    root = Path(directory)
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise ArtifactError(f"artifact directory {root} does not exist")
    if not path.is_file():
        raise ArtifactError(
            f"{root} has no {MANIFEST_NAME}: it is not a tessera artifact. "
            "Create one with `tessera-export build`."
        )
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        cached = _MANIFESTS.get(key)
        if cached is not None:  # Tessera() and the class it returns read the same file once
            return cached
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); re-export the artifact") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} must hold a JSON object")
    manifest = Manifest.from_dict(data)
    if len(_MANIFESTS) >= 64:
        _MANIFESTS.clear()
    _MANIFESTS[key] = manifest
    return manifest


def write_manifest(directory: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Write ``tessera.json`` (with a creation time if unset) and return its path."""
    from dataclasses import replace

    if not manifest.created:
        manifest = replace(manifest, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    path = Path(directory) / MANIFEST_NAME
    path.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _stat_key(path: Path) -> list[int]:
    """What changes whenever a file's bytes change: size, mtime, ctime (not settable), inode, device."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _verified_cache_path() -> Path:
    return cache_dir() / "verified-files.json"


def _load_verified() -> dict[str, Any]:
    try:
        data = json.loads(_verified_cache_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store_verified(entries: Mapping[str, Any]) -> None:
    """Merge ``entries`` into the cache file atomically; a cache that cannot be written is skipped."""
    path = _verified_cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {**_load_verified(), **entries}
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def verify_files(directory: str | os.PathLike[str], manifest: Manifest, *, cached: bool = False) -> None:
    """Check every file listed in the manifest exists with the recorded size and sha256.

    Raises :class:`ChecksumError` naming the first file that is missing, truncated or altered.
    With ``cached=True`` a file whose sha256 was already checked is not hashed again as long as
    its size, mtime, ctime, inode and device are unchanged (recorded in
    ``<artifact cache>/verified-files.json``); any write to the file changes its ctime, so an
    altered file is always re-hashed. This keeps the cold start of large models short.
    """
    root = Path(directory)
    if not manifest.files:
        raise ArtifactError(f"manifest of {root} lists no files; re-export the artifact")
    known = _load_verified() if cached else {}
    fresh: dict[str, Any] = {}
    for name, entry in manifest.files.items():
        path = member_path(root, name)
        if not path.is_file():
            raise ChecksumError(f"artifact file {name!r} is missing from {root}; re-export or re-download it")
        size = path.stat().st_size
        if "size" in entry and size != entry["size"]:
            raise ChecksumError(
                f"artifact file {name!r} in {root} has {size} bytes, the manifest records "
                f"{entry['size']}: it is truncated or altered; re-export or re-download it"
            )
        key = str(path)
        stat_key = _stat_key(path) if cached else []
        record = known.get(key)
        if (
            cached
            and isinstance(record, dict)
            and record.get("sha256") == entry.get("sha256")
            and record.get("stat") == stat_key
        ):
            continue
        if sha256_file(path) != entry.get("sha256"):
            raise ChecksumError(
                f"artifact file {name!r} in {root} does not match its sha256 in {MANIFEST_NAME}: "
                "it was altered or corrupted; re-export or re-download it"
            )
        if cached:
            fresh[key] = {"sha256": entry.get("sha256"), "stat": stat_key}
    if fresh:
        _store_verified(fresh)
