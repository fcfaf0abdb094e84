"""``TesseraModel``: the one way every paradigm's class opens an artifact.

Opening an artifact is the same for every paradigm: resolve the name (a directory, a cached id,
or a registry id to download, see :mod:`tessera_onnx.locate`), read and validate the manifest,
check that it holds this class's paradigm (and the manifest ``config`` block the paradigm table
names), verify the sha256 of the files the class reads, and create the onnxruntime sessions with
the caller's device/threads/providers. Each paradigm class (``text``, ``vision``, ``pages``,
``timeseries``, ``hyperbolic``, ...) subclasses :class:`TesseraModel` and adds only what is its
own: its config block, preprocessing and outputs.

Every model has ``model_id``, ``dimension``, ``path``, ``manifest``, ``provider``, ``device``,
``info()`` and a ``repr``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from .arguments import CheckedArguments, init_keywords
from .artifact import Manifest, member_path, read_manifest, verify_files
from .errors import ArtifactError, InvalidInputError, TesseraError, UnknownOptionError
from .locate import resolve_artifact

__all__ = ["TesseraModel", "open_artifact", "accepted_options", "check_positive_int", "jsonable"]

_T = TypeVar("_T")


class TesseraModel(CheckedArguments):
    """Base class of every paradigm's model class.

    Keyword options shared by all paradigms (each class documents its own on top):

    - ``device``: ``"auto"`` (CUDA > CoreML > CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
      ``"coreml"``; ``providers`` overrides it with an onnxruntime providers list;
      ``fallback=False`` raises instead of warning when the device is unavailable.
    - ``threads``: onnxruntime intra-op threads (default: all cores); ``spin``: ``False``
      (default) intra-op threads sleep between operators, ``"call"`` they busy-wait only while a
      call runs, ``True`` always (see :func:`tessera_onnx.session.create_session`).
    - ``verify``: check the artifact files against the sha256 in the manifest on load. ``True``
      (default) hashes a file once and then trusts it while its size/mtime/ctime/inode are
      unchanged (:func:`tessera_onnx.artifact.verify_files`); ``"always"`` re-hashes on every
      load; ``False`` skips the check.
    - ``cache`` / ``download``: where ids are looked up, and whether a missing one may be
      downloaded (:func:`tessera_onnx.locate.resolve_artifact`).
    - ``backend``: ``"onnxruntime"`` (default) or ``"openvino"`` (extra ``[openvino]``; CPU, the
      portable graphs), see :func:`tessera_onnx.backends.open_graph` and ``docs/backends.md``.

    Every public method (and the constructor) follows the error contract of
    :mod:`tessera_onnx.arguments`: misuse raises a :class:`~tessera_onnx.errors.TesseraError`
    that names the public method and the keywords it accepts.
    """

    paradigm: ClassVar[str] = ""

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        device: str | None = "auto",
        providers: list[Any] | None = None,
        threads: int | None = None,
        spin: bool | str = False,
        fallback: bool = True,
        verify: bool | str = True,
        cache: str | os.PathLike[str] | None = None,
        download: bool | None = None,
        backend: str = "onnxruntime",
        **unknown: Any,
    ) -> None:
        if unknown:
            raise UnknownOptionError(
                f"{type(self).__name__}() got unknown option(s) {sorted(unknown)}; "
                f"it accepts {accepted_options(type(self))}"
            )
        if verify not in (True, False, "always"):
            raise InvalidInputError(f"verify must be True, False or 'always', got {verify!r}")
        if threads is not None:
            check_positive_int(threads, "threads")
        self.path, self.manifest = open_artifact(model, self.paradigm, cache=cache, download=download)
        self._verify: bool | str = verify
        self._session_options: dict[str, Any] = {
            "device": device,
            "threads": threads,
            "providers": providers,
            "fallback": fallback,
            "spin": spin,
            "backend": backend,
        }
        self.provider: str | None = None
        self.device: str | None = None

    # ------------------------------------------------------------------ opening files

    def _file(self, name: str, what: str = "file") -> Path:
        """The path of artifact member ``name``, refusing names that lead outside the artifact."""
        return member_path(self.path, name, what)

    def _verified(self, files: Sequence[str], build: Callable[[], _T]) -> _T:
        """Run ``build()`` (session creation) while ``files`` are checksummed in a thread.

        A checksum failure is raised in preference to the error ``build`` hit, since a corrupted
        file explains a broken graph best. With ``verify=False`` nothing is hashed.
        """
        if not self._verify:
            return build()
        checker = _Verifier(self.path, self.manifest, tuple(files), cached=self._verify != "always")
        try:
            result = build()
        except TesseraError:
            checker.result()
            raise
        checker.result()
        return result

    def _create_session(self, name: str, **overrides: Any) -> Any:
        """A session for canonical graph ``name`` with this model's session options and backend.

        ``overrides`` replace options for this one session (``threads=1``, ``prepack=False``).
        The first session created sets ``provider`` and ``device``. The graph loaded may be an
        onnxruntime variant of ``name`` (:func:`tessera_onnx.backends.open_graph`).
        """
        from .backends import open_graph
        from .session import short_provider_name

        options = {**self._session_options, **overrides}
        session, provider = open_graph(self.path, self.manifest, graph=name, **options)
        if self.provider is None:
            self.provider = provider
            self.device = short_provider_name(provider)
        return session

    # ------------------------------------------------------------------ public surface

    @property
    def model_id(self) -> str:
        """The model id recorded in the artifact's manifest."""
        return self.manifest.model_id

    @property
    def dimension(self) -> int:
        """Width of the vectors this model returns."""
        return self.manifest.dim

    def _info_extra(self) -> dict[str, Any]:
        """Paradigm-specific entries of :meth:`info` (override in subclasses)."""
        return {}

    def info(self) -> dict[str, Any]:
        """A JSON-serialisable description: model, paradigm, dims, device, parity, versions, ..."""
        m = self.manifest
        base = {
            "model_id": m.model_id,
            "paradigm": m.paradigm,
            "architecture": m.architecture,
            "path": str(self.path),
            "dim": m.dim,
            "dimension": self.dimension,
            "matryoshka_dims": list(m.matryoshka_dims),
            "precision": m.precision,
            "opset": m.opset,
            "provider": self.provider,
            "device": self.device,
            "config": jsonable(m.config),
            "parity": jsonable(m.parity),
            "versions": dict(m.versions),
            "source": jsonable(m.source),
            "created": m.created,
        }
        return {**base, **self._info_extra()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, dimension={self.dimension}, device={self.device!r})"


class _Verifier:
    """Checksums the artifact in a thread while the session is built (hashlib frees the GIL)."""

    def __init__(
        self, root: Path, manifest: Manifest, required: tuple[str, ...], cached: bool = True
    ) -> None:
        self._cached = cached
        missing = [name for name in required if name not in manifest.files]
        if missing:
            raise ArtifactError(
                f"manifest of {root} records no checksum for {missing}; re-export the artifact "
                "(or pass verify=False to skip verification)"
            )
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(root, manifest), daemon=True)
        self._thread.start()

    def _work(self, root: Path, manifest: Manifest) -> None:
        try:
            verify_files(root, manifest, cached=self._cached)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def result(self) -> None:
        """Wait for the check; raise what it found."""
        self._thread.join()
        if self._error is not None:
            raise self._error


