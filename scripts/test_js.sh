#!/usr/bin/env bash
# The JavaScript package (js/): its Node tests against the Python runtime's outputs, the demo page
# in a real browser (Debian's chromium, driven by playwright-core), the cross-runtime parity check
# and the benchmark's smoke run. Needs .venv (scripts/test.sh builds it) for the fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v node >/dev/null && command -v npm >/dev/null || need_apt+=(nodejs npm)
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi
node -e 'if (+process.versions.node.split(".")[0] < 20) { console.error(`js/ needs Node >= 20, found ${process.version}`); process.exit(1) }'
# Artifacts (plain standard-op graphs) and the Python runtime's reference outputs for the JS tests.
.venv/bin/python scripts/js_fixtures.py --out js/fixtures
cd js
# --ignore-scripts: onnxruntime-node's install script downloads CUDA binaries (not needed: the CPU
# build ships in the package).
npm ci --ignore-scripts --no-audit --no-fund
npm test
npm run test:browser
npm run parity
cd .. && .venv/bin/python benchmarks/js_speed.py --smoke
