"""Process-wide single-threaded BLAS for the small matrix products of scoring (``threadpoolctl``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["single_threaded_blas"]

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limit: contextlib.AbstractContextManager[object] | None = None
_blas_controller: list[object] = []  # threadpoolctl's view of the loaded BLAS, built once


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold the process's BLAS at one thread while the block runs (for small GEMMs).

    Threading one small GEMM across cores costs more in synchronisation than it saves: on a
    loaded 2-core EPYC a (20 x 128) @ (128 x 1,000) product took 24 ms with OpenBLAS's threads and
    0.25 ms on one. MaxSim parallelises over blocks instead. The setting
    is process-wide (it is BLAS's own): taken by the first concurrent caller and restored by the
    last. Without ``threadpoolctl`` the BLAS keeps its threads (correct, slower).
    """
    global _blas_users, _blas_limit
    with _blas_lock:
        if _blas_users == 0:
            _blas_limit = None
            if not _blas_controller:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:  # optional: only speed depends on it
                    _blas_controller.append(None)
                else:
                    _blas_controller.append(ThreadpoolController())
            if _blas_controller[0] is not None:
                _blas_limit = _blas_controller[0].limit(limits=1, user_api="blas")  # type: ignore[attr-defined]
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limit is not None:
                _blas_limit.__exit__(None, None, None)
                _blas_limit = None
