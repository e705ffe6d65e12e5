#!/usr/bin/env bash
# Fresh machine -> installed .venv -> the main job on the embedded demo data:
# demo data -> train the CAM network, baseline and + CPAL -> multi-scale CAMs
# -> seed mIoU sweep -> CRF pseudo masks -> mask mIoU, printed as a table ->
# DeepLab-v2 trained on the CPAL pseudo masks -> val mIoU (ground truth of the
# held-out val split).
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
DL=configs/deeplabv2/deeplabv2_squeezenet_1xb8-1k_demo-pseudo-160x160.py
if [ ! -f "$OUT/deeplabv2/iter_1000.pth" ]; then
    $PY tools/train.py "$DL" --work-dir "$OUT/deeplabv2" --cfg-options \
        "train_dataloader.dataset.data_prefix.seg_map_path=$PWD/$OUT/cpal/pseudo/masks_crf"
fi
echo
echo "DeepLab-v2 (SqueezeNet) trained on the CAM + CPAL CRF pseudo masks,"
echo "evaluated on the ground truth of the demo val split (single scale, no CRF):"
$PY tools/test.py "$DL" "$OUT/deeplabv2/iter_1000.pth" \
    --work-dir "$OUT/deeplabv2/test" 2>&1 | grep -E "^\||Iter\(test\).*mIoU" || true
cat "$OUT/summary.md"
