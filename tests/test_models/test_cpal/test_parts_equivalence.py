"""The composed branch reproduces the flat-argument branch it replaced.

``golden/legacy_branch_golden.pt`` holds, for 22 variants covering every
option of the old branch, its losses, gradients, PACAM and buffers over two
steps around a clustering (recorded by ``golden_legacy_branch.py`` before
the split). The parts built by :func:`parts_from_flat` must give the same
numbers: bit-exact, since the arithmetic is the same.
"""
import os.path as osp
import sys

import pytest
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import golden_legacy_branch as golden  # noqa: E402

GOLDEN = torch.load(
    osp.join(osp.dirname(__file__), 'golden', 'legacy_branch_golden.pt'))


@pytest.mark.parametrize('name', sorted(golden.VARIANTS))
def test_composed_branch_matches_recorded_flat_branch(name):
    got = golden.run(golden.build(golden.VARIANTS[name]))
    want = GOLDEN[name]
    assert sorted(got) == sorted(want)
    for key in want:
        assert torch.equal(got[key], want[key]), (name, key)


def test_old_checkpoint_keys_load_into_the_composed_branch():
    branch = golden.build({})
    names = set(branch.state_dict())
    recorded = {k[len('buffer.'):] for k in GOLDEN['default']
                if k.startswith('buffer.')}
    params = {k[len('grad.'):] for k in GOLDEN['default']
              if k.startswith('grad.')}
    assert recorded | params == names
