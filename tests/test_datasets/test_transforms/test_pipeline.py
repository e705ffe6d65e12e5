"""A full WSSS pipeline built from config dicts under default_scope."""
import numpy as np
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmcpal.datasets.voc import VOCImageLevelDataset

TRAIN_PIPELINE = [
    dict(type='LoadImageChecked'),
    dict(type='LoadSegMap'),
    dict(type='RandomLongSideResize', scale_range=(16, 24)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCropWithValid', crop_size=32),
    dict(type='PackWSSSInputs'),
]


def test_train_pipeline_from_config(tiny_voc):
    init_default_scope('mmcpal')
    ds = VOCImageLevelDataset(
        ann_file=tiny_voc.ann_file,
        data_root=tiny_voc.root,
        pipeline=TRAIN_PIPELINE)
    np.random.seed(0)
    for idx, img_id in enumerate(tiny_voc.labelled_ids):
        out = ds[idx]
        inputs, sample = out['inputs'], out['data_samples']
        assert inputs.shape == (3, 32, 32)
        assert sample.img_id == img_id
        np.testing.assert_array_equal(sample.gt_label.numpy(),
                                      tiny_voc.expected['file'][img_id])
        # Resized image is smaller than the crop: all of it is pasted.
        oh, ow = sample.ori_shape
        w_scale, h_scale = sample.scale_factor
        nh, nw = round(oh * h_scale), round(ow * w_scale)
        assert 16 <= max(nh, nw) <= 24
        valid = sample.valid_mask.data[0].numpy()
        assert valid.sum() == nh * nw
        seg = sample.gt_sem_seg.data[0].numpy()
        assert (seg[~valid] == 255).all()
        # The mask under the valid region holds the image's values only.
        assert set(np.unique(seg[valid])) <= set(
            np.unique(tiny_voc.masks[img_id]))
        assert (inputs.numpy()[:, ~valid] == 0).all()


def test_test_pipeline_with_mmcv_resize(tiny_voc):
    init_default_scope('mmcpal')
    pipeline = Compose([
        dict(type='LoadImageChecked'),
        dict(type='LoadSegMap'),
        dict(type='Resize', scale=(40, 40), keep_ratio=True),
        dict(type='PackWSSSInputs'),
    ])
    ds = VOCImageLevelDataset(
        ann_file=tiny_voc.ann_file, data_root=tiny_voc.root)
    info = ds.get_data_info(2)  # img_d, 8 x 20
    out = pipeline(dict(info))
    assert out['inputs'].shape == (3, 16, 40)
    assert out['data_samples'].valid_mask.data.all()
    assert out['data_samples'].gt_sem_seg.data.shape == (1, 16, 40)
    # Without a mask, LoadSegMap is a no-op and no gt_sem_seg is packed.
    info['seg_map_path'] = None
    out = pipeline(dict(info))
    assert 'gt_sem_seg' not in out['data_samples']
