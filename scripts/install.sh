#!/usr/bin/env bash
# Create .venv/ at the repo root (if absent) and install mmcpal into it with
# the extras given as arguments (e.g. `scripts/install.sh demo tests crf`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
extras=$(IFS=,; echo "$*")
target="."
[ -n "$extras" ] && target=".[$extras]"
.venv/bin/python -m pip install -q -e "$target"
