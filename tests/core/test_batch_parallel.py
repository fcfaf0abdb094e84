"""``tessera_onnx.batch_parallel``: batch slices run concurrently on one onnxruntime session."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tessera_onnx.batch_parallel import BatchParallelRunner, available_cores, split_rows


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 8, 64, 65])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
@pytest.mark.parametrize("min_rows", [1, 4])
def test_split_rows_covers_in_order(n, parts, min_rows):
    bounds = split_rows(n, parts, min_rows)
    if n == 0:
        assert bounds == []
        return
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    sizes = [hi - lo for lo, hi in bounds]
    assert len(bounds) <= parts and max(sizes) - min(sizes) <= 1
    assert len(bounds) == 1 or min(sizes) >= min_rows


def test_available_cores_is_positive():
    assert available_cores() >= 1


def _session(threads: int = 1):
    """A real onnxruntime session of ``y = x * 2 + 1``, ``rows = x`` (two outputs, batch axis 0).

    The graph is committed (``tests/data/artifacts/affine.onnx``, written by
    ``tests/data/make_artifacts.py``), so this needs onnxruntime only.
    """
    import onnxruntime as ort
    from committed_artifacts import ARTIFACTS_DIR

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(
        str(ARTIFACTS_DIR / "affine.onnx"), options, providers=["CPUExecutionProvider"]
    )


@pytest.mark.parametrize("n", [1, 3, 8, 9, 50])
def test_runner_matches_one_call(n):
    session = _session()
    runner = BatchParallelRunner(session, workers=3, min_rows=2)
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y, rows = runner.run(["y", "rows"], {"x": x})
    np.testing.assert_array_equal(y, x * 2 + 1)
    np.testing.assert_array_equal(rows, x)  # slices come back in order
    (only,) = runner.run(["rows"], {"x": x})
    np.testing.assert_array_equal(only, x)
    runner.close()


def test_runner_uses_worker_threads_and_is_thread_safe():
    session = _session()
    seen: set[str] = set()

    class Recording:  # the real session, noting which thread runs each slice
        def run(self, names, feeds):
            seen.add(threading.current_thread().name)
            return session.run(names, feeds)

    runner = BatchParallelRunner(Recording(), workers=2, min_rows=1)
    x = np.ones((6, 3), np.float32)
    results: list[np.ndarray] = []

    def call(k: int) -> None:
        results.append(runner.run(["y"], {"x": x * k})[0])

    callers = [threading.Thread(target=call, args=(k,)) for k in range(1, 5)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert sorted(float(r[0, 0]) for r in results) == [3.0, 5.0, 7.0, 9.0]
    assert any(name.startswith("tessera-batch") for name in seen)
    runner.close()


def test_runner_rejects_no_workers():
    with pytest.raises(ValueError, match="workers"):
        BatchParallelRunner(_session(), workers=0)


_FORKED: dict[str, BatchParallelRunner] = {}


def test_runner_recreates_its_workers_in_a_forked_child():
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    runner = BatchParallelRunner(_session(), workers=2, min_rows=1)
    x = np.ones((4, 3), np.float32)
    runner.run(["y"], {"x": x})  # the parent's worker threads exist now; a fork copies none of them
    _FORKED["runner"] = runner
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            y = pool.apply_async(_run_in_child, (x,)).get(timeout=60)
    finally:
        _FORKED.clear()
    np.testing.assert_array_equal(y, x * 2 + 1)
    runner.close()


def _run_in_child(x: np.ndarray) -> np.ndarray:
    return _FORKED["runner"].run(["y"], {"x": x})[0]
