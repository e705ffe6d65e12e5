"""mmcpal: weakly-supervised semantic segmentation with CPAL on OpenMMLab.

Importing the package is light on purpose: submodules (models, datasets,
pseudo-mask tools) are imported where used, or lazily by the registries when a
config names ``mmcpal.X``.
"""
from .version import __version__

__all__ = ['__version__']
