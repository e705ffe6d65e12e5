#!/usr/bin/env bash
# Fresh machine -> installed .venv -> the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo tests crf coco effnet
# The labelme sdist holds 3 real VOC photos with masks (the micro real set);
# tests that need it skip, with the reason, if it cannot be fetched.
if [ ! -f .cache/labelme-6.3.1.tar.gz ]; then
    .venv/bin/python -m pip download -q --no-deps --no-binary :all: \
        labelme==6.3.1 -d .cache || echo "labelme sdist not fetched"
fi
export OMP_NUM_THREADS=1
.venv/bin/python -m pytest tests -q -p no:randomly "$@"
