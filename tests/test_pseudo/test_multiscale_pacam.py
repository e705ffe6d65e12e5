"""PACAM through multi-scale inference (``pacam=True``) against a slow
reference that calls ``CPALBranch.predict_pacam`` by hand per scale and
flip, for a CAMClassifier whose context prototypes are known vectors."""
from typing import List

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmcpal.models.classifiers import CAMClassifier
from mmcpal.models.cpal import parts_from_flat
from mmcpal.pseudo.multiscale import (multiscale_cam, multiscale_cam_batch,
                                      multiscale_cam_loop, preprocess,
                                      scaled_size)
from mmcpal.registry import MODELS

C = 3
SCALES = (1.0, 0.5, 1.5)


@MODELS.register_module(force=True)
class _PacamToyBackbone(nn.Module):
    """Two stages (stride 2 and 4), with BatchNorm so fusing folds it."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1, bias=False),
                                    nn.BatchNorm2d(4), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(4, 6, 3, 2, 1, bias=False),
                                    nn.BatchNorm2d(6), nn.ReLU())

    def forward(self, x):
        a = self.stage1(x)
        return a, self.stage2(a)


def make_model(with_cpal: bool = True, seed: int = 0) -> CAMClassifier:
    """Toy CAMClassifier; its branch holds seeded context prototypes."""
    torch.manual_seed(seed)
    cpal = parts_from_flat(in_channels=4 + 6, embed_dims=8, bank_size=4,
                           num_clusters=3,
                           num_neighbours=2) if with_cpal else None
    model = CAMClassifier(backbone=dict(type='_PacamToyBackbone'),
                          num_classes=C, in_channels=6, cpal=cpal,
                          data_preprocessor=dict(
                              type='ImgDataPreprocessor',
                              mean=[123.675, 116.28, 103.53],
                              std=[58.395, 57.12, 57.375]))
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    if with_cpal:
        set_context(model, seed)
    return model.eval()


def set_context(model: CAMClassifier, seed: int) -> None:
    """Fill the branch's context buffers with known vectors."""
    g = torch.Generator().manual_seed(100 + seed)
    branch = model.cpal
    branch.context.copy_(torch.randn(branch.context.shape, generator=g))
    branch.context_count.fill_(branch.num_clusters)
    branch.num_updates.fill_(1)


def images(sizes, seed=1) -> List[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
            for h, w in sizes]


def reference_pacam(model, img, label, scales=SCALES, flip=True):
    """Per scale, per view: predict_pacam on the host's features and raw
    CAM, ReLU, upsample, flip back, sum; keep the labels; max-normalise."""
    size = tuple(img.shape[-2:])
    label = torch.as_tensor(label, dtype=torch.float32)
    total = torch.zeros(C, *size)
    with torch.no_grad():
        for s in scales:
            x = F.interpolate(img[None].float(), size=scaled_size(size, s),
                              mode='bilinear', align_corners=False)
            x = preprocess(model, x)
            views = [(x, False), (x.flip(-1), True)] if flip else [(x, False)]
            for view, flipped in views:
                feats = model.extract_feat(view)
                cams = model.cam_from_feats(feats)
                p = model.cpal.predict_pacam(feats, cams, label[None],
                                             None)[:, 1:]
                up = F.interpolate(F.relu(p), size=size, mode='bilinear',
                                   align_corners=False)[0]
                total += up.flip(-1) if flipped else up
    sel = total[label > 0]
    peak = sel.flatten(1).max(1).values
    return sel / (peak[:, None, None] + 1e-5)


def test_loop_equals_hand_reference_and_is_not_the_cam():
    model = make_model()
    img = images([(33, 41)])[0]
    label = [1, 0, 1]
    res = multiscale_cam_loop(model, img, label, scales=SCALES, pacam=True)
    ref = reference_pacam(model, img, label)
    torch.testing.assert_close(res.extra['pacam'], ref, atol=1e-5, rtol=1e-4)
    assert res.extra['pacam'].shape == res.cams.shape == (2, 33, 41)
    # the CAM is the same as without PACAM, and differs from the PACAM
    plain = multiscale_cam_loop(model, img, label, scales=SCALES)
    torch.testing.assert_close(res.cams, plain.cams)
    assert (res.extra['pacam'] - res.cams).abs().max() > 0.05
    # the checkpoint's context prototypes matter
    set_context(model, seed=7)
    other = multiscale_cam_loop(model, img, label, scales=SCALES, pacam=True)
    assert (other.extra['pacam'] - res.extra['pacam']).abs().max() > 1e-3


@pytest.mark.parametrize('fuse', [False, True])
def test_batched_equals_loop(fuse):
    model = make_model()
    imgs = images([(33, 41), (33, 41), (27, 20), (33, 41)], seed=2)
    labels = [[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1]]
    batched = multiscale_cam_batch(model, imgs, labels, scales=SCALES,
                                   fuse=fuse, pacam=True)
    for img, label, res in zip(imgs, labels, batched):
        ref = reference_pacam(model, img, label)
        loop = multiscale_cam_loop(model, img, label, scales=SCALES,
                                   pacam=True)
        torch.testing.assert_close(res.extra['pacam'], ref, atol=1e-4,
                                   rtol=1e-3)
        torch.testing.assert_close(res.extra['pacam'], loop.extra['pacam'],
                                   atol=1e-4, rtol=1e-3)
        torch.testing.assert_close(res.cams, loop.cams, atol=1e-4, rtol=1e-3)


def test_without_flip_and_single_image_api():
    model = make_model()
    img = images([(25, 31)], seed=3)[0]
    res = multiscale_cam(model, img, [0, 1, 1], scales=(1.0, 0.5),
                         flip=False, pacam=True)
    ref = reference_pacam(model, img, [0, 1, 1], scales=(1.0, 0.5),
                          flip=False)
    torch.testing.assert_close(res.extra['pacam'], ref, atol=1e-4, rtol=1e-3)


def test_model_without_branch_is_refused():
    model = make_model(with_cpal=False)
    img = images([(16, 16)])[0]
    with pytest.raises(ValueError, match=r'no CPAL branch \(model\.cpal\)'):
        multiscale_cam(model, img, [1, 0, 0], pacam=True)
    with pytest.raises(ValueError, match='--cam-type pacam needs one'):
        model.forward_pacam(torch.zeros(1, 3, 16, 16), torch.ones(C))


def test_extra_fn_may_not_shadow_pacam():
    model = make_model()
    img = images([(16, 16)])[0]
    with pytest.raises(ValueError, match='pacam'):
        multiscale_cam_loop(model, img, [1, 0, 0], pacam=True,
                            extra_fn=lambda x: {'pacam': x[:, :C]})


def test_forward_pacam_rows_are_independent():
    """A row's PACAM does not depend on the other rows of its batch."""
    model = make_model()
    x = torch.randn(3, 3, 24, 24)
    labels = torch.tensor([[1., 0, 1], [0, 1, 0], [1, 1, 0]])
    together = model.forward_pacam(x, labels)
    for i in range(3):
        alone = model.forward_pacam(x[i:i + 1], labels[i])
        torch.testing.assert_close(together[i:i + 1], alone)
    # absent classes are zero
    assert together[0, 1].abs().max() == 0
    assert together[0, 0].max() > 0
