"""Record the outputs of the pre-parts ``CPALBranch`` (flat-argument form).

Run once, at commit ``CPALBranch.compose is public`` (before the branch was
split into registered parts), to write ``golden/legacy_branch_golden.pt``:

    python tests/test_models/test_cpal/golden_legacy_branch.py

``test_parts_equivalence.py`` replays the same inputs through the composed
branch (built with :func:`mmcpal.models.cpal.parts_from_flat`) and compares.
The script stays so the recording can be audited; at later commits it runs
through the converter instead and must reproduce the file bit for bit.
"""
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from test_cpal_branch import make_inputs  # noqa: E402

#: name -> flat keyword arguments of the legacy branch.
VARIANTS = {
    'default': {},
    'align_mask': dict(align='mask'),
    'align_prototype': dict(align='prototype'),
    'align_none': dict(align='none'),
    'pos_cosine': dict(positiveness='cosine'),
    'pos_l1': dict(positiveness='l1'),
    'pos_l2': dict(positiveness='l2'),
    'pos_uniform': dict(positiveness='uniform'),
    'pos_scale': dict(positiveness_scale=0.1),
    'warmup_cls_only': dict(warmup='cls_only'),
    'warmup_iters': dict(warmup_iters=1),
    'channels_present': dict(loss_channels='present'),
    'norm_l1': dict(norm='l1'),
    'normalize_embed': dict(normalize_embed=True),
    'no_detach_feats': dict(detach_feats=False),
    'detach_pacam': dict(detach_pacam=True),
    'no_detach_weights': dict(detach_weights=False),
    'no_detach_shift': dict(detach_shift=False, align='mask'),
    'all_neighbours': dict(num_neighbours=None),
    'bg_alpha': dict(bg_alpha=2.0),
    'loss_weight': dict(loss_weight=0.5),
    'mid_channels': dict(head_mid_channels=5),
}

C, E, L, KC, K = 3, 8, 16, 4, 2


def flat_kwargs(**kwargs) -> dict:
    cfg = dict(num_classes=C, in_channels=4 + 6, embed_dims=E, bank_size=L,
               num_clusters=KC, num_neighbours=K)
    cfg.update(kwargs)
    return cfg


def _grad(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros(0) if t.grad is None else t.grad.clone()


def run(branch) -> dict:
    """Two loss steps around a clustering; outputs, grads and state."""
    out = {}
    feats, cams, labels, valid = make_inputs()
    first = branch.loss(feats, cams, labels, valid)
    first['loss_self'].backward()
    out['loss_1'] = first['loss_self'].detach()
    out['cams_grad_1'] = _grad(cams)
    g = torch.Generator().manual_seed(5)
    branch.bank.enqueue(torch.randn(20, E, generator=g), torch.zeros(20))
    branch.bank.enqueue(torch.randn(1, E, generator=g), torch.ones(1))
    branch.update_context()
    feats, cams, labels, valid = make_inputs(seed=2)
    second = branch.loss(feats, cams, labels, valid)
    second['loss_self'].backward()
    out['loss_2'] = second['loss_self'].detach()
    out['cams_grad_2'] = _grad(cams)
    out['feat_grad_2'] = _grad(feats[2])
    for name, p in branch.named_parameters():
        out['grad.' + name] = _grad(p)
    out['pacam'] = branch.predict_pacam(*make_inputs(seed=3))
    for name, b in branch.named_buffers():
        out['buffer.' + name] = b.clone()
    return out


def build(kwargs: dict):
    torch.manual_seed(0)
    try:
        from mmcpal.models.cpal import parts_from_flat
    except ImportError:  # the legacy branch itself
        from mmcpal.models.cpal import CPALBranch
        return CPALBranch(**flat_kwargs(**kwargs))
    from mmcpal.registry import MODELS
    return MODELS.build(parts_from_flat(**flat_kwargs(**kwargs)))


def main() -> None:
    golden = {name: run(build(kw)) for name, kw in VARIANTS.items()}
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'golden',
                    'legacy_branch_golden.pt')
    torch.save(golden, path)
    print(f'wrote {path}: {len(golden)} variants')


if __name__ == '__main__':
    main()
