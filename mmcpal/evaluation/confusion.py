"""Confusion matrices and segmentation scores (numpy, no chainercv).

Layout of a confusion matrix for C foreground classes: shape
``(C + 1, C + 2)``, rows = ground-truth value 0..C, columns = predicted value
0..C plus one last column counting pixels predicted 255 ("unsure", e.g. the
ignore region of IR labels). Pixels whose ground truth is 255 are not counted.

How unsure predictions are scored is decided when scores are computed
(:func:`segmentation_scores`), so one accumulated matrix serves both modes:

- ``'wrong'``: an unsure pixel counts as a miss for its ground-truth class (a
  false negative of that class, a false positive of no class);
- ``'exclude'``: unsure pixels are dropped; the scores then cover only the
  confident pixels and ``coverage`` says which fraction that is.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

IGNORE_INDEX = 255
PRED_IGNORE_MODES = ('wrong', 'exclude')


def check_num_classes(num_classes: int) -> None:
    """Raise a ValueError unless ``num_classes`` is a valid C (1..254)."""
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError('num_classes must be the number of foreground '
                         f'classes (an int >= 1, e.g. 20 for VOC), got '
                         f'{num_classes!r}')
    if num_classes >= IGNORE_INDEX:
        raise ValueError(f'num_classes={num_classes} collides with the '
                         f'ignore value {IGNORE_INDEX}')


def check_label_map(label: np.ndarray,
                    num_classes: int,
                    what: str = 'label map') -> np.ndarray:
    """Check that a label map holds only 0..C and 255.

    Args:
        label (np.ndarray): (H, W) integer map.
        num_classes (int): C, the number of foreground classes.
        what (str): Name used in the error message (e.g. a file path).
            Defaults to ``'label map'``.

    Returns:
        np.ndarray: ``label`` as int64.

    Raises:
        ValueError: Wrong rank, dtype or values.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'{what}: expected a (H, W) label map, got shape '
                         f'{label.shape}')
    if not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f'{what}: expected integer labels, got dtype '
                         f'{label.dtype}')
    label = label.astype(np.int64)
    bad = ((label < 0) | (label > num_classes)) & (label != IGNORE_INDEX)
    if bad.any():
        values = np.unique(label[bad])[:10].tolist()
        raise ValueError(f'{what}: values {values} are outside 0..'
                         f'{num_classes} and {IGNORE_INDEX}')
    return label


def confusion_index(pred: np.ndarray, gt: np.ndarray,
                    num_classes: int) -> np.ndarray:
    """Flat confusion-matrix cell of every non-ignored pixel.

    Args:
        pred (np.ndarray): (H, W) int64 predictions in 0..C or 255.
        gt (np.ndarray): (H, W) int64 ground truth in 0..C or 255.
        num_classes (int): C.

    Returns:
        np.ndarray: (N,) int64 cell ``gt * (C + 2) + column`` for the N
        pixels whose ground truth is not 255.
    """
    valid = gt != IGNORE_INDEX
    column = np.where(pred == IGNORE_INDEX, num_classes + 1, pred)
    return gt[valid] * (num_classes + 2) + column[valid]


def confusion_from_index(index: np.ndarray, num_classes: int) -> np.ndarray:
    """Count flat cells into a ``(C + 1, C + 2)`` matrix."""
    size = (num_classes + 1) * (num_classes + 2)
    counts = np.bincount(index, minlength=size)
    return counts.reshape(num_classes + 1, num_classes + 2).astype(np.int64)


def confusion_matrix(pred: np.ndarray,
                     gt: np.ndarray,
                     num_classes: int,
                     name: str = 'prediction') -> np.ndarray:
    """Confusion matrix of one label map against its ground truth.

    Args:
        pred (np.ndarray): (H, W) predictions in 0..C or 255 (unsure).
        gt (np.ndarray): (H, W) ground truth in 0..C or 255 (ignored).
        num_classes (int): C, the number of foreground classes.
        name (str): Used in error messages (e.g. the image id). Defaults to
            ``'prediction'``.

    Returns:
        np.ndarray: (C + 1, C + 2) int64 counts; see the module docstring.
    """
    check_num_classes(num_classes)
    pred = check_label_map(pred, num_classes, f'{name} (prediction)')
    gt = check_label_map(gt, num_classes, f'{name} (ground truth)')
    if pred.shape != gt.shape:
        raise ValueError(f'{name}: prediction shape {pred.shape} differs '
                         f'from ground-truth shape {gt.shape}')
    return confusion_from_index(confusion_index(pred, gt, num_classes),
                                num_classes)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise ``num / den`` with NaN where ``den == 0``."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float('nan')


