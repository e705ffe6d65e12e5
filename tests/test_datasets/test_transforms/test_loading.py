"""Tests of LoadImageChecked and LoadSegMap."""
import cv2
import numpy as np
import pytest

from mmcpal.datasets.transforms.loading import LoadImageChecked, LoadSegMap


def test_load_image_checked_reads_pixels(tmp_path):
    img = np.random.RandomState(0).randint(0, 256, (5, 6, 3), dtype=np.uint8)
    path = str(tmp_path / 'x.png')
    cv2.imwrite(path, img)
    out = LoadImageChecked()(dict(img_path=path))
    np.testing.assert_array_equal(out['img'], img)
    assert out['img_shape'] == (5, 6) and out['ori_shape'] == (5, 6)


def test_load_image_checked_errors(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'image file not found: .*nope\.jpg'):
        LoadImageChecked()(dict(img_path=str(tmp_path / 'nope.jpg')))
    for name, content in [('bad.jpg', b'garbage bytes'), ('empty.jpg', b'')]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError,
                           match=rf'cannot decode image file .*{name}'):
            LoadImageChecked()(dict(img_path=str(path)))
        assert LoadImageChecked(ignore_empty=True)(
            dict(img_path=str(path))) is None


def test_load_seg_map(tmp_path, voc_helpers):
    res = dict(seg_map_path=None, seg_fields=[])
    assert LoadSegMap()(res) == dict(seg_map_path=None, seg_fields=[])
    mask = np.zeros((4, 5), np.uint8)
    mask[1:3, 1:4] = 15
    mask[0] = 255
    path = str(tmp_path / 'm.png')
    voc_helpers.write_mask(path, mask)
    out = LoadSegMap()(dict(seg_map_path=path))
    # Palette indices, not colours (Pillow decoding).
    np.testing.assert_array_equal(out['gt_seg_map'], mask)
    assert out['seg_fields'] == ['gt_seg_map']
    with pytest.raises(FileNotFoundError,
                       match=r'mask file not found: .*g\.png'):
        LoadSegMap()(dict(seg_map_path=str(tmp_path / 'g.png')))
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'\x89PNG nope')
    with pytest.raises(ValueError,
                       match=r'cannot decode mask file .*bad\.png'):
        LoadSegMap()(dict(seg_map_path=str(bad)))
