"""IRN's class-boundary branch over multi-stage backbone features."""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn


class BoundaryBranch(BaseModule):
    """Class-boundary detection from every backbone stage (IRN's edge branch).

    For each stage ``i``: 1x1 conv (no bias) to ``channels``, GroupNorm,
    bilinear resize to the grid of stage ``grid_index``, ReLU; the maps are
    concatenated and a 1x1 conv with bias gives one boundary logit per grid
    cell (``fc_edge1`` .. ``fc_edge6`` of ``net/resnet50_irn.py`` in
    jiwoon-ahn/irn: 32 channels, ``GroupNorm(4, 32)``, on all five ResNet-50
    stages, the stride-4 grid of ``layer1``).

    Note:
        IRN upsamples stages 3-5 by fixed factors (2, 4, 4) and crops to the
        stride-4 grid; here every stage is resized to the grid's exact size,
        so backbones whose outputs are not exact multiples of their stride
        (SqueezeNet) work too, and a finer stage is resized down.

    Args:
        in_channels (Sequence[int]): Channels of each backbone output used.
        channels (int): Channels per stage after the 1x1 conv.
            Defaults to 32.
        num_groups (int): GroupNorm groups. Defaults to 4.
        grid_index (int): Index into ``in_channels`` of the stage whose
            spatial size is the output grid. Defaults to 1.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 *,
                 in_channels: Sequence[int],
                 channels: int = 32,
                 num_groups: int = 4,
                 grid_index: int = 1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = list(in_channels)
        assert in_channels and all(
            isinstance(c, int) and c > 0 for c in in_channels), (
                'BoundaryBranch: in_channels must be a non-empty list of '
                f'positive ints, got {in_channels!r}')
        assert channels > 0 and channels % num_groups == 0, (
            f'BoundaryBranch: channels ({channels}) must be a positive '
            f'multiple of num_groups ({num_groups})')
        assert -len(in_channels) <= grid_index < len(in_channels), (
            f'BoundaryBranch: grid_index {grid_index} out of range for '
            f'{len(in_channels)} stages')
        self.in_channels = in_channels
        self.grid_index = grid_index % len(in_channels)
        self.stage_convs = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(c, channels, 1, bias=False),
                nn.GroupNorm(num_groups, channels)) for c in in_channels
        ])
        self.fuse = nn.Conv2d(channels * len(in_channels), 1, 1, bias=True)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Boundary logits on the grid.

        Args:
            feats (Sequence[Tensor]): One (N, in_channels[i], h_i, w_i) map
                per stage.

        Returns:
            Tensor: (N, 1, h, w) logits, ``(h, w)`` the size of
            ``feats[grid_index]``.
        """
        if len(feats) != len(self.stage_convs):
            raise ValueError(
                f'BoundaryBranch: got {len(feats)} feature maps, expected '
                f'{len(self.stage_convs)} (in_channels={self.in_channels})')
        size = feats[self.grid_index].shape[-2:]
        maps: List[Tensor] = []
        for feat, conv in zip(feats, self.stage_convs):
            x = conv(feat)
            if x.shape[-2:] != size:
                x = F.interpolate(
                    x, size=size, mode='bilinear', align_corners=False)
            maps.append(F.relu(x))
        return self.fuse(torch.cat(maps, dim=1))
