"""From CAMs to pseudo masks: multi-scale inference, CRF, IR labels, masks.

Submodules are imported where used so that ``import mmcpal.pseudo`` stays
light; the names below are the stable API.
"""
from .cam_io import is_complete, load_cams, save_cams
from .crf import DenseCRF, crf_inference_label, dense_crf
from .ir_labels import crf_masks, make_ir_labels
from .jobs import (ImageReadError, JobSummary, SkipImage, load_image_checked,
                   run_image_job)
from .mask_io import VOC_PALETTE
from .mask_io import is_complete as is_mask_complete
from .mask_io import load_mask, mask_path, save_mask
from .multiscale import (MultiScaleCAM, multiscale_cam, multiscale_cam_batch,
                         multiscale_cam_loop)

__all__ = [
    'save_cams', 'load_cams', 'is_complete', 'ImageReadError', 'JobSummary',
    'SkipImage', 'load_image_checked', 'run_image_job', 'VOC_PALETTE',
    'is_mask_complete', 'load_mask', 'mask_path', 'save_mask',
    'MultiScaleCAM', 'multiscale_cam', 'multiscale_cam_batch',
    'multiscale_cam_loop', 'DenseCRF', 'crf_inference_label', 'dense_crf',
    'crf_masks', 'make_ir_labels'
]
