#!/usr/bin/env bash
# The upstream path, once: a fresh venv with the last upstream OpenMMLab
# releases that go together (mmcv 2.1.0 compiled from source, mmengine
# 0.10.7, mmsegmentation 1.2.2, mmpretrain 1.2.0), then mmcpal on top WITHOUT
# the onedl extra, then
#   1. import mmcpal / the stack check,
#   2. the config build test (pytest tests/test_configs.py),
#   3. a two-iteration CAM + CPAL training on freshly made demo data.
# Every step is timed; the log goes to $LOG. Not run by CI.
#
# The mmcv compile takes 30-60 min on 2 cores: run it in the background on
# an otherwise idle machine, e.g.
#   nohup bash scripts/check_upstream.sh > /dev/null 2>&1 &
#   tail -f work_dirs/check_upstream/log.txt
#
# Settings (environment): VENV (default /tmp/mmcpal-upstream), LOG, TORCH
# and TORCHVISION (a pair that imports together; default the project's
# pins), NUMPY_SPEC (default 'numpy<2': MMSegmentation 1.2.2 and MMCV 2.1.0
# predate NumPy 2), MAX_JOBS (compile jobs, default 2).
#
# Known incompatibilities this works around (docs/install.md):
# - mmcv's setup.py and mmengine <= 0.10.7 import pkg_resources, gone in
#   setuptools >= 82 (open-mmlab/mmcv#3325): setuptools<82 in the venv and
#   --no-build-isolation so the build sees it (and torch).
# - mmsegmentation 1.2.2 asserts mmcv < 2.2.0 at import
#   (open-mmlab/mmsegmentation#3729): mmcv==2.1.0.
# - mmengine 0.10.7 with torch >= 2.6 (torch.load weights_only default):
#   resume / load_from fail (open-mmlab/mmengine#1655). The training here
#   starts from the SqueezeNet weights and does not resume; a failure of
#   this kind is reported, not hidden.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=${VENV:-/tmp/mmcpal-upstream}
OUT=${OUT:-$REPO/work_dirs/check_upstream}
LOG=${LOG:-$OUT/log.txt}
TORCH=${TORCH:-torch==2.14.1}
TORCHVISION=${TORCHVISION:-torchvision==0.29.1}
NUMPY_SPEC=${NUMPY_SPEC:-numpy<2}
export MAX_JOBS=${MAX_JOBS:-2}
mkdir -p "$OUT"
: > "$LOG"
PY=$VENV/bin/python

say() { echo "[$(date '+%F %T')] $*" | tee -a "$LOG"; }
# step NAME CMD...: run, log output, record seconds and status; go on.
FAILED=0
step() {
    local name=$1; shift
    local t0=$SECONDS
    say "== $name: $*"
    if "$@" >> "$LOG" 2>&1; then
        say "== $name: OK in $((SECONDS - t0)) s"
    else
        say "== $name: FAILED (exit $?) after $((SECONDS - t0)) s"
        FAILED=1
        return 1
    fi
}

say "upstream check of mmcpal $(git -C "$REPO" rev-parse --short HEAD)" \
    "in $VENV; python $(python3 --version 2>&1)"
rm -rf "$VENV"
step venv python3 -m venv "$VENV" || exit 1
step tools "$PY" -m pip install -q --upgrade pip 'setuptools<82' wheel \
    packaging ninja || exit 1
step torch "$PY" -m pip install -q "$TORCH" "$TORCHVISION" "$NUMPY_SPEC" \
    || exit 1
step mmengine "$PY" -m pip install -q 'mmengine==0.10.7' "$NUMPY_SPEC" \
    || exit 1
# The long one: mmcv's compiled ops against this torch (CPU ops without
# nvcc; with CUDA available it builds the CUDA ops too).
step mmcv-build env MMCV_WITH_OPS=1 "$PY" -m pip install -v \
    --no-build-isolation 'mmcv==2.1.0' "$NUMPY_SPEC" || exit 1
step mmseg-mmpretrain "$PY" -m pip install -q 'mmsegmentation==1.2.2' \
    'mmpretrain==1.2.0' ftfy regex "$NUMPY_SPEC" || exit 1
# mmcpal itself, no onedl extra, no constraints file (its pins are for the
# fork stack): demo for the SqueezeNet weights, tests for pytest.
step mmcpal "$PY" -m pip install -q -e "$REPO[demo,tests]" "$NUMPY_SPEC" \
    || exit 1
step freeze "$PY" -m pip freeze
step no-forks bash -c "! $PY -m pip list 2>/dev/null | grep -i '^onedl-'"

step import "$PY" -c "
import mmcpal, mmcv, mmengine, mmseg, mmpretrain, torch, numpy
from mmcpal.stack import require_stack
r = require_stack()
print('mmcpal', mmcpal.__version__, 'stack', r.kind, r.found)
print('torch', torch.__version__, 'numpy', numpy.__version__)
import mmcv.ops  # the compiled ops
import mmcpal.apis
print('mmcpal.apis OK')"
export OMP_NUM_THREADS=1
step test-configs "$PY" -m pytest -q -p no:randomly tests/test_configs.py \
    tests/test_utils/test_compat.py tests/test_utils/test_stack.py
DEMO=$OUT/demo
rm -rf "$DEMO" "$OUT/train"
step demo-data "$PY" -c "
from mmcpal.datasets.synthetic import generate_demo_dataset
generate_demo_dataset('$DEMO', num_train=8, num_val=2, seed=1)"
# 8 images, batch 4, one epoch: two iterations of CAM + CPAL.
step train-2-iters "$PY" tools/train.py \
    configs/cpal/cam_cpal_squeezenet_demo.py --work-dir "$OUT/train" \
    --cfg-options "train_dataloader.dataset.data_root=$DEMO" \
    "val_dataloader.dataset.data_root=$DEMO" train_dataloader.batch_size=4 \
    train_cfg.max_epochs=1 train_cfg.val_interval=10 \
    default_hooks.logger.interval=1
step checkpoint test -f "$OUT/train/epoch_1.pth"
if [ "$FAILED" = 0 ]; then
    say "RESULT: upstream path PASSED"
else
    say "RESULT: upstream path FAILED (see the FAILED steps above)"
fi
grep -E '^\[.*\] == .*(OK|FAILED)|RESULT' "$LOG" | sed 's/^/  /'
exit "$FAILED"
