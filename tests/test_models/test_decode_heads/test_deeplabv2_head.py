"""DeepLabV2Head: shapes, the branch sum, initialisation, no unused params."""
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules
from torch import nn

from mmcpal.models.decode_heads.deeplabv2_head import (DEEPLABV2_DILATIONS,
                                                       DeepLabV2Head,
                                                       aspp_sum)

register_all_modules(init_default_scope=False)


def naive_aspp(x: np.ndarray, weights, biases, dilations) -> np.ndarray:
    """Loop implementation of sum_b conv3x3(x, w_b, dilation=d_b) + b_b.

    Zero padding of d_b on each side keeps the size; tap (i, j) of a kernel
    reads x[y + (i - 1) d, x + (j - 1) d].
    """
    n, cin, h, w = x.shape
    cout = weights[0].shape[0]
    out = np.zeros((n, cout, h, w), np.float64)
    for weight, bias, d in zip(weights, biases, dilations):
        for b in range(n):
            for c in range(cout):
                for yy in range(h):
                    for xx in range(w):
                        acc = float(bias[c])
                        for i in range(3):
                            for j in range(3):
                                sy, sx = yy + (i - 1) * d, xx + (j - 1) * d
                                if 0 <= sy < h and 0 <= sx < w:
                                    acc += float(
                                        np.dot(weight[c, :, i, j],
                                               x[b, :, sy, sx]))
                        out[b, c, yy, xx] += acc
    return out


def _samples(labels: torch.Tensor):
    samples = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None])
        samples.append(sample)
    return samples


