"""Evaluation of a folder of PNG label masks (pseudo masks, IR labels...)."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from .confusion import (check_num_classes, confusion_matrix,
                        segmentation_scores)
from .label_io import default_class_names, read_label_png
from .protocol import Protocol
from .result import EvalResult, per_class_percent, summary_row, to_percent

_MISSING_MODES = ('skip', 'error', 'background')


def evaluate_masks(pred_dir: str,
                   gt_dir: str,
                   ids: Sequence[str],
                   num_classes: int,
                   *,
                   pred_ignore: str = 'wrong',
                   on_missing: str = 'skip',
                   split: str = '',
                   crf: bool = False,
                   source: Optional[str] = None,
                   class_names: Optional[Sequence[str]] = None,
                   cam_type: Optional[str] = None) -> EvalResult:
    """mIoU of ``<pred_dir>/<id>.png`` masks against ``<gt_dir>/<id>.png``.

    Args:
        pred_dir (str): Folder of predicted single-channel PNGs, values 0..C
            and 255 (unsure).
        gt_dir (str): Folder of ground-truth PNGs, values 0..C and 255
            (ignored).
        ids (Sequence[str]): Image ids.
        num_classes (int): C, the number of foreground classes.
        pred_ignore (str): 255 in predictions: ``'wrong'`` (a miss of the GT
            class) or ``'exclude'`` (dropped; coverage reported). Defaults to
            ``'wrong'``.
        on_missing (str): A missing prediction: ``'skip'`` (recorded),
            ``'error'`` or scored as all ``'background'``. A missing GT is
            skipped unless ``'error'``. Defaults to ``'skip'``.
        split (str): Name of the id list, for the protocol. Defaults to ''.
        crf (bool): Whether the masks were CRF-refined, for the protocol.
            Defaults to False.
        source (str, optional): Description of the masks for the protocol.
            Defaults to ``'PNG masks in <pred_dir>'``.
        class_names (Sequence[str], optional): C or C + 1 names. Defaults to
            VOC names when C = 20.
        cam_type (str, optional): The map the masks were made from, for the
            protocol (``'cam'``, ``'pacam'``, ``'fused'``). Defaults to None
            (unknown).

    Returns:
        EvalResult: ``curve`` is empty; ``best`` holds the summary
        (``threshold`` and ``alpha`` None).
    """
    check_num_classes(num_classes)
    if on_missing not in _MISSING_MODES:
        raise ValueError(f'on_missing must be one of {_MISSING_MODES}, got '
                         f'{on_missing!r}')
    for what, folder in (('prediction', pred_dir), ('ground-truth', gt_dir)):
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{what} folder {folder!r} does not '
                                    'exist')
    names = default_class_names(num_classes, class_names)
    protocol = Protocol(split=split,
                        source=source or f'PNG masks in {pred_dir}',
                        num_classes=num_classes,
                        threshold_rule='none (label masks scored as they are)',
                        crf=crf,
                        pred_ignore=pred_ignore,
                        cam_type=cam_type)
    total = np.zeros((num_classes + 1, num_classes + 2), np.int64)
    for img_id in ids:
        gt_path = osp.join(gt_dir, img_id + '.png')
        pred_path = osp.join(pred_dir, img_id + '.png')
        if not osp.isfile(gt_path):
            if on_missing == 'error':
                raise FileNotFoundError(f'ground truth {gt_path!r} of image '
                                        f'{img_id!r} does not exist')
            protocol.add_skip('no ground-truth PNG', img_id)
            continue
        gt = read_label_png(gt_path)
        if osp.isfile(pred_path):
            pred = read_label_png(pred_path)
        elif on_missing == 'skip':
            protocol.add_skip('no predicted mask', img_id)
            continue
        elif on_missing == 'error':
            raise FileNotFoundError(f'predicted mask {pred_path!r} of image '
                                    f'{img_id!r} does not exist')
        else:
            protocol.missing_as_background.append(img_id)
            pred = np.zeros_like(gt)
        total += confusion_matrix(pred, gt, num_classes, name=pred_path)
        protocol.num_images += 1
    if protocol.num_images == 0:
        raise ValueError(f'no image of {split or "the list"} could be '
                         f'evaluated: {protocol.to_markdown()}')
    scores = segmentation_scores(total, pred_ignore, names)
    protocol.coverage = to_percent(scores['coverage'])
    protocol.num_scored_classes = scores['num_scored_classes']
    return EvalResult(protocol=protocol,
                      best=summary_row(scores),
                      curve=[],
                      per_class=per_class_percent(scores),
                      confusion=total,
                      title='Mask evaluation')
