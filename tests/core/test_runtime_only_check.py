"""The runtime-only run's check (tests/support/runtime_only.py) fails on a skip for a missing torch.

Each case runs pytest in a subprocess on a generated test file with only that plugin loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def _run(tmp_path: Path, body: str, runtime_only: bool = True) -> subprocess.CompletedProcess:
    (tmp_path / "test_case.py").write_text(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])}
    env["TESSERA_RUNTIME_ONLY"] = "1" if runtime_only else "0"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "runtime_only", "-p", "no:cacheprovider"]
    cmd += ["--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


MISSING_TORCH = """
import sys
import pytest

sys.modules["torch"] = None  # torch cannot be imported, installed here or not


def test_runs():
    pass


def test_needs_torch():
    pytest.importorskip("torch")
"""


def test_a_skip_for_a_missing_torch_fails_the_runtime_only_run(tmp_path):
    done = _run(tmp_path, MISSING_TORCH)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "skipped for a missing export-stack package" in done.stdout
    assert "test_needs_torch" in done.stdout


def test_the_same_skip_passes_outside_the_runtime_only_run(tmp_path):
    done = _run(tmp_path, MISSING_TORCH, runtime_only=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_other_skips_and_export_tests_pass(tmp_path):
    body = """
import pytest


def test_runs():
    pass


def test_needs_a_gpu():
    pytest.skip("no CUDA execution provider")


@pytest.mark.export
def test_reference():
    raise AssertionError("deselected in the runtime-only run, never run")
"""
    done = _run(tmp_path, body)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped, 1 deselected" in done.stdout


def test_a_module_marked_export_is_not_imported(tmp_path):
    body = """
import pytest

pytestmark = pytest.mark.export
import torch_is_not_here  # would be a collection error if the module were imported


def test_reference():
    pass
"""
    done = _run(tmp_path, body)
    assert done.returncode == 5, done.stdout + done.stderr  # no tests collected
    assert "error" not in done.stdout.lower()