class TestDeepLabV2Head:

    def test_output_shape(self):
        head = DeepLabV2Head(16, num_classes=5)
        feats = (torch.randn(2, 8, 7, 9), torch.randn(2, 16, 7, 9))
        assert head(feats).shape == (2, 5, 7, 9)  # in_index=-1
        head0 = DeepLabV2Head(8, num_classes=3, in_index=0)
        assert head0(feats).shape == (2, 3, 7, 9)
        assert head.dilations == DEEPLABV2_DILATIONS == (6, 12, 18, 24)

    @pytest.mark.parametrize('dilations', [(1, 2, 3, 4), (6, 12, 18, 24)])
    def test_sum_of_branches_matches_loop(self, dilations):
        torch.manual_seed(0)
        head = DeepLabV2Head(3, num_classes=2, dilations=dilations)
        with torch.no_grad():
            for conv in head.aspp:
                conv.weight.normal_()
                conv.bias.normal_()
        # 13 x 14 so that dilation 6 and 12 reach inside, 18 / 24 only pad.
        x = torch.randn(1, 3, 13, 14)
        got = head((x, )).detach().numpy()
        expected = naive_aspp(
            x.numpy().astype(np.float64),
            [c.weight.detach().numpy() for c in head.aspp],
            [c.bias.detach().numpy() for c in head.aspp], dilations)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        # and each branch is the matching dilated nn.Conv2d
        single = aspp_sum(x, [head.aspp[0].weight], [head.aspp[0].bias],
                          dilations[:1])
        np.testing.assert_allclose(
            single.detach().numpy(),
            naive_aspp(x.numpy(), [head.aspp[0].weight.detach().numpy()],
                       [head.aspp[0].bias.detach().numpy()], dilations[:1]),
            rtol=1e-4,
            atol=1e-4)

    def test_layers(self):
        head = DeepLabV2Head(32, num_classes=21)
        assert not hasattr(head, 'conv_seg')
        assert head.dropout is None
        names = [n for n, _ in head.named_parameters()]
        assert names == [
            f'aspp.{i}.{p}' for i in range(4) for p in ('weight', 'bias')
        ]
        for conv, d in zip(head.aspp, (6, 12, 18, 24)):
            assert type(conv) is nn.Conv2d
            assert conv.kernel_size == (3, 3)
            assert conv.dilation == (d, d) and conv.padding == (d, d)
            assert conv.out_channels == 21 and conv.in_channels == 32
        assert not any(
            isinstance(m, (nn.BatchNorm2d, nn.AdaptiveAvgPool2d))
            for m in head.modules())
        with pytest.raises(NotImplementedError, match='no conv_seg'):
            head.cls_seg(torch.zeros(1, 32, 2, 2))

    def test_init_statistics(self):
        torch.manual_seed(0)
        head = DeepLabV2Head(256, num_classes=21)
        with torch.no_grad():  # make sure init_weights really overwrites
            for conv in head.aspp:
                conv.weight.fill_(1.)
                conv.bias.fill_(1.)
        head.init_weights()
        for conv in head.aspp:
            w = conv.weight.detach()
            # 48,384 draws: the std estimate is within 1 % (5 sigma < 2 %).
            assert abs(w.std().item() - 0.01) < 2e-4
            assert abs(w.mean().item()) < 2e-4
            assert torch.all(conv.bias == 0)

    def test_init_inside_segmentor(self):
        """The segmentor's init_weights reaches the head (init_std kept)."""
        torch.manual_seed(0)
        model = EncoderDecoder(
            backbone=dict(
                type='ResNet', depth=18, base_channels=8, out_indices=(3, )),
            decode_head=dict(
                type='mmcpal.DeepLabV2Head',
                in_channels=64,
                num_classes=21,
                init_std=0.02))
        with torch.no_grad():
            for conv in model.decode_head.aspp:
                conv.bias.fill_(3.)
        model.init_weights()
        for conv in model.decode_head.aspp:
            assert abs(conv.weight.std().item() - 0.02) < 1e-3
            assert torch.all(conv.bias == 0)

    def test_every_parameter_gets_a_gradient(self):
        torch.manual_seed(0)
        head = DeepLabV2Head(
            8,
            num_classes=4,
            loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
        head.init_weights()
        labels = torch.randint(0, 4, (2, 20, 24))
        labels[0, :5] = 255
        losses = head.loss((torch.randn(2, 8, 5, 6), ), _samples(labels),
                           dict())
        losses['loss_ce'].backward()
        for name, param in head.named_parameters():
            assert param.grad is not None, name
            assert param.grad.abs().sum() > 0, name
        assert 'conv_seg.weight' not in head.state_dict()

    def test_all_ignore_batch_gives_zero_finite_loss(self):
        head = DeepLabV2Head(
            8,
            num_classes=4,
            loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
        labels = torch.full((2, 10, 12), 255, dtype=torch.long)
        losses = head.loss((torch.randn(2, 8, 5, 6), ), _samples(labels),
                           dict())
        assert torch.isfinite(losses['loss_ce'])
        assert losses['loss_ce'].item() == 0.
        losses['loss_ce'].backward()
        assert all(
            torch.isfinite(p.grad).all() for p in head.parameters())

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match='do not pass `channels`'):
            DeepLabV2Head(8, channels=8, num_classes=3)
        with pytest.raises(ValueError, match='dilations'):
            DeepLabV2Head(8, num_classes=3, dilations=(6, 0))
        with pytest.raises(ValueError, match='dilations'):
            DeepLabV2Head(8, num_classes=3, dilations=())
        with pytest.raises(ValueError, match='in_channels'):
            DeepLabV2Head(0, num_classes=3)
        with pytest.raises(ValueError, match='init_std'):
            DeepLabV2Head(8, num_classes=3, init_std=0.)
        with pytest.raises(ValueError, match='equal length'):
            aspp_sum(torch.zeros(1, 1, 3, 3), [torch.zeros(1, 1, 3, 3)], [],
                     [1])


class _KeepsConvSeg(DeepLabV2Head):
    """Control: a head that still owns an unused 1x1 classifier."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.conv_seg = nn.Conv2d(self.in_channels, self.out_channels, 1)


def _ddp_two_steps(head: nn.Module, tmp_path) -> None:
    """Two forward/backward passes under DDP (find_unused_parameters=False);
    the second raises if a parameter got no gradient in the first."""
    dist.init_process_group(
        'gloo',
        timeout=timedelta(seconds=30),
        init_method=f'file://{tmp_path / "ddp_store"}',
        rank=0,
        world_size=1)
    try:
        model = nn.parallel.DistributedDataParallel(
            head, find_unused_parameters=False)
        for _ in range(2):
            logits = model((torch.randn(2, 8, 5, 6), ))
            loss = nn.functional.cross_entropy(
                logits, torch.randint(0, 3, (2, 5, 6)))
            loss.backward()
    finally:
        dist.destroy_process_group()


def test_ddp_without_find_unused_parameters(tmp_path):
    torch.manual_seed(0)
    _ddp_two_steps(DeepLabV2Head(8, num_classes=3), tmp_path)


def test_ddp_control_with_unused_conv_seg_fails(tmp_path):
    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match='not used in producing loss'):
        _ddp_two_steps(_KeepsConvSeg(8, num_classes=3), tmp_path)
