"""The serverless bundle: built by one call, under Lambda's unzipped limit with the MiniLM artifact
inside, and answering from a fresh process that sees only the bundle.

The bundle is built from this environment's installed packages (offline: the same files pip
would install for this platform). The size is reported (``-s`` shows it; the test records it as
a junit property); the cold start is measured too, but on a shared machine it is not a result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tessera_onnx import Tessera
from tessera_onnx.serving.bundle import LAMBDA_UNZIPPED_LIMIT, build_bundle, bundle_bytes

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from tessera_onnx.serving.lambda_handler import handler
out = handler({"input": ["How do plants make food?", "Stocks fell."], "encoding_format": "float"}, None)
t1 = time.perf_counter()
if "data" not in out:
    raise SystemExit("handler error: " + json.dumps(out))
heavy = sorted(m for m in ("torch", "transformers", "fastapi", "uvicorn", "huggingface_hub") if m in sys.modules)
print(json.dumps({"vectors": [d["embedding"] for d in out["data"]], "seconds": t1 - t0, "heavy": heavy,
                  "path": sys.path}))
"""


@pytest.fixture(scope="module")
def bundle(minilm_artifact, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    return build_bundle(minilm_artifact, out, from_environment=True)


@pytest.mark.export
def test_bundle_fits_lambda_with_minilm(bundle, record_property):
    assert bundle.total_bytes == bundle_bytes(bundle.path)
    assert bundle.model_bytes > 80_000_000  # the fp32 MiniLM artifact is inside
    record_property("bundle_bytes", bundle.total_bytes)
    print("\n" + bundle.summary())
    assert bundle.total_bytes < LAMBDA_UNZIPPED_LIMIT, bundle.summary()
    leftovers = [
        p
        for p in bundle.path.rglob("*")
        if p.name in ("__pycache__", "tests") or p.suffix in (".pyc", ".pyi")
    ]
    assert leftovers == []
    assert (
        not (bundle.path / "huggingface_hub").exists()
        and not (bundle.path / "onnxruntime" / "tools").exists()
    )


@pytest.mark.export
def test_bundle_answers_from_a_fresh_process(bundle, minilm_artifact):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(bundle.path),
        "LAMBDA_TASK_ROOT": str(bundle.path),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TESSERA_THREADS": "1",
    }
    base = getattr(sys, "_base_executable", None) or sys.executable
    start = time.perf_counter()
    out = subprocess.run(
        [base, "-S", "-c", _CHILD], capture_output=True, text=True, env=env, cwd=bundle.path, timeout=300
    )
    cold = time.perf_counter() - start
    assert out.returncode == 0, out.stderr[-3000:]
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert not any("site-packages" in p for p in row["path"])  # the bundle alone
    assert row["heavy"] == []
    ref = Tessera(minilm_artifact, threads=1).encode(["How do plants make food?", "Stocks fell."])
    assert np.abs(np.array(row["vectors"]) - ref).max() <= 1e-5
    print(f"\ncold start, spawn to first response: {cold:.2f} s (shared machine: not a benchmark)")
