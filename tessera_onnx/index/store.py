"""The on-disk index format: one uncompressed zip file, written atomically, checked on load.

Layout (``format`` ``"tessera-index"``, ``format_version`` 1)::

    manifest.json         {"format", "format_version", "kind", "config", "count",
                           "files": {member: {"sha256", "size"}}, "created"}
    records.json          {"ids": [...], "metadata": [...]}  (JSON: ids are str or int)
    arrays/<name>.npy     numpy arrays in the .npy format (read with allow_pickle=False)

No pickle anywhere, so loading never executes code from the file. Every member but the
manifest is listed with its sha256 and size; :func:`read_index_file` recomputes them and raises
:class:`~tessera_onnx.errors.IndexStoreError` on any mismatch, a missing member, an unreadable
file or a newer ``format_version``.

Writes go to a temporary file in the same directory, are flushed to disk (``fsync``), then
renamed over the target with :func:`os.replace`, which is atomic on POSIX and Windows: a reader
opens either the old complete file or the new complete one, never a half-written file, and a
crash mid-write leaves the old file in place.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexStoreError

__all__ = ["FORMAT", "FORMAT_VERSION", "write_index_file", "read_index_file"]

FORMAT = "tessera-index"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_RECORDS = "records.json"


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_index_file(
    path: str | os.PathLike[str],
    kind: str,
    config: Mapping[str, Any],
    records: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
) -> Path:
    """Write an index file atomically (temporary file + fsync + rename) and return its path."""
    path = Path(path)
    members: dict[str, bytes] = {_RECORDS: json.dumps(records, allow_nan=False).encode("utf-8")}
    for name, array in arrays.items():
        if array.dtype == object:
            raise IndexStoreError(f"array {name!r} has dtype object, which the index format does not store")
        members[f"arrays/{name}.npy"] = _npy_bytes(array)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": dict(config),
        "count": len(records.get("ids", [])),
        "files": {k: {"sha256": hashlib.sha256(v).hexdigest(), "size": len(v)} for k, v in members.items()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(_MANIFEST, json.dumps(manifest, indent=1))
                for name, data in members.items():
                    zf.writestr(name, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable where the platform allows opening a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_index_file(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """``(manifest, records, arrays)`` of an index file, every member checked against its sha256."""
    path = Path(path)
    if not path.is_file():
        raise IndexStoreError(f"no index file at {path}")
    try:
        with zipfile.ZipFile(path) as zf:  # one open file: a concurrent replace cannot mix versions
            manifest = _json(zf.read(_MANIFEST), path, _MANIFEST)
            _check_manifest(manifest, path)
            blobs = {name: zf.read(name) for name in manifest["files"]}
    except IndexStoreError:
        raise
    except (OSError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise IndexStoreError(
            f"{path} is not a readable tessera index ({exc}); it is truncated or corrupted: "
            "restore it from a backup or rebuild the index"
        ) from exc
    for name, data in blobs.items():
        entry = manifest["files"][name]
        if len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise IndexStoreError(
                f"{path}: member {name!r} does not match the sha256/size in its manifest: the file is "
                "corrupted; restore it from a backup or rebuild the index"
            )
    records = _json(blobs.pop(_RECORDS), path, _RECORDS)
    arrays: dict[str, np.ndarray] = {}
    for name, data in blobs.items():
        if not (name.startswith("arrays/") and name.endswith(".npy")):
            continue
        try:
            arrays[name[len("arrays/") : -len(".npy")]] = np.lib.format.read_array(
                io.BytesIO(data), allow_pickle=False
            )
        except ValueError as exc:
            raise IndexStoreError(f"{path}: member {name!r} is not a plain .npy array ({exc})") from exc
    return manifest, records, arrays


def _json(data: bytes, path: Path, member: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexStoreError(f"{path}: {member} is not valid JSON ({exc}); the file is corrupted") from exc


def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise IndexStoreError(f"{path} is not a tessera index file (format {found!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise IndexStoreError(
            f"{path} has index format version {version!r}; this tessera-onnx reads up to "
            f"{FORMAT_VERSION}: upgrade tessera-onnx"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or _RECORDS not in files:
        raise IndexStoreError(f"{path}: the manifest lists no {_RECORDS}; the file is corrupted")
