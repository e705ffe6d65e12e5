"""Tests of PackWSSSInputs."""
import numpy as np
import pytest
import torch

from mmcpal.datasets.transforms.formatting import PackWSSSInputs
from mmcpal.structures.wsss_data_sample import WSSSDataSample


def _results(**extra):
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    res = dict(
        img=img,
        gt_label=np.array([0, 1, 1], np.float32),
        img_path='a/x.jpg',
        img_id='x',
        ori_shape=(2, 3),
        img_shape=(2, 3),
        flip=False,
        flip_direction=None,
        scale_factor=(1.0, 1.0),
        unrelated='dropped')
    res.update(extra)
    return res


def test_pack_values_and_types():
    res = _results()
    out = PackWSSSInputs()(res)
    inputs, sample = out['inputs'], out['data_samples']
    assert isinstance(sample, WSSSDataSample)
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(inputs[c].numpy(), res['img'][..., c])
    assert sample.gt_label.dtype == torch.float32
    assert sample.gt_label.tolist() == [0.0, 1.0, 1.0]
    valid = sample.valid_mask.data
    assert valid.dtype == torch.bool and valid.shape == (1, 2, 3)
    assert valid.all()
    assert 'gt_sem_seg' not in sample
    assert sample.metainfo == dict(
        img_path='a/x.jpg',
        img_id='x',
        ori_shape=(2, 3),
        img_shape=(2, 3),
        flip=False,
        flip_direction=None,
        scale_factor=(1.0, 1.0))


def test_pack_valid_mask_and_seg():
    valid = np.array([[True, False, True], [False, False, True]])
    seg = np.array([[0, 255, 3], [1, 2, 255]], np.uint8)
    out = PackWSSSInputs(meta_keys=('img_id', 'flip'))(
        _results(valid_mask=valid, gt_seg_map=seg))
    sample = out['data_samples']
    np.testing.assert_array_equal(sample.valid_mask.data[0].numpy(), valid)
    gt = sample.gt_sem_seg.data
    assert gt.dtype == torch.int64 and gt.shape == (1, 2, 3)
    np.testing.assert_array_equal(gt[0].numpy(), seg)
    assert sample.metainfo == dict(img_id='x', flip=False)


def test_pack_errors():
    with pytest.raises(ValueError, match=r'valid_mask has shape \(3, 3\)'):
        PackWSSSInputs()(_results(valid_mask=np.ones((3, 3), bool)))
    with pytest.raises(TypeError, match='meta_keys must be a sequence'):
        PackWSSSInputs(meta_keys='img_id')
