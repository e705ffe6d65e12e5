"""Backbones of mmcpal.

Importing this package registers ``SqueezeNet`` in ``mmcpal.registry.MODELS``
and the MMEngine checkpoint scheme ``ndf://`` (ImageNet SqueezeNet 1.1
weights from the optional ``ndf`` package).
"""
from .ndf_weights import CAFFE_MEAN_BGR, CAFFE_STD, load_ndf_squeezenet
from .squeezenet import Fire, SqueezeNet

__all__ = [
    'CAFFE_MEAN_BGR', 'CAFFE_STD', 'Fire', 'SqueezeNet', 'load_ndf_squeezenet'
]
