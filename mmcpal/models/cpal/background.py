"""The background channel of PACAM (method page §8 and §8.1).

A background part maps the foreground PACAM and what it may need (the
embedding, the normalised CAM, the host's last feature map, the labels and
the valid mask) to the ``(B, 1, h, w)`` background channel.
"""
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmcpal.registry import MODELS
from .functional import instance_prototypes, prototype_map, sipe_seeds
from .validation import check_choice, check_number


@MODELS.register_module()
class OneMinusMaxBackground(nn.Module):
    """``P_0 = 1 - max_c P_c``, the form of the CAM's own background (the
    first reading)."""

    def forward(self, fg: Tensor, *, embed: Tensor, cam: Tensor,
                feats: Tensor, labels: Tensor,
                valid: Optional[Tensor]) -> Tensor:
        if fg.shape[1] == 0:
            return fg.new_ones(fg.shape[0], 1, *fg.shape[2:])
        return 1.0 - fg.amax(dim=1, keepdim=True)


@MODELS.register_module()
class PrototypeBackground(nn.Module):
    """An image-specific background prototype, as SIPE's IS-CAM.

    ``P_0(x) = ReLU(cos(z(x), p_bg))`` divided by its spatial max, with
    ``p_bg`` the mean embedding of the image's background region (method
    page §8.1; SIPE: ``get_seed`` / ``get_prototype`` / ``reactivate`` of
    chenqi1126/SIPE ``network/resnet50_SIPE.py``). The paper keeps SIPE's
    ``(C+1)``-channel map "to help model background knowledge"; this is the
    mechanism that phrase refers to in SIPE. The region:

    - ``'sipe'`` (default): SIPE's seed partition
      (:func:`~mmcpal.models.cpal.functional.sipe_seeds`: feature-correlation
      IoU with each CAM channel, background IoU halved, argmax), computed on
      the host's last feature map, as SIPE does in training;
    - ``'cam'``: the pixels where the CAM's background wins the argmax,
      ``M_0 > max_c M_c`` (no correlation).

    An image whose region is empty falls back to ``1 - max_c P_c``.

    Args:
        region (str): 'sipe' or 'cam'. Defaults to 'sipe' [SIPE].
        bg_factor (float): SIPE's weight of the background IoU. Defaults to
            0.5 [SIPE]; only for ``region='sipe'``.
    """

    def __init__(self, *, region: str = 'sipe',
                 bg_factor: float = 0.5) -> None:
        super().__init__()
        check_choice('PrototypeBackground', 'region', region, ('sipe', 'cam'))
        check_number('PrototypeBackground', 'bg_factor', bg_factor, '> 0',
                     lambda v: v > 0)
        if region != 'sipe' and bg_factor != 0.5:
            raise ValueError("PrototypeBackground: `bg_factor` applies only "
                             "to region='sipe'")
        self.region = region
        self.bg_factor = float(bg_factor)

    def background_region(self, *, cam: Tensor, feats: Tensor,
                          labels: Tensor,
                          valid: Optional[Tensor]) -> Tensor:
        """``(B, 1, h, w)`` bool background region of each image."""
        if self.region == 'sipe':
            seeds = sipe_seeds(cam, feats.detach(), labels, valid,
                               bg_factor=self.bg_factor)
            return seeds[:, :1]
        region = cam[:, :1] > cam[:, 1:].amax(dim=1, keepdim=True)
        if valid is not None:
            region = region & (valid > 0)
        return region

    def forward(self, fg: Tensor, *, embed: Tensor, cam: Tensor,
                feats: Tensor, labels: Tensor,
                valid: Optional[Tensor]) -> Tensor:
        region = self.background_region(cam=cam.detach(), feats=feats,
                                        labels=labels, valid=valid)
        ones = labels.new_ones(labels.shape[0], 1)
        proto, present = instance_prototypes(embed, region.to(embed.dtype),
                                             ones, tau=0.5, valid=valid)
        bg = prototype_map(embed, proto[:, 0], present[:, 0], valid)
        fallback = 1.0 - fg.amax(dim=1, keepdim=True)
        return torch.where(present[:, 0, None, None, None], bg, fallback)

    def extra_repr(self) -> str:
        return f'region={self.region!r}, bg_factor={self.bg_factor}'
