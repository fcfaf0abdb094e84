"""What machine a benchmark ran on: CPU model, its SIMD/int8 flags, core count, load average."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

# flags that decide which int8 / fp32 kernels onnxruntime's MLAS can use
SIMD_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
    "amx_bf16",
)
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_info() -> dict[str, Any]:
    """CPU model, core count, the SIMD flags that matter for GEMM kernels, and the int8 (VNNI/AMX) ones."""
    flags = set((_cpuinfo_field("flags") or "").split())
    return {
        "model": _cpuinfo_field("model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "simd_flags": [f for f in SIMD_FLAGS if f in flags],
        "int8_flags": [f for f in INT8_FLAGS if f in flags],
        "python": platform.python_version(),
    }


def has_vnni() -> bool:
    """True when the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX)."""
    return bool(cpu_info()["int8_flags"])


def load_average() -> list[float]:
    """``os.getloadavg()`` (1, 5, 15 min) or [] where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def run_header(name: str, command: str, threads: int, load_start: list[float]) -> dict[str, Any]:
    """The fields every result JSON starts with: what ran, when, where, how loaded the machine was."""
    return {
        "benchmark": name,
        "command": command,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": cpu_info(),
        "threads": threads,
        "load_average": {"start": load_start, "end": load_average()},
    }


def save_result(res: dict[str, Any], md: str, out: Path | str) -> None:
    """Write ``res`` to ``out`` (JSON) and ``md`` beside it (.md), unless ``out`` is ''; print ``md``."""
    if str(out):
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1, default=str) + "\n")
        path.with_suffix(".md").write_text(md)
    print(md)