def open_artifact(
    model: str | os.PathLike[str],
    paradigm: str,
    *,
    config_key: str | None = None,
    cache: str | os.PathLike[str] | None = None,
    download: bool | None = None,
) -> tuple[Path, Manifest]:
    """Resolve ``model`` to an artifact directory and read its manifest, refusing other paradigms.

    The manifest's ``config`` must hold the block the paradigm table names for ``paradigm``
    (or ``config_key`` when given). Raises :class:`ArtifactError` naming what the artifact
    holds, and pointing at ``tessera_onnx.Tessera``, which picks the right class.
    """
    from .paradigms import get_paradigm

    root = Path(resolve_artifact(model, cache=cache, download=download))
    manifest = read_manifest(root)
    key = config_key if config_key is not None else (get_paradigm(paradigm).config_key if paradigm else None)
    if manifest.paradigm != paradigm:
        raise ArtifactError(
            f"{root} holds a {manifest.paradigm!r} model, not {paradigm!r}: "
            "load it with tessera_onnx.Tessera(...), which picks the right class"
        )
    if key is not None and key not in manifest.config:
        raise ArtifactError(
            f"the manifest of {root} has no config[{key!r}] block, which a {paradigm!r} artifact needs; "
            "re-export it with a current tessera-export"
        )
    return root, manifest


def accepted_options(cls: type) -> list[str]:
    """The keyword options ``cls(model, ...)`` takes: its own and those of every base up to TesseraModel."""
    return sorted(name for name in init_keywords(cls) if name != "model")


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int when it is a positive integer (not a bool); else :class:`InvalidInputError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def jsonable(value: Any) -> Any:
    """``value`` with mappings as dicts and tuples as lists, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
