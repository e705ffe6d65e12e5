"""Data sets and transforms; importing this registers them."""
from . import transforms  # noqa: F401
from .voc import VOCImageLevelDataset

__all__ = ['VOCImageLevelDataset']
