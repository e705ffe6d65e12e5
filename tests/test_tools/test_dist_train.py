"""tools/dist_train.sh with 2 CPU processes: train, checkpoint, resume."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch


def _run(cmd, env, cwd):
    return subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def _env(port):
    """dist_train.sh's environment: this interpreter, a free port, one
    thread per process."""
    return dict(os.environ, PYTHON=sys.executable, PORT=str(port),
                OMP_NUM_THREADS='1')


def _options(demo_root, *more):
    """--cfg-options shared by the tests: demo data, batch 4, a log line
    per iteration."""
    return ['--cfg-options', f'train_dataloader.dataset.data_root={demo_root}',
            'train_dataloader.batch_size=4',
            'default_hooks.logger.interval=1', *more]


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='exercises the CPU (gloo) path')
def test_dist_train_two_cpu_processes_and_resume(demo_root, free_port, repo,
                                                tmp_path):
    work_dir = str(tmp_path / 'work')
    env = _env(free_port)
    options = _options(demo_root,
                       f'val_dataloader.dataset.data_root={demo_root}',
                       'train_cfg.val_interval=10')
    cfg = 'configs/cpal/cam_cpal_squeezenet_demo.py'
    first = _run(
        ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', work_dir] +
        options + ['train_cfg.max_epochs=1'], env, repo)
    assert first.returncode == 0, first.stderr[-4000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    text = ''.join(open(p).read() for p in logs)
    assert 'Distributed training: True' in text
    # 32 images / (2 processes x 4) = 4 iterations per epoch on each rank.
    assert 'Epoch(train) [1][4/4]' in text
    # Both ranks saw the clustering hook and the branch's bank is shared:
    ckpt = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), map_location='cpu',
        weights_only=False)
    assert ckpt['meta']['epoch'] == 1
    assert int(ckpt['state_dict']['cpal.bank.bank_count'].sum()) > 0

    second = _run(
        ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', work_dir,
         '--resume'] + options + ['train_cfg.max_epochs=2'], env, repo)
    assert second.returncode == 0, second.stderr[-4000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    resumed = open(logs[-1]).read()
    assert 'resumed epoch: 1' in resumed
    assert 'Epoch(train) [2][4/4]' in resumed
    assert 'Epoch(train) [1]' not in resumed


def _ir_labels_from_gt(demo_root: str, out_dir: str) -> str:
    """Stand-in IR labels: the ground truth with a 3 px unsure (255) band
    around every class boundary, as the chain's IR labels have."""
    import cv2
    import numpy as np

    from mmcpal.pseudo import mask_io
    os.makedirs(out_dir, exist_ok=True)
    for path in glob.glob(osp.join(demo_root, 'SegmentationClass', '*.png')):
        gt = mask_io.load_mask(path)
        edge = cv2.morphologyEx(gt, cv2.MORPH_GRADIENT,
                                np.ones((3, 3), np.uint8)) > 0
        ir = gt.copy()
        ir[cv2.dilate(edge.astype(np.uint8), np.ones((3, 3), np.uint8)) >
           0] = 255
        mask_io.save_mask(osp.join(out_dir, osp.basename(path)), ir)
    return out_dir


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='exercises the CPU (gloo) path')
@pytest.mark.parametrize('cfg,key', [
    ('configs/cpal/amn_cpal_squeezenet_demo.py', 'cpal.bank.bank_count'),
    ('configs/irn/irn_squeezenet_demo.py', None),
])
def test_dist_train_amn_cpal_and_irn_two_cpu_processes(
        cfg, key, demo_root, free_port, repo, tmp_path):
    """Every stage of the AMN route trains with dist_train.sh (issue 5)."""
    ir_dir = _ir_labels_from_gt(demo_root, str(tmp_path / 'ir'))
    work_dir = str(tmp_path / 'work')
    env = _env(free_port)
    options = _options(
        demo_root, f'train_dataloader.dataset.pipeline.1.ir_label_dir={ir_dir}',
        'train_cfg.max_epochs=1')
    if 'amn' in cfg:  # the AMN config validates on the demo val split
        options += [f'val_dataloader.dataset.data_root={demo_root}',
                    'train_cfg.val_interval=10']
    res = _run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
                work_dir] + options, env, repo)
    assert res.returncode == 0, res.stderr[-4000:]
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    text = ''.join(open(p).read() for p in logs)
    assert 'Distributed training: True' in text
    # 32 images / (2 processes x 4) = 4 iterations per epoch on each rank.
    assert 'Epoch(train) [1][4/4]' in text
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['epoch'] == 1
    if key is not None:  # the CPAL bank was filled by both ranks
        assert int(ckpt['state_dict'][key].sum()) > 0
