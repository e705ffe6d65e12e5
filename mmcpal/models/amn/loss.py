"""AMN's per-pixel classification loss: label smoothing, bg/fg balanced.

Facts from gaviotas/AMN (``step/train_amn.py``, ``run_sample.py``):

- The network predicts ``K = C + 1`` channels (background + C classes) per
  pixel of the feature grid and is trained on IR labels (0 background,
  1..C confident foreground, 255 unsure) with ``loss_pcl``.
- Targets are smoothed: ``1 - eps`` on the labelled channel and
  ``eps / (K - 1)`` on every other channel, ``eps = 0.4`` (``--eps``).
- ``balanced_cross_entropy``: the soft cross entropy
  ``-sum_k t_k log softmax(z)_k`` is averaged over the background pixels
  and over the foreground pixels separately; the loss is the mean of the two
  averages. Unsure pixels (255) are in neither group.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

# gaviotas/AMN run_sample.py: parser.add_argument("--eps", default=0.4)
AMN_EPS = 0.4


def _check_labels(fn: str, labels: Tensor, num_channels: int,
                  ignore_index: int) -> None:
    if labels.dtype in (torch.float16, torch.float32, torch.float64,
                        torch.bfloat16, torch.bool):
        raise ValueError(f'{fn}: `labels` must hold integer class indices, '
                         f'got dtype {labels.dtype}')
    bad = (labels != ignore_index) & ((labels < 0) |
                                      (labels >= num_channels))
    if bool(bad.any()):
        value = int(labels[bad][0])
        raise ValueError(
            f'{fn}: `labels` holds {value}, expected 0 (background), '
            f'1..{num_channels - 1} (classes) or {ignore_index} (ignore)')


def smoothed_targets(labels: Tensor,
                     num_channels: int,
                     eps: float = AMN_EPS,
                     ignore_index: int = 255) -> Tensor:
    """AMN's label-smoothed one-hot targets.

    Args:
        labels (Tensor): ``(B, h, w)`` integer labels in ``0..K-1`` or
            ``ignore_index``.
        num_channels (int): ``K = C + 1`` (background included), >= 2.
        eps (float): Smoothing mass moved off the labelled channel, in
            ``[0, 1)``. Defaults to 0.4 (AMN).
        ignore_index (int): Unsure label. Defaults to 255.

    Returns:
        Tensor: ``(B, K, h, w)`` float targets summing to 1 per pixel;
        ignored pixels get the target of class 0 (AMN does the same; the
        loss never reads them).
    """
    fn = 'smoothed_targets'
    if num_channels < 2:
        raise ValueError(f'{fn}: `num_channels` must be >= 2 (background '
                         f'and at least one class), got {num_channels}')
    if not 0.0 <= eps < 1.0:
        raise ValueError(f'{fn}: `eps` must be in [0, 1), got {eps}')
    if labels.dim() != 3:
        raise ValueError(f'{fn}: `labels` must be (B, h, w), got shape '
                         f'{tuple(labels.shape)}')
    _check_labels(fn, labels, num_channels, ignore_index)
    index = labels.long().masked_fill(labels == ignore_index, 0)
    b, h, w = labels.shape
    targets = torch.full((b, num_channels, h, w),
                         eps / (num_channels - 1),
                         device=labels.device)
    targets.scatter_(1, index[:, None], 1.0 - eps)
    return targets


def balanced_smoothed_ce(logits: Tensor,
                         labels: Tensor,
                         eps: float = AMN_EPS,
                         ignore_index: int = 255) -> Tensor:
    """AMN's ``loss_pcl``: balanced soft cross entropy on smoothed targets.

    ``L = (mean_{bg pixels} CE + mean_{fg pixels} CE) / 2`` with
    ``CE = -sum_k t_k log softmax(z)_k`` and ``t`` from
    :func:`smoothed_targets`.

    Note:
        A group without pixels in the batch is left out and the other
        group's mean is the loss [choice: AMN divides by the empty count and
        gets NaN]; with no labelled pixel at all the loss is 0 (with a graph,
        so backward still works).

    Args:
        logits (Tensor): ``(B, K, h, w)`` per-pixel logits, channel 0 the
            background.
        labels (Tensor): ``(B, h, w)`` integer IR labels on the same grid.
        eps (float): Label smoothing. Defaults to 0.4 (AMN).
        ignore_index (int): Unsure label. Defaults to 255.

    Returns:
        Tensor: Scalar loss.
    """
    fn = 'balanced_smoothed_ce'
    if logits.dim() != 4:
        raise ValueError(f'{fn}: `logits` must be (B, K, h, w), got shape '
                         f'{tuple(logits.shape)}')
    b, k, h, w = logits.shape
    if tuple(labels.shape) != (b, h, w):
        raise ValueError(f'{fn}: `labels` must have shape {(b, h, w)} (the '
                         f'logit grid), got {tuple(labels.shape)}')
    targets = smoothed_targets(labels, k, eps, ignore_index).to(logits.dtype)
    per_pixel = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)
    bg = labels == 0
    fg = (labels != 0) & (labels != ignore_index)
    means = [per_pixel[m].mean() for m in (bg, fg) if bool(m.any())]
    if not means:
        return logits.sum() * 0.0
    return torch.stack(means).mean()
