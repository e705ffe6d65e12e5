#!/usr/bin/env bash
# Fresh machine -> installed .venv -> the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo tests crf
export OMP_NUM_THREADS=1
.venv/bin/python -m pytest tests -q -p no:randomly "$@"
