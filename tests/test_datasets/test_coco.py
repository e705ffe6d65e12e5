"""COCO14ImageLevelDataset and the COCO CAM configs."""
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from mmcpal.datasets.coco import (COCO14_CATEGORY_IDS, COCO14_CLASSES,
                                  COCO14ImageLevelDataset)
from mmcpal.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
IDS = ('COCO_train2014_000000000009', 'COCO_train2014_000000000025',
       'COCO_train2014_000000000030')


@pytest.fixture
def coco_root(tmp_path):
    """The prepare_coco layout, written by hand (train2014 only)."""
    root = tmp_path / 'coco2014'
    img_dir = root / 'JPEGImages' / 'train2014'
    seg_dir = root / 'SegmentationClass' / 'train2014'
    lists = root / 'ImageSets' / 'Segmentation'
    for d in (img_dir, seg_dir, lists):
        d.mkdir(parents=True)
    for k, img_id in enumerate(IDS):
        Image.fromarray(np.full((6, 8, 3), 40 * k,
                                np.uint8)).save(img_dir / f'{img_id}.jpg')
        Image.fromarray(np.full((6, 8), k,
                                np.uint8)).save(seg_dir / f'{img_id}.png')
    (lists / 'train.txt').write_text('\n'.join(IDS) + '\n')
    # Labels of CLIP-ES's coco14/train.txt for these images (0-based there:
    # 45 49 50 / 23 / 58 75) -> mask values 46 50 51 / 24 / 59 76.
    (lists / 'image_labels.tsv').write_text(
        'id\tsplit\twidth\theight\tclasses\tclass_ids\n'
        f'{IDS[0]}\ttrain\t8\t6\tbowl orange broccoli\t46 50 51\n'
        f'{IDS[1]}\ttrain\t8\t6\tgiraffe\t24\n'
        f'{IDS[2]}\ttrain\t8\t6\tpotted_plant vase\t59 76\n')
    return str(root)


def test_metainfo():
    assert len(COCO14_CLASSES) == len(COCO14_CATEGORY_IDS) == 80
    assert len(set(COCO14_CLASSES)) == 80
    assert list(COCO14_CATEGORY_IDS) == sorted(COCO14_CATEGORY_IDS)
    assert COCO14_CATEGORY_IDS[-1] == 90 and 12 not in COCO14_CATEGORY_IDS
    assert not any(' ' in n for n in COCO14_CLASSES)
    meta = COCO14ImageLevelDataset.METAINFO
    assert meta['classes'][0] == 'background' and len(meta['classes']) == 81
    assert len(meta['palette']) == 81 and meta['palette'][1] == [128, 0, 0]


def test_labels_and_default_folders(coco_root):
    ds = COCO14ImageLevelDataset(ann_file='ImageSets/Segmentation/train.txt',
                                 data_root=coco_root)
    assert ds.num_classes == 80 and len(ds) == 3
    info = ds.get_data_info(0)
    assert info['img_id'] == IDS[0]
    assert info['label_names'] == ['bowl', 'orange', 'broccoli']
    np.testing.assert_array_equal(np.flatnonzero(info['gt_label']),
                                  [45, 49, 50])
    assert info['img_path'] == osp.join(coco_root, 'JPEGImages', 'train2014',
                                        IDS[0] + '.jpg')
    assert info['seg_map_path'] == osp.join(coco_root, 'SegmentationClass',
                                            'train2014', IDS[0] + '.png')
    assert ds.get_data_info(2)['label_names'] == ['potted_plant', 'vase']


def test_registered_and_pipeline(coco_root):
    init_default_scope('mmcpal')
    ds = DATASETS.build(
        dict(type='COCO14ImageLevelDataset',
             ann_file='ImageSets/Segmentation/train.txt',
             data_root=coco_root,
             pipeline=[
                 dict(type='LoadImageChecked'),
                 dict(type='PackWSSSInputs')
             ]))
    sample = ds[1]
    assert tuple(sample['inputs'].shape) == (3, 6, 8)
    assert sample['data_samples'].gt_label.shape == (80, )
    assert sample['data_samples'].gt_label[23] == 1


@pytest.mark.parametrize('name',
                         ['cam/cam_r50_coco.py', 'cpal/cam_cpal_r50_coco.py'])
def test_coco_configs(name, coco_root):
    from mmcpal.apis import load_config
    from mmcpal.registry import MODELS
    cfg = load_config(osp.join(REPO, 'configs', name))
    init_default_scope('mmcpal')
    assert cfg.model.num_classes == 80
    data = cfg.train_dataloader.dataset
    assert data.type == 'COCO14ImageLevelDataset'
    assert data.data_prefix.img_path == 'JPEGImages/train2014'
    assert cfg.val_dataloader.dataset.data_prefix.img_path == \
        'JPEGImages/val2014'
    data.data_root = coco_root
    assert len(DATASETS.build(data)) == 3
    if 'cpal' in name:
        assert cfg.model.cpal.head.in_channels == (256, 512, 1024, 2048)
        assert cfg.custom_hooks == [dict(type='ContextClusteringHook')]
        model = MODELS.build(cfg.model)
        assert model.with_cpal and model.num_classes == 80
