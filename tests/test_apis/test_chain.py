"""The AMN route end to end on a tiny synthetic set, then a resumed rerun."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmcpal.apis.chain import (MARKER, STAGE_DIRS, STAGES, read_marker,
                               run_chain, stage_cfg_options)
from mmcpal.datasets.synthetic import generate_demo_dataset
from mmcpal.pseudo.mask_io import load_mask

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CAM_CFG = osp.join(REPO, 'configs/cpal/cam_cpal_squeezenet_demo.py')
AMN_CFG = osp.join(REPO, 'configs/cpal/amn_cpal_squeezenet_demo.py')
IRN_CFG = osp.join(REPO, 'configs/irn/irn_squeezenet_demo.py')

# One epoch, batch 4, a small CPAL bank: seconds per training.
SHORT = {
    'train_cfg.max_epochs': 1,
    'train_cfg.val_interval': 1,
    'train_dataloader.batch_size': 4,
    'default_hooks.logger.interval': 1,
}
SHORT_CPAL = {
    'model.cpal.bank.capacity': 8,
    'model.cpal.clustering.num_clusters': 2,
    'model.cpal.neighbours.num_neighbours': 2
}


def _miou(pred_dir, gt_dir, ids, num_classes):
    """mIoU with 255 predictions counted as wrong, by a plain loop."""
    inter = np.zeros(num_classes + 1)
    union = np.zeros(num_classes + 1)
    for i in ids:
        pred = load_mask(osp.join(pred_dir, i + '.png')).astype(int)
        gt = load_mask(osp.join(gt_dir, i + '.png')).astype(int)
        valid = gt != 255
        for c in range(num_classes + 1):
            p, g = (pred == c) & valid, (gt == c) & valid
            inter[c] += (p & g).sum()
            union[c] += (p | g).sum()
    seen = union > 0
    return 100 * float(np.mean(inter[seen] / union[seen]))


def test_stage_cfg_options_find_ir_label_step():
    options = stage_cfg_options(AMN_CFG,
                                data_root='/x',
                                ir_label_dir='/y',
                                cfg_options={'train_cfg.max_epochs': 2})
    assert options['train_dataloader.dataset.pipeline.1.ir_label_dir'] == '/y'
    assert options['val_dataloader.dataset.data_root'] == '/x'
    assert options['train_cfg.max_epochs'] == 2
    # IRN has no val loader: none is invented.
    irn = stage_cfg_options(IRN_CFG, data_root='/x')
    assert 'val_dataloader.dataset.data_root' not in irn
    with pytest.raises(ValueError, match='LoadIRLabel'):
        stage_cfg_options(CAM_CFG, ir_label_dir='/y')


def test_run_chain_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='unknown stages'):
        run_chain(str(tmp_path),
                  cam_config=CAM_CFG,
                  amn_config=AMN_CFG,
                  irn_config=IRN_CFG,
                  stages=['cams'])
    with pytest.raises(ValueError, match='ir1_thresholds'):
        run_chain(str(tmp_path),
                  cam_config=CAM_CFG,
                  amn_config=AMN_CFG,
                  irn_config=IRN_CFG,
                  ir1_thresholds=(0.05, 0.30))
    with pytest.raises(FileNotFoundError, match='stage train_cam'):
        run_chain(str(tmp_path),
                  cam_config=CAM_CFG,
                  amn_config=AMN_CFG,
                  irn_config=IRN_CFG,
                  stages=['ir_labels_1'])


def test_run_chain_end_to_end_and_resume(tmp_path):
    data = str(tmp_path / 'data')
    generate_demo_dataset(data, num_train=16, num_val=4, seed=0)
    out = str(tmp_path / 'chain')
    kwargs = dict(cam_config=CAM_CFG,
                  amn_config=AMN_CFG,
                  irn_config=IRN_CFG,
                  data_root=data,
                  cfg_options=SHORT,
                  cam_cfg_options=SHORT_CPAL,
                  amn_cfg_options=SHORT_CPAL,
                  scales=(1.0, ),
                  flip=False,
                  rw_exp_times=4,
                  progress=False,
                  log=lambda msg: None)
    report = run_chain(out, **kwargs)
    assert report['status'] == {s: 'done' for s in STAGES if s != 'table'}
    with open(osp.join(data, 'ImageSets/Segmentation/train.txt')) as f:
        ids = f.read().split()
    gt_dir = osp.join(data, 'SegmentationClass')
    for stage, folder in STAGE_DIRS.items():
        assert osp.isfile(osp.join(out, folder, MARKER)), stage
    for stage in ('train_cam', 'train_amn', 'train_irn'):
        assert osp.isfile(read_marker(out, stage)['checkpoint'])
    # The trainings read the IR labels of the previous round.
    amn_cfg = open(osp.join(out, 'amn', 'chain_config.py')).read()
    assert osp.join(out, 'cam_pseudo', 'masks_ir') in amn_cfg
    irn_cfg = open(osp.join(out, 'irn', 'chain_config.py')).read()
    assert osp.join(out, 'amn_pseudo', 'masks_ir') in irn_cfg
    # Every image has its CAMs and masks; IR labels hold 0..6 and 255.
    for folder in ('cam_pseudo', 'amn_pseudo'):
        for i in ids:
            assert osp.isfile(osp.join(out, folder, 'cams', i + '.npz'))
            labels = load_mask(osp.join(out, folder, 'masks_ir', i + '.png'))
            assert set(np.unique(labels)) <= set(range(7)) | {255}
    rw = osp.join(out, 'rw', 'masks_rw')
    assert sorted(f[:-4] for f in os.listdir(rw)) == sorted(ids)
    # The reported mask mIoU matches a loop over the PNGs.
    with open(osp.join(out, 'rw', 'mask_eval.json')) as f:
        rw_eval = json.load(f)
    assert rw_eval['best']['miou'] == pytest.approx(_miou(rw, gt_dir, ids, 6),
                                                    abs=1e-3)
    # The table has the three rows with the numbers of the JSONs.
    table = report['table']
    assert table == open(osp.join(out, 'summary.md')).read().rstrip('\n')
    rows = [line for line in table.splitlines() if line.startswith('| ')]
    assert len(rows) == 4  # header + 3
    assert f"{rw_eval['best']['miou']:.1f}" in rows[3]
    with open(osp.join(out, 'amn_pseudo', 'seed_eval.json')) as f:
        assert f"{json.load(f)['best']['miou']:.1f}" in rows[2]
    assert rows[3].split('|')[2].strip() == '-'  # no seeds for the walk

    # A rerun skips every stage and rewrites nothing.
    watched = [osp.join(out, folder, MARKER) for folder in STAGE_DIRS.values()]
    watched += [osp.join(out, 'summary.md'), osp.join(rw, ids[0] + '.png')]
    before = {p: os.stat(p).st_mtime_ns for p in watched}
    again = run_chain(out, **kwargs)
    assert again['status'] == {s: 'skipped' for s in STAGES if s != 'table'}
    assert again['table'] == table
    assert {p: os.stat(p).st_mtime_ns for p in watched} == before
    # Other fixed thresholds do not silently reuse a finished stage.
    with pytest.raises(ValueError, match='other options'):
        run_chain(out, **dict(kwargs, ir2_thresholds=(0.5, 0.1)))
