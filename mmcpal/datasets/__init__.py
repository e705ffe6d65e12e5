"""Data sets and transforms; importing this registers them."""
from . import transforms  # noqa: F401
from .coco import COCO14ImageLevelDataset
from .synthetic import SyntheticWSSSDataset
from .voc import VOCImageLevelDataset

__all__ = [
    'VOCImageLevelDataset', 'SyntheticWSSSDataset', 'COCO14ImageLevelDataset'
]
