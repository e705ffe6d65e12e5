"""AMN's label-smoothed, bg/fg-balanced loss against hand-computed values."""
import math

import pytest
import torch

from mmcpal.models.amn.loss import balanced_smoothed_ce, smoothed_targets

LN2, LN3 = math.log(2.0), math.log(3.0)


def _tiny():
    """One image, 3 channels (bg + 2 classes), four cells in a row.

    cell 0: label 0, logits (0, ln2, 0)   -> p = (1/4, 1/2, 1/4)
    cell 1: label 2, logits (0, 0, ln2)   -> p = (1/4, 1/4, 1/2)
    cell 2: label 1, logits (0, 0, 0)     -> p = (1/3, 1/3, 1/3)
    cell 3: label 255 (unsure), huge logits that must not count
    """
    logits = torch.tensor([[0.0, 0.0, 0.0, 100.0],
                           [LN2, 0.0, 0.0, -100.0],
                           [0.0, LN2, 0.0, 0.0]])[None, :, None, :]
    labels = torch.tensor([[[0, 2, 1, 255]]])
    return logits, labels


def test_targets_are_amn_smoothing():
    t = smoothed_targets(torch.tensor([[[0, 2, 255]]]), 3, eps=0.4)
    # 1 - eps on the label, eps / (K - 1) = 0.2 elsewhere; 255 -> class 0
    expected = torch.tensor([[0.6, 0.2, 0.6], [0.2, 0.2, 0.2],
                             [0.2, 0.6, 0.2]])
    assert torch.allclose(t[0, :, 0], expected)
    assert torch.allclose(t.sum(dim=1), torch.ones(1, 1, 3))


def test_loss_hand_computed_eps_04():
    logits, labels = _tiny()
    # cell 0: -(0.6 ln 1/4 + 0.2 ln 1/2 + 0.2 ln 1/4) = 1.8 ln 2
    # cell 1: -(0.2 ln 1/4 + 0.2 ln 1/4 + 0.6 ln 1/2) = 1.4 ln 2
    # cell 2: ln 3 whatever the target
    bg = 1.8 * LN2
    fg = (1.4 * LN2 + LN3) / 2
    loss = balanced_smoothed_ce(logits, labels, eps=0.4)
    assert loss.item() == pytest.approx((bg + fg) / 2, rel=1e-6)
    # not the plain mean over the three labelled cells
    assert loss.item() != pytest.approx((bg + 1.4 * LN2 + LN3) / 3, rel=1e-3)


def test_loss_hand_computed_eps_0_is_balanced_ce():
    logits, labels = _tiny()
    bg = 2 * LN2                    # -ln 1/4
    fg = (LN2 + LN3) / 2            # -ln 1/2, -ln 1/3
    loss = balanced_smoothed_ce(logits, labels, eps=0.0)
    assert loss.item() == pytest.approx((bg + fg) / 2, rel=1e-6)


def test_empty_groups():
    logits, labels = _tiny()
    only_fg = labels.clone()
    only_fg[0, 0, 0] = 255
    loss = balanced_smoothed_ce(logits, only_fg, eps=0.4)
    assert loss.item() == pytest.approx((1.4 * LN2 + LN3) / 2, rel=1e-6)
    logits.requires_grad_(True)
    none = torch.full_like(labels, 255)
    loss = balanced_smoothed_ce(logits, none)
    loss.backward()
    assert loss.item() == 0.0 and logits.grad.abs().sum() == 0


def test_gradient_ignores_unsure_cells():
    logits, labels = _tiny()
    logits.requires_grad_(True)
    balanced_smoothed_ce(logits, labels).backward()
    assert logits.grad[..., 3].abs().sum() == 0
    assert logits.grad[..., :3].abs().sum() > 0


def test_bad_inputs():
    logits, labels = _tiny()
    with pytest.raises(ValueError, match=r'holds 3, expected 0 .*1\.\.2'):
        balanced_smoothed_ce(logits, torch.tensor([[[0, 3, 1, 255]]]))
    with pytest.raises(ValueError, match='must have shape'):
        balanced_smoothed_ce(logits, labels[..., :2])
    with pytest.raises(ValueError, match='integer class indices'):
        balanced_smoothed_ce(logits, labels.float())
    with pytest.raises(ValueError, match=r'eps.*\[0, 1\)'):
        smoothed_targets(labels, 3, eps=1.0)
