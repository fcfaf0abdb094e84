"""The memory-bandwidth floor of a single-text call, and the CPU fair-share bound at load.

Used by ``benchmarks/latency.py`` (its "floor" section):

- :func:`weight_bytes`: the bytes of the initializers an ONNX graph reads on every call. Embedding
  tables (the data input of a ``Gather``, the tables of onnxruntime's ``EmbedLayerNormalization``)
  are left out and listed apart: a call reads only the rows of its tokens / positions.
- :func:`last_level_cache`: the CPU's largest cache (level and bytes) from ``/sys``.
- :func:`read_bandwidth`: GB/s of a one-node onnxruntime ``ReduceSum`` over a float32 tensor at a
  given intra-op thread count (median of several runs), checked to keep those threads busy (process
  CPU seconds / wall seconds); where it does not, numpy chunks on a thread pool instead.
- :func:`fair_share_ratio`: the lowest load / idle time ratio Linux CFS allows a call of ``t``
  threads beside ``k`` busy-looping processes on ``c`` cores.

The fair-share bound. CFS gives every runnable thread of equal weight the same CPU share, so with
``k`` competitors that never sleep and a call running ``t`` threads on ``c`` cores, each of the
call's threads runs at most ``min(1, c / (k + t))`` of the time: the call gets at most
``t * min(1, c / (k + t))`` cores (``c t / (k + t)`` once ``k + t > c``), where idle it had
``min(t, c)``. If the call's speed with ``n`` cores is ``S(n)``, its time at load over its time
idle is at least ``S(min(t, c)) / S(t * min(1, c / (k + t)))``. A compute-bound call scales with
cores (``S(n) = n S(1)``), so the ratio is at least ``min(t, c) (k + t) / (c t)``, which is
``(k + t) / c`` for ``t <= c < k + t``: with ``k = 2`` and ``c = 2``, 1.5 at ``t = 1`` and 2.0 at
``t = 2``. A call bound by memory bandwidth that one thread already nearly saturates gains little
from its second core and so loses little when it is taken away: the bound is then the measured
bandwidth ratio ``BW(t) / BW(t c / (k + t))`` (``BW(2) / BW(1)`` for ``k = t = c = 2``).
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "fair_share_cores",
    "fair_share_ratio",
    "last_level_cache",
    "parse_cache_size",
    "read_bandwidth",
    "weight_bytes",
]


def fair_share_cores(k: int, c: int, t: int) -> float:
    """Cores a call running ``t`` threads gets at most beside ``k`` busy loops on ``c`` cores (CFS)."""
    if k < 0 or c < 1 or t < 1:
        raise ValueError(f"need k >= 0, c >= 1, t >= 1; got k={k}, c={c}, t={t}")
    return t * min(1.0, c / (k + t))


def fair_share_ratio(k: int, c: int, t: int, speed: dict[float, float] | None = None) -> float:
    """Lowest (time at load k) / (time idle) for a call of ``t`` threads on ``c`` cores under CFS.

    ``speed`` maps a core count to the call's speed with that many cores (any unit); left out, the
    call is compute-bound: speed proportional to cores. Speeds at core counts not in ``speed`` are
    interpolated linearly (``speed`` must hold at least one count; 0 cores has speed 0), and a count's
    speed is at least that of any smaller count (a call can leave a core unused).
    """
    idle_cores, load_cores = float(min(t, c)), fair_share_cores(k, c, t)
    if speed is None:
        return idle_cores / load_cores
    xs = [0.0] + sorted(float(n) for n in speed)
    ys = list(np.maximum.accumulate([0.0] + [float(speed[n]) for n in sorted(speed)]))
    at = lambda n: float(np.interp(n, xs, ys))  # noqa: E731
    return at(idle_cores) / at(load_cores)


def parse_cache_size(text: str) -> int:
    """Bytes of a ``/sys/devices/system/cpu/cpu*/cache/index*/size`` value such as ``"32768K"``."""
    text = text.strip().upper()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def last_level_cache(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[str, Any]:
    """The largest-level data/unified cache of CPU 0: ``{"level", "bytes"}`` (``None``s if unknown)."""
    best: dict[str, Any] = {"level": None, "bytes": None}
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = parse_cache_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind != "Instruction" and (best["level"] is None or level > best["level"]):
            best = {"level": level, "bytes": size}
    return best


def weight_bytes(model: Any) -> dict[str, Any]:
    """Bytes of the initializers a graph reads per call, embedding tables apart.

    ``model``: a path to an ``.onnx`` file (external data is not loaded: sizes come from the dims)
    or an ``onnx.ModelProto``. Returns ``{"bytes", "initializers", "excluded": {name: bytes}}``:
    ``excluded`` holds the tables only rows of which a call reads (``Gather`` data inputs,
    ``EmbedLayerNormalization``'s word / position / segment embeddings). Main graph only.
    """
    import onnx
    from onnx import helper

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    graph = proto.graph
    gathered: set[str] = set()
    for node in graph.node:
        if node.op_type == "Gather" and node.input:
            gathered.add(node.input[0])
        elif node.op_type == "EmbedLayerNormalization":
            gathered.update(node.input[2:5])
    total, count, excluded = 0, 0, {}
    for init in graph.initializer:
        size = (
            int(np.prod(init.dims, dtype=np.int64)) * helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        )
        if init.name in gathered:
            excluded[init.name] = size
        else:
            total += size
            count += 1
    return {"bytes": total, "initializers": count, "excluded": excluded}


def _reduce_session(threads: int) -> Any:
    """An onnxruntime session of one ``ReduceSum`` over axis 1 of a ``[rows, n]`` float32 tensor."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)
    graph = helper.make_graph(
        [node],
        "read",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", "n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows"])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # CPU time = work done
    so.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _timed(fn: Any, runs: int) -> tuple[float, float]:
    """(median wall seconds, total process CPU seconds / total wall seconds) of ``runs`` calls."""
    fn()
    walls, cpu0, wall0 = [], time.process_time(), time.perf_counter()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    busy = (time.process_time() - cpu0) / max(time.perf_counter() - wall0, 1e-9)
    return statistics.median(walls), busy


def read_bandwidth(nbytes: int, threads: int, runs: int = 7) -> dict[str, Any]:
    """Read bandwidth (GB/s, 1e9 bytes) of summing a float32 tensor of ``nbytes`` with ``threads``.

    onnxruntime ``ReduceSum`` first (rows = 64 per thread, each row summed by one thread); when its
    CPU-busy ratio (process CPU s / wall s) stays under 0.6 x ``threads`` it did not use them, and
    numpy chunks summed on a ``ThreadPoolExecutor`` of ``threads`` give the figure instead.
    Returns ``{"gb_s", "method", "busy_cores", "ort_gb_s", "ort_busy_cores", "bytes", "runs"}`` (and
    ``numpy_gb_s`` / ``numpy_busy_cores`` when the numpy chunks ran; they give ``gb_s`` when busier).
    """
    rows = 64 * threads
    n = max(1, nbytes // 4 // rows)
    x = np.full((rows, n), 1.0, dtype=np.float32)  # written once: every page is mapped
    size = x.nbytes
    sess = _reduce_session(threads)
    wall, busy = _timed(lambda: sess.run(None, {"x": x}), runs)
    out: dict[str, Any] = {
        "bytes": size,
        "runs": runs,
        "ort_gb_s": size / wall / 1e9,
        "ort_busy_cores": busy,
        "method": "onnxruntime ReduceSum",
        "gb_s": size / wall / 1e9,
        "busy_cores": busy,
    }
    if threads > 1 and busy < 0.6 * threads:
        chunks = np.array_split(x, threads)
        with ThreadPoolExecutor(threads) as pool:
            np_wall, np_busy = _timed(lambda: list(pool.map(np.sum, chunks)), runs)
        out["numpy_gb_s"], out["numpy_busy_cores"] = size / np_wall / 1e9, np_busy
        if np_busy > busy:
            out.update(
                method=f"numpy sum of {threads} chunks on a thread pool",
                gb_s=out["numpy_gb_s"],
                busy_cores=np_busy,
            )
        else:  # neither kept the threads busy: other processes hold the cores
            out["method"] += " (neither it nor numpy chunks kept the threads busy: a loaded machine?)"
    return out
