"""Tests of the IRN-style random crop with a valid mask."""
import numpy as np
import pytest

from mmcpal.datasets.transforms.crop import (RandomCropWithValid,
                                             paste_crop, random_crop_box)


def _coded_image(h, w):
    """A (h, w, 3) uint8 image whose pixels are unique per position."""
    idx = np.arange(h * w).reshape(h, w)
    return np.stack([idx % 251, idx // 251, np.full_like(idx, 7)],
                    -1).astype(np.uint8)


def test_random_crop_box_ranges_match_irn():
    # h: image 5 < crop 8 -> canvas offset in 0..3, image offset 0.
    # w: image 7 > crop 6 -> canvas offset 0, image offset in 0..1.
    rng = np.random.RandomState(0)
    boxes = [random_crop_box((5, 7), (8, 6), rng) for _ in range(300)]
    assert {b[0] for b in boxes} == {0, 1, 2, 3}
    assert {b[1] for b in boxes} == {0}
    assert {b[2] for b in boxes} == {0}
    assert {b[3] for b in boxes} == {0, 1}
    assert {b[4:] for b in boxes} == {(5, 6)}
    # Equal size: the identity box.
    assert random_crop_box((4, 4), (4, 4), rng) == (0, 0, 0, 0, 4, 4)


def test_paste_crop_values():
    arr = np.arange(12).reshape(3, 4)
    out = paste_crop(arr, (1, 0, 0, 1, 3, 2), (5, 2), -1)
    expected = np.full((5, 2), -1)
    expected[1:4, 0:2] = arr[0:3, 1:3]
    np.testing.assert_array_equal(out, expected)


def test_small_image_is_pasted_with_valid_mask():
    img = _coded_image(5, 7)
    seg = np.arange(35, dtype=np.uint8).reshape(5, 7)
    np.random.seed(3)
    for _ in range(20):
        out = RandomCropWithValid(crop_size=(9, 10), pad_val=(1, 2, 3))(
            dict(img=img.copy(), gt_seg_map=seg.copy(),
                 seg_fields=['gt_seg_map']))
        valid = out['valid_mask']
        assert valid.dtype == bool and valid.shape == (9, 10)
        assert out['img'].shape == (9, 10, 3) and out['img_shape'] == (9, 10)
        assert valid.sum() == 5 * 7
        rows, cols = np.nonzero(valid)
        r0, c0 = rows.min(), cols.min()
        assert rows.max() - r0 == 4 and cols.max() - c0 == 6
        # The image pixels are exactly where valid is True.
        np.testing.assert_array_equal(out['img'][r0:r0 + 5, c0:c0 + 7], img)
        np.testing.assert_array_equal(out['img'][~valid],
                                      np.tile([1, 2, 3], ((~valid).sum(), 1)))
        np.testing.assert_array_equal(out['gt_seg_map'][r0:r0 + 5, c0:c0 + 7],
                                      seg)
        assert (out['gt_seg_map'][~valid] == 255).all()


def test_large_image_gives_random_window_all_valid():
    img = _coded_image(20, 30)
    seen = set()
    np.random.seed(0)
    for _ in range(30):
        out = RandomCropWithValid(crop_size=8)(dict(img=img.copy()))
        assert out['valid_mask'].all() and out['img'].shape == (8, 8, 3)
        # Recover the window offset from the coded pixel values.
        idx = int(out['img'][0, 0, 0]) + 251 * int(out['img'][0, 0, 1])
        top, left = divmod(idx, 30)
        assert 0 <= top <= 12 and 0 <= left <= 22
        np.testing.assert_array_equal(out['img'],
                                      img[top:top + 8, left:left + 8])
        seen.add((top, left))
    assert len(seen) > 10


def test_existing_valid_mask_is_cropped_along():
    img = _coded_image(4, 4)
    valid = np.zeros((4, 4), bool)
    valid[:2] = True
    out = RandomCropWithValid(crop_size=6)(dict(img=img, valid_mask=valid))
    assert out['valid_mask'].sum() == 8
    rows, cols = np.nonzero(out['valid_mask'])
    np.testing.assert_array_equal(out['img'][rows, cols], img[:2].reshape(
        -1, 3))


@pytest.mark.parametrize('kwargs, pattern', [
    (dict(crop_size=0), 'crop_size must be a positive int'),
    (dict(crop_size=(4, 5, 6)), 'crop_size must be'),
    (dict(seg_pad_val=300), r'seg_pad_val must be in 0\.\.255'),
])
def test_argument_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        RandomCropWithValid(**kwargs)