def segmentation_scores(confusion: np.ndarray,
                        pred_ignore: str = 'wrong',
                        class_names: Optional[Sequence[str]] = None) -> Dict:
    """Scores from a ``(C + 1, C + 2)`` confusion matrix.

    Per class c with T = ground-truth pixels, P = predicted pixels,
    TP = hits, U = T + P - TP (the union):

    - IoU = TP / U, precision = TP / P, recall = TP / T;
    - FP rate = (P - TP) / U and FN rate = (T - TP) / U, so that
      IoU + FP + FN = 1 (the FP/FN of SEAM's ``evaluation.py``, YudeWang/SEAM,
      also printed by MCTformer; IRN/AMN print only IoU and mIoU).

    Undefined ratios (0 / 0) are NaN. mIoU is the mean IoU over the classes
    with U > 0, i.e. present in the ground truth or the prediction of the
    evaluated set; IRN and AMN (``step/eval_cam.py``) do the same with
    ``np.nanmean`` over chainercv's confusion. On full VOC all 21 classes
    count. Mean precision/recall/FP/FN are NaN-means over the same classes.

    Args:
        confusion (np.ndarray): (C + 1, C + 2) counts.
        pred_ignore (str): ``'wrong'`` (unsure predictions are misses of
            their ground-truth class) or ``'exclude'`` (unsure pixels are
            dropped). Defaults to ``'wrong'``.
        class_names (Sequence[str], optional): C + 1 names, background first.
            Defaults to ``'0'``, ``'1'``, ...

    Returns:
        dict: ``miou``, ``pixel_acc``, ``precision``, ``recall``, ``fp``,
        ``fn`` (means), ``coverage`` (scored / valid pixels),
        ``pred_fg`` and ``gt_fg`` (foreground fraction of the scored pixels),
        ``bg_in_pred_fg`` (fraction of predicted foreground that is ground-
        truth background, ReCAM's ``among_predfg_bg``, zhaozhengChen/ReCAM
        ``step/eval_cam.py``), ``num_scored_classes``, ``num_pixels`` and
        ``per_class`` {name: {iou, precision, recall, fp, fn, gt_pixels,
        pred_pixels}}. All ratios are fractions in [0, 1].
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    if confusion.ndim != 2 or confusion.shape[1] != confusion.shape[0] + 1:
        raise ValueError('confusion must have shape (C + 1, C + 2), got '
                         f'{confusion.shape}')
    if pred_ignore not in PRED_IGNORE_MODES:
        raise ValueError(f'pred_ignore must be one of {PRED_IGNORE_MODES}, '
                         f'got {pred_ignore!r}')
    n = confusion.shape[0]
    if class_names is None:
        class_names = [str(i) for i in range(n)]
    if len(class_names) != n:
        raise ValueError(f'class_names must have C + 1 = {n} entries '
                         f'(background first), got {len(class_names)}')
    square = confusion[:, :n]
    unsure = confusion[:, n]
    valid_total = int(confusion.sum())
    tp = np.diag(square).astype(np.float64)
    pred = square.sum(axis=0).astype(np.float64)
    gt = square.sum(axis=1).astype(np.float64)
    if pred_ignore == 'wrong':
        gt = gt + unsure
    total = gt.sum()
    union = gt + pred - tp
    iou = _safe_div(tp, union)
    precision = _safe_div(tp, pred)
    recall = _safe_div(tp, gt)
    fp = _safe_div(pred - tp, union)
    fn = _safe_div(gt - tp, union)
    scored = union > 0
    per_class: Dict[str, Dict[str, float]] = {}
    for i, name in enumerate(class_names):
        per_class[name] = dict(iou=float(iou[i]),
                               precision=float(precision[i]),
                               recall=float(recall[i]),
                               fp=float(fp[i]),
                               fn=float(fn[i]),
                               gt_pixels=int(gt[i]),
                               pred_pixels=int(pred[i]))
    return dict(miou=_nanmean(iou[scored]),
                pixel_acc=float(_safe_div(tp.sum(), total)),
                precision=_nanmean(precision[scored]),
                recall=_nanmean(recall[scored]),
                fp=_nanmean(fp[scored]),
                fn=_nanmean(fn[scored]),
                coverage=float(_safe_div(square.sum(), valid_total)),
                pred_fg=float(_safe_div(pred[1:].sum(), total)),
                gt_fg=float(_safe_div(gt[1:].sum(), total)),
                bg_in_pred_fg=float(
                    _safe_div(square[0, 1:].sum(), pred[1:].sum())),
                num_scored_classes=int(scored.sum()),
                num_pixels=int(total),
                per_class=per_class)


def scored_class_names(scores: Dict) -> List[str]:
    """Names of the classes that entered the mIoU (IoU not NaN)."""
    return [
        name for name, row in scores['per_class'].items()
        if not np.isnan(row['iou'])
    ]
