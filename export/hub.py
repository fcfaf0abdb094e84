"""Fetching a checkpoint from the Hugging Face Hub (``huggingface_hub.snapshot_download``).

Tests replace :func:`snapshot_download` on this module (or ``huggingface_hub.snapshot_download``)
with a local fake, or run the real one in offline mode against a pre-populated Hugging Face cache:
the suite never touches the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tessera_onnx.errors import ExportError, MissingDependencyError

from .progress import Progress, silent

__all__ = ["download_checkpoint", "snapshot_download", "ALLOW_PATTERNS", "CODE_PATTERNS"]

# Everything an export can need; skips other frameworks' weights (tf, flax, onnx, openvino, ...).
# No Python: a checkpoint's own code is fetched only with trust_remote_code (CODE_PATTERNS).
ALLOW_PATTERNS = [
    "*.json",
    "*.txt",
    "*.model",
    "*.safetensors",
    "pytorch_model.bin",
    "*/pytorch_model.bin",
    "artifact.metadata",
]
CODE_PATTERNS = ["*.py"]


def snapshot_download(**kwargs: Any) -> str:  # pragma: no cover - replaced in tests; thin indirection
    """Call ``huggingface_hub.snapshot_download`` (imported lazily)."""
    try:
        import huggingface_hub
    except ImportError as exc:
        raise MissingDependencyError(
            "downloading from the Hugging Face Hub needs huggingface_hub: pip install 'tessera-onnx[export]'"
        ) from exc
    return huggingface_hub.snapshot_download(**kwargs)


def download_checkpoint(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    progress: Progress = silent,
    trust_remote_code: bool = False,
) -> Path:
    """Download (or find in the HF cache) the files of ``repo_id`` needed to export it; return the dir.

    ``*.py`` files (custom modelling code) are fetched only when ``trust_remote_code`` is true.
    """
    progress(f"fetching {repo_id}" + (f"@{revision}" if revision else "") + " from the Hugging Face Hub")
    try:
        path = snapshot_download(
            repo_id=repo_id,
            revision=revision,
            cache_dir=str(cache_dir) if cache_dir else None,
            allow_patterns=ALLOW_PATTERNS + (CODE_PATTERNS if trust_remote_code else []),
            local_files_only=local_files_only,
        )
    except MissingDependencyError:
        raise
    except Exception as exc:  # network, auth, missing repo: one clear error
        raise ExportError(
            f"could not download {repo_id!r} from the Hugging Face Hub ({type(exc).__name__}: {exc}). "
            "Check the network/HF_TOKEN, or download the checkpoint yourself and pass --from-dir DIR."
        ) from exc
    root = Path(path)
    if not (root / "config.json").is_file() and not (root / "adapter_config.json").is_file():
        raise ExportError(
            f"the snapshot of {repo_id!r} in {root} has no config.json; is it a transformers model?"
        )
    return root
