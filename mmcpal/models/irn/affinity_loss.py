"""IRN's inter-pixel affinity targets and loss.

From an IR label map (0 background, 1..C confident foreground, ``ignore_index``
unsure) every pixel pair ``(p, p + d)`` of a set of directions is

* ignored if either end is ``ignore_index`` or outside the grid;
* a positive background pair if both ends are 0;
* a positive foreground pair if both ends hold the same class 1..C;
* a negative pair if the ends differ

(``voc12/dataloader.py::GetAffinityLabelFromIndices`` in jiwoon-ahn/irn).
With affinities ``a`` (:func:`mmcpal.models.irn.paths.path_affinity`) the
loss of ``step/train_irn.py`` is

    L_bg  = sum_bg  -log(a + eps)     / (#bg  + eps)
    L_fg  = sum_fg  -log(a + eps)     / (#fg  + eps)
    L_neg = sum_neg -log(1 + eps - a) / (#neg + eps)
    L     = (L_bg / 2 + L_fg / 2 + L_neg) / 2

with ``eps = 1e-5`` and the sums over the whole batch: the two positive
kinds and the negatives are balanced regardless of how many pairs each has.
"""
from typing import Dict, NamedTuple, Sequence

import torch
from torch import Tensor

from .paths import Offset, shift_labels

IRN_EPS = 1e-5  # step/train_irn.py


class AffinityTargets(NamedTuple):
    """Boolean pair masks, each (N, D, h, w) like the affinities."""

    bg_pos: Tensor
    fg_pos: Tensor
    neg: Tensor


def affinity_targets(labels: Tensor,
                     directions: Sequence[Offset],
                     ignore_index: int = 255) -> AffinityTargets:
    """Classify the pairs ``(p, p + d)`` of an IR label map.

    Args:
        labels (Tensor): (N, h, w) integer IR labels.
        directions (Sequence[tuple[int, int]]): ``D`` pair offsets, e.g.
            :func:`mmcpal.models.irn.paths.half_directions`.
        ignore_index (int): Label of unsure pixels. Defaults to 255.

    Returns:
        AffinityTargets: ``bg_pos``, ``fg_pos`` and ``neg`` bool masks of
        shape (N, D, h, w); pairs in none of them are ignored.
    """
    if labels.dim() != 3:
        raise ValueError('affinity_targets: labels must be (N, h, w), got '
                         f'shape {tuple(labels.shape)}')
    if labels.is_floating_point():
        raise ValueError('affinity_targets: labels must be integers, got '
                         f'{labels.dtype}')
    labels = labels.long()
    src = labels.unsqueeze(1)
    dst = torch.stack(
        [shift_labels(labels, tuple(d), ignore_index) for d in directions],
        dim=1)
    valid = (src != ignore_index) & (dst != ignore_index)
    equal = src == dst
    pos = equal & valid
    return AffinityTargets(
        bg_pos=pos & (src == 0), fg_pos=pos & (src > 0), neg=valid & ~equal)


def affinity_loss_terms(affinity: Tensor,
                        targets: AffinityTargets,
                        eps: float = IRN_EPS) -> Dict[str, Tensor]:
    """The three balanced terms of IRN's affinity loss.

    Args:
        affinity (Tensor): (N, D, h, w) pair affinities in [0, 1].
        targets (AffinityTargets): Pair masks of the same shape.
        eps (float): IRN's ``1e-5`` inside the logs and denominators.
            Defaults to 1e-5.

    Returns:
        dict[str, Tensor]: Scalars ``bg_pos``, ``fg_pos`` and ``neg``
        (``L_bg``, ``L_fg``, ``L_neg`` of the module docstring); a kind with
        no pair gives 0.
    """
    for name, mask in zip(targets._fields, targets):
        if mask.shape != affinity.shape:
            raise ValueError(
                f'affinity_loss_terms: targets.{name} has shape '
                f'{tuple(mask.shape)}, affinity {tuple(affinity.shape)}')
    pos_log = -torch.log(affinity + eps)
    neg_log = -torch.log(1.0 + eps - affinity)

    def mean_over(values: Tensor, mask: Tensor) -> Tensor:
        mask = mask.to(values.dtype)
        return (values * mask).sum() / (mask.sum() + eps)

    return dict(
        bg_pos=mean_over(pos_log, targets.bg_pos),
        fg_pos=mean_over(pos_log, targets.fg_pos),
        neg=mean_over(neg_log, targets.neg))


def affinity_loss(affinity: Tensor,
                  targets: AffinityTargets,
                  eps: float = IRN_EPS) -> Tensor:
    """IRN's total affinity loss ``(L_bg / 2 + L_fg / 2 + L_neg) / 2``.

    Args:
        affinity (Tensor): (N, D, h, w) pair affinities in [0, 1].
        targets (AffinityTargets): Pair masks of the same shape.
        eps (float): See :func:`affinity_loss_terms`. Defaults to 1e-5.

    Returns:
        Tensor: A scalar.
    """
    terms = affinity_loss_terms(affinity, targets, eps)
    return (terms['bg_pos'] / 2 + terms['fg_pos'] / 2 + terms['neg']) / 2
