"""Data sets and transforms; importing this registers them."""
from . import transforms  # noqa: F401
from .synthetic import SyntheticWSSSDataset
from .voc import VOCImageLevelDataset

__all__ = ['VOCImageLevelDataset', 'SyntheticWSSSDataset']
