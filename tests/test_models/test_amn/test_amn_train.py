"""Two CPU training iterations of the AMN configs through MMEngine's Runner
on tiny random data with IR labels; the IR folder override."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from mmcpal.apis import load_config
from mmcpal.pseudo.mask_io import save_mask

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
IR_KEY = 'train_dataloader.dataset.pipeline.1.ir_label_dir'


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    """Four 48x56 images, GT masks (the label source) and IR labels."""
    root = tmp_path_factory.mktemp('amn_data')
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation',
                'ir'):
        os.makedirs(root / sub)
    rng = np.random.RandomState(0)
    ids = [f'img{i}' for i in range(4)]
    for i, img_id in enumerate(ids):
        cv2.imwrite(str(root / 'JPEGImages' / f'{img_id}.jpg'),
                    rng.randint(0, 255, (48, 56, 3), dtype=np.uint8))
        gt = np.zeros((48, 56), dtype=np.uint8)
        gt[8:30, 10:40] = i % 6 + 1
        gt[32:46, 2:20] = (i + 2) % 6 + 1
        save_mask(str(root / 'SegmentationClass' / f'{img_id}.png'), gt)
        ir = gt.copy()
        ir[6:10, :] = 255  # an unsure band
        save_mask(str(root / 'ir' / f'{img_id}.png'), ir)
    (root / 'ImageSets/Segmentation/train.txt').write_text('\n'.join(ids))
    return root


def _tiny_cfg(config, root, work_dir):
    cfg = load_config(
        osp.join(REPO, config), {
            IR_KEY: str(root / 'ir'),
            'train_dataloader.dataset.data_root': str(root),
            'train_dataloader.dataset.pipeline.4.crop_size': 64,
            'train_dataloader.batch_size': 4,  # 1 iteration per epoch
            'train_dataloader.num_workers': 0,
            'model.backbone.init_cfg': None,
            'train_cfg.max_epochs': 2,
        })
    cfg.work_dir = str(work_dir)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.train_cfg.pop('val_interval', None)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    cfg.log_level = 'WARNING'
    return cfg


def test_override_reaches_the_pipeline():
    cfg = load_config(osp.join(REPO, 'configs/amn/amn_r50_voc.py'),
                      {IR_KEY: '/some/dir'})
    step = cfg.train_dataloader.dataset.pipeline[1]
    assert step == dict(type='LoadIRLabel', ir_label_dir='/some/dir')


@pytest.mark.parametrize('config', [
    'configs/amn/amn_squeezenet_demo.py',
    'configs/cpal/amn_cpal_squeezenet_demo.py'
])
def test_two_iterations(config, tiny_root, tmp_path):
    cfg = _tiny_cfg(config, tiny_root, tmp_path)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    before = model.classifier.branches[0].weight.detach().clone()
    frozen = model.backbone.conv1.weight.detach().clone()
    runner.train()
    assert runner.iter == 2
    scalars = runner.message_hub.log_scalars
    assert np.isfinite(scalars['train/loss_pcl'].current())
    if model.with_cpal:
        assert np.isfinite(scalars['train/loss_self'].current())
        assert int(model.cpal.bank.bank_count.sum()) > 0
        # ContextClusteringHook ran before epoch 2 (the bank was empty at 1)
        assert int(model.cpal.num_updates) == 1
    else:
        assert 'train/loss_self' not in scalars
    assert not torch.equal(model.classifier.branches[0].weight, before)
    assert torch.equal(model.backbone.conv1.weight, frozen)  # stage 0
    assert osp.isfile(tmp_path / 'epoch_2.pth')
    # AMN lr: backbone base, new layers 20x (step/train_amn.py)
    lrs = sorted({g['lr'] for g in runner.optim_wrapper.param_groups})
    assert lrs[-1] == pytest.approx(20 * lrs[0])
