"""The stage loop shared by mmcpal's hand-written backbones."""
from typing import Callable, Sequence, Tuple

from torch import Tensor


def stage_outputs(name: str, x: Tensor, out_indices: Sequence[int],
                  forward_stage: Callable[[Tensor, int], Tensor]
                  ) -> Tuple[Tensor, ...]:
    """Run stages ``0 .. max(out_indices)`` and keep the selected outputs.

    Args:
        name (str): The backbone's name, for the error message.
        x (Tensor): (N, 3, H, W) images.
        out_indices (Sequence[int]): Non-negative stage indices, ascending.
        forward_stage (callable): ``forward_stage(x, index)`` runs one stage.

    Returns:
        tuple[Tensor]: One map per index of ``out_indices``.
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f'{name}: expected input (N, 3, H, W), got '
                         f'{tuple(x.shape)}')
    outs = []
    for index in range(out_indices[-1] + 1):
        x = forward_stage(x, index)
        if index in out_indices:
            outs.append(x)
    return tuple(outs)
