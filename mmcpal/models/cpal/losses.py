"""The self-supervised loss between the CAM and PACAM (paper Eq. 14)."""
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmcpal.registry import MODELS
from .functional import l1_normalise, self_supervised_loss
from .validation import check_bool, check_choice, check_number


@MODELS.register_module()
class PACAMLoss(nn.Module):
    """``loss_weight * mean |M - P|`` over the selected channels (§9).

    Args:
        loss_weight (float): ``beta`` of paper Eq. 1. Defaults to 1.0
            [paper].
        channels (str): 'all' (all C+1 channels, as SIPE, except present
            classes without a PACAM) or 'present' (background and the
            classes with a PACAM). Defaults to 'all' [choice].
        norm (str): 'max' (compare the max-normalised maps) or 'l1' (each
            channel divided by its spatial sum). Defaults to 'max' [choice].
        detach_pacam (bool): PACAM as a fixed target. Defaults to False
            [choice].
    """

    def __init__(self,
                 *,
                 loss_weight: float = 1.0,
                 channels: str = 'all',
                 norm: str = 'max',
                 detach_pacam: bool = False) -> None:
        super().__init__()
        check_number('PACAMLoss', 'loss_weight', loss_weight, '>= 0',
                     lambda v: v >= 0)
        check_choice('PACAMLoss', 'channels', channels, ('all', 'present'))
        check_choice('PACAMLoss', 'norm', norm, ('max', 'l1'))
        check_bool('PACAMLoss', 'detach_pacam', detach_pacam)
        self.loss_weight = float(loss_weight)
        self.channels = channels
        self.norm = norm
        self.detach_pacam = detach_pacam

    def selected_channels(self, labels: Tensor, use: Tensor) -> Tensor:
        """``(B, C+1)`` bool, the channels that count."""
        bg = torch.ones(labels.shape[0], 1, dtype=torch.bool,
                        device=labels.device)
        fg = ~(labels & ~use) if self.channels == 'all' else use
        return torch.cat([bg, fg], dim=1)

    def forward(self, cam: Tensor, pacam: Tensor, *, labels: Tensor,
                use: Tensor, valid: Optional[Tensor]) -> Tensor:
        """The weighted loss.

        Args:
            cam (Tensor): ``(B, C+1, h, w)`` normalised CAM ``M``.
            pacam (Tensor): ``(B, C+1, h, w)`` PACAM.
            labels (Tensor): ``(B, C)`` bool labels.
            use (Tensor): ``(B, C)`` bool, the pairs with a PACAM channel.
            valid (Tensor, optional): ``(B, 1, h, w)`` mask.

        Returns:
            Tensor: Scalar.
        """
        return self.loss_weight * self.unweighted(cam, pacam, labels=labels,
                                                  use=use, valid=valid)

    def unweighted(self, cam: Tensor, pacam: Tensor, *, labels: Tensor,
                   use: Tensor, valid: Optional[Tensor]) -> Tensor:
        """:meth:`forward` without ``loss_weight``."""
        channels = self.selected_channels(labels, use)
        if self.norm == 'l1':
            cam = l1_normalise(cam, valid)
            pacam = l1_normalise(pacam, valid)
        if self.detach_pacam:
            pacam = pacam.detach()
        return self_supervised_loss(cam, pacam, valid, channels)

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, channels={self.channels!r}, '
                f'norm={self.norm!r}, detach_pacam={self.detach_pacam}')
