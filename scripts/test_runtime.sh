#!/usr/bin/env bash
# The runtime tests with the runtime alone: a venv holding `pip install -e ".[test-runtime]"` (no torch,
# transformers or optimum), the committed artifacts of tests/data/artifacts/, every room but
# tests/export/. A test skipped there for a missing export-stack package fails the run (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv-runtime
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test-runtime]"
if "$VENV/bin/python" -c "import torch" 2>/dev/null || "$VENV/bin/python" -c "import transformers" 2>/dev/null; then
    echo "$VENV holds torch or transformers; the runtime-only run needs a venv without them" >&2
    exit 1
fi
TESSERA_RUNTIME_ONLY=1 exec "$VENV/bin/python" -m pytest -q "$@"
