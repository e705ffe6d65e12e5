"""CAMClassifier: loss values, valid-mask pooling, predict, param groups."""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData

from mmcpal.models.classifiers import CAMClassifier
from mmcpal.models.classifiers.cam_ops import downsample_valid, masked_gap
from mmcpal.registry import MODELS
from mmcpal.structures import WSSSDataSample


@MODELS.register_module(force=True)
class _ToyBackbone(nn.Module):
    """Stride-4 two-stage toy backbone returning a tuple."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.stage2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.stage1(x))
        return a, torch.relu(self.stage2(a))


def _model(**kwargs):
    torch.manual_seed(0)
    return CAMClassifier(
        backbone=dict(type='_ToyBackbone'),
        num_classes=3,
        in_channels=6,
        **kwargs)


def _samples(labels, valid=None, shape=(16, 16)):
    out = []
    for i, lab in enumerate(labels):
        s = WSSSDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, img_id=str(i)))
        s.gt_label = torch.tensor(lab, dtype=torch.float32)
        if valid is not None:
            s.valid_mask = PixelData(data=valid[i])
        out.append(s)
    return out


def test_loss_equals_hand_computed_soft_margin():
    model = _model()
    x = torch.randn(2, 3, 16, 16)
    labels = [[1, 0, 1], [0, 1, 0]]
    loss = model.loss(x, _samples(labels))['loss_cls']
    cams = model.forward_cam(x)
    expected = 0.0
    for b in range(2):
        for c in range(3):
            s = cams[b, c].mean().item()
            y = labels[b][c]
            p = 1 / (1 + math.exp(-s))
            expected -= y * math.log(p) + (1 - y) * math.log(1 - p)
    expected /= 6
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_valid_mask_excludes_padding_from_scores():
    cams = torch.arange(16.).view(1, 1, 4, 4)
    valid = torch.zeros(1, 1, 4, 4)
    valid[..., :2, :2] = 1
    # cells 0, 1, 4, 5 -> mean 2.5
    assert masked_gap(cams, valid).item() == pytest.approx(2.5)
    assert masked_gap(cams).item() == pytest.approx(7.5)
    # 16x16 pixel mask, top-left 9x9 real -> on a 4x4 grid cells with > 50 %
    # real pixels: rows/cols 0,1 fully (8 px) and row/col 2 has 1/4 -> no.
    big = torch.zeros(1, 1, 16, 16)
    big[..., :9, :9] = 1
    small = downsample_valid(big, (4, 4))
    assert small[0, 0].tolist() == [[1, 1, 0, 0], [1, 1, 0, 0],
                                    [0, 0, 0, 0], [0, 0, 0, 0]]


def test_loss_uses_valid_mask():
    model = _model()
    x = torch.randn(1, 3, 16, 16)
    valid = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    valid[..., :8, :8] = True
    loss = model.loss(x, _samples([[1, 0, 0]], valid))['loss_cls']
    cams = model.forward_cam(x)  # 4x4 grid, top-left 2x2 valid
    scores = cams[..., :2, :2].mean(dim=(2, 3))
    expected = nn.functional.multilabel_soft_margin_loss(
        scores, torch.tensor([[1., 0., 0.]]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_predict_cams_and_scores():
    model = _model().eval()
    x = torch.randn(1, 3, 16, 16)
    sample = _samples([[0, 1, 0]], shape=(12, 14))[0]
    sample.set_metainfo(dict(img_shape=(12, 14), ori_shape=(24, 28)))
    out = model.predict(x, [sample])[0]
    cams = out.cams.data
    assert cams.shape == (3, 24, 28)
    assert torch.all(cams[0] == 0) and torch.all(cams[2] == 0)
    assert 0.99 < cams[1].max().item() < 1.0
    assert torch.all(cams >= 0)
    raw = model.forward_cam(x)
    assert torch.allclose(out.pred_score, raw.mean(dim=(2, 3))[0].sigmoid())
    assert torch.equal(out.gt_score, torch.tensor([0., 1., 0.]))


def test_new_layers_get_ten_times_the_lr():
    model = _model()
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9),
            paramwise_cfg=dict(custom_keys={
                'classifier': dict(lr_mult=10.0),
                'cpal': dict(lr_mult=10.0)
            })))
    lrs = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lrs[id(p)] = group['lr']
    assert lrs[id(model.classifier.weight)] == pytest.approx(1.0)
    assert lrs[id(model.backbone.stage1.weight)] == pytest.approx(0.1)


def test_forward_modes_and_bad_mode():
    model = _model()
    x = torch.randn(1, 3, 16, 16)
    assert model(x).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="mode must be"):
        model(x, mode='nope')


def test_conditioned_on_is_a_no_op():
    model = _model().eval()
    x = torch.randn(1, 3, 16, 16)
    plain = model.forward_cam(x)
    with model.conditioned_on(torch.tensor([1., 0., 0.])):
        assert torch.equal(model.forward_cam(x), plain)
