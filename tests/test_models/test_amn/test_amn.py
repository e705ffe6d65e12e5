"""AMN: label conditioning, inference labels, loss wiring, predict."""
import pytest
import torch

from mmcpal.models.amn import LabelConditioning, expand_labels, modulate
from mmcpal.models.amn.grid_labels import (resize_labels_nearest,
                                           stack_ir_labels)
from mmcpal.models.amn.loss import balanced_smoothed_ce


def _inputs(n=2, size=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 60 - 30


def test_modulate_scales_channels():
    feat = torch.arange(8.0).view(1, 2, 2, 2)
    out = modulate(feat, torch.tensor([[2.0, -1.0]]))
    assert out[0, 0].tolist() == [[0.0, 2.0], [4.0, 6.0]]
    assert out[0, 1].tolist() == [[-4.0, -5.0], [-6.0, -7.0]]
    with pytest.raises(ValueError, match=r'\(1, 2\)'):
        modulate(feat, torch.ones(1, 3))


def test_label_conditioning_is_linear_code_times_features():
    cond = LabelConditioning(num_classes=3, channels=2)
    with torch.no_grad():
        cond.fc.weight.copy_(torch.tensor([[1.0, 0, 2], [0, 3, 0]]))
        cond.fc.bias.copy_(torch.tensor([0.5, -1.0]))
    feat = torch.ones(1, 2, 1, 1)
    out = cond(feat, torch.tensor([[1.0, 0, 1]]))
    # code = W y + b = (1 + 2 + 0.5, 0 - 1)
    assert out.flatten().tolist() == [3.5, -1.0]
    with pytest.raises(ValueError, match=r'labels must be \(B, 3\)'):
        cond(feat, torch.ones(1, 4))


def test_forward_logits_follow_the_design(amn_factory):
    """Z = classifier(F * (W y + b)): checked by hand composition; with a
    zero code the features vanish and Z is the sum of the biases."""
    model = amn_factory().eval()
    x = _inputs()
    y = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    with torch.no_grad():
        feat = model.extract_feat(x)[-1]
        code = y @ model.label_enc.fc.weight.T + model.label_enc.fc.bias
        manual = model.classifier(feat * code[..., None, None])
        z = model.forward_logits(x, y)
        assert torch.allclose(z, manual, atol=1e-5)
        # the label changes the output
        z_other = model.forward_logits(x, torch.tensor([[0.0, 1, 0]] * 2))
        assert not torch.allclose(z[0], z_other[0], atol=1e-4)
        assert torch.allclose(z[1], z_other[1], atol=1e-5)  # same label
        # a zero code (W = 0, b = 0): only the classifier biases remain
        model.label_enc.fc.weight.zero_()
        model.label_enc.fc.bias.zero_()
        for conv in model.classifier.branches:
            conv.bias.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
        z0 = model.forward_logits(x, y)
        expected = torch.tensor([0.2, 0.4, 0.6, 0.8])[None, :, None, None]
        assert torch.allclose(z0, expected.expand_as(z0), atol=1e-6)


def test_forward_cam_is_foreground_softmax(amn_factory):
    model = amn_factory().eval()
    x = _inputs()
    y = torch.tensor([1.0, 0, 1])
    with torch.no_grad():
        cam = model.forward_cam(x, y)
        z = model.forward_logits(x, y)
    assert cam.shape == (2, 3) + tuple(z.shape[-2:])
    assert torch.allclose(cam, z.softmax(1)[:, 1:])
    assert torch.allclose(cam.sum(1), 1 - z.softmax(1)[:, 0], atol=1e-6)


def test_inference_labels(amn_factory):
    model = amn_factory().eval()
    x = _inputs()
    y = torch.tensor([1.0, 0, 1])
    with torch.no_grad():
        ones = model.forward_cam(x, torch.ones(3))
        assert torch.allclose(model.forward_cam(x), ones)  # default
        assert torch.allclose(model(x), ones)  # mode='tensor'
        with model.conditioned_on(y):
            inside = model.forward_cam(x)
            with model.conditioned_on(None):
                assert torch.allclose(model.forward_cam(x), ones)
            assert torch.allclose(model.forward_cam(x), inside)
        assert torch.allclose(inside, model.forward_cam(x, y))
        assert not torch.allclose(inside, ones)
        assert model.inference_labels is None  # restored
        # (B, C) labels for [x_0, x_1, flip(x_0), flip(x_1)]
        y2 = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
        both = torch.cat([x, x.flip(-1)])
        with model.conditioned_on(y2):
            tiled = model.forward_cam(both)
        rows = model.forward_cam(both, torch.cat([y2, y2]))
        assert torch.allclose(tiled, rows)
    assert 'inference_labels' not in model.state_dict()


def test_expand_labels_errors():
    assert expand_labels(torch.ones(3), 4, 3).shape == (4, 3)
    with pytest.raises(ValueError, match=r'\(C,\) or \(B, C\) with C=3'):
        expand_labels(torch.ones(4), 2, 3)
    with pytest.raises(ValueError, match='2 label rows do not divide the 3'):
        expand_labels(torch.ones(2, 3), 3, 3)


def test_loss_equals_functional(amn_factory, samples_factory):
    model = amn_factory()
    x = _inputs()
    samples = samples_factory(2)
    losses = model.loss(x, samples)
    assert set(losses) == {'loss_pcl'}  # cpal=None: no loss_self
    labels = torch.stack([s.gt_label for s in samples])
    with torch.no_grad():
        z = model.forward_logits(x, labels)
        ir = stack_ir_labels([s.gt_sem_seg.data for s in samples], (64, 64))
        grid = resize_labels_nearest(ir, tuple(z.shape[-2:]))
        expected = balanced_smoothed_ce(z, grid, eps=0.4)
    assert losses['loss_pcl'].item() == pytest.approx(expected.item(),
                                                      rel=1e-5)


def test_loss_errors(amn_factory, samples_factory):
    model = amn_factory()
    samples = samples_factory(1)
    del samples[0].gt_sem_seg
    with pytest.raises(ValueError, match='LoadIRLabel'):
        model.loss(_inputs(1), samples)
    samples = samples_factory(1)
    del samples[0].gt_label
    with pytest.raises(ValueError, match='needs gt_label'):
        model.loss(_inputs(1), samples)
    with pytest.raises(AssertionError, match='cpal_cams'):
        amn_factory(cpal_cams='cam')


def test_predict_keeps_present_classes(amn_factory, samples_factory):
    model = amn_factory().eval()
    samples = samples_factory(2)
    samples[0].set_metainfo(dict(img_shape=(64, 56), ori_shape=(32, 28)))
    out = model.predict(_inputs(), samples)
    seg0 = out[0].pred_sem_seg.data
    assert seg0.shape == (1, 32, 28)
    assert set(seg0.unique().tolist()) <= {0, 1, 3}
    assert set(out[1].pred_sem_seg.data.unique().tolist()) <= {0, 2}
    assert out[0].cams.data.shape == (3, 32, 28)
    assert out[0].cams.data[1].abs().sum() == 0  # absent class 2
    assert out[0].cams.data[0].max() > 0
