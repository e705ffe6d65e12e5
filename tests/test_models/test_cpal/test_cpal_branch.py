"""Tests of mmcpal.models.cpal.cpal_branch (composition, options, grads).

Tiny sizes: C=3 classes, E=8, bank 16, k=4 clusters, K=2 neighbours, 6x6
grid. The reference composition below re-assembles the functional core by
hand, so the order of the branch's steps is pinned.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmcpal.models.cpal import functional as fn
from mmcpal.models.cpal import parts_from_flat
from mmcpal.models.cpal.cpal_branch import CPALBranch
from mmcpal.registry import MODELS

C, E, L, KC, K, H = 3, 8, 16, 4, 2, 6


def make_branch(**kwargs) -> CPALBranch:
    torch.manual_seed(0)
    cfg = dict(num_classes=C,
               in_channels=4 + 6,
               embed_dims=E,
               bank_size=L,
               num_clusters=KC,
               num_neighbours=K)
    cfg.update(kwargs)
    return MODELS.build(parts_from_flat(**cfg))


def make_inputs(seed: int = 1):
    """Three feature maps (the first unused), CAM logits, labels, valid.

    Image 1 has its last column padded; class 1 of image 1 is labelled but
    its CAM is negative everywhere, so its reliable mask is empty.
    """
    g = torch.Generator().manual_seed(seed)
    feats = [
        torch.randn(2, 5, 6, 6, generator=g, requires_grad=True),
        torch.randn(2, 4, 3, 3, generator=g, requires_grad=True),
        torch.randn(2, 6, 6, 6, generator=g, requires_grad=True),
    ]
    cams = torch.randn(2, C, H, H, generator=g)
    cams[1, 1] = -cams[1, 1].abs() - 0.1
    cams.requires_grad_(True)
    labels = torch.tensor([[1., 0., 1.], [1., 1., 1.]])
    valid = torch.ones(2, 1, H, H)
    valid[1, :, :, -1] = 0
    return feats, cams, labels, valid


def fill_and_cluster(branch: CPALBranch) -> None:
    """Class 0: 20 random entries (4 centres); class 1: one entry (one
    centre, fewer than K neighbours); class 2: empty (fallback)."""
    g = torch.Generator().manual_seed(5)
    branch.bank.enqueue(torch.randn(20, E, generator=g), torch.zeros(20))
    branch.bank.enqueue(torch.randn(1, E, generator=g), torch.ones(1))
    assert branch.update_context() == 2


def reference(branch,
              feats,
              cams,
              labels,
              valid,
              *,
              align='pixels',
              metric='dot',
              loss_channels='all',
              norm='max',
              warmup=True):
    """Hand-assembled composition of the functional core."""
    x = torch.cat([
        F.interpolate(
            feats[1], size=(H, H), mode='bilinear', align_corners=False),
        feats[2]
    ],
                  dim=1).detach()
    z = branch.head(x, (H, H))
    cam = fn.cam_from_logits(cams, labels, valid, bg_alpha=1.0)
    protos, present = fn.instance_prototypes(z,
                                             cam.detach()[:, 1:],
                                             labels,
                                             0.1,
                                             valid=valid)
    b = protos.shape[0]
    nbs = torch.zeros(b, C, K, E)
    ws = torch.zeros(b, C, K)
    shift = torch.zeros(C, E)
    use = torch.zeros(b, C, dtype=torch.bool)
    for c in range(C):
        rows = [n for n in range(b) if present[n, c]]
        if not rows:
            continue
        p = protos[rows, c]
        count = int(branch.context_count[c])
        if count == 0:
            if warmup:
                for i, n in enumerate(rows):
                    nbs[n, c, 0] = p[i]
                    ws[n, c, 0] = 1.0
                    use[n, c] = True
            continue
        ctx = branch.context[c, :count]
        idx, _ = fn.select_neighbours(p, ctx, K)
        nb = ctx[idx]
        p_w = p
        if align != 'none':
            delta = fn.alignment_shift(p, nb).detach()
            if align == 'prototype':
                p_w = p + delta
                idx, _ = fn.select_neighbours(p_w, ctx, K)
                nb = ctx[idx]
            else:
                shift[c] = delta
        w = fn.positiveness(p_w, nb, metric, 1.0).detach()
        for i, n in enumerate(rows):
            nbs[n, c, :nb.shape[1]] = nb[i]
            ws[n, c, :nb.shape[1]] = w[i]
            use[n, c] = True
    region = cam.detach()[:, 1:] > 0.1 if align == 'mask' else None
    pa = fn.pacam(z,
                  nbs,
                  ws,
                  labels,
                  shift if align in ('pixels', 'mask') else None,
                  valid,
                  mask=use,
                  shift_region=region)
    lab = labels > 0
    bg = torch.ones(b, 1, dtype=torch.bool)
    fg = ~(lab & ~use) if loss_channels == 'all' else use
    channels = torch.cat([bg, fg], dim=1)
    a, p_map = cam, pa
    if norm == 'l1':
        a, p_map = fn.l1_normalise(cam, valid), fn.l1_normalise(pa, valid)
    loss = fn.self_supervised_loss(a, p_map, valid, channels)
    return dict(loss=loss,
                pacam=pa,
                protos=protos,
                present=present,
                shift=shift,
                channels=channels,
                weights=ws)


# --------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------
@pytest.mark.parametrize('align', ['pixels', 'mask', 'prototype', 'none'])
def test_loss_equals_hand_composition(align):
    branch = make_branch(align=align)
    fill_and_cluster(branch)
    feats, cams, labels, valid = make_inputs()
    ref = reference(branch, feats, cams, labels, valid, align=align)
    # the case covers: clustered class with K neighbours (0), one with fewer
    # (1), an unclustered class (2, fallback) and an empty mask (image 1,
    # class 1)
    assert ref['present'].tolist() == [[True, False, True],
                                       [True, False, True]]
    out = branch.loss(feats, cams, labels, valid)
    torch.testing.assert_close(out['loss_self'], ref['loss'])
    assert float(out['cpal_num_protos']) == 4
    assert float(out['cpal_num_clustered']) == 2
    torch.testing.assert_close(
        branch.predict_pacam(feats, cams, labels, valid), ref['pacam'])


def test_loss_with_partial_bank_classes():
    """Class 1 present with a non-empty mask and a single context prototype
    (K' = 1 < K): padded neighbour slots carry weight 0."""
    branch = make_branch()
    fill_and_cluster(branch)
    feats, cams, labels, valid = make_inputs()
    cams = cams.detach().clone()
    cams[0, 1] = cams[0, 0]
    labels = torch.tensor([[1., 1., 0.], [1., 0., 1.]])
    ref = reference(branch, feats, cams, labels, valid)
    assert bool(ref['present'][0, 1])
    assert ref['weights'][0, 1].tolist() == [1.0, 0.0]
    out = branch.loss(feats, cams, labels, valid)
    torch.testing.assert_close(out['loss_self'], ref['loss'])


def test_empty_mask_channel_left_out():
    branch = make_branch()
    fill_and_cluster(branch)
    feats, cams, labels, valid = make_inputs()
    ref = reference(branch, feats, cams, labels, valid)
    # image 1, class 1 (channel 2) is labelled but has no prototype
    assert ref['channels'].tolist() == [[True] * 4, [True, True, False, True]]
    pa = branch.predict_pacam(feats, cams, labels, valid)
    assert torch.equal(pa[1, 2], torch.zeros(H, H))


def test_bank_receives_the_detached_prototypes():
    branch = make_branch()
    feats, cams, labels, valid = make_inputs()
    ref = reference(branch, feats, cams, labels, valid)
    branch.loss(feats, cams, labels, valid)
    present = ref['present']
    assert branch.bank.bank_count.tolist() == present.sum(0).tolist()
    for c in range(C):
        expected = ref['protos'][:, c][present[:, c]].detach()
        torch.testing.assert_close(branch.bank.entries(c), expected)
    assert not branch.bank.bank.requires_grad


def test_update_context_matches_batched_kmeans():
    branch = make_branch(kmeans_iters=7, seed=3)
    g = torch.Generator().manual_seed(2)
    x0, x2 = torch.randn(30, E, generator=g), torch.randn(3, E, generator=g)
    branch.bank.enqueue(x0, torch.zeros(30))
    branch.bank.enqueue(x2, torch.full((3, ), 2))
    assert branch.update_context() == 2
    assert int(branch.num_updates) == 1 and branch.clustered
    assert branch.context_count.tolist() == [KC, 0, 3]
    # class 0: the wrapped queue holds its last 16 entries (in slot order)
    centres, counts = fn.batched_spherical_kmeans(branch.bank.bank[[0]],
                                                  torch.tensor([L]), KC, 7, 3)
    torch.testing.assert_close(branch.context[0], centres[0])
    assert set(map(tuple,
                   branch.bank.entries(0).tolist())) == set(
                       map(tuple, x0[-L:].tolist()))
    # class 2 has fewer entries than k: they are the context as they are
    torch.testing.assert_close(branch.context[2, :3], x2)
    assert torch.equal(branch.context[1], torch.zeros(KC, E))


def test_predict_pacam_leaves_state_alone():
    branch = make_branch()
    feats, cams, labels, valid = make_inputs()
    before = {k: v.clone() for k, v in branch.state_dict().items()}
    branch.predict_pacam(feats, cams, labels, valid)
    for key, value in branch.state_dict().items():
        assert torch.equal(value, before[key]), key


# --------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------
def test_align_none_has_zero_shift_and_changes_loss():
    feats, cams, labels, valid = make_inputs()
    losses = {}
    for align in ('none', 'pixels'):
        branch = make_branch(align=align)
        fill_and_cluster(branch)
        out = branch.compose(feats, cams, labels, valid)
        if align == 'none':
            assert torch.equal(out['shift'], torch.zeros(C, E))
        else:
            assert out['shift'][0].abs().sum() > 0
        losses[align] = branch.loss(feats, cams, labels,
                                    valid)['loss_self'].item()
    assert not math.isclose(losses['none'], losses['pixels'])


@pytest.mark.parametrize('loss_channels,norm', [('present', 'max'),
                                                ('all', 'l1'),
                                                ('present', 'l1')])
def test_loss_channels_and_norm(loss_channels, norm):
    branch = make_branch(loss_channels=loss_channels, norm=norm)
    fill_and_cluster(branch)
    feats, cams, labels, valid = make_inputs()
    ref = reference(branch,
                    feats,
                    cams,
                    labels,
                    valid,
                    loss_channels=loss_channels,
                    norm=norm)
    if loss_channels == 'present':
        # background + classes with a PACAM only
        assert ref['channels'].tolist() == [[True, True, False, True],
                                            [True, True, False, True]]
    out = branch.loss(feats, cams, labels, valid)
    torch.testing.assert_close(out['loss_self'], ref['loss'])


@pytest.mark.parametrize('metric', ['cosine', 'l2', 'uniform'])
def test_positiveness_metric(metric):
    branch = make_branch(positiveness=metric)
    fill_and_cluster(branch)
    feats, cams, labels, valid = make_inputs()
    ref = reference(branch, feats, cams, labels, valid, metric=metric)
    if metric == 'uniform':
        assert ref['weights'][0, 0].tolist() == [0.5, 0.5]
    out = branch.loss(feats, cams, labels, valid)
    torch.testing.assert_close(out['loss_self'], ref['loss'])


def test_fallback_is_relu_cosine_to_own_prototype():
    """Before any clustering: PACAM_c = ReLU(cos(z, p_{n,c})), max-normalised
    (independent loop over pixels)."""
    branch = make_branch()
    feats, cams, labels, valid = make_inputs()
    ref = reference(branch, feats, cams, labels, valid)
    pa = branch.predict_pacam(feats, cams, labels, valid)
    x = torch.cat([
        F.interpolate(
            feats[1], size=(H, H), mode='bilinear', align_corners=False),
        feats[2]
    ], 1)
    z = branch.head(x, (H, H))
    n, c = 0, 2
    p = ref['protos'][n, c]
    expected = torch.zeros(H, H)
    for i in range(H):
        for j in range(H):
            expected[i, j] = max(F.cosine_similarity(z[n, :, i, j], p, dim=0),
                                 0.0)
    expected = expected / (expected.max() + 1e-5)
    torch.testing.assert_close(pa[n, c + 1], expected.detach())


def test_warmup_cls_only_zero_until_clustered():
    branch = make_branch(warmup='cls_only')
    feats, cams, labels, valid = make_inputs()
    out = branch.loss(feats, cams, labels, valid)
    assert out['loss_self'].item() == 0.0
    out['loss_self'].backward()
    for name, param in branch.named_parameters():
        assert param.grad is not None, name
        assert float(param.grad.abs().sum()) == 0.0, name
    # PACAM of unclustered classes is left out entirely
    pa = branch.predict_pacam(feats, cams, labels, valid)
    assert float(pa[:, 1:].abs().sum()) == 0.0
    for buf in (branch.bank.bank, branch.bank.bank_ptr,
                branch.bank.bank_count):
        buf.zero_()  # start from the bank of fill_and_cluster
    fill_and_cluster(branch)
    ref = reference(branch, feats, cams, labels, valid, warmup=False)
    out = branch.loss(feats, cams, labels, valid)
    assert out['loss_self'].item() > 0
    torch.testing.assert_close(out['loss_self'], ref['loss'])
    # class 2 (no context prototypes) is not in the loss
    assert not ref['channels'][:, 3].any()


def test_warmup_iters_and_loss_weight():
    feats, cams, labels, valid = make_inputs()
    plain = make_branch()
    base = plain.loss(feats, cams, labels, valid)['loss_self'].item()
    branch = make_branch(warmup_iters=2, loss_weight=0.5)
    values = [
        branch.loss(feats, cams, labels, valid)['loss_self'].item()
        for _ in range(3)
    ]
    assert values[:2] == [0.0, 0.0]
    # the bank still fills during warm-up
    assert int(branch.bank.bank_count.sum()) == 3 * 4
    assert int(branch.num_steps) == 3
    # third call: bank content differs from `plain`'s but the fallback
    # does not use the bank, so the value is 0.5 * base
    assert math.isclose(values[2], 0.5 * base, rel_tol=1e-5)


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------
def _grads(branch):
    feats, cams, labels, valid = make_inputs()
    branch.loss(feats, cams, labels, valid)['loss_self'].backward()
    head = {n: p.grad for n, p in branch.head.named_parameters()}
    return feats, cams, head


def test_gradients_default():
    branch = make_branch()
    fill_and_cluster(branch)
    feats, cams, head = _grads(branch)
    assert all(g is not None and g.abs().sum() > 0 for g in head.values())
    assert cams.grad is not None and cams.grad.abs().sum() > 0
    # detach_feats=True: no gradient of L_self reaches the backbone features
    assert all(f.grad is None for f in feats)


def test_gradients_detach_pacam_and_feats():
    branch = make_branch(detach_pacam=True, detach_feats=False)
    fill_and_cluster(branch)
    feats, cams, head = _grads(branch)
    # PACAM is a fixed target: the head gets (zero) gradient only
    assert all(g is not None and float(g.abs().sum()) == 0
               for g in head.values())
    assert cams.grad.abs().sum() > 0
    # the feature maps are not detached, but the only path to them goes
    # through PACAM, which is detached
    assert all(f.grad is None or float(f.grad.abs().sum()) == 0 for f in feats)

    branch = make_branch(detach_feats=False)
    fill_and_cluster(branch)
    feats, cams, head = _grads(branch)
    assert feats[0].grad is None  # not selected by in_index (-2, -1)
    assert feats[1].grad.abs().sum() > 0 and feats[2].grad.abs().sum() > 0


def test_no_nan_without_labels_or_masks():
    branch = make_branch()
    fill_and_cluster(branch)
    feats, cams, labels, valid = make_inputs()
    for case in ('no labels', 'no masks'):
        if case == 'no labels':
            lab, cam_in = torch.zeros_like(labels), cams
        else:
            lab = labels
            cam_in = (-cams.detach().abs() - 0.1).requires_grad_(True)
        out = branch.loss(feats, cam_in, lab, valid)
        assert float(out['cpal_num_protos']) == 0
        assert torch.isfinite(out['loss_self'])
        out['loss_self'].backward()
        for name, param in branch.named_parameters():
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
        assert torch.isfinite(cam_in.grad).all()
        branch.zero_grad()
    # nothing was enqueued by those calls
    assert branch.bank.bank_count.tolist() == [16, 1, 0]


def test_single_tensor_feats_and_in_index_int():
    branch = make_branch(in_channels=6, in_index=2)
    feats, cams, labels, valid = make_inputs()
    a = branch.loss(feats, cams, labels, valid)['loss_self']
    b = make_branch(in_channels=6).loss(feats[2], cams, labels,
                                        valid)['loss_self']
    torch.testing.assert_close(a, b)


# --------------------------------------------------------------------------
# construction
# --------------------------------------------------------------------------
def test_registry_and_buffers():
    branch = MODELS.build(
        dict(type='CPALBranch',
             num_classes=C,
             head=dict(type='MLPProjectionHead', in_channels=10,
                       embed_dims=E),
             bank=dict(type='SupportBank', capacity=L),
             clustering=dict(type='SphericalKMeans', num_clusters=KC)))
    assert isinstance(branch, CPALBranch)
    state = branch.state_dict()
    for key in ('bank.bank', 'bank.bank_ptr', 'bank.bank_count', 'context',
                'context_count', 'num_steps', 'num_updates'):
        assert key in state
    assert state['context'].shape == (C, KC, E)


@pytest.mark.parametrize('kwargs,match', [
    (dict(positiveness='dotx'), 'SoftmaxPositiveness: `metric` must be one'),
    (dict(align='pixel'), '`align`'),
    (dict(warmup='none'), '`warmup` must be one of'),
    (dict(num_neighbours=0), '`num_neighbours` must be an int >= 1'),
    (dict(tau=1.5), r'`tau` must be a number in \[0, 1\)'),
    (dict(detach_feats=1), '`detach_feats` must be a bool'),
    (dict(in_index=()), '`in_index` must be an int or a non-empty'),
    (dict(loss_weight=-1.0), '`loss_weight` must be a number >= 0'),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_branch(**kwargs)


def test_flat_form_is_refused_with_the_way_out():
    with pytest.raises(TypeError, match='parts_from_flat'):
        CPALBranch(num_classes=C, in_channels=10, bank_size=L)


def test_head_config_without_type_is_refused():
    cfg = parts_from_flat(num_classes=C, in_channels=10)
    cfg['head'] = dict(cfg['head'])
    cfg['head'].pop('type')
    with pytest.raises(ValueError, match="`head` must be a config dict"):
        MODELS.build(cfg)


def test_partial_part_config_overrides_the_default_part():
    from mmcpal.models.cpal import DEFAULT_PARTS, StandardisedPositiveness
    cfg = parts_from_flat(num_classes=C, in_channels=10)
    cfg['positiveness'] = dict(temperature=0.5)
    cfg['loss_self'] = dict(loss_weight=0.25)
    branch = MODELS.build(cfg)
    assert DEFAULT_PARTS['positiveness']['type'] == 'StandardisedPositiveness'
    assert isinstance(branch.positiveness, StandardisedPositiveness)
    assert branch.positiveness.temperature == 0.5
    assert branch.loss_self.loss_weight == 0.25
    assert branch.loss_self.channels == 'all'


def test_bad_inputs():
    branch = make_branch()
    feats, cams, labels, valid = make_inputs()
    with pytest.raises(ValueError, match='13 channels in total'):
        branch.loss(feats[:2] + [torch.randn(2, 9, 6, 6)], cams, labels)
    with pytest.raises(ValueError, match=r'`labels` must have shape \(2, 3\)'):
        branch.loss(feats, cams, labels[:, :2])
    with pytest.raises(ValueError, match='does not fit the 1 feature maps'):
        branch.loss([feats[2]], cams, labels)
