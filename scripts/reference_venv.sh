#!/usr/bin/env bash
# Build a reference venv under benchmarks/.venvs/<name> for parity tests that need a stack which
# cannot share the export venv (colpali-engine's current release needs transformers 5).
#   scripts/reference_venv.sh colpali    -> benchmarks/.venvs/colpali   (colpali-engine 0.3.18, transformers 5)
#   scripts/reference_venv.sh openclip   -> benchmarks/.venvs/openclip  (open_clip 3.3.0 + torchvision)
#   scripts/reference_venv.sh st6        -> benchmarks/.venvs/st6       (sentence-transformers 6.2, transformers 5)
# torch is installed first and pinned so pip never swaps it for another build.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: scripts/reference_venv.sh colpali|openclip|st6}
PY=${PYTHON:-python3}
DIR=benchmarks/.venvs/$NAME
[ -x "$DIR/bin/python" ] || "$PY" -m venv "$DIR"
PIP=("$DIR/bin/python" -m pip install -q)
"$DIR/bin/python" -m pip install -q --upgrade pip
case "$NAME" in
  colpali)
    # transformers 5's image processors import torchvision, and PyPI's torchvision imports only beside
    # the torch it was built with: torch 2.14.1 + torchvision 0.29.1 (colpali-engine 0.3.18 caps torch
    # below 2.14 in its metadata only; it runs on 2.14.1), so colpali-engine goes in without its deps.
    "${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
    "${PIP[@]}" --no-deps "colpali-engine==0.3.18"
    "${PIP[@]}" "transformers>=5,<6" "peft" "scipy" "requests" "pillow" "numpy"
    ;;
  openclip)
    "${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
    "${PIP[@]}" "open_clip_torch==3.3.0" "numpy" "pillow"
    ;;
  st6)
    # sentence-transformers 6.x requires transformers 5 (the export venv pins transformers <4.58);
    # text cross-encoders need no torchvision, so the local CPU torch 2.13.0 wheel serves.
    "${PIP[@]}" "torch==2.13.0"
    "${PIP[@]}" "sentence-transformers==6.2.0" "transformers>=5,<6" "numpy"
    ;;
  *) echo "unknown reference venv '$NAME' (known: colpali, openclip, st6)" >&2; exit 2 ;;
esac
"$DIR/bin/python" -m pip freeze > "$DIR/freeze.txt"
echo "built $DIR"
