"""AMN + CPAL: the branch attaches unchanged and its loss reaches the
projection head, the AMN head and (detach_feats=False) the backbone."""
import torch

from mmcpal.models.cpal import parts_from_flat

# the first reading (flat form), converted to parts
CPAL = dict(
    in_channels=256 + 512,
    in_index=(-2, -1),
    embed_dims=16,
    bank_size=8,
    num_clusters=2,
    num_neighbours=2,
    tau=0.1)


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {
        n: p.grad.clone() if p.grad is not None else None
        for n, p in model.named_parameters()
    }


def _run(factory, samples_factory, **cpal):
    model = factory(cpal=parts_from_flat(**dict(CPAL, **cpal)))
    model.train()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 64, 64, generator=g) * 60 - 30
    losses = model.loss(x, samples_factory(2))
    return model, losses


def test_cpal_none_has_no_loss_self(amn_factory, samples_factory):
    model = amn_factory()
    assert not model.with_cpal
    assert 'loss_self' not in model.loss(torch.zeros(1, 3, 64, 64),
                                         samples_factory(1))


def test_loss_self_reaches_head_and_amn(amn_factory, samples_factory):
    model, losses = _run(amn_factory, samples_factory)
    assert model.with_cpal and model.cpal.num_classes == 3
    assert {'loss_pcl', 'loss_self'} <= set(losses)
    assert losses['loss_self'].item() > 0
    grads = _grads(model, losses['loss_self'])
    head = [g for n, g in grads.items() if n.startswith('cpal.head')]
    assert head and all(g is not None for g in head)
    assert sum(g.abs().sum() for g in head) > 0
    for name in ('label_enc.fc.weight', 'classifier.branches.0.weight'):
        assert grads[name].abs().sum() > 0, name
    # the bank was fed with the batch's prototypes (3 present (n, c))
    assert int(model.cpal.bank.bank_count.sum()) == 3


def test_detach_feats_controls_backbone_path(amn_factory, samples_factory):
    """Same weights and batch: loss_self is equal, but with
    detach_feats=False the backbone gets the projection-head path too."""
    m_det, l_det = _run(amn_factory, samples_factory, detach_feats=True)
    m_full, l_full = _run(amn_factory, samples_factory, detach_feats=False)
    assert l_det['loss_self'].item() == l_full['loss_self'].item()
    g_det = _grads(m_det, l_det['loss_self'])
    g_full = _grads(m_full, l_full['loss_self'])
    name = 'backbone.fire5.expand3x3.weight'  # feeds feats[-2] and fire9
    assert g_full[name].abs().sum() > 0
    assert g_det[name].abs().sum() > 0  # through the AMN maps only
    assert not torch.allclose(g_det[name], g_full[name])
    # the AMN head's gradients do not depend on the flag
    assert torch.allclose(g_det['classifier.branches.0.weight'],
                          g_full['classifier.branches.0.weight'])
