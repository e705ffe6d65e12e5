"""Small tensor operations shared by the CAM-producing models."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F


def downsample_valid(valid: torch.Tensor,
                     size: Tuple[int, int]) -> torch.Tensor:
    """Pool an image-resolution valid mask to a feature grid.

    Average pooling over each cell, then ``> 0.5`` = valid [choice, method
    page §11].

    Args:
        valid (Tensor): (B, 1, H, W) mask, 1 on real pixels.
        size (tuple): Target (h, w).

    Returns:
        Tensor: (B, 1, h, w) float mask of 0 and 1.
    """
    pooled = F.adaptive_avg_pool2d(valid.float(), tuple(size))
    return (pooled > 0.5).float()


def masked_gap(cams: torch.Tensor,
               valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Global average of ``cams`` over valid cells.

    Args:
        cams (Tensor): (B, C, h, w).
        valid (Tensor, optional): (B, 1, h, w) 0/1 mask; None = all cells.

    Returns:
        Tensor: (B, C) image scores. An image with no valid cell scores 0.
    """
    if valid is None:
        return cams.mean(dim=(2, 3))
    total = (cams * valid).sum(dim=(2, 3))
    return total / valid.sum(dim=(2, 3)).clamp(min=1.0)

