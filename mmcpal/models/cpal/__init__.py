"""CPAL: the branch and its registered parts.

Parts (each a module in mmcpal's MODELS registry, built from a sub-config of
``CPALBranch``; the method page §15 lists their config keys):

- heads: :class:`MLPProjectionHead`, :class:`SideProjectionHead`;
- :class:`SupportBank`; clustering: :class:`SphericalKMeans`;
- neighbours: :class:`TopKNeighbours`;
- positiveness: :class:`SoftmaxPositiveness`,
  :class:`StandardisedPositiveness`, :class:`UniformPositiveness`;
- alignment: :class:`PixelShiftAlignment`, :class:`MaskShiftAlignment`,
  :class:`PrototypeShiftAlignment`, :class:`NoAlignment`;
- background: :class:`OneMinusMaxBackground`, :class:`PrototypeBackground`;
- loss: :class:`PACAMLoss`.
"""
from .alignment import (MaskShiftAlignment, NoAlignment, PixelShiftAlignment,
                        PrototypeShiftAlignment)
from .background import OneMinusMaxBackground, PrototypeBackground
from .clustering import SphericalKMeans
from .compat import parts_from_flat
from .cpal_branch import DEFAULT_PARTS, CPALBranch
from .heads import MLPProjectionHead, SideProjectionHead
from .losses import PACAMLoss
from .neighbours import TopKNeighbours
from .positiveness import (SoftmaxPositiveness, StandardisedPositiveness,
                           UniformPositiveness)
from .projection_head import ProjectionHead
from .support_bank import SupportBank

__all__ = [
    'CPALBranch', 'DEFAULT_PARTS', 'parts_from_flat', 'ProjectionHead',
    'MLPProjectionHead', 'SideProjectionHead', 'SupportBank',
    'SphericalKMeans', 'TopKNeighbours', 'SoftmaxPositiveness',
    'StandardisedPositiveness', 'UniformPositiveness', 'PixelShiftAlignment',
    'MaskShiftAlignment', 'PrototypeShiftAlignment', 'NoAlignment',
    'OneMinusMaxBackground', 'PrototypeBackground', 'PACAMLoss'
]
