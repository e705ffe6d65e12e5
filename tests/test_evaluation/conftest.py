"""A tiny VOC-like folder with CAM files whose best threshold is known."""
import numpy as np
import pytest
from PIL import Image

from mmcpal.pseudo.cam_io import save_cams
from mmcpal.visualization.drawing import voc_palette

# Image 'a' (2 x 10): row 0 is scored, row 1 is GT 255 (ignored) although
# its CAM is high. Dyadic CAM values survive float16 storage exactly.
GT_A = np.array([[1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [255] * 10])
CAM_A = np.array([[
    0.875, 0.75, 0.625, 0.25, 0.1875, 0.125, 0.046875, 0.015625, 0.0078125, 0.0
], [0.875] * 10])
# Image 'b' (2 x 4): class 2 on the left half; right half CAM 0.0625.
GT_B = np.array([[2, 2, 0, 0], [2, 2, 0, 0]])
CAM_B = np.array([[0.5, 0.5, 0.0625, 0.0625], [0.5, 0.5, 0.0625, 0.0625]])
# Image 'c' has a GT (all background) but no CAM file.
GT_C = np.zeros((2, 3), np.int64)


def save_palette_png(path, labels) -> None:
    """Write labels as a VOC palette PNG (indices, not colours)."""
    img = Image.fromarray(np.asarray(labels, np.uint8), mode='P')
    img.putpalette(voc_palette().reshape(-1).tolist())
    img.save(path)


@pytest.fixture
def tiny_voc(tmp_path):
    """``dict(root, cam_dir, gt_dir, ids)`` of the tiny data set."""
    root = tmp_path / 'VOC'
    (root / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (root / 'SegmentationClass').mkdir()
    cam_dir = tmp_path / 'cams'
    cam_dir.mkdir()
    ids = ['a', 'b', 'c']
    (root / 'ImageSets' / 'Segmentation' /
     'train.txt').write_text('\n'.join(ids) + '\n')
    for img_id, gt in zip(ids, (GT_A, GT_B, GT_C)):
        save_palette_png(root / 'SegmentationClass' / f'{img_id}.png', gt)
    save_cams(str(cam_dir / 'a.npz'),
              CAM_A[None],
              np.array([1]),
              extra=dict(pacam=np.zeros((1, 2, 10))))
    save_cams(str(cam_dir / 'b.npz'),
              CAM_B[None],
              np.array([2]),
              extra=dict(pacam=np.zeros((1, 2, 4))))
    return dict(root=str(root),
                cam_dir=str(cam_dir),
                gt_dir=str(root / 'SegmentationClass'),
                ids=ids)


@pytest.fixture
def write_png():
    """The :func:`save_palette_png` helper, for tests that write masks."""
    return save_palette_png
