"""Each registered CPAL part on its own, against hand values or the
functional core; the second reading's new maths against slow loops; a part
replaced from a user's own scope."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS as ROOT
from mmengine.registry import Registry

from mmcpal.models.cpal import (DEFAULT_PARTS, CPALBranch, MLPProjectionHead,
                                NoAlignment, PACAMLoss, PixelShiftAlignment,
                                PrototypeBackground, PrototypeShiftAlignment,
                                SideProjectionHead, SoftmaxPositiveness,
                                SphericalKMeans, StandardisedPositiveness,
                                TopKNeighbours, UniformPositiveness)
from mmcpal.models.cpal import functional as fn
from mmcpal.registry import MODELS


# --------------------------------------------------------------------------
# positiveness
# --------------------------------------------------------------------------
def test_standardised_positiveness_hand_values():
    p = torch.tensor([[1.0, 0.0]])
    nb = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]])
    w = StandardisedPositiveness()(p, nb)
    z = 1.0 / math.sqrt(2.0 / 3.0)  # (s - mean) / std for s = 1, 2, 3
    e = [math.exp(-z), 1.0, math.exp(z)]
    want = torch.tensor([[v / sum(e) for v in e]])
    torch.testing.assert_close(w, want, rtol=1e-5, atol=1e-6)


def test_standardised_positiveness_is_scale_free_and_soft():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(5, 16, generator=g)
    nb = torch.randn(5, 20, 16, generator=g)
    w = fn.standardised_positiveness(p, nb)
    torch.testing.assert_close(w, fn.standardised_positiveness(p * 1e3, nb),
                               rtol=1e-4, atol=1e-6)
    # the first reading at scale 1e3 is one-hot; this one stays soft
    hard = fn.positiveness(p * 1e3, nb)
    ent = lambda x: torch.exp(-(x * x.clamp(min=1e-12).log()).sum(1))  # noqa
    assert torch.allclose(ent(hard), torch.ones(5), atol=1e-3)
    assert (ent(w) > 5).all() and (ent(w) < 20).all()


def test_standardised_positiveness_one_neighbour_equal_scores_padding():
    p = torch.tensor([[1.0, 2.0]])
    assert fn.standardised_positiveness(p, p[:, None]).item() == 1.0
    nb = p[:, None].expand(1, 3, 2)
    torch.testing.assert_close(fn.standardised_positiveness(p, nb),
                               torch.full((1, 3), 1 / 3))
    nb = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    w = fn.standardised_positiveness(p, nb, neighbour_mask=mask)
    want = fn.standardised_positiveness(p, nb[:, :2])
    torch.testing.assert_close(w[:, :2], want)
    assert w[0, 2] == 0


@pytest.mark.parametrize('metric', ['dot', 'cosine', 'l1', 'l2'])
def test_softmax_and_uniform_positiveness_equal_the_functional_core(metric):
    g = torch.Generator().manual_seed(1)
    p, nb = torch.randn(3, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    part = SoftmaxPositiveness(metric=metric, temperature=0.5)
    torch.testing.assert_close(part(p, nb),
                               fn.positiveness(p, nb, metric, scale=0.5))
    torch.testing.assert_close(UniformPositiveness()(p, nb),
                               torch.full((3, 5), 0.2))
    with pytest.raises(ValueError, match='`metric` must be one of'):
        StandardisedPositiveness(metric='uniform')


# --------------------------------------------------------------------------
# neighbours, clustering, alignment, loss
# --------------------------------------------------------------------------
def test_neighbours_and_clustering_equal_the_functional_core():
    g = torch.Generator().manual_seed(2)
    p, ctx = torch.randn(4, 6, generator=g), torch.randn(7, 6, generator=g)
    idx, _ = fn.select_neighbours(p, ctx, 3)
    assert torch.equal(TopKNeighbours(num_neighbours=3)(p, ctx), idx)
    assert TopKNeighbours(num_neighbours=None)(p, ctx).shape == (4, 7)
    assert TopKNeighbours(num_neighbours=30).max_neighbours(7) == 7
    x = torch.randn(2, 30, 6, generator=g)
    counts = torch.tensor([30, 12])
    got = SphericalKMeans(num_clusters=4, iters=20, seed=3)(x, counts)
    want = fn.batched_spherical_kmeans(x, counts, k=4, iters=20, seed=3)
    for a, b in zip(got, want):
        assert torch.equal(a, b)


def test_alignment_parts():
    p = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    ctx = torch.tensor([[1.0, 1.0], [3.0, 1.0], [-1.0, 0.0]])
    select = TopKNeighbours(num_neighbours=1)
    nb = ctx[select(p, ctx)]
    delta = nb.mean(dim=(0, 1)) - p.mean(dim=0)
    q, nb2, shift = PixelShiftAlignment()(p, nb, ctx, select)
    assert q is p and nb2 is nb
    torch.testing.assert_close(shift, delta)
    q, nb2, shift = PrototypeShiftAlignment()(p, nb, ctx, select)
    assert shift is None
    torch.testing.assert_close(q, p + delta)
    assert torch.equal(nb2, ctx[select(p + delta, ctx)])
    assert NoAlignment()(p, nb, ctx, select) == (p, nb, None)
    assert PixelShiftAlignment.pixel_region == 'all'
    assert PrototypeShiftAlignment.pixel_region is None


def test_pacam_loss_equals_the_functional_core():
    g = torch.Generator().manual_seed(4)
    cam, pa = torch.rand(2, 4, 3, 3, generator=g), torch.rand(
        2, 4, 3, 3, generator=g)
    labels = torch.tensor([[True, False, True], [True, True, False]])
    use = torch.tensor([[True, False, False], [True, True, False]])
    loss = PACAMLoss(loss_weight=0.5, channels='present')
    sel = torch.cat([torch.ones(2, 1, dtype=torch.bool), use], 1)
    torch.testing.assert_close(
        loss(cam, pa, labels=labels, use=use, valid=None),
        0.5 * fn.self_supervised_loss(cam, pa, None, sel))
    # 'all': every channel but present classes without a PACAM (class 2 of
    # image 0)
    sel = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]).bool()
    torch.testing.assert_close(
        PACAMLoss()(cam, pa, labels=labels, use=use, valid=None),
        fn.self_supervised_loss(cam, pa, None, sel))


# --------------------------------------------------------------------------
# heads
# --------------------------------------------------------------------------
def test_side_projection_head_by_hand():
    torch.manual_seed(0)
    head = SideProjectionHead(in_channels=(3, 5), out_channels=(2, 4),
                              in_index=(0, 1))
    assert head.embed_dims == 6
    assert all(s.bias is None for s in head.sides)
    f0, f1 = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 4, 4)
    z = head([f0, f1], (4, 4))
    u0 = torch.einsum('oi,bihw->bohw', head.sides[0].weight[..., 0, 0], f0)
    u0 = u0 / (u0.norm(dim=1, keepdim=True) + 1e-5)
    u0 = F.interpolate(u0, size=(4, 4), mode='bilinear', align_corners=False)
    u1 = torch.einsum('oi,bihw->bohw', head.sides[1].weight[..., 0, 0], f1)
    u1 = u1 / (u1.norm(dim=1, keepdim=True) + 1e-5)
    torch.testing.assert_close(z, torch.cat([u0, u1], 1), rtol=1e-5,
                               atol=1e-6)
    # the same-size stage keeps unit norm per pixel exactly
    torch.testing.assert_close(z[:, 2:].norm(dim=1), torch.ones(2, 4, 4),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match='expected 5 channels'):
        head([f0, f0], (4, 4))
    assert SideProjectionHead(in_channels=(1, 2, 3, 4)).out_channels == (
        128, 128, 256, 256)


def test_mlp_head_matches_projection_of_the_concatenation():
    torch.manual_seed(0)
    head = MLPProjectionHead(in_channels=7, in_index=(-2, -1), embed_dims=4,
                             normalize=True)
    a, b = torch.randn(1, 3, 2, 2), torch.randn(1, 4, 4, 4)
    x = torch.cat([F.interpolate(a, size=(4, 4), mode='bilinear',
                                 align_corners=False), b], 1)
    want = F.normalize(head.conv2(F.relu(head.conv1(x))), dim=1)
    torch.testing.assert_close(head([a, b], (4, 4)), want)


# --------------------------------------------------------------------------
# background
# --------------------------------------------------------------------------
def _slow_sipe_seeds(cam, feats, labels, valid, bg_factor=0.5):
    b, c1, h, w = cam.shape
    out = torch.zeros(b, c1, h, w, dtype=torch.bool)
    for n in range(b):
        pix = [(y, x) for y in range(h) for x in range(w)
               if valid[n, 0, y, x] > 0]
        f = {q: feats[n, :, q[0], q[1]] for q in pix}
        f = {q: v / max(float(v.norm()), 1e-12) for q, v in f.items()}
        allowed = [0] + [c + 1 for c in range(c1 - 1) if labels[n, c] > 0]
        for i in pix:
            r = {j: max(float(f[i] @ f[j]), 0.0) for j in pix}
            best, arg = -1.0, None
            for c in allowed:
                inter = sum(r[j] * float(cam[n, c, j[0], j[1]]) for j in pix)
                union = sum(r.values()) + sum(
                    float(cam[n, c, j[0], j[1]]) for j in pix) - inter
                iou = inter / union
                iou = iou * bg_factor if c == 0 else iou
                if iou > best:
                    best, arg = iou, c
            out[n, arg, i[0], i[1]] = True
    return out


def test_sipe_seeds_equal_a_slow_loop():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 4, 5, generator=g)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    valid = torch.ones(2, 1, 4, 5)
    valid[1, :, :, -1] = 0
    cam = fn.cam_from_logits(logits, labels, valid)
    feats = torch.randn(2, 6, 4, 5, generator=g)
    got = fn.sipe_seeds(cam, feats, labels, valid)
    assert torch.equal(got, _slow_sipe_seeds(cam, feats, labels, valid))
    assert not got[0, 2].any()  # class 1 is absent from image 0
    assert not got[1, 1].any() and not got[1, 3].any()
    assert not got[1, :, :, -1].any()  # padding in no seed
    assert got[0].sum(0).eq(1).all()  # a partition of the valid cells


def test_prototype_background_by_hand_and_fallback():
    g = torch.Generator().manual_seed(6)
    z = torch.randn(2, 4, 3, 3, generator=g)
    cam = torch.zeros(2, 3, 3, 3)
    cam[:, 1] = 0.8          # one foreground class everywhere...
    cam[0, 0, 0, :] = 0.9    # ...but image 0's top row is background
    cam[0, 1, 0, :] = 0.1
    labels = torch.tensor([[True, False], [True, False]])
    fg = torch.rand(2, 2, 3, 3, generator=g)
    part = PrototypeBackground(region='cam')
    bg = part(fg, embed=z, cam=cam, feats=z, labels=labels, valid=None)
    proto = z[0, :, 0, :].mean(dim=1)
    want = F.relu(F.cosine_similarity(z[0], proto[:, None, None], dim=0))
    want = want / (want.max() + 1e-5)
    torch.testing.assert_close(bg[0, 0], want, rtol=1e-5, atol=1e-6)
    # image 1 has no background cell: 1 - max of the foreground PACAM
    torch.testing.assert_close(bg[1, 0], 1 - fg[1].amax(0))
    with pytest.raises(ValueError, match="only to region='sipe'"):
        PrototypeBackground(region='cam', bg_factor=0.3)


# --------------------------------------------------------------------------
# the composed default branch (second reading)
# --------------------------------------------------------------------------
def _second_reading(**kw):
    torch.manual_seed(0)
    cfg = dict(type='CPALBranch', num_classes=3,
               head=dict(type='SideProjectionHead', in_channels=(4, 6),
                         out_channels=(3, 5), in_index=(0, 1)),
               bank=dict(capacity=16),
               clustering=dict(num_clusters=4),
               neighbours=dict(num_neighbours=2))
    cfg.update(kw)
    return MODELS.build(cfg)


def _inputs():
    g = torch.Generator().manual_seed(1)
    feats = [torch.randn(2, 4, 6, 6, generator=g),
             torch.randn(2, 6, 6, 6, generator=g)]
    cams = torch.randn(2, 3, 6, 6, generator=g).requires_grad_(True)
    labels = torch.tensor([[1., 0., 1.], [1., 1., 1.]])
    return feats, cams, labels


def test_default_parts_are_the_second_reading():
    branch = _second_reading()
    assert DEFAULT_PARTS['background']['type'] == 'PrototypeBackground'
    assert isinstance(branch.positiveness, StandardisedPositiveness)
    assert isinstance(branch.alignment, PrototypeShiftAlignment)
    assert isinstance(branch.background, PrototypeBackground)
    assert branch.bank.capacity == 16 and branch.embed_dims == 8


def test_second_reading_pacam_background_is_the_background_prototype():
    branch = _second_reading()
    feats, cams, labels = _inputs()
    out = branch.compose(feats, cams, labels)
    z, cam = out['embed'], out['cam']
    seeds = fn.sipe_seeds(cam.detach(), feats[-1], labels > 0.5)
    for n in range(2):
        region = seeds[n, 0]
        proto = z[n][:, region].mean(dim=1)
        want = F.relu(F.cosine_similarity(z[n], proto[:, None, None], dim=0))
        want = want / (want.max() + 1e-5)
        torch.testing.assert_close(out['pacam'][n, 0], want, rtol=1e-5,
                                   atol=1e-6)


def test_second_reading_trains_and_clusters():
    branch = _second_reading()
    for step in range(3):
        feats, cams, labels = _inputs()
        loss = branch.loss(feats, cams, labels)['loss_self']
        loss.backward()
        assert torch.isfinite(loss) and loss > 0
        assert all(p.grad is not None and torch.isfinite(p.grad).all()
                   for p in branch.parameters())
        assert torch.isfinite(cams.grad).all()
        if step == 0:
            assert branch.update_context() == 3
    w = branch.compose(*_inputs())['weights']
    assert ((w > 0).sum(-1) == 2).any()  # soft: both neighbours weighted


# --------------------------------------------------------------------------
# a user's own part, in the user's own scope
# --------------------------------------------------------------------------
USER_MODELS = Registry('model', parent=ROOT, scope='mmcpal_user_test')


@USER_MODELS.register_module()
class LastStageCosineHead(nn.Module):
    """The docs' example: one bias-free projection of the last stage."""

    def __init__(self, in_channels: int, embed_dims: int = 5):
        super().__init__()
        self.embed_dims = embed_dims
        self.proj = nn.Conv2d(in_channels, embed_dims, 1, bias=False)

    def forward(self, feats, size):
        x = feats[-1] if isinstance(feats, (list, tuple)) else feats
        z = F.interpolate(self.proj(x), size=size, mode='bilinear',
                          align_corners=False)
        return F.normalize(z, dim=1)


def test_a_user_head_from_another_scope_replaces_the_head():
    branch = _second_reading(head=dict(
        type='mmcpal_user_test.LastStageCosineHead', in_channels=6))
    assert isinstance(branch.head, LastStageCosineHead)
    assert branch.bank.embed_dims == 5 and branch.context.shape[-1] == 5
    feats, cams, labels = _inputs()
    branch.loss(feats, cams, labels)['loss_self'].backward()
    assert branch.head.proj.weight.grad is not None
    with pytest.raises(KeyError, match='not registered'):
        _second_reading(head=dict(type='NoSuchHead', in_channels=6))
