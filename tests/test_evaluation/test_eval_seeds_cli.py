"""tools/eval_seeds.py end to end in a subprocess."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'eval_seeds.py')


def _run(args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, TOOL, *args],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=120)


def test_cam_dir_sweep_json(tiny_voc, tmp_path):
    out = tmp_path / 'seeds.json'
    proc = _run([
        '--cam-dir', tiny_voc['cam_dir'], '--data-root', tiny_voc['root'],
        '--num-classes', '2', '--thresholds', '0.05', '0.2', '0.25', '--json',
        str(out)
    ])
    assert proc.returncode == 0, proc.stderr
    assert '- images: 2 evaluated, 1 skipped' in proc.stdout
    assert 'best: threshold 0.2, mIoU 100.00' in proc.stdout
    data = json.loads(out.read_text())
    assert data['best']['threshold'] == pytest.approx(0.2)
    assert data['best']['miou'] == pytest.approx(100.0)
    assert [row['threshold'] for row in data['curve']] == [0.05, 0.2, 0.25]
    # Hand values of the tiny set (see conftest): 0.05 and 0.25.
    assert data['curve'][0]['miou'] == pytest.approx(
        100 * (4 / 10 + 4 / 6 + 4 / 8) / 3, abs=1e-3)
    assert data['curve'][2]['miou'] == pytest.approx(100 *
                                                     (10 / 11 + 3 / 4 + 1) / 3,
                                                     abs=1e-3)
    proto = data['protocol']
    assert proto['split'] == 'ImageSets/Segmentation/train.txt'
    assert proto['num_images'] == 2
    assert proto['skipped'] == {'no CAM file': ['c']}
    assert proto['crf'] is False
    assert proto['pred_ignore'] == 'wrong'
    assert set(data['per_class']) == {'background', 'class1', 'class2'}


def test_mask_dir_mode(tiny_voc, tmp_path, write_png):
    mask_dir = tmp_path / 'masks'
    mask_dir.mkdir()
    gt_b = np.array([[2, 2, 0, 0], [2, 2, 0, 0]])
    pred_b = gt_b.copy()
    pred_b[0, 0] = 255
    write_png(mask_dir / 'b.png', pred_b)
    out = tmp_path / 'masks.json'
    proc = _run([
        '--mask-dir',
        str(mask_dir), '--data-root', tiny_voc['root'], '--num-classes', '2',
        '--pred-ignore', 'exclude', '--crf', '--json',
        str(out)
    ])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data['protocol']['num_images'] == 1
    assert data['protocol']['crf'] is True
    assert data['protocol']['coverage'] == pytest.approx(100 * 7 / 8)
    assert data['best']['miou'] == pytest.approx(100.0)
    assert data['curve'] == []
    # --thresholds is meaningless for masks.
    proc = _run([
        '--mask-dir',
        str(mask_dir), '--data-root', tiny_voc['root'], '--thresholds', '0.1'
    ])
    assert proc.returncode == 2
    assert 'apply to --cam-dir only' in proc.stderr
