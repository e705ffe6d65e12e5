"""Tests of the inference-only fused clone (BatchNorm folding, oneDNN)."""
import warnings

import pytest
import torch
import torch.nn as nn
from mmengine.model import ImgDataPreprocessor

from mmcpal.pseudo.fuse import InferenceConv2d, fold_bn, fuse_for_inference
from mmcpal.pseudo.multiscale import multiscale_cam_batch, multiscale_cam_loop


def _bn(channels: int, seed: int) -> nn.BatchNorm2d:
    """An eval-mode BN with non-trivial statistics and affine parameters."""
    gen = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(channels)
    bn.running_mean.copy_(torch.randn(channels, generator=gen))
    bn.running_var.copy_(torch.rand(channels, generator=gen) + 0.5)
    bn.weight.data.copy_(torch.randn(channels, generator=gen))
    bn.bias.data.copy_(torch.randn(channels, generator=gen))
    return bn.eval()


class BNCAMNet(nn.Module):
    """conv-BN-ReLU, bias-free conv-BN-ReLU (stride 2, dilated), CAM head."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.num_classes = num_classes
        self.data_preprocessor = ImgDataPreprocessor(
            mean=[120., 110., 100.], std=[60., 60., 60.])
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = _bn(8, 1)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2,
                               bias=False)
        self.bn2 = _bn(8, 2)
        self.head = nn.Conv2d(8, num_classes, 1, bias=False)
        self.eval()

    def forward_cam(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.head(torch.relu(self.bn2(self.conv2(x))))


class SharedConvNet(BNCAMNet):
    """conv1's output feeds bn1 *and* a residual: folding would be wrong."""

    def forward_cam(self, x):
        y = self.conv1(x)
        x = torch.relu(self.bn1(y)) + y
        return self.head(torch.relu(self.bn2(self.conv2(x))))


def _input(seed: int = 0, size=(2, 3, 21, 26)) -> torch.Tensor:
    return torch.randn(size, generator=torch.Generator().manual_seed(seed))


def test_fold_bn_matches_hand_computation():
    conv = nn.Conv2d(2, 3, 1)
    bn = _bn(3, 5)
    w, b = fold_bn(conv.weight.detach(), conv.bias.detach(), bn)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(w[:, :, 0, 0], conv.weight[:, :, 0, 0] *
                               scale[:, None])
    torch.testing.assert_close(
        b, (conv.bias - bn.running_mean) * scale + bn.bias)
    x = _input(1, (1, 2, 5, 4))
    with torch.no_grad():
        torch.testing.assert_close(
            InferenceConv2d(w, b)(x), bn(conv(x)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('channels_last', [False, True])
def test_fused_clone_equals_model_and_model_untouched(channels_last):
    model = BNCAMNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = _input()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fused = fuse_for_inference(model, lambda m: m.forward_cam(x[:1]))
        ref, out = model.forward_cam(x), fused.forward_cam(x)
    assert fused is not model
    # both BNs folded away, every conv replaced
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert isinstance(fused.conv2, InferenceConv2d)
    assert isinstance(fused.head, InferenceConv2d)
    # the folded BN is not applied twice: values, not just shapes
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    assert ref.abs().max() > 0.1
    # the user's model keeps its modules, values and parameter objects
    assert isinstance(model.bn1, nn.BatchNorm2d)
    assert type(model.conv1) is nn.Conv2d
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert fused.head.weight.data_ptr() == model.head.weight.data_ptr()


def test_wrong_fold_is_caught_and_model_returned():
    model = SharedConvNet()
    x = _input(2)
    with pytest.warns(UserWarning, match='differs from the model'):
        out = fuse_for_inference(model, lambda m: m.forward_cam(x))
    assert out is model


def test_training_model_is_not_fused():
    model = BNCAMNet().train()
    x = _input(3)
    assert fuse_for_inference(model, lambda m: m.forward_cam(x)) is model


def test_mmpretrain_resnet_all_bns_folded():
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    net = ResNet(depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2))
    for m in net.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    x = _input(4, (1, 3, 48, 40)).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fused = fuse_for_inference(net, lambda m: m(x)[-1])
        ref, out = net(x)[-1], fused(x)[-1]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 20
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_multiscale_fused_equals_loop_with_extra_fn():
    model = BNCAMNet()
    gen = torch.Generator().manual_seed(7)
    imgs = [torch.randint(0, 256, (3, 23, 30), generator=gen,
                          dtype=torch.uint8) for _ in range(2)]
    labels = [[1, 0, 1, 0], [0, 1, 1, 1]]

    def extra_fn(inputs):  # runs on the user's (unfused) model
        return {'neg': -model.forward_cam(inputs)}

    with warnings.catch_warnings():
        warnings.simplefilter('error')
        fused = multiscale_cam_batch(model, imgs, labels, extra_fn=extra_fn)
    plain = multiscale_cam_batch(model, imgs, labels, fuse=False,
                                 extra_fn=extra_fn)
    for img, label, a, b in zip(imgs, labels, fused, plain):
        ref = multiscale_cam_loop(model, img, label, extra_fn=extra_fn)
        torch.testing.assert_close(a.cams, ref.cams, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(a.cams, b.cams, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(a.extra['neg'], ref.extra['neg'],
                                   atol=1e-5, rtol=1e-4)
        assert a.cams.max() > 0.99
    assert isinstance(model.bn1, nn.BatchNorm2d)
