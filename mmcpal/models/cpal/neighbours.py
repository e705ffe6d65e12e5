"""Neighbour selection among a class's context prototypes (paper Eq. 6)."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from mmcpal.registry import MODELS
from .functional import select_neighbours
from .validation import check_int


@MODELS.register_module()
class TopKNeighbours(nn.Module):
    """The ``K`` context prototypes most similar by cosine (method page §5).

    Args:
        num_neighbours (int, optional): ``K``; None keeps all context
            prototypes (Table 2's "no neighbour selection" row). Defaults to
            20 [paper].
    """

    def __init__(self, *, num_neighbours: Optional[int] = 20) -> None:
        super().__init__()
        if num_neighbours is not None:
            check_int('TopKNeighbours', 'num_neighbours', num_neighbours, 1)
        self.num_neighbours = num_neighbours

    def max_neighbours(self, num_clusters: int) -> int:
        """Largest neighbour count with ``num_clusters`` context prototypes."""
        if self.num_neighbours is None:
            return num_clusters
        return min(self.num_neighbours, num_clusters)

    def forward(self, protos: Tensor, context: Tensor) -> Tensor:
        """Indices of the neighbours of each prototype.

        Args:
            protos (Tensor): ``(N, E)`` instance prototypes of one class.
            context (Tensor): ``(k, E)`` its context prototypes.

        Returns:
            Tensor: ``(N, K')`` long, most similar first.
        """
        index, _ = select_neighbours(protos, context,
                                     self.max_neighbours(context.shape[0]))
        return index

    def extra_repr(self) -> str:
        return f'num_neighbours={self.num_neighbours}'
