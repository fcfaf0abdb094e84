"""onnxruntime sessions: execution-provider choice, threads and memory settings.

Generic over paradigms: every embedder (text, time series, ...) builds its session with
:func:`create_session`. onnxruntime is imported here lazily, when a session is created, so
``import tessera_onnx`` stays fast.

Devices: ``"auto"`` (CUDA > CoreML > CPU among the providers the installed onnxruntime offers),
``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"coreml"``. A requested provider that is missing, or
that onnxruntime silently drops when the session starts (e.g. CUDA libraries not found), gives
a :class:`~tessera_onnx.errors.ProviderWarning` saying what to install, then the session runs
on CPU — or a :class:`~tessera_onnx.errors.ProviderUnavailableError` with ``fallback=False``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._warnings import warn
from .arguments import public
from .errors import ArtifactError, InvalidInputError, ProviderUnavailableError, ProviderWarning

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime

__all__ = [
    "DEVICES",
    "PROVIDER_NAMES",
    "available_providers",
    "resolve_device",
    "create_session",
    "short_provider_name",
]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "coreml")
PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
_SHORT = {v: k for k, v in PROVIDER_NAMES.items()}
_DEVICE_RE = re.compile(r"^(auto|cpu|coreml|cuda)(?::(\d+))?$")

_INSTALL_HINT = {
    "cuda": (
        "install the GPU build of onnxruntime: `pip uninstall -y onnxruntime && pip install "
        "onnxruntime-gpu` (never keep both installed: they share one directory and the last "
        "one installed wins)"
    ),
    "coreml": "the CoreML provider ships with the macOS builds of onnxruntime (`pip install onnxruntime` on a Mac)",
}
_DROPPED_HINT = {
    "cuda": (
        "onnxruntime-gpu is installed but could not start CUDA: make sure the CUDA 12 and cuDNN 9 "
        "libraries are loadable (e.g. `pip install 'onnxruntime-gpu[cuda,cudnn]'`) and a GPU is visible"
    ),
    "coreml": "CoreML could not start on this machine (it needs macOS on Apple hardware)",
}


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def available_providers() -> list[str]:
    """The execution providers the installed onnxruntime offers (imports onnxruntime)."""
    return list(_ort().get_available_providers())


@public
def resolve_device(device: str | None, available: Sequence[str]) -> tuple[str, list[Any]]:
    """Map a device string to ``(kind, providers list for InferenceSession)``.

    ``kind`` is ``"cpu"``, ``"cuda"`` or ``"coreml"``. Raises
    :class:`ProviderUnavailableError` for a malformed device string. Availability is not
    checked here (see :func:`create_session`).
    """
    text = (device or "auto").strip().lower()
    match = _DEVICE_RE.match(text)
    if not match or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ProviderUnavailableError(
            f"unknown device {device!r}; choose one of {', '.join(DEVICES)} (N = GPU index)"
        )
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        kind = next(
            (k for k in ("cuda", "coreml") if PROVIDER_NAMES[k] in available),
            "cpu",
        )
    if kind == "cpu":
        return "cpu", ["CPUExecutionProvider"]
    name = PROVIDER_NAMES[kind]
    provider: Any = (name, {"device_id": int(index)}) if index is not None else name
    return kind, [provider, "CPUExecutionProvider"]


SPIN_MODES = (True, False, "call")


def _session_options(
    threads: int | None, arena: bool, prepack: bool = True, spin: bool | str = False
) -> Any:
    ort = _ort()
    options = ort.SessionOptions()
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise InvalidInputError(
                f"threads must be a non-negative integer (0 = onnxruntime default), got {threads!r}"
            )
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The CPU arena keeps the high-water mark of every batch shape for the life of the
    # session (hundreds of MB); without it, RSS follows the current batch.
    options.enable_cpu_mem_arena = arena
    if not prepack:
        # MLAS otherwise copies every MatMul weight into a packed buffer when the session starts:
        # a second in-memory copy of the weights, and most of the session-creation time.
        options.add_session_config_entry("session.disable_prepacking", "1")
    if not (isinstance(spin, bool) or spin == "call"):
        raise InvalidInputError(f"spin must be True, False or 'call', got {spin!r}")
    if spin is False:
        # Idle intra-op threads sleep instead of busy-waiting for the next operator. On a machine
        # whose cores are shared (other processes, other workers) spinning threads take the time
        # slices the computing thread needs: one text ran 2x slower with spinning on a loaded
        # 2-core EPYC (benchmarks/results/latency.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    elif spin == "call":
        # Spin between the operators of a run (no wake-up latency inside a call: a single short
        # text is a chain of small operators), stop spinning when the run returns, so idle
        # threads never take time slices between calls (benchmarks/latency.py measures the
        # three modes idle and at load 2).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3
    return options


def _problem(kind: str, message: str, fallback: bool) -> None:
    if not fallback:
        raise ProviderUnavailableError(message)
    warn(message + "; running on CPU instead", ProviderWarning)


@public
def create_session(
    model_path: str | os.PathLike[str],
    device: str | None = "auto",
    threads: int | None = None,
    *,
    providers: Sequence[Any] | None = None,
    fallback: bool = True,
    arena: bool = False,
    prepack: bool = True,
    spin: bool | str = False,
    session_options: Any = None,
) -> tuple[onnxruntime.InferenceSession, str]:
    """Create an ``InferenceSession`` for ``model_path``; return it and the provider it runs on.

    ``device``: see :data:`DEVICES`. ``threads``: ``intra_op_num_threads`` (None = all cores).
    ``providers``: an explicit onnxruntime providers list, overriding ``device``.
    ``fallback``: when a requested provider is unavailable, warn and use CPU (True) or raise
    :class:`ProviderUnavailableError` (False). ``arena``: keep onnxruntime's CPU memory arena
    (faster allocation, much higher peak RSS). ``prepack``: let onnxruntime pre-pack weights
    when the session starts (False: no packed copy of the weights, which stay memory-mapped from
    the external data file; a faster start and lower RSS for large GEMMs, where packing per
    call costs little). ``spin``: ``False`` (default) intra-op threads sleep between operators; ``"call"``
    lets them busy-wait for the next operator while a run is in progress and stops them spinning
    when it returns; ``True``:
    let idle intra-op threads busy-wait for the next operator
    (onnxruntime's default; a little faster on cores nobody else uses, much slower on shared or
    loaded ones; default False). ``session_options``: a ready ``SessionOptions`` (then
    ``threads``/``arena``/``prepack``/``spin`` are ignored).

    The returned provider name is the onnxruntime name actually in use, e.g.
    ``"CPUExecutionProvider"``.
    """
    ort = _ort()
    available = list(ort.get_available_providers())
    if providers is not None:
        requested = list(providers)
        kind = None
    else:
        kind, requested = resolve_device(device, available)
        if kind != "cpu" and PROVIDER_NAMES[kind] not in available:
            # Only an explicit request can get here (auto picks among available ones).
            _problem(
                kind,
                f"device {device!r} needs {PROVIDER_NAMES[kind]}, which this onnxruntime "
                f"does not offer (it has {', '.join(available)}): {_INSTALL_HINT[kind]}",
                fallback,
            )
            kind, requested = "cpu", ["CPUExecutionProvider"]
    options = (
        session_options if session_options is not None else _session_options(threads, arena, prepack, spin)
    )
    try:
        session = ort.InferenceSession(os.fspath(model_path), sess_options=options, providers=requested)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        message = str(exc)
        if providers is None and kind not in (None, "cpu") and "provider" in message.lower():
            _problem(
                kind, f"{PROVIDER_NAMES[kind]} failed to start ({message}): {_DROPPED_HINT[kind]}", fallback
            )
            session = ort.InferenceSession(
                os.fspath(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            return session, session.get_providers()[0]
        raise ArtifactError(f"onnxruntime cannot load {model_path}: {message}") from exc
    active = session.get_providers()
    if kind not in (None, "cpu") and PROVIDER_NAMES[kind] not in active:
        _problem(
            kind,
            f"onnxruntime dropped {PROVIDER_NAMES[kind]} when creating the session "
            f"(active: {', '.join(active)}): {_DROPPED_HINT[kind]}",
            fallback,
        )
    return session, active[0]


def short_provider_name(name: str) -> str:
    """``"CUDAExecutionProvider"`` → ``"cuda"`` (unknown names are returned unchanged)."""
    return _SHORT.get(name, name)
