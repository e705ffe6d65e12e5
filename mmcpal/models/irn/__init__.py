"""IRN (Ahn et al., CVPR 2019): class-boundary network, path affinities and
the inter-pixel affinity loss."""
from .affinity_loss import (AffinityTargets, affinity_loss,
                            affinity_loss_terms, affinity_targets)
from .boundary_branch import BoundaryBranch
from .irnet import IRNet
from .paths import (half_directions, path_affinity, path_cells, shift_labels,
                    walk_offsets)
from .resnet_stem import ResNetWithStem

__all__ = [
    'IRNet', 'BoundaryBranch', 'ResNetWithStem', 'AffinityTargets',
    'affinity_targets', 'affinity_loss', 'affinity_loss_terms',
    'half_directions', 'path_cells', 'path_affinity', 'walk_offsets',
    'shift_labels'
]
