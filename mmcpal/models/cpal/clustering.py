"""Clustering of the support bank into context prototypes (paper Eq. 5)."""
from typing import Tuple

import torch.nn as nn
from torch import Tensor

from mmcpal.registry import MODELS
from .functional import batched_spherical_kmeans
from .validation import check_int


@MODELS.register_module()
class SphericalKMeans(nn.Module):
    """Spherical k-means with raw-mean centres, batched over classes.

    Method page §4: cosine assignments, k-means++ seeds drawn on the CPU,
    at most ``iters`` Lloyd iterations, centres the plain means of the raw
    entries; a class with at most ``num_clusters`` entries keeps its entries.

    Args:
        num_clusters (int): Context prototypes per class ``k``. Defaults to
            50 [paper].
        iters (int): Maximum Lloyd iterations. Defaults to 100 [choice].
        seed (int): Seed of the k-means++ draws. Defaults to 0 [choice].
    """

    def __init__(self,
                 *,
                 num_clusters: int = 50,
                 iters: int = 100,
                 seed: int = 0) -> None:
        super().__init__()
        check_int('SphericalKMeans', 'num_clusters', num_clusters, 1)
        check_int('SphericalKMeans', 'iters', iters, 1)
        check_int('SphericalKMeans', 'seed', seed, 0)
        self.num_clusters = num_clusters
        self.iters = iters
        self.seed = seed

    def forward(self, entries: Tensor, counts: Tensor) -> Tuple[Tensor, Tensor]:
        """Cluster each group of rows.

        Args:
            entries (Tensor): ``(G, N, E)`` rows of each class (the first
                ``counts[g]`` real).
            counts (Tensor): ``(G,)`` real rows per class.

        Returns:
            tuple[Tensor, Tensor]: ``centres (G, k', E)`` and
            ``centre_counts (G,)``.
        """
        return batched_spherical_kmeans(entries, counts, k=self.num_clusters,
                                        iters=self.iters, seed=self.seed)

    def extra_repr(self) -> str:
        return (f'num_clusters={self.num_clusters}, iters={self.iters}, '
                f'seed={self.seed}')
