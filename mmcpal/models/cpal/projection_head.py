"""Projection head ``g`` of the CPAL branch.

CPAL (Tang et al., CVPR 2024, Eq. 4) maps backbone features to the embedding
in which instance and context prototypes live. The paper does not describe the
head's layers and no official code exists, so its shape is our choice
(documented in ``docs/cpal-method.md`` Sec. 2): the usual two-layer 1x1
projection of contrastive learning (SimCLR-style MLP applied per pixel).
"""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor


class ProjectionHead(BaseModule):
    """Per-pixel two-layer projection: 1x1 conv -> ReLU -> 1x1 conv.

    Note:
        The head has no normalisation layer (a batch statistic would couple
        the images of a batch and differ between ranks) and no objective of
        its own: only CPAL's ``L_self`` trains it.

    Args:
        in_channels (int): Channels of the input feature map.
        embed_dims (int): Output embedding length ``E``. Defaults to 128
            [choice].
        mid_channels (int, optional): Hidden width. Defaults to None, which
            means ``embed_dims`` [choice].
        init_cfg (dict | list[dict], optional): MMEngine initialisation
            config. Defaults to None (PyTorch's default conv init).
    """

    def __init__(self,
                 *,
                 in_channels: int,
                 embed_dims: int = 128,
                 mid_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        mid_channels = embed_dims if mid_channels is None else mid_channels
        for name, value in (('in_channels', in_channels),
                            ('embed_dims', embed_dims), ('mid_channels',
                                                         mid_channels)):
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < 1:
                raise ValueError(f'ProjectionHead: `{name}` must be a '
                                 f'positive int, but got {value!r}')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.mid_channels = mid_channels
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid_channels, embed_dims, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Project a feature map.

        Args:
            x (Tensor): ``(B, in_channels, h, w)``.

        Returns:
            Tensor: ``(B, embed_dims, h, w)``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                'ProjectionHead: input must have shape (B, '
                f'{self.in_channels}, h, w), but got {tuple(x.shape)}')
        return self.conv2(self.relu(self.conv1(x)))
