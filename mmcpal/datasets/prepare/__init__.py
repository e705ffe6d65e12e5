"""Preparation and checking of real data sets (VOC 2012 + SBD, COCO 2014).

The logic behind ``tools/prepare_voc.py``, ``tools/prepare_coco.py`` and
``tools/check_dataset.py``. Optional dependencies (scipy for SBD's ``.mat``
files, pycocotools for COCO) are imported only inside the functions that
need them.
"""
from .check import check_dataset, format_check_report
from .coco import prepare_coco, render_semantic_mask
from .report import PrepareError, PrepareReport
from .voc import build_train_aug, prepare_voc, sbd_mask_from_mat

__all__ = [
    'PrepareError', 'PrepareReport', 'build_train_aug', 'check_dataset',
    'format_check_report', 'prepare_coco', 'prepare_voc',
    'render_semantic_mask', 'sbd_mask_from_mat'
]
