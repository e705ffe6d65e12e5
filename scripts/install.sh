#!/usr/bin/env bash
# Create .venv/ at the repo root (if absent) and install mmcpal into it with
# the extras given as arguments (e.g. `scripts/install.sh demo tests crf`).
# Always adds the `onedl` extra (the maintained OpenMMLab forks) and installs
# the exact tested versions of requirements/constraints.txt (`pip -c`);
# setup.py itself declares ranges only (docs/install.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
extras=$(IFS=,; echo "onedl${*:+,$*}")
.venv/bin/python -m pip install -q -c requirements/constraints.txt \
    -e ".[$extras]"
