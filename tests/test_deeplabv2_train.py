"""DeepLab-v2 end to end on CPU: tools/train.py on demo pseudo masks, then
tools/test.py with multi-scale + flip + CRF, both scored by MMSeg's IoUMetric.

The demo set's ground-truth masks stand in for the pseudo-mask folder, passed
with the one command-line option the configs document.
"""
import ast
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from mmcpal.datasets.synthetic import generate_demo_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'deeplabv2',
                  'deeplabv2_squeezenet_1xb8-1k_demo-pseudo-160x160.py')
TTA_CRF_CONFIG = CONFIG.replace('.py', '_ms-flip-crf.py')
ITERS = 3


def _run(args, log_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args,
                          cwd=REPO,
                          env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=600)
    with open(log_path, 'w') as f:
        f.write(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


def _miou(output: str) -> float:
    """The last 'mIoU: x' that MMEngine's logger printed."""
    found = re.findall(r'mIoU: ([0-9.]+)', output)
    assert found, output[-3000:]
    return float(found[-1])


def test_models_package_imports_decode_heads():
    """configs name 'mmcpal.DeepLabV2Head'; the registry finds it by
    importing mmcpal.models, which must import the decode_heads package."""
    source = open(osp.join(REPO, 'mmcpal', 'models', '__init__.py')).read()
    imported = {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert 'decode_heads' in imported, (
        'add `from . import decode_heads` to mmcpal/models/__init__.py')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('deeplabv2') / 'demo')
    generate_demo_dataset(root, num_train=8, num_val=3, seed=0)
    return root


def test_train_and_test_on_demo_pseudo_masks(demo_root, tmp_path):
    data = [
        f'{loader}.dataset.data_root={demo_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]
    masks = osp.join(demo_root, 'SegmentationClass')
    work_dir = str(tmp_path / 'work')
    out = _run([
        'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
        *data,
        f'train_dataloader.dataset.data_prefix.seg_map_path={masks}',
        'train_dataloader.batch_size=4', f'train_cfg.max_iters={ITERS}',
        f'train_cfg.val_interval={ITERS}', f'param_scheduler.0.end={ITERS}',
        f'default_hooks.checkpoint.interval={ITERS}',
        'default_hooks.logger.interval=1'
    ], str(tmp_path / 'train.log'))
    checkpoint = osp.join(work_dir, f'iter_{ITERS}.pth')
    assert osp.isfile(checkpoint)
    # the training masks really came from the option's folder
    assert f"'seg_map_path': '{masks}'" in out or masks in out
    assert 'decode.loss_ce' in out
    # IoUMetric ran on the val set and its mIoU reached the scalar log
    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    val = [r for r in records if 'mIoU' in r]
    assert len(val) == 1 and 0. <= val[0]['mIoU'] <= 100.
    assert val[0]['step'] == ITERS
    assert _miou(out) == pytest.approx(val[0]['mIoU'], abs=0.01)

    # multi-scale + flip + dense CRF testing of the checkpoint
    test_out = _run([
        'tools/test.py', TTA_CRF_CONFIG, checkpoint, '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *data
    ], str(tmp_path / 'test.log'))
    assert 'CRFSegTTAModel' in test_out
    assert 0. <= _miou(test_out) <= 100.
