"""Embedding heads of the CPAL branch: backbone maps -> pixel embeddings.

A head takes the host's backbone outputs and the CAM grid size and returns
``z`` of shape ``(B, embed_dims, h, w)`` (method page §2). Two types:

- :class:`MLPProjectionHead`: the first reading, a per-pixel two-layer MLP on
  the last two stages (a SimCLR-style projection; the paper describes no
  head).
- :class:`SideProjectionHead`: SIPE's hierarchical feature (Chen et al.,
  CVPR 2022, ``network/resnet50_SIPE.py``: bias-free 1x1 side convolutions
  of all four stages, each L2-normalised per pixel, resized to the CAM grid
  and concatenated), the embedding CPAL's PACAM/L_self skeleton comes from.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmcpal.registry import MODELS
from .projection_head import ProjectionHead

Feats = Union[Sequence[Tensor], Tensor]


def _check_index(name: str, in_index: Union[int, Sequence[int]]
                 ) -> Tuple[int, ...]:
    if isinstance(in_index, int) and not isinstance(in_index, bool):
        in_index = (in_index, )
    if not (isinstance(in_index, Sequence) and len(in_index) > 0 and all(
            isinstance(i, int) and not isinstance(i, bool)
            for i in in_index)):
        raise ValueError(f'{name}: `in_index` must be an int or a non-empty '
                         f'sequence of ints, but got {in_index!r}')
    return tuple(in_index)


def select_maps(name: str, feats: Feats,
                in_index: Tuple[int, ...]) -> List[Tensor]:
    """The maps at ``in_index`` (a single Tensor is used as is)."""
    if isinstance(feats, Tensor):
        return [feats]
    n = len(feats)
    for i in in_index:
        if not -n <= i < n:
            raise ValueError(f'{name}: `in_index` {in_index} does not fit '
                             f'the {n} feature maps given')
    return [feats[i] for i in in_index]


def resize_to(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bilinear resize to ``size`` (no-op when already that size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


@MODELS.register_module()
class MLPProjectionHead(ProjectionHead):
    """Selected maps, resized and concatenated, through a per-pixel MLP.

    ``z = conv1x1 -> ReLU -> conv1x1`` of the concatenation (method page §2,
    the first reading). Parameters are named ``conv1`` / ``conv2`` as in
    :class:`ProjectionHead`, so checkpoints of either load.

    Args:
        in_channels (int): Sum of the channels of the selected maps.
        in_index (int | Sequence[int]): Which host maps to use. Defaults to
            (-2, -1) [choice: the last two stages].
        embed_dims (int): ``E``. Defaults to 128 [choice].
        mid_channels (int, optional): Hidden width; None means
            ``embed_dims``. Defaults to None.
        normalize (bool): L2-normalise each pixel's embedding. Defaults to
            False [choice].
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 *,
                 in_channels: int,
                 in_index: Union[int, Sequence[int]] = (-2, -1),
                 embed_dims: int = 128,
                 mid_channels: Optional[int] = None,
                 normalize: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(in_channels=in_channels, embed_dims=embed_dims,
                         mid_channels=mid_channels, init_cfg=init_cfg)
        if not isinstance(normalize, bool):
            raise ValueError('MLPProjectionHead: `normalize` must be a bool, '
                             f'but got {normalize!r}')
        self.in_index = _check_index('MLPProjectionHead', in_index)
        self.normalize = normalize

    def forward(self, feats: Feats, size: Tuple[int, int]) -> Tensor:
        """Embed the host's maps on the CAM grid.

        Args:
            feats (Sequence[Tensor] | Tensor): The host's backbone outputs.
            size (tuple[int, int]): The CAM grid ``(h, w)``.

        Returns:
            Tensor: ``(B, embed_dims, h, w)``.
        """
        maps = [
            resize_to(f, size)
            for f in select_maps('MLPProjectionHead', feats, self.in_index)
        ]
        x = torch.cat(maps, dim=1) if len(maps) > 1 else maps[0]
        if x.shape[1] != self.in_channels:
            raise ValueError(
                'CPALBranch: the selected feature maps have '
                f'{x.shape[1]} channels in total, but `in_channels` is '
                f'{self.in_channels}')
        z = super().forward(x)
        return F.normalize(z, dim=1) if self.normalize else z


@MODELS.register_module()
class SideProjectionHead(BaseModule):
    """SIPE's hierarchical embedding: one normalised side projection a stage.

    For each selected map ``x_s``: ``u_s = W_s x_s`` (1x1 conv without bias),
    ``u_s / (||u_s|| + 1e-5)`` per pixel, resized bilinearly to the CAM
    grid; ``z`` is the concatenation (method page §2.1). Every pixel
    embedding thus has norm ``sqrt(S)`` for ``S`` stages (up to the
    interpolation), so cosines and dot products of prototypes are on a
    fixed scale, and the low-level stages carry the appearance that lets a
    prototype map spread over a whole object.

    Args:
        in_channels (Sequence[int]): Channels of each selected map.
        out_channels (Sequence[int], optional): Side widths; defaults to
            SIPE's (128, 128, 256, 256) for four stages, 128 each otherwise.
        in_index (Sequence[int]): Which host maps. Defaults to (0, 1, 2, 3)
            [SIPE: all four stages].
        init_cfg (dict, optional): MMEngine init config. Defaults to None
            (PyTorch's conv init, as SIPE).
    """

    def __init__(self,
                 *,
                 in_channels: Sequence[int],
                 out_channels: Optional[Sequence[int]] = None,
                 in_index: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_index = _check_index('SideProjectionHead', in_index)
        in_channels = tuple(in_channels)
        if out_channels is None:
            out_channels = (128, 128, 256, 256) if len(in_channels) == 4 \
                else (128, ) * len(in_channels)
        out_channels = tuple(out_channels)
        if not (len(in_channels) == len(out_channels) == len(self.in_index)):
            raise ValueError(
                'SideProjectionHead: `in_channels`, `out_channels` and '
                '`in_index` must have one entry per stage, but got '
                f'{in_channels}, {out_channels}, {self.in_index}')
        for v in in_channels + out_channels:
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError('SideProjectionHead: channels must be '
                                 f'positive ints, but got {v!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.embed_dims = sum(out_channels)
        self.sides = nn.ModuleList(
            nn.Conv2d(i, o, 1, bias=False)
            for i, o in zip(in_channels, out_channels))

    def forward(self, feats: Feats, size: Tuple[int, int]) -> Tensor:
        """Embed the host's maps on the CAM grid.

        Args:
            feats (Sequence[Tensor] | Tensor): The host's backbone outputs.
            size (tuple[int, int]): The CAM grid ``(h, w)``.

        Returns:
            Tensor: ``(B, embed_dims, h, w)``.
        """
        maps = select_maps('SideProjectionHead', feats, self.in_index)
        parts = []
        for x, side, c in zip(maps, self.sides, self.in_channels):
            if x.dim() != 4 or x.shape[1] != c:
                raise ValueError(
                    f'SideProjectionHead: a selected map has shape '
                    f'{tuple(x.shape)}, expected {c} channels '
                    f'(in_channels={self.in_channels})')
            u = side(x)
            u = u / (u.norm(dim=1, keepdim=True) + 1e-5)
            parts.append(resize_to(u, size))
        return torch.cat(parts, dim=1)
