"""Writing an artifact directory atomically: stage, checksum every file, write ``tessera.json``, move.

Shared by the text and time-series exporters. A build works in a hidden staging directory next
to the target; only :meth:`ArtifactStage.commit` (called after parity passed) moves it into place,
so a failed build never leaves a half-written or unverified artifact behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tessera_onnx.artifact import MANIFEST_NAME, Manifest, file_entries, read_manifest, write_manifest
from tessera_onnx.errors import ExportError

__all__ = ["ArtifactStage", "finalize_artifact", "parity_record", "artifact_files"]


def artifact_files(directory: str | os.PathLike[str]) -> list[str]:
    """Every regular file under ``directory`` (POSIX relative paths) except the manifest itself."""
    root = Path(directory)
    names = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            names.append(path.relative_to(root).as_posix())
    return names


def finalize_artifact(
    directory: str | os.PathLike[str], manifest: Manifest, names: Iterable[str] | None = None
) -> Manifest:
    """Record sha256/size of ``names`` (default: every file) in ``manifest``, write it, return it."""
    names = artifact_files(directory) if names is None else list(names)
    final = replace(manifest, files=file_entries(directory, names))
    write_manifest(directory, final)
    return read_manifest(directory)


def parity_record(
    *,
    reference: str,
    metric_output: str,
    max_abs_diff: float,
    mean_abs_diff: float,
    min_cosine: float,
    mean_cosine: float,
    tolerance: Mapping[str, Any],
    cases: Sequence[Mapping[str, Any]],
    passed: bool,
    **extra: Any,
) -> dict[str, Any]:
    """The ``manifest.parity`` block: figures of onnxruntime vs the torch reference at export time."""
    return {
        "reference": reference,
        "output": metric_output,
        "max_abs_diff": float(max_abs_diff),
        "mean_abs_diff": float(mean_abs_diff),
        "min_cosine": float(min_cosine),
        "mean_cosine": float(mean_cosine),
        "tolerance": dict(tolerance),
        "passed": bool(passed),
        "cases": [dict(c) for c in cases],
        **extra,
    }


class ArtifactStage:
    """A staging directory for one build; use as a context manager.

    ``with ArtifactStage(out_dir, overwrite=...) as stage:`` write files under ``stage.path``,
    then ``stage.commit(manifest)``. Leaving the block without committing deletes the stage.
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir).resolve()
        if self.out_dir.exists():
            if not self.out_dir.is_dir():
                raise ExportError(f"--out {self.out_dir} exists and is not a directory")
            if any(self.out_dir.iterdir()) and not overwrite:
                raise ExportError(
                    f"{self.out_dir} already exists and is not empty; pass --overwrite to replace it "
                    "or choose another --out"
                )
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.tmp-", dir=self.out_dir.parent))
        self.committed = False

    def __enter__(self) -> ArtifactStage:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def commit(self, manifest: Manifest) -> Manifest:
        """Checksum every staged file, write the manifest and move the stage to ``out_dir``."""
        _make_readable(self.path)
        final = finalize_artifact(self.path, manifest)
        if self.out_dir.exists():
            old = self.out_dir.with_name(f".{self.out_dir.name}.old-{os.getpid()}")
            os.replace(self.out_dir, old)
            os.replace(self.path, self.out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.path, self.out_dir)
        self.committed = True
        return final


def _make_readable(root: Path) -> None:
    """Give the staged tree normal permissions (mkdtemp and some writers create 0700/0600)."""
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
