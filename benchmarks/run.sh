#!/usr/bin/env bash
# tessera-onnx vs sentence-transformers vs fastembed on all-MiniLM-L6-v2: one command, one table.
# Sets up the peers on first use (benchmarks/.venvs/, benchmarks/.cache/: git-ignored), then runs
# every contender side by side; writes benchmarks/results/peers.{json,md} and prints the table.
# Extra arguments go to the driver, e.g.: bash benchmarks/run.sh --n 500 --rounds 2 --readme
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run 'bash scripts/test.sh' (or scripts/quickstart.sh) first" >&2; exit 1; }
exec "$PY" -m benchmarks.peers "$@"
