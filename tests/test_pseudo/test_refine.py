"""refine_cams: each method against its building blocks."""
import numpy as np
import pytest

from mmcpal.pseudo.refine import refine_cams


def _case():
    cams = np.zeros((2, 6, 8), np.float32)
    cams[0, 1:4, 1:4] = 0.9
    cams[1, 2:5, 5:8] = 0.6
    cams[1, 0, 0] = 0.1
    keys = np.array([3, 7])
    image = np.zeros((6, 8, 3), np.uint8)
    image[1:4, 1:4] = (200, 30, 30)
    image[2:5, 5:8] = (30, 200, 30)
    return cams, keys, image


def test_none_is_the_thresholded_seed():
    cams, keys, _ = _case()
    mask = refine_cams(cams, keys, None, method='none', bg_threshold=0.5)
    expected = np.zeros((6, 8), np.uint8)
    expected[1:4, 1:4] = 3
    expected[2:5, 5:8] = 7
    assert mask.dtype == np.uint8
    assert np.array_equal(mask, expected)


def test_crf_and_ir_use_the_image():
    cams, keys, image = _case()
    crf = refine_cams(cams, keys, image, method='crf', bg_threshold=0.5)
    assert set(np.unique(crf)) <= {0, 3, 7}
    assert crf[2, 2] == 3 and crf[3, 6] == 7 and crf[5, 0] == 0
    ir = refine_cams(
        cams, keys, image, method='ir', bg_threshold=0.05, fg_threshold=0.7)
    # 0.6 of class 7 is below the fg threshold but above the bg one: unsure.
    assert ir[2, 2] == 3 and ir[3, 6] == 255 and ir[5, 0] == 0


def test_bad_arguments():
    cams, keys, image = _case()
    with pytest.raises(ValueError, match='method must be one of'):
        refine_cams(cams, keys, image, method='magic')
    with pytest.raises(ValueError, match='needs the image'):
        refine_cams(cams, keys, None, method='crf')
    with pytest.raises(ValueError, match='differ in size'):
        refine_cams(cams, keys, image[:3], method='crf')
