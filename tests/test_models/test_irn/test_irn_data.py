"""IRN training data: the config pipeline with IR labels, RandomRescale."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

import mmcpal.datasets.transforms.ir_label  # noqa: F401 (LoadIRLabel)
import mmcpal.models.irn  # noqa: F401 (IRNet)
from mmcpal.apis import load_config
from mmcpal.datasets.transforms.irn_affinity import RandomRescale
from mmcpal.pseudo.mask_io import save_mask
from mmcpal.registry import DATASETS, MODELS

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

IDS = ('a', 'b', 'c')


def _ir_label(img_id, h, w):
    label = np.zeros((h, w), dtype=np.uint8)
    label[8:24, 12:36] = IDS.index(img_id) + 1
    label[26, :] = 255
    return label


@pytest.fixture
def voc_root(tmp_path):
    """Three images with GT masks (the label source) and IR labels."""
    os.makedirs(tmp_path / 'JPEGImages')
    os.makedirs(tmp_path / 'SegmentationClass')
    os.makedirs(tmp_path / 'ImageSets' / 'Segmentation')
    os.makedirs(tmp_path / 'ir')
    rng = np.random.RandomState(0)
    for img_id in IDS:
        cv2.imwrite(
            str(tmp_path / 'JPEGImages' / f'{img_id}.jpg'),
            rng.randint(0, 255, (40, 48, 3), dtype=np.uint8))
        gt = np.zeros((40, 48), dtype=np.uint8)
        gt[:3, :3] = 7
        save_mask(str(tmp_path / 'SegmentationClass' / f'{img_id}.png'), gt)
        save_mask(
            str(tmp_path / 'ir' / f'{img_id}.png'), _ir_label(img_id, 40, 48))
    (tmp_path / 'ImageSets' / 'Segmentation' /
     'train.txt').write_text('\n'.join(IDS) + '\n')
    return tmp_path


def _irn_cfg(root):
    """The demo IRN config pointed at the tmp data and IR labels."""
    cfg = load_config(osp.join(REPO, 'configs/irn/irn_squeezenet_demo.py'))
    ds = cfg.train_dataloader.dataset
    ds.type = 'VOCImageLevelDataset'
    ds.data_root = str(root)
    ds.pipeline[1].ir_label_dir = str(root / 'ir')  # the documented key
    return cfg


def test_irn_config_pipeline_and_loss(voc_root):
    init_default_scope('mmcpal')
    cfg = _irn_cfg(voc_root)
    assert cfg.train_dataloader.dataset.pipeline[1].type == 'LoadIRLabel'
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    for img_id, inputs, sample in zip(IDS, batch['inputs'],
                                      batch['data_samples']):
        assert inputs.shape == (3, 160, 160)  # the config's crop
        seg = sample.gt_sem_seg.data[0].numpy()
        # IR labels, moved with the image; padding and unsure are 255
        assert set(np.unique(seg)) <= {0, 255, IDS.index(img_id) + 1}
        assert (seg == IDS.index(img_id) + 1).any()
        assert (seg[~sample.valid_mask.data[0].numpy()] == 255).all()
    model = MODELS.build(cfg.model)
    losses = model.train_step(
        batch, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))
    assert set(losses) == {
        'loss', 'loss_aff_bg', 'loss_aff_fg', 'loss_aff_neg'
    }
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())


def test_random_rescale_image_and_labels():
    img = np.random.RandomState(0).randint(0, 255, (10, 20, 3), np.uint8)
    label = np.zeros((10, 20), dtype=np.uint8)
    label[:, 10:] = 3
    label[0] = 255
    valid = np.ones((10, 20), dtype=bool)
    valid[:, :4] = False
    out = RandomRescale(ratio_range=(1.5, 1.5))(
        dict(
            img=img,
            gt_seg_map=label,
            valid_mask=valid,
            img_shape=img.shape[:2]))
    assert out['img'].shape == (15, 30, 3)
    assert out['img_shape'] == (15, 30)
    # nearest neighbours: no new label values, the split stays at x = 15
    assert set(np.unique(out['gt_seg_map'])) == {0, 3, 255}
    # (output row r reads input row floor(r / 1.5): rows 0, 1 <- row 0)
    assert (out['gt_seg_map'][2:, 15:] == 3).all()
    assert (out['gt_seg_map'][2:, :15] == 0).all()
    assert (out['gt_seg_map'][:2] == 255).all()
    assert out['valid_mask'].shape == (15, 30)
    assert not out['valid_mask'][:, :6].any() and out['valid_mask'][:,
                                                                    6:].all()
    sizes = set()
    for _ in range(20):
        h = RandomRescale(ratio_range=(0.5,
                                       1.5))(dict(img=img))['img'].shape[0]
        assert 5 <= h <= 15
        sizes.add(h)
    assert len(sizes) > 3
    with pytest.raises(ValueError, match='ratio_range must be'):
        RandomRescale(ratio_range=(1.5, 0.5))
