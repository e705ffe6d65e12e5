"""CPAL: support bank, projection head and the branch composing them."""
from .cpal_branch import CPALBranch
from .projection_head import ProjectionHead
from .support_bank import SupportBank

__all__ = ['CPALBranch', 'ProjectionHead', 'SupportBank']
