#!/usr/bin/env bash
# Fresh machine -> installed .venv -> the main job on the embedded demo data:
# demo data -> train the CAM network, baseline and + CPAL -> multi-scale CAMs
# -> seed mIoU sweep -> CRF pseudo masks -> mask mIoU, printed as a table.
# Every step skips work that is already complete, so a rerun resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PY=.venv/bin/python
OUT=work_dirs/demo
$PY tools/make_demo_data.py data/demo
for run in cam_squeezenet_demo:cam cam_cpal_squeezenet_demo:cpal; do
    cfg=${run%%:*}
    folder=${run##*:}
    config=$(ls configs/*/"$cfg".py)
    if [ ! -f "$OUT/$folder/epoch_10.pth" ]; then
        $PY tools/train.py "$config" --work-dir "$OUT/$folder"
    fi
    $PY tools/gen_pseudo_masks.py "$config" "$OUT/$folder/epoch_10.pth" \
        --out-dir "$OUT/$folder/pseudo" --refine crf --bg-thr 0.15 \
        --no-progress
done
$PY tools/compare_runs.py "$OUT/cam/pseudo" "$OUT/cpal/pseudo" \
    --names "CAM baseline" "CAM + CPAL" --out "$OUT/summary.md"
