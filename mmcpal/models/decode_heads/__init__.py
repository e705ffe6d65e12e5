"""Segmentation heads (and their test-time CRF wrappers) for MMSeg configs.

Importing this package registers ``DeepLabV2Head``, ``CRFEncoderDecoder`` and
``CRFSegTTAModel`` in ``mmcpal.registry.MODELS``; MMSeg configs name them
``type='mmcpal.X'``.
"""
from .class_weights import count_class_pixels, median_frequency_weights
from .crf_postprocess import (CRFEncoderDecoder, CRFSegTTAModel, crf_refine,
                              import_dense_crf, load_rgb)
from .deeplabv2_head import DEEPLABV2_DILATIONS, DeepLabV2Head, aspp_sum

__all__ = [
    'DeepLabV2Head', 'aspp_sum', 'DEEPLABV2_DILATIONS', 'CRFEncoderDecoder',
    'CRFSegTTAModel', 'crf_refine', 'import_dense_crf', 'load_rgb',
    'count_class_pixels', 'median_frequency_weights'
]
