"""AMN (Lee et al., CVPR 2022): the label-conditioned per-pixel network
trained on IR labels, its loss and helpers."""
from .amn import AMN
from .aspp import AtrousClassifier
from .cam_norm import amn_minmax_normalise
from .conditioning import LabelConditioning, expand_labels, modulate
from .grid_labels import (nearest_indices, pad_valid_masks,
                          resize_labels_nearest, stack_ir_labels)
from .loss import AMN_EPS, balanced_smoothed_ce, smoothed_targets

__all__ = [
    'AMN', 'AtrousClassifier', 'LabelConditioning', 'modulate',
    'expand_labels', 'balanced_smoothed_ce', 'smoothed_targets', 'AMN_EPS',
    'nearest_indices', 'resize_labels_nearest', 'stack_ir_labels',
    'pad_valid_masks', 'amn_minmax_normalise'
]
