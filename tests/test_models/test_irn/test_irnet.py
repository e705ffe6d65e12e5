"""IRNet: boundary branch, backbone freezing, loss wiring, a CPU smoke run."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData

from mmcpal.models.irn import (BoundaryBranch, IRNet, ResNetWithStem,
                               affinity_loss, affinity_targets,
                               half_directions, path_affinity)
from mmcpal.structures import WSSSDataSample


def _model(**kwargs):
    torch.manual_seed(0)
    return IRNet(
        backbone=dict(type='SqueezeNet', out_indices=(0, 1, 2, 3)),
        in_channels=(64, 128, 256, 512),
        data_preprocessor=dict(
            type='ImgDataPreprocessor',
            mean=[103.939, 116.779, 123.68],
            std=[1.0, 1.0, 1.0]),
        **kwargs)


def _ir_label(h, w, seed):
    """Two objects on background with an unsure ring, as IR labels are."""
    g = torch.Generator().manual_seed(seed)
    label = torch.zeros(h, w, dtype=torch.long)
    y, x = torch.randint(8, h // 2, (2, ), generator=g).tolist()
    label[y:y + h // 3, x:x + w // 3] = 1
    label[h - h // 3:, :w // 4] = 2
    label[y - 2:y, x:x + w // 3] = 255
    return label


def _samples(labels):
    out = []
    for i, label in enumerate(labels):
        s = WSSSDataSample(metainfo=dict(img_id=str(i)))
        s.gt_sem_seg = PixelData(data=label[None])
        out.append(s)
    return out


def test_boundary_branch_resizes_to_grid():
    branch = BoundaryBranch(in_channels=(4, 8, 16), channels=8, num_groups=2)
    feats = [
        torch.randn(2, 4, 19, 19),
        torch.randn(2, 8, 9, 9),
        torch.randn(2, 16, 5, 5)
    ]
    assert branch(feats).shape == (2, 1, 9, 9)
    with pytest.raises(ValueError, match='got 2 feature maps, expected 3'):
        branch(feats[:2])
    with pytest.raises(AssertionError, match='multiple of num_groups'):
        BoundaryBranch(in_channels=(4, ), channels=6, num_groups=4)


def test_resnet_with_stem_returns_five_stages():
    net = ResNetWithStem(
        depth=18, strides=(1, 2, 2, 1), out_indices=(0, 1, 2, 3))
    net.eval()  # mmpretrain's ResNet.train returns None
    outs = net(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 16, 16), (64, 16, 16),
                                                  (128, 8, 8), (256, 4, 4),
                                                  (512, 4, 4)]


def test_grid_labels_nearest_and_padding():
    model = _model()
    label = torch.arange(24).view(6, 4) % 7 + 1
    grid = model.grid_labels(_samples([label]), (8, 8), (2, 2))
    # nearest sampling of the 8x8 batch (the 6x4 map padded with 255)
    # takes rows / columns 0 and 4
    assert grid[0].tolist() == [[label[0, 0].item(), 255],
                                [label[4, 0].item(), 255]]
    assert label[4, 0].item() == 3
    with pytest.raises(ValueError, match='data sample 0 has no gt_sem_seg'):
        model.grid_labels([WSSSDataSample()], (8, 8), (2, 2))


def test_loss_equals_functional_loss():
    model = _model(radius=4)
    x = torch.randn(2, 3, 64, 64) * 50
    labels = [_ir_label(64, 64, 0), _ir_label(64, 64, 1)]
    losses = model.loss(x, _samples(labels))
    assert set(losses) == {'loss_aff_bg', 'loss_aff_fg', 'loss_aff_neg'}
    logits = model.forward_boundary(x)
    assert logits.shape == (2, 1, 15, 15)  # SqueezeNet stage 1 of 64 px
    grid = model.grid_labels(_samples(labels), (64, 64), (15, 15))
    dirs = half_directions(4)
    want = affinity_loss(
        path_affinity(torch.sigmoid(logits[:, 0]), dirs),
        affinity_targets(grid, dirs))
    torch.testing.assert_close(sum(losses.values()), want)


def test_predict_boundary_flip_average():
    model = _model().eval()
    x = torch.randn(1, 3, 48, 64) * 50
    logits = model.forward_boundary(x)[:, 0]
    logits_flip = model.forward_boundary(x.flip(-1))[:, 0]
    want = torch.sigmoid(logits / 2 + logits_flip.flip(-1) / 2)
    torch.testing.assert_close(model.predict_boundary(x), want)
    # flip-averaging makes the map mirror-equivariant
    torch.testing.assert_close(
        model.predict_boundary(x.flip(-1)), want.flip(-1))
    samples = model.predict(x, [WSSSDataSample()])
    assert samples[0].pred_boundary.data.shape == (1, ) + want.shape[1:]


def test_training_smoke_only_branch_learns():
    model = _model()
    model.train()
    assert not model.backbone.training  # frozen backbone stays in eval mode
    backbone_before = {
        k: v.clone()
        for k, v in model.backbone.state_dict().items()
    }
    branch_before = {
        k: v.clone()
        for k, v in model.boundary_branch.state_dict().items()
    }
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    torch.manual_seed(1)
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=_samples([_ir_label(64, 64, 2),
                               _ir_label(64, 64, 3)]))
    for _ in range(2):
        log_vars = model.train_step(data, optim)
        assert torch.isfinite(log_vars['loss'])
        assert log_vars['loss'] > 0
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, backbone_before[k]), k
    changed = [
        k for k, v in model.boundary_branch.state_dict().items()
        if not torch.equal(v, branch_before[k])
    ]
    assert 'fuse.weight' in changed and len(changed) == len(branch_before)


def test_gradients_reach_boundary_branch_only():
    model = _model()
    model.train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    losses = model.loss(x,
                        _samples([_ir_label(64, 64, 4),
                                  _ir_label(64, 64, 5)]))
    sum(losses.values()).backward()
    assert x.grad is None  # IRN detaches the backbone features
    for param in model.backbone.parameters():
        assert not param.requires_grad and param.grad is None
    for name, param in model.boundary_branch.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
