"""Feature distribution alignment (paper Eqs. 8-12; method page §7).

An alignment part gets one class's instance prototypes of the batch, their
selected neighbours, the class's context prototypes and the neighbour
selector, and returns

- the prototypes the positiveness weights are computed from,
- the neighbours (re-selected when the prototypes moved),
- the pixel shift ``delta_c`` to add to the embedding before the PACAM
  cosine, or None;

and says in ``pixel_region`` where a pixel shift applies: ``'all'`` pixels,
the reliable ``'mask'`` of the class, or None (no pixel shift).
"""
from typing import Callable, Optional, Tuple

import torch.nn as nn
from torch import Tensor

from mmcpal.registry import MODELS
from .functional import alignment_shift
from .validation import check_bool

Selector = Callable[[Tensor, Tensor], Tensor]
Aligned = Tuple[Tensor, Tensor, Optional[Tensor]]


class _ShiftAlignment(nn.Module):
    """``delta_c = mean(neighbours) - mean(prototypes)`` (method page §7)."""

    pixel_region: Optional[str] = None

    def __init__(self, *, detach: bool = True) -> None:
        super().__init__()
        check_bool(type(self).__name__, 'detach', detach)
        self.detach = detach

    def shift(self, protos: Tensor, neighbours: Tensor) -> Tensor:
        delta = alignment_shift(protos, neighbours)
        return delta.detach() if self.detach else delta


@MODELS.register_module()
class PixelShiftAlignment(_ShiftAlignment):
    """Add ``delta_c`` to every pixel embedding of class c's PACAM (the
    first reading's default).

    Args:
        detach (bool): Constant shift. Defaults to True [choice].
    """

    pixel_region = 'all'

    def forward(self, protos: Tensor, neighbours: Tensor, context: Tensor,
                select: Selector) -> Aligned:
        return protos, neighbours, self.shift(protos, neighbours)


@MODELS.register_module()
class MaskShiftAlignment(PixelShiftAlignment):
    """Add ``delta_c`` only inside class c's reliable region.

    Args:
        detach (bool): Constant shift. Defaults to True [choice].
    """

    pixel_region = 'mask'


@MODELS.register_module()
class PrototypeShiftAlignment(_ShiftAlignment):
    """Shift the instance prototype, ``p + delta_c`` (the literal Eq. 9:
    "adding a shifting term to the instance feature"), and select and weigh
    its neighbours again from there; pixels are not shifted.

    Args:
        detach (bool): Constant shift. Defaults to True [choice].
    """

    def forward(self, protos: Tensor, neighbours: Tensor, context: Tensor,
                select: Selector) -> Aligned:
        moved = protos + self.shift(protos, neighbours)
        return moved, context[select(moved, context)], None


@MODELS.register_module()
class NoAlignment(nn.Module):
    """No alignment (Table 1's rows before "+ alignment")."""

    pixel_region: Optional[str] = None

    def forward(self, protos: Tensor, neighbours: Tensor, context: Tensor,
                select: Selector) -> Aligned:
        return protos, neighbours, None
