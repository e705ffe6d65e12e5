#!/usr/bin/env bash
# Fresh machine -> installed .venv -> the AMN route with CPAL on the demo data:
# CAM+CPAL -> round-1 IR labels -> AMN+CPAL -> round-2 IR labels -> IRN ->
# random-walk masks, with seed and mask mIoU of every stage printed as a
# table (also in work_dirs/demo_amn/summary.md). Finished stages are skipped,
# so a rerun resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PY=.venv/bin/python
OUT=${OUT:-work_dirs/demo_amn}
$PY tools/make_demo_data.py data/demo
$PY tools/run_chain.py "$OUT" \
    --cam-config configs/cpal/cam_cpal_squeezenet_demo.py \
    --amn-config configs/cpal/amn_cpal_squeezenet_demo.py \
    --irn-config configs/irn/irn_squeezenet_demo.py \
    --data-root data/demo --no-progress "$@"
