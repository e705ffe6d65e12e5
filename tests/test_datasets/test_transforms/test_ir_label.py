"""LoadIRLabel: reads <ir_label_dir>/<img_id>.png, moves with the image."""
import cv2
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

from mmcpal.datasets.transforms.ir_label import LoadIRLabel
from mmcpal.pseudo.mask_io import save_mask


@pytest.fixture
def files(tmp_path):
    """An image whose grey level encodes the IR label (label * 20 + 10)."""
    label = np.zeros((30, 40), dtype=np.uint8)
    label[5:20, 3:15] = 1
    label[10:25, 25:38] = 3
    label[20:23, :] = 255
    img = np.where(label == 255, 250, label.astype(np.int32) * 20 + 10)
    img = np.repeat(img[..., None], 3, axis=2).astype(np.uint8)
    (tmp_path / 'ir').mkdir()
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    save_mask(str(tmp_path / 'ir' / 'a.png'), label)
    return tmp_path, label


def test_loads_into_gt_seg_map(files):
    root, label = files
    t = LoadIRLabel(ir_label_dir=str(root / 'ir'), num_classes=3)
    out = t(dict(img_id='a', img=np.zeros((30, 40, 3), np.uint8)))
    np.testing.assert_array_equal(out['gt_seg_map'], label)
    assert out['seg_fields'] == ['gt_seg_map']
    assert out['ir_label_path'] == str(root / 'ir' / 'a.png')


def test_moves_with_the_image(files):
    """Resize (nearest), flip and crop keep image and labels aligned; the
    crop pads the labels with 255 and packing gives gt_sem_seg."""
    init_default_scope('mmcpal')
    root, label = files
    np.random.seed(0)
    pipeline = Compose([
        dict(type='LoadImageChecked'),
        dict(type='LoadIRLabel', ir_label_dir=str(root / 'ir')),
        dict(type='RandomLongSideResize', scale_range=(48, 60),
             interpolation='nearest'),
        dict(type='RandomFlip', prob=1.0),
        dict(type='RandomCropWithValid', crop_size=(48, 48), seg_pad_val=255),
        dict(type='PackWSSSInputs'),
    ])
    out = pipeline(dict(img_path=str(root / 'a.png'), img_id='a'))
    seg = out['data_samples'].gt_sem_seg.data[0].numpy()
    valid = out['data_samples'].valid_mask.data[0].numpy()
    grey = out['inputs'][0].numpy().astype(np.int32)
    expected = np.where(grey == 250, 255, (grey - 10) // 20)
    assert valid.sum() > 0 and (~valid).sum() > 0
    np.testing.assert_array_equal(seg[valid], expected[valid])
    assert (seg[~valid] == 255).all()
    assert set(np.unique(seg[valid])) == {0, 1, 3, 255}
    assert out['data_samples'].metainfo['flip'] is True


def test_errors(files):
    root, label = files
    t = LoadIRLabel(ir_label_dir=str(root / 'ir'))
    with pytest.raises(FileNotFoundError, match=r"mask file .*b\.png"):
        t(dict(img_id='b'))
    with pytest.raises(ValueError, match=r"has size \(30, 40\) but image"):
        t(dict(img_id='a', img=np.zeros((10, 40, 3), np.uint8)))
    with pytest.raises(ValueError, match='already has a gt_seg_map'):
        t(dict(img_id='a', gt_seg_map=label))
    with pytest.raises(KeyError, match='no img_id'):
        t(dict())
    with pytest.raises(ValueError, match=r"holds 3, expected 0\.\.2 or 255"):
        LoadIRLabel(ir_label_dir=str(root / 'ir'), num_classes=2)(
            dict(img_id='a'))
    with pytest.raises(FileNotFoundError, match='does not exist; make the'):
        LoadIRLabel(ir_label_dir=str(root / 'nowhere'))(dict(img_id='a'))
    with pytest.raises(ValueError, match='non-empty folder path'):
        LoadIRLabel(ir_label_dir='')
