"""Test-time dense CRF wrappers: wiring, image reading, TTA merging."""
import importlib.util

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder, SegTTAModel
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from mmcpal.models.decode_heads import crf_postprocess
from mmcpal.models.decode_heads.crf_postprocess import (CRFEncoderDecoder,
                                                        CRFSegTTAModel,
                                                        crf_refine,
                                                        import_dense_crf,
                                                        load_rgb)

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build as MMSeg configs do (other tests may leave 'mmcpal' current)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield

H, W = 12, 16


class FakeCRF:
    """Records its inputs; returns the probabilities with classes reversed
    (so the argmax changes in a predictable way)."""

    def __init__(self):
        self.calls = []

    def __call__(self, image, probs, **kwargs):
        self.calls.append((image.copy(), probs.copy(), kwargs))
        return probs[::-1].copy()


@pytest.fixture
def fake_crf(monkeypatch):
    fake = FakeCRF()
    monkeypatch.setattr(crf_postprocess, 'import_dense_crf', lambda: fake)
    return fake


@pytest.fixture
def image_file(tmp_path):
    """A BGR file whose RGB content is known: left half red, right blue."""
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[:, :W // 2] = (0, 0, 255)  # red in BGR
    bgr[:, W // 2:] = (255, 0, 0)  # blue in BGR
    path = str(tmp_path / 'img.png')
    assert cv2.imwrite(path, bgr)
    rgb = bgr[..., ::-1].copy()
    return path, rgb


def _segmentor_cfg(**extra):
    return dict(
        backbone=dict(
            type='mmseg.ResNet', depth=18, base_channels=8,
            out_indices=(3, )),
        decode_head=dict(
            type='mmcpal.DeepLabV2Head', in_channels=64, num_classes=3),
        test_cfg=dict(mode='whole'),
        **extra)


def _sample(img_path, flip=False):
    sample = SegDataSample()
    sample.set_metainfo(
        dict(
            img_path=img_path,
            ori_shape=(H, W),
            img_shape=(H, W),
            padding_size=[0, 0, 0, 0],
            flip=flip,
            flip_direction='horizontal' if flip else None))
    return sample


def test_import_dense_crf_error_names_the_module(monkeypatch):
    monkeypatch.setattr(crf_postprocess, 'DENSE_CRF_MODULE',
                        'mmcpal.pseudo.no_such_crf_module')
    with pytest.raises(ImportError, match='no_such_crf_module'):
        import_dense_crf()


def test_load_rgb(image_file):
    path, rgb = image_file
    np.testing.assert_array_equal(load_rgb(path, (H, W)), rgb)
    with pytest.raises(ValueError, match='ori_shape'):
        load_rgb(path, (H + 1, W))
    with pytest.raises(FileNotFoundError, match='nope.png'):
        load_rgb(path.replace('img.png', 'nope.png'), (H, W))


def test_crf_refine_passes_numpy_and_checks_shape(image_file):
    _, rgb = image_file
    fake = FakeCRF()
    probs = torch.rand(3, H, W).softmax(0)
    out = crf_refine(probs, rgb, dict(iters=3), fake)
    image, passed, kwargs = fake.calls[0]
    assert image.dtype == np.uint8 and image.shape == (H, W, 3)
    assert passed.dtype == np.float32 and kwargs == dict(iters=3)
    torch.testing.assert_close(out, probs.flip(0))
    with pytest.raises(ValueError, match='matching the image'):
        crf_refine(torch.rand(3, H, W + 1), rgb, {}, fake)
    with pytest.raises(ValueError, match='returned shape'):
        crf_refine(probs, rgb, {}, lambda i, p: p[:2])


def test_encoder_decoder_without_crf_is_stock():
    torch.manual_seed(0)
    ours = CRFEncoderDecoder(**_segmentor_cfg())
    stock = EncoderDecoder(**_segmentor_cfg())
    stock.load_state_dict(ours.state_dict())
    ours.eval(), stock.eval()
    logits = torch.randn(1, 3, H, W)
    a = ours.postprocess_result(logits, [_sample('x.png')])[0]
    b = stock.postprocess_result(logits, [_sample('x.png')])[0]
    torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data)
    assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)


