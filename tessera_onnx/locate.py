"""Find an artifact: a directory path, or a registry id in the local cache (optionally downloaded).

Resolution order for ``model``:

1. an existing directory (``str`` or ``os.PathLike``) is used as is;
2. otherwise it is a model id — a registry id (``all-minilm-l6-v2``, or its HF repo name) or the
   name of an artifact already in the cache — looked up as ``<cache>/<id>``, where ``<cache>``
   is ``$TESSERA_HOME`` or ``~/.cache/tessera``;
3. not cached and ``huggingface_hub`` installed: the pre-exported artifact is downloaded from
   the Hub repo ``<$TESSERA_HUB_ORG or "tessera-onnx">/<id>`` into the cache (skipped when
   ``download=False``, ``TESSERA_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``).

Nothing from the artifact is executed: the download only fetches files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .artifact import MANIFEST_NAME
from .cache import cache_dir
from .errors import ArtifactError, ModelNotFoundError

__all__ = ["cache_dir", "hub_repo_id", "resolve_artifact", "cached_artifacts"]

DEFAULT_HUB_ORG = "tessera-onnx"


def hub_repo_id(model_id: str) -> str:
    """The Hub repository holding the pre-exported artifact of ``model_id``."""
    return f"{os.environ.get('TESSERA_HUB_ORG', DEFAULT_HUB_ORG)}/{model_id}"


def cached_artifacts(directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the artifact directories in the cache."""
    root = cache_dir(directory)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST_NAME).is_file())


def _offline() -> bool:
    return any(
        os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("TESSERA_OFFLINE", "HF_HUB_OFFLINE")
    )


def _download(model_id: str, target: Path) -> Path:
    import huggingface_hub

    repo = hub_repo_id(model_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_id}-", dir=target.parent))
    try:
        huggingface_hub.snapshot_download(repo_id=repo, local_dir=str(staging))
        if not (staging / MANIFEST_NAME).is_file():
            raise ArtifactError(f"Hub repo {repo} holds no {MANIFEST_NAME}: it is not a tessera artifact")
        shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping
        if target.exists():  # another process won the race
            return target
        staging.rename(target)
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def resolve_artifact(
    model: str | os.PathLike[str],
    *,
    cache: str | os.PathLike[str] | None = None,
    download: bool | None = None,
) -> Path:
    """Return the artifact directory for ``model`` (a path or an id); see the module docs.

    Raises :class:`ModelNotFoundError` (with close registry ids) when nothing matches, and
    :class:`ArtifactError` when a download fails.
    """
    if isinstance(model, os.PathLike):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ArtifactError(f"artifact directory {path} does not exist")
        return path
    if not isinstance(model, str) or not model.strip():
        raise ModelNotFoundError(f"model must be an artifact path or a model id, got {model!r}")
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    root = cache_dir(cache)
    name = model.strip()
    if (root / name / MANIFEST_NAME).is_file():  # a cached artifact, registry id or not
        return root / name
    from .registry import get_model

    try:
        spec = get_model(name)
    except ModelNotFoundError as exc:
        looks_like_path = name.startswith((".", "~", os.sep)) or name.endswith(os.sep)
        where = f"no directory {path} and " if looks_like_path or os.sep in name else ""
        cached = cached_artifacts(root)
        extra = f" Cached artifacts in {root}: {', '.join(cached)}." if cached else ""
        raise ModelNotFoundError(f"{where}{exc}{extra}") from None
    target = root / spec.id
    if (target / MANIFEST_NAME).is_file():
        return target
    if download is None:
        download = not _offline()
    export_hint = (
        f"Export it with tessera-export (it needs the [export] extra) into {target}, "
        f"or pass the path of an exported artifact."
    )
    if download:
        try:
            import huggingface_hub  # noqa: F401
        except ImportError:
            raise ModelNotFoundError(
                f"model {spec.id!r} is not in the artifact cache {root}. {export_hint} "
                "(`pip install huggingface_hub` enables downloading pre-exported artifacts.)"
            ) from None
        try:
            return _download(spec.id, target)
        except ArtifactError:
            raise
        except Exception as exc:  # network, 404, auth: the hub raises many types
            raise ModelNotFoundError(
                f"model {spec.id!r} is not in the artifact cache {root} and downloading "
                f"{hub_repo_id(spec.id)} failed ({type(exc).__name__}: {exc}). {export_hint}"
            ) from exc
    raise ModelNotFoundError(f"model {spec.id!r} is not in the artifact cache {root}. {export_hint}")
