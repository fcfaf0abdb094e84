#!/usr/bin/env bash
# Build a reference venv under benchmarks/.venvs/<name> for parity tests that need a stack which
# cannot share the export venv (colpali-engine's current release needs transformers 5).
#   scripts/reference_venv.sh colpali    -> benchmarks/.venvs/colpali   (colpali-engine 0.3.18, CPU torch)
#   scripts/reference_venv.sh openclip   -> benchmarks/.venvs/openclip  (open_clip + torchvision)
# torch is installed first and pinned so pip takes the CPU wheel and never a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: scripts/reference_venv.sh colpali|openclip}
PY=${PYTHON:-python3}
DIR=benchmarks/.venvs/$NAME
[ -x "$DIR/bin/python" ] || "$PY" -m venv "$DIR"
PIP=("$DIR/bin/python" -m pip install -q)
"$DIR/bin/python" -m pip install -q --upgrade pip
case "$NAME" in
  colpali)
    "${PIP[@]}" "torch==2.13.0"
    "${PIP[@]}" "colpali-engine==0.3.18" "peft" "pillow" "numpy"
    ;;
  openclip)
    "${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
    "${PIP[@]}" "open_clip_torch" "numpy" "pillow"
    ;;
  *) echo "unknown reference venv '$NAME' (known: colpali, openclip)" >&2; exit 2 ;;
esac
"$DIR/bin/python" -m pip freeze > "$DIR/freeze.txt"
echo "built $DIR"
