#!/usr/bin/env bash
# Fresh machine -> installed .venv -> the main job on the embedded demo data:
# generate the synthetic data set, train the CAM network with CPAL on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PY=.venv/bin/python
$PY tools/make_demo_data.py data/demo
$PY tools/train.py configs/cpal/cam_cpal_squeezenet_demo.py \
    --work-dir work_dirs/demo/cam_cpal
