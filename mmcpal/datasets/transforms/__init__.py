"""WSSS data transforms.

mmcv's ``LoadImageFromFile``, ``RandomFlip`` and ``Resize`` are reused as they
are (they live in MMEngine's root ``TRANSFORMS`` registry, which the
``mmcpal`` registry falls back to).
"""
from .crop import RandomCropWithValid, paste_crop, random_crop_box
from .formatting import PackWSSSInputs
from .ir_label import LoadIRLabel
from .irn_affinity import RandomRescale
from .loading import LoadImageChecked, LoadSegMap
from .resize import RandomLongSideResize

__all__ = [
    'LoadImageChecked', 'LoadSegMap', 'RandomLongSideResize',
    'RandomCropWithValid', 'PackWSSSInputs', 'random_crop_box', 'paste_crop',
    'LoadIRLabel', 'RandomRescale'
]