def test_encoder_decoder_applies_crf(fake_crf, image_file):
    path, rgb = image_file
    model = CRFEncoderDecoder(**_segmentor_cfg(crf=dict(iters=10)))
    logits = torch.randn(1, 3, H, W)
    # a flipped sample: MMSeg flips the logits back before the CRF sees them
    out = model.postprocess_result(logits.clone(), [_sample(path, True)])[0]
    assert len(fake_crf.calls) == 1
    image, probs, kwargs = fake_crf.calls[0]
    np.testing.assert_array_equal(image, rgb)
    assert kwargs == dict(iters=10)
    expected = logits[0].flip(-1).softmax(0)
    np.testing.assert_allclose(probs, expected.numpy(), atol=1e-6)
    reversed_probs = expected.flip(0)
    assert torch.equal(out.pred_sem_seg.data,
                       reversed_probs.argmax(0, keepdim=True))
    torch.testing.assert_close(out.seg_logits.data.exp(), reversed_probs)


def test_encoder_decoder_crf_needs_samples(fake_crf):
    model = CRFEncoderDecoder(**_segmentor_cfg(crf=dict()))
    with pytest.raises(ValueError, match='img_path'):
        model.postprocess_result(torch.randn(1, 3, H, W), None)
    with pytest.raises(TypeError, match='crf must be None or a dict'):
        CRFEncoderDecoder(**_segmentor_cfg(crf=True))


def _views(path, num_views=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    views = []
    for _ in range(num_views):
        sample = _sample(path)
        sample.seg_logits = PixelData(
            data=torch.randn(3, H, W, generator=gen) * 3)
        sample.gt_sem_seg = PixelData(
            data=torch.zeros(1, H, W, dtype=torch.long))
        views.append(sample)
    return views


def test_tta_without_crf_matches_mmseg(image_file):
    path, _ = image_file
    ours = CRFSegTTAModel(module=EncoderDecoder(**_segmentor_cfg()))
    stock = SegTTAModel(module=EncoderDecoder(**_segmentor_cfg()))
    views = _views(path)
    a = ours.merge_preds([views])[0]
    b = stock.merge_preds([[v.clone() for v in views]])[0]
    assert torch.equal(a.pred_sem_seg.data.squeeze(),
                       b.pred_sem_seg.data.squeeze())
    mean = torch.stack([v.seg_logits.data.softmax(0) for v in views]).mean(0)
    torch.testing.assert_close(a.seg_logits.data.exp(), mean)
    assert 'gt_sem_seg' in a


def test_tta_crf_runs_once_on_the_average(fake_crf, image_file):
    path, rgb = image_file
    model = CRFSegTTAModel(
        module=EncoderDecoder(**_segmentor_cfg()), crf=dict(iters=5))
    views = _views(path)
    out = model.merge_preds([views])[0]
    assert len(fake_crf.calls) == 1
    image, probs, kwargs = fake_crf.calls[0]
    np.testing.assert_array_equal(image, rgb)
    mean = torch.stack([v.seg_logits.data.softmax(0) for v in views]).mean(0)
    np.testing.assert_allclose(probs, mean.numpy(), atol=1e-6)
    assert torch.equal(out.pred_sem_seg.data,
                       mean.flip(0).argmax(0, keepdim=True))


def test_tta_refuses_a_segmentor_with_its_own_crf(fake_crf):
    inner = CRFEncoderDecoder(**_segmentor_cfg(crf=dict()))
    with pytest.raises(ValueError, match='already applies a CRF'):
        CRFSegTTAModel(module=inner, crf=dict())


@pytest.mark.skipif(
    importlib.util.find_spec('mmcpal.pseudo.crf') is None,
    reason='mmcpal.pseudo.crf (dense_crf) not available')
def test_real_dense_crf_follows_the_image_edge(image_file):
    """Blurry probabilities on a two-colour image snap to the colour edge."""
    path, rgb = image_file
    xs = torch.linspace(-1, 1, W)
    # class 1 score rises smoothly; the unary boundary sits 3 px left of the
    # colour edge (column W // 2).
    score = (xs[None, :].expand(H, W) + 6 / W) * 2
    probs = torch.stack([(-score).sigmoid(), score.sigmoid()])
    dense_crf = import_dense_crf()
    deeplab = dict(  # the configs' `deeplab_crf`
        iters=10,
        gauss_sxy=1,
        gauss_compat=3,
        bilateral_sxy=67,
        bilateral_srgb=3,
        bilateral_compat=4)
    refined = crf_refine(probs, load_rgb(path, (H, W)), deeplab, dense_crf)
    assert refined.shape == probs.shape
    torch.testing.assert_close(
        refined.sum(0), torch.ones(H, W), atol=1e-3, rtol=0)
    edge = torch.zeros(H, W, dtype=torch.long)
    edge[:, W // 2:] = 1
    assert (probs.argmax(0) == edge).float().mean() < 0.85
    assert torch.equal(refined.argmax(0), edge)
