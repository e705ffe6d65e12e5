"""Builders shared by the AMN tests (fixtures; never import tests.x)."""
import pytest
import torch
from mmengine.structures import PixelData

from mmcpal.models.amn import AMN
from mmcpal.structures import WSSSDataSample

CAFFE = dict(
    type='ImgDataPreprocessor',
    mean=[103.939, 116.779, 123.68],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False)


def build_amn(cpal=None, seed=0, **kwargs):
    """A small AMN on random-init SqueezeNet (no weight download)."""
    torch.manual_seed(seed)
    args = dict(
        backbone=dict(type='SqueezeNet', out_indices=(2, 3)),
        num_classes=3,
        in_channels=512,
        dilations=(1, 2),
        dropout_ratio=0.0,
        cpal=cpal,
        data_preprocessor=CAFFE)
    args.update(kwargs)
    return AMN(**args)


def make_samples(n, size=64, seed=0):
    """Samples with labels [1, 0, 1] / [0, 1, 0], IR maps and a valid mask
    whose last 8 columns are crop padding."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        s = WSSSDataSample(metainfo=dict(img_id=str(i)))
        present = [1, 3] if i % 2 == 0 else [2]
        s.gt_label = torch.tensor(
            [float(c + 1 in present) for c in range(3)])
        ir = torch.zeros(size, size, dtype=torch.long)
        for k, c in enumerate(present):
            y, x = torch.randint(0, size // 2, (2, ), generator=g).tolist()
            ir[y:y + size // 3, x + k:x + k + size // 3] = c
        ir[size // 2, :] = 255
        valid = torch.ones(size, size, dtype=torch.bool)
        valid[:, -8:] = False
        ir[~valid] = 255
        s.gt_sem_seg = PixelData(data=ir[None])
        s.valid_mask = PixelData(data=valid[None])
        out.append(s)
    return out


@pytest.fixture
def amn_factory():
    return build_amn


@pytest.fixture
def samples_factory():
    return make_samples
