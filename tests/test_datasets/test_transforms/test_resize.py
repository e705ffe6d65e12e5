"""Tests of RandomLongSideResize (and the reused mmcv Resize)."""
import numpy as np
import pytest
from mmcv.transforms import RandomFlip, Resize

from mmcpal.datasets.transforms.resize import RandomLongSideResize


def _results(h, w):
    seg = np.zeros((h, w), np.uint8)
    seg[:, w // 2:] = 7
    seg[0] = 255
    return dict(
        img=np.zeros((h, w, 3), np.uint8),
        gt_seg_map=seg,
        img_shape=(h, w),
        ori_shape=(h, w))


@pytest.mark.parametrize('h, w', [(30, 40), (50, 20)])
def test_long_side_in_range_and_aspect_kept(h, w):
    transform = RandomLongSideResize(scale_range=(10, 13))
    np.random.seed(0)
    longs = set()
    for _ in range(60):
        out = transform(_results(h, w))
        nh, nw = out['img'].shape[:2]
        long_side = max(nh, nw)
        longs.add(long_side)
        # Aspect kept: the short side is the rounded rescaled short side.
        short = min(h, w) * long_side / max(h, w)
        assert abs(min(nh, nw) - short) <= 0.5 + 1e-9
        assert (nh > nw) == (h > w)
        assert out['img_shape'] == (nh, nw)
        np.testing.assert_allclose(out['scale_factor'], (nw / w, nh / h))
        assert out['gt_seg_map'].shape == (nh, nw)
        # Nearest interpolation keeps the label values.
        assert set(np.unique(out['gt_seg_map'])) <= {0, 7, 255}
    # randint(low, high) with both ends included, as in IRN.
    assert longs == {10, 11, 12, 13}


def test_valid_mask_is_resized_too():
    res = _results(8, 8)
    res['valid_mask'] = np.zeros((8, 8), bool)
    res['valid_mask'][:, :4] = True
    out = RandomLongSideResize(scale_range=(16, 16))(res)
    assert out['valid_mask'].dtype == bool
    valid = out['valid_mask']
    assert valid[:, :8].all() and not valid[:, 8:].any()


@pytest.mark.parametrize('scale_range',
                         [(0, 10), (20, 10), (1.5, 3), (10, )])
def test_bad_scale_range(scale_range):
    with pytest.raises(ValueError, match='scale_range must be two positive'):
        RandomLongSideResize(scale_range=scale_range)


@pytest.mark.parametrize('h, w', [(375, 500), (500, 333), (7, 3)])
def test_mmcv_resize_expresses_long_side(h, w):
    # Why there is no LongSideResize: Resize(scale=(N, N), keep_ratio=True)
    # scales by min(N / long, N / short) = N / long.
    out = Resize(scale=(64, 64), keep_ratio=True)(_results(h, w))
    assert max(out['img'].shape[:2]) == 64
    assert out['gt_seg_map'].shape == out['img'].shape[:2]


def test_mmcv_random_flip_leaves_valid_mask_alone():
    # Documented reason why RandomCropWithValid must run after RandomFlip.
    res = _results(4, 6)
    res['valid_mask'] = np.zeros((4, 6), bool)
    res['valid_mask'][:, 0] = True
    out = RandomFlip(prob=1.0, direction='horizontal')(res)
    np.testing.assert_array_equal(out['gt_seg_map'][:, 0], [255, 7, 7, 7])
    assert out['valid_mask'][:, 0].all() and not out['valid_mask'][:, 5].any()
