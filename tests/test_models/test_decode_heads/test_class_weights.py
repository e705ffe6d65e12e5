"""Median-frequency class weights from mask files, checked by hand."""
import numpy as np
import pytest
from PIL import Image

from mmcpal.models.decode_heads.class_weights import (count_class_pixels,
                                                      median_frequency_weights)


def _write(path, mask):
    Image.fromarray(np.asarray(mask, np.uint8)).save(path)
    return str(path)


def test_counts_and_weights_by_hand(tmp_path):
    # image a: 6 px of class 0, 2 px of class 1, 4 ignore
    a = _write(tmp_path / 'a.png', [[0, 0, 0, 1], [0, 0, 0, 1],
                                    [255, 255, 255, 255]])
    # image b: 1 px of class 0, 3 px of class 2
    b = _write(tmp_path / 'b.png', [[0, 2], [2, 2]])
    class_pixels, image_pixels = count_class_pixels([a, b], num_classes=4)
    np.testing.assert_array_equal(class_pixels, [7, 2, 3, 0])
    # class 0 is in both images (8 + 4 labelled px), 1 in a, 2 in b
    np.testing.assert_array_equal(image_pixels, [12, 8, 4, 0])
    weights = median_frequency_weights(class_pixels, image_pixels)
    freq = np.array([7 / 12, 2 / 8, 3 / 4])
    median = np.median(freq)  # 7/12
    np.testing.assert_allclose(weights, [*(median / freq), 0.], rtol=1e-6)
    assert weights[3] == 0.  # absent class


def test_bad_masks_and_inputs(tmp_path):
    bad = _write(tmp_path / 'bad.png', [[0, 5]])
    with pytest.raises(ValueError, match='bad.png'):
        count_class_pixels([bad], num_classes=3)
    with pytest.raises(ValueError, match='num_classes'):
        count_class_pixels([], num_classes=0)
    with pytest.raises(ValueError, match='no labelled pixel'):
        median_frequency_weights(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match='one shape'):
        median_frequency_weights(np.ones(3), np.ones(2))
