"""Tests of batched multi-scale CAM inference against the IRN-style loop."""
import pytest
import torch
import torch.nn as nn
from mmengine.model import ImgDataPreprocessor

from mmcpal.pseudo.multiscale import (multiscale_cam, multiscale_cam_batch,
                                      multiscale_cam_loop)


class TinyCAMNet(nn.Module):
    """A fixed random conv net at stride 4 with a CAM head (eval mode)."""

    def __init__(self, num_classes: int = 5, bgr_to_rgb: bool = True):
        super().__init__()
        torch.manual_seed(0)
        self.num_classes = num_classes
        self.data_preprocessor = ImgDataPreprocessor(
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=bgr_to_rgb)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, num_classes, 1, bias=False)
        self.calls = []
        self.eval()

    def forward_cam(self, inputs):
        self.calls.append(tuple(inputs.shape))
        return self.head(self.body(inputs))


class IdentityCAM(nn.Module):
    """CAM channel c = preprocessed input channel c (stride 1)."""

    def __init__(self, mean=(0., 0., 0.), bgr_to_rgb=False):
        super().__init__()
        self.num_classes = 3
        self.data_preprocessor = ImgDataPreprocessor(
            mean=list(mean), std=[1., 1., 1.], bgr_to_rgb=bgr_to_rgb)

    def forward_cam(self, inputs):
        return inputs.clone()


def _images(seed, sizes):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
        for h, w in sizes
    ]


def test_batched_equals_loop_per_image():
    model = TinyCAMNet()
    imgs = _images(1, [(37, 53), (37, 53), (41, 30), (37, 53)])
    labels = [[1, 0, 0, 1, 0], [0, 0, 1, 0, 0], [1, 1, 1, 1, 1],
              [0, 1, 0, 0, 1]]
    batched = multiscale_cam_batch(model, imgs, labels)
    for img, label, res in zip(imgs, labels, batched):
        ref = multiscale_cam_loop(model, img, label)
        assert res.cams.shape == ref.cams.shape == (
            sum(label), ) + tuple(img.shape[-2:])
        assert torch.equal(res.keys, ref.keys)
        torch.testing.assert_close(res.cams, ref.cams, atol=1e-5, rtol=1e-4)
        # max-normalised per class: every kept map peaks at ~1
        peaks = res.cams.flatten(1).max(1).values
        torch.testing.assert_close(peaks, torch.ones_like(peaks), atol=1e-3,
                                   rtol=0)


def test_channels_last_changes_nothing_but_speed():
    model = TinyCAMNet()
    imgs = _images(6, [(29, 35)] * 2)
    labels = [torch.ones(5), torch.ones(5)]
    fast = multiscale_cam_batch(model, imgs, labels)
    plain = multiscale_cam_batch(model, imgs, labels, channels_last=False)
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a.cams, b.cams, atol=1e-5, rtol=1e-4)


def test_keys_are_the_labelled_classes():
    model = TinyCAMNet()
    img = _images(2, [(33, 40)])[0]
    full = multiscale_cam(model, img, torch.ones(5))
    part = multiscale_cam(model, img, torch.tensor([0., 1., 0., 0., 1.]))
    assert part.keys.tolist() == [2, 5]
    # each kept class is normalised on its own: same maps as in `full`
    torch.testing.assert_close(part.cams, full.cams[[1, 4]])
    empty = multiscale_cam(model, img, torch.zeros(5))
    assert empty.cams.shape == (0, 33, 40) and empty.keys.numel() == 0


def test_flip_and_images_share_forwards():
    model = TinyCAMNet()
    imgs = _images(3, [(20, 24)] * 3)
    labels = [torch.ones(5)] * 3
    # fuse=False: the fused clone would record its calls in its own list
    multiscale_cam_batch(model, imgs, labels, scales=(1.0, 0.5), fuse=False)
    # one forward per scale holding 3 originals + 3 flips
    assert model.calls == [(6, 3, 20, 24), (6, 3, 10, 12)]
    model.calls.clear()
    # memory knob: at most one image (+ flip) per forward at scale 1
    out_small = multiscale_cam_batch(
        model, imgs, labels, scales=(1.0, 0.5), max_pixels_per_batch=1000,
        fuse=False)
    assert model.calls == [(2, 3, 20, 24)] * 3 + [(6, 3, 10, 12)]
    out_big = multiscale_cam_batch(model, imgs, labels, scales=(1.0, 0.5),
                                   fuse=False)
    for a, b in zip(out_small, out_big):
        torch.testing.assert_close(a.cams, b.cams)
    model.calls.clear()
    multiscale_cam_loop(model, imgs[0], labels[0], scales=(1.0, 0.5))
    assert model.calls == [(2, 3, 20, 24), (2, 3, 10, 12)]


