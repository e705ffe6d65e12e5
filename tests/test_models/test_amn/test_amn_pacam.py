"""AMN + CPAL at inference: forward_pacam mirrors the training call of the
branch (features before conditioning, cpal_cams maps of the conditioned
logits), conditioned on the labels given or set with conditioned_on."""
import pytest
import torch

from mmcpal.models.cpal import parts_from_flat
from mmcpal.pseudo.multiscale import multiscale_cam_batch, multiscale_cam_loop


CPAL = parts_from_flat(in_channels=256 + 512, embed_dims=16, bank_size=8,
                       num_clusters=2, num_neighbours=2)


def _model(amn_factory, **kwargs):
    model = amn_factory(cpal=dict(CPAL), **kwargs).eval()
    g = torch.Generator().manual_seed(5)
    branch = model.cpal
    branch.context.copy_(torch.randn(branch.context.shape, generator=g))
    branch.context_count.fill_(2)
    branch.num_updates.fill_(1)
    return model


def _reference(model, x, rows):
    """Per row: predict_pacam(feats, cpal maps of the conditioned logits)."""
    with torch.no_grad():
        feats = model.extract_feat(x)
        logits = model.logits_from_feats(feats, rows)
        maps = (logits.softmax(1)[:, 1:] if model.cpal_cams == 'prob' else
                logits[:, 1:])
        return torch.cat([
            model.cpal.predict_pacam([f[i:i + 1] for f in feats],
                                     maps[i:i + 1], rows[i:i + 1],
                                     None)[:, 1:] for i in range(x.shape[0])
        ])


@pytest.mark.parametrize('cpal_cams', ['prob', 'logit'])
def test_forward_pacam_with_label_conditioning(amn_factory, cpal_cams):
    model = _model(amn_factory, cpal_cams=cpal_cams)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    x = x * 60 - 30
    labels = torch.tensor([[1., 0, 1], [0, 1, 0]])
    out = model.forward_pacam(x, labels)
    torch.testing.assert_close(out, _reference(model, x, labels))
    assert out.shape == model.forward_cam(x, labels).shape
    assert out[0, 1].abs().max() == 0 and out[1, 0].abs().max() == 0
    assert out[0, 0].max() > 0
    # labels=None uses the conditioned labels
    with model.conditioned_on(labels[0]):
        torch.testing.assert_close(model.forward_pacam(x[:1]), out[:1])
    # other conditioned labels give other present classes and maps
    with model.conditioned_on(torch.ones(3)):
        other = model.forward_pacam(x[:1])
    torch.testing.assert_close(
        other, _reference(model, x[:1], torch.ones(1, 3)))
    if cpal_cams == 'prob':  # logits may leave class 2's mask empty
        assert other[0, 1].max() > 0
    # the CAM half of forward_cam_pacam is forward_cam
    cams, _ = model.forward_cam_pacam(x, labels)
    torch.testing.assert_close(cams, model.forward_cam(x, labels))


def test_amn_multiscale_pacam_batched_equals_loop(amn_factory):
    model = _model(amn_factory)
    g = torch.Generator().manual_seed(2)
    imgs = [torch.randint(0, 256, (3, 48, 40), generator=g,
                          dtype=torch.uint8) for _ in range(2)]
    labels = [[1, 0, 1], [0, 1, 0]]
    batched = multiscale_cam_batch(model, imgs, labels, scales=(1.0, 0.5),
                                   pacam=True)
    for img, label, res in zip(imgs, labels, batched):
        with model.conditioned_on(torch.tensor(label, dtype=torch.float32)):
            loop = multiscale_cam_loop(model, img, label, scales=(1.0, 0.5),
                                       pacam=True)
        torch.testing.assert_close(res.extra['pacam'], loop.extra['pacam'],
                                   atol=1e-4, rtol=1e-3)
        torch.testing.assert_close(res.cams, loop.cams, atol=1e-4, rtol=1e-3)


def test_amn_without_branch(amn_factory):
    model = amn_factory().eval()
    with pytest.raises(ValueError, match=r'AMN: this model has no CPAL'):
        model.forward_pacam(torch.zeros(1, 3, 32, 32), torch.ones(3))
