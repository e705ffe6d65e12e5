"""Tests of palette-PNG mask reading/writing."""
import os

import mmcv
import numpy as np
import pytest
from PIL import Image

from mmcpal.pseudo.mask_io import (VOC_PALETTE, is_complete, load_mask,
                                   mask_path, save_mask)


def _mask(seed=0, shape=(60, 80)):
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 21, shape).astype(np.uint8)
    mask[:5] = 255  # ignore border
    return mask


def test_round_trip_values_and_voc_palette(tmp_path):
    mask = _mask()
    path = mask_path(str(tmp_path), '2007_000032')
    assert path == str(tmp_path / '2007_000032.png')
    save_mask(path, mask)
    np.testing.assert_array_equal(load_mask(path), mask)
    assert os.listdir(tmp_path) == ['2007_000032.png']  # no tmp file left
    with Image.open(path) as image:
        assert image.mode == 'P'
        palette = np.array(image.getpalette()).reshape(-1, 3)
    # VOC devkit colours: background, aeroplane, person (15), ignore (255)
    assert palette[0].tolist() == [0, 0, 0]
    assert palette[1].tolist() == [128, 0, 0]
    assert palette[15].tolist() == [192, 128, 128]
    assert palette[255].tolist() == [224, 224, 192]
    np.testing.assert_array_equal(palette, VOC_PALETTE)
    # MMSeg's LoadAnnotations decodes with mmcv (pillow, 'unchanged')
    with open(path, 'rb') as f:
        decoded = mmcv.imfrombytes(f.read(), flag='unchanged',
                                   backend='pillow')
    np.testing.assert_array_equal(decoded, mask)


def test_custom_palette_and_overwrite(tmp_path):
    path = str(tmp_path / 'a.png')
    save_mask(path, np.zeros((4, 4), np.uint8))
    mask = np.array([[0, 1], [2, 255]], dtype=np.int64)
    save_mask(path, mask, palette=[[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    np.testing.assert_array_equal(load_mask(path), mask)
    with Image.open(path) as image:
        assert image.getpalette()[:9] == list(range(1, 10))


def test_truncated_or_missing_file_is_not_complete(tmp_path):
    path = str(tmp_path / 'm.png')
    save_mask(path, _mask(1))
    assert is_complete(path)
    data = open(path, 'rb').read()
    for cut in (len(data) // 2, len(data) - 12, len(data) - 1, 10):
        with open(path, 'wb') as f:
            f.write(data[:cut])
        assert not is_complete(path), cut
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(ValueError, match='m.png'):
        load_mask(path)
    assert not is_complete(str(tmp_path / 'missing.png'))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_mask(str(tmp_path / 'missing.png'))


def test_bad_masks_raise(tmp_path):
    path = str(tmp_path / 'x.png')
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        save_mask(path, np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match='0..255'):
        save_mask(path, np.full((2, 2), 256))
    with pytest.raises(ValueError, match='integer'):
        save_mask(path, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match='does not exist'):
        save_mask(str(tmp_path / 'no' / 'x.png'), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match='.png'):
        save_mask(str(tmp_path / 'x.jpg'), np.zeros((2, 2), np.uint8))
    assert os.listdir(tmp_path) == []