def test_identity_cam_on_asymmetric_image():
    """One scale + flip: relu(x) + flip(relu(flip(x))) = 2 relu(x), so the
    result is relu(x) / max relu(x); a flip not undone would mirror it."""
    img = torch.zeros(3, 4, 6, dtype=torch.uint8)
    img[0, :, 0] = 200  # bright left column in channel 0 only
    img[0, 1, 1] = 100
    img[1] = torch.arange(6, dtype=torch.uint8) * 10  # ramp, max at right
    img[2] = 50
    model = IdentityCAM(mean=(20., 20., 20.))
    res = multiscale_cam(model, img, [1, 1, 1], scales=(1.0, ))
    x = (img.float() - 20).clamp(min=0)
    peak = x.flatten(1).max(1).values[:, None, None]
    expected = 2 * x / (2 * peak + 1e-5)
    torch.testing.assert_close(res.cams, expected)
    assert res.cams[0, 0, 0] > 0.99 and res.cams[0, 0, 5] == 0
    assert res.cams[1, 0, 5] > 0.99 and res.cams[1, 0, 0] == 0
    assert res.cams[1, 0, 2] == pytest.approx(0.0, abs=1e-6)  # 20 - 20
    assert res.cams[1, 0, 3] == pytest.approx(10 / 30, abs=1e-5)
    ref = multiscale_cam_loop(model, img, [1, 1, 1], scales=(1.0, ))
    torch.testing.assert_close(ref.cams, expected)


def test_identity_cam_constant_image_all_scales_and_bgr():
    """A constant BGR image (10, 20, 90) with bgr_to_rgb: CAM channels are
    (R, G, B) = (90, 20, 10) minus mean 15 -> (75, 5, -5); every scale and
    flip gives the same constant, so the sum is 8x it and the normalised
    maps are 8v / (8v + 1e-5) (0 for the negative class)."""
    img = torch.empty(3, 9, 7, dtype=torch.uint8)
    img[0], img[1], img[2] = 10, 20, 90
    model = IdentityCAM(mean=(15., 15., 15.), bgr_to_rgb=True)
    res = multiscale_cam(model, img, [1, 1, 1])
    for k, v in enumerate([75., 5., 0.]):
        expected = 8 * v / (8 * v + 1e-5)
        torch.testing.assert_close(res.cams[k], torch.full((9, 7), expected))
    res = multiscale_cam(model, img, [0, 1, 0])
    assert res.keys.tolist() == [2]


def test_extra_fn_maps_aggregated_like_cams():
    model = TinyCAMNet()
    img = _images(4, [(26, 31)])[0]
    label = [0, 1, 1, 0, 0]

    def extra_fn(inputs):
        cam = model.head(model.body(inputs))
        return {'double': 2 * cam, 'neg': -cam}

    res = multiscale_cam(model, img, label, extra_fn=extra_fn)
    ref = multiscale_cam_loop(model, img, label, extra_fn=extra_fn)
    assert sorted(res.extra) == ['double', 'neg']
    torch.testing.assert_close(res.extra['double'], res.cams, atol=1e-5,
                               rtol=1e-4)
    torch.testing.assert_close(res.extra['neg'], ref.extra['neg'],
                               atol=1e-5, rtol=1e-4)
    assert not torch.allclose(res.extra['neg'], res.cams)


def test_bad_inputs_raise_clear_errors():
    model = TinyCAMNet()
    img = _images(5, [(10, 10)])[0]
    with pytest.raises(ValueError, match='num_classes=5'):
        multiscale_cam(model, img, [1, 0])
    with pytest.raises(ValueError, match=r'\(3, H, W\)'):
        multiscale_cam(model, img.permute(1, 2, 0), [1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match='scales'):
        multiscale_cam(model, img, [1, 0, 0, 0, 0], scales=(1.0, 0.))
    with pytest.raises(ValueError, match='max_pixels_per_batch'):
        multiscale_cam(model, img, [1, 0, 0, 0, 0], max_pixels_per_batch=0)
