"""Seeds from CAMs and their evaluation with a background-threshold sweep.

A seed labels each pixel with the argmax over ``[background, cams]``:

- constant rule: background score = t (IRN ``step/eval_cam.py`` pads the
  CAMs with ``cam_eval_thres``, jiwoon-ahn/irn);
- alpha rule: background score = ``(1 - max_k cams) ** alpha`` (PSA
  ``infer_cls.py``, ``_crf_with_alpha``, jiwoon-ahn/psa).

Background comes first, so ties go to background: a pixel is foreground only
where ``max_k cams > background``. The sweep computes max and argmax once per
image and then one bincount per rule, so each file is read once.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmcpal.pseudo.cam_io import (cam_path, check_cam_type, load_cam_arrays,
                                  select_map)
from .confusion import (check_label_map, check_num_classes,
                        confusion_from_index, segmentation_scores)
from .label_io import default_class_names, read_label_png
from .protocol import Protocol
from .result import EvalResult, per_class_percent, summary_row, to_percent

# The sweep must start near 0: peaky CAMs of weak or short-trained networks
# had their best background threshold at or below 0.05 on voc12-mini
# (docs cpal-method.md, sections 11 and 14). It runs up to 0.95 because
# prototype maps (ReLU of cosines, PACAM / SIPE's IS-CAM) are high on the
# background too: on voc12-mini their best threshold sat at the old top of
# the sweep, 0.60, which would have cut their score off.
DEFAULT_THRESHOLDS = (0.01, 0.02, 0.03, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30,
                      0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75,
                      0.80, 0.85, 0.90, 0.95)
ON_MISSING_MODES = ('skip', 'error', 'background')


def _check_rule(threshold: Optional[float], alpha: Optional[float]) -> None:
    if (threshold is None) == (alpha is None):
        raise ValueError('give exactly one of threshold (constant background '
                         f'score) or alpha, got threshold={threshold!r}, '
                         f'alpha={alpha!r}')
    if alpha is not None and not alpha > 0:
        raise ValueError(f'alpha must be > 0, got {alpha!r}')


def background_score(cams: np.ndarray,
                     threshold: Optional[float] = None,
                     alpha: Optional[float] = None) -> np.ndarray:
    """Background score map of one image.

    Args:
        cams (np.ndarray): (K, H, W) maps in [0, 1].
        threshold (float, optional): Constant background score t.
        alpha (float, optional): Exponent of ``(1 - max_k cams) ** alpha``.
            Exactly one of ``threshold`` and ``alpha`` must be given.

    Returns:
        np.ndarray: (H, W) float background score.
    """
    _check_rule(threshold, alpha)
    cams = np.asarray(cams, dtype=np.float32)
    if threshold is not None:
        return np.full(cams.shape[1:], threshold, dtype=np.float32)
    peak = cams.max(axis=0) if cams.shape[0] else np.zeros(cams.shape[1:])
    return np.power(1.0 - peak, alpha).astype(np.float32)


def cams_to_seed(cams: np.ndarray,
                 keys: np.ndarray,
                 threshold: Optional[float] = None,
                 alpha: Optional[float] = None) -> np.ndarray:
    """Seed label map: argmax over ``[background, cams]`` mapped to keys.

    Args:
        cams (np.ndarray): (K, H, W) maps in [0, 1].
        keys (np.ndarray): (K,) mask values 1..C of the maps.
        threshold (float, optional): Constant background score.
        alpha (float, optional): Exponent of the alpha rule. Exactly one of
            ``threshold`` and ``alpha`` must be given.

    Returns:
        np.ndarray: (H, W) int64 labels in {0} U keys (ties -> background).
    """
    cams = np.asarray(cams, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.int64)
    if cams.ndim != 3 or keys.shape != (cams.shape[0], ):
        raise ValueError(f'cams must be (K, H, W) and keys (K,), got '
                         f'{cams.shape} and {keys.shape}')
    bg = background_score(cams, threshold, alpha)
    scores = np.concatenate([bg[None], cams], axis=0)
    lookup = np.concatenate([[0], keys])
    return lookup[np.argmax(scores, axis=0)]


def _rules(thresholds: Optional[Sequence[float]],
           alphas: Optional[Sequence[float]]) -> Tuple[str, List[float]]:
    """Validate the sweep and return ``(kind, values)``."""
    if alphas is not None and thresholds is not None:
        raise ValueError('give thresholds (constant background score) or '
                         'alphas, not both')
    kind, values = (('alpha', alphas) if alphas is not None else (
        'threshold',
        thresholds if thresholds is not None else DEFAULT_THRESHOLDS))
    values = [float(v) for v in values]
    if not values:
        raise ValueError(f'the {kind} sweep is empty')
    if len(set(values)) != len(values):
        raise ValueError(f'the {kind} sweep has repeated values: {values}')
    if not all(np.isfinite(values)):
        raise ValueError(f'the {kind} sweep has non-finite values: {values}')
    if kind == 'alpha' and min(values) <= 0:
        raise ValueError(f'alphas must be > 0, got {values}')
    return kind, values


def seed_confusions(cams: np.ndarray,
                    keys: np.ndarray,
                    gt: np.ndarray,
                    num_classes: int,
                    thresholds: Optional[Sequence[float]] = None,
                    alphas: Optional[Sequence[float]] = None,
                    name: str = 'image') -> np.ndarray:
    """Confusion matrices of one image's seeds, one per background rule.

    Equivalent to ``confusion_matrix(cams_to_seed(cams, keys, rule), gt)``
    for every rule, with max/argmax computed once.

    Args:
        cams (np.ndarray): (K, H, W) maps in [0, 1] (K may be 0).
        keys (np.ndarray): (K,) mask values 1..C.
        gt (np.ndarray): (H, W) ground truth, 0..C and 255.
        num_classes (int): C.
        thresholds (Sequence[float], optional): Constant background scores.
            Defaults to :data:`DEFAULT_THRESHOLDS` when ``alphas`` is None.
        alphas (Sequence[float], optional): Alpha-rule exponents instead.
            Defaults to None.
        name (str): Used in error messages. Defaults to ``'image'``.

    Returns:
        np.ndarray: (R, C + 1, C + 2) int64, R = number of rules.
    """
    check_num_classes(num_classes)
    kind, values = _rules(thresholds, alphas)
    cams = np.asarray(cams, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.int64)
    gt = check_label_map(gt, num_classes, f'{name} (ground truth)')
    if cams.ndim != 3 or keys.shape != (cams.shape[0], ):
        raise ValueError(f'{name}: cams must be (K, H, W) and keys (K,), got '
                         f'{cams.shape} and {keys.shape}')
    if cams.shape[1:] != gt.shape:
        raise ValueError(f'{name}: CAM size {cams.shape[1:]} differs from '
                         f'ground-truth size {gt.shape}')
    if keys.size and (keys.min() < 1 or keys.max() > num_classes):
        raise ValueError(f'{name}: keys {keys.tolist()} must be in 1..'
                         f'{num_classes}')
    if cams.shape[0]:
        peak = cams.max(axis=0)
        fg_label = keys[cams.argmax(axis=0)]
    else:
        peak = np.zeros(gt.shape, dtype=np.float32)
        fg_label = np.zeros(gt.shape, dtype=np.int64)
    valid = gt != 255
    peak, fg_label = peak[valid], fg_label[valid]
    base = gt[valid] * (num_classes + 2)
    out = np.empty((len(values), num_classes + 1, num_classes + 2), np.int64)
    for i, value in enumerate(values):
        bg = (np.float32(value) if kind == 'threshold' else np.power(
            1.0 - peak, value).astype(np.float32))
        index = base + np.where(peak > bg, fg_label, 0)
        out[i] = confusion_from_index(index, num_classes)
    return out


def _rule_text(kind: str, values: List[float]) -> str:
    listed = ', '.join(f'{v:g}' for v in values)
    if kind == 'threshold':
        return ('constant background score t, seed = argmax over [t, CAMs] '
                f'(ties -> background); sweep t in {{{listed}}}')
    return ('background score (1 - max_k CAM) ** alpha, seed = argmax over '
            f'[bg, CAMs] (ties -> background); sweep alpha in {{{listed}}}')


def evaluate_cam_dir(
        cam_dir: str,
        gt_dir: str,
        ids: Sequence[str],
        num_classes: int,
        *,
        thresholds: Optional[Sequence[float]] = None,
        alphas: Optional[Sequence[float]] = None,
        pred_ignore: str = 'wrong',
        on_missing: str = 'skip',
        cam_type: str = 'cam',
        split: str = '',
        crf: bool = False,
        class_names: Optional[Sequence[str]] = None) -> EvalResult:
    """Seed mIoU of a folder of CAM files over a background-rule sweep.

    Each ``<cam_dir>/<id>.npz`` is read once; one confusion matrix per rule
    is accumulated over the images. The best rule is the one with the
    highest mIoU (the first one on ties).

    Args:
        cam_dir (str): Folder of CAM files (:mod:`mmcpal.pseudo.cam_io`).
        gt_dir (str): Folder of ground-truth label PNGs ``<id>.png``.
        ids (Sequence[str]): Image ids to evaluate.
        num_classes (int): C, the number of foreground classes (20 for VOC).
        thresholds (Sequence[float], optional): Constant background scores.
            Defaults to :data:`DEFAULT_THRESHOLDS` when ``alphas`` is None.
        alphas (Sequence[float], optional): Sweep the alpha rule instead.
            Defaults to None.
        pred_ignore (str): Protocol field for 255 in predictions (seeds have
            none); ``'wrong'`` or ``'exclude'``. Defaults to ``'wrong'``.
        on_missing (str): A missing CAM file: ``'skip'`` the image (recorded
            in the protocol), ``'error'``, or score it as all
            ``'background'`` (e.g. images with no class). A missing GT is
            skipped unless ``'error'``. Defaults to ``'skip'``.
        cam_type (str): The map of the CAM files to score: ``'cam'``,
            ``'pacam'`` or ``'fused'`` (:func:`mmcpal.pseudo.cam_io.
            select_map`); a file without the PACAM a type needs raises
            :class:`~mmcpal.pseudo.cam_io.MissingMapError`. Defaults to
            ``'cam'``.
        split (str): Name of the id list, for the protocol. Defaults to ''.
        crf (bool): Whether the CAMs were CRF-refined, for the protocol.
            Defaults to False.
        class_names (Sequence[str], optional): C or C + 1 names. Defaults to
            VOC names when C = 20.

    Returns:
        EvalResult: Protocol, curve, best point and per-class scores.
    """
    check_num_classes(num_classes)
    check_cam_type(cam_type)
    kind, values = _rules(thresholds, alphas)
    if on_missing not in ON_MISSING_MODES:
        raise ValueError(f'on_missing must be one of {ON_MISSING_MODES}, got '
                         f'{on_missing!r}')
    if not osp.isdir(cam_dir):
        raise FileNotFoundError(f'CAM folder {cam_dir!r} does not exist')
    if not osp.isdir(gt_dir):
        raise FileNotFoundError(f'ground-truth folder {gt_dir!r} does not '
                                'exist')
    names = default_class_names(num_classes, class_names)
    protocol = Protocol(split=split,
                        source=f'CAM files in {cam_dir} (map {cam_type!r})',
                        num_classes=num_classes,
                        cam_type=cam_type,
                        threshold_rule=_rule_text(kind, values),
                        crf=crf,
                        pred_ignore=pred_ignore)
    sweep = dict(thresholds=values) if kind == 'threshold' else dict(
        alphas=values)
    total = np.zeros((len(values), num_classes + 1, num_classes + 2), np.int64)
    for img_id in ids:
        gt_path = osp.join(gt_dir, img_id + '.png')
        path = cam_path(cam_dir, img_id)
        if not osp.isfile(gt_path):
            if on_missing == 'error':
                raise FileNotFoundError(f'ground truth {gt_path!r} of image '
                                        f'{img_id!r} does not exist')
            protocol.add_skip('no ground-truth PNG', img_id)
            continue
        gt = read_label_png(gt_path)
        if osp.isfile(path):
            arrays = load_cam_arrays(path)
            cams = select_map(arrays, cam_type, path)
            keys = arrays['keys'].astype(np.int64)
        elif on_missing == 'skip':
            protocol.add_skip('no CAM file', img_id)
            continue
        elif on_missing == 'error':
            raise FileNotFoundError(f'CAM file {path!r} of image {img_id!r} '
                                    'does not exist')
        else:
            protocol.missing_as_background.append(img_id)
            cams = np.zeros((0, *gt.shape), np.float32)
            keys = np.zeros((0, ), np.int64)
        total += seed_confusions(cams,
                                 keys,
                                 gt,
                                 num_classes,
                                 name=path,
                                 **sweep)
        protocol.num_images += 1
    if protocol.num_images == 0:
        raise ValueError(f'no image of {split or "the list"} could be '
                         f'evaluated: {protocol.to_markdown()}')
    return _sweep_result(protocol, kind, values, total, pred_ignore, names)


def _sweep_result(protocol: Protocol, kind: str, values: List[float],
                  confusions: np.ndarray, pred_ignore: str,
                  names: List[str]) -> EvalResult:
    """Score every rule and pick the best one."""
    curve, all_scores = [], []
    for value, conf in zip(values, confusions):
        scores = segmentation_scores(conf, pred_ignore, names)
        all_scores.append(scores)
        curve.append(summary_row(scores, **{kind: value}))
    mious = np.array([s['miou'] for s in all_scores], dtype=np.float64)
    best_i = int(np.nanargmax(mious)) if not np.isnan(mious).all() else 0
    best = curve[best_i]
    protocol.coverage = to_percent(all_scores[best_i]['coverage'])
    protocol.num_scored_classes = all_scores[best_i]['num_scored_classes']
    return EvalResult(protocol=protocol,
                      best=best,
                      curve=curve,
                      per_class=per_class_percent(all_scores[best_i]),
                      confusion=confusions[best_i],
                      title='Seed evaluation')


def sweep_from_confusions(
        confusions: np.ndarray,
        values: Sequence[float],
        protocol: Protocol,
        kind: str = 'threshold',
        class_names: Optional[Sequence[str]] = None) -> EvalResult:
    """Build an :class:`EvalResult` from already accumulated matrices.

    Args:
        confusions (np.ndarray): (R, C + 1, C + 2) counts, one per rule.
        values (Sequence[float]): The R rule values.
        protocol (Protocol): Filled protocol (``num_images`` etc.).
        kind (str): ``'threshold'`` or ``'alpha'``. Defaults to
            ``'threshold'``.
        class_names (Sequence[str], optional): C or C + 1 names.

    Returns:
        EvalResult: As :func:`evaluate_cam_dir` returns.
    """
    if kind not in ('threshold', 'alpha'):
        raise ValueError(f"kind must be 'threshold' or 'alpha', got {kind!r}")
    confusions = np.asarray(confusions)
    if confusions.ndim != 3 or len(values) != confusions.shape[0]:
        raise ValueError('confusions must be (R, C + 1, C + 2) with R = '
                         f'len(values) = {len(values)}, got '
                         f'{confusions.shape}')
    names = default_class_names(protocol.num_classes, class_names)
    return _sweep_result(protocol, kind, [float(v) for v in values],
                         confusions, protocol.pred_ignore, names)


def curve_dict(result: EvalResult) -> Dict[float, float]:
    """``{rule value: mIoU}`` of a sweep result (handy for tests/plots)."""
    key = 'alpha' if result.best.get('alpha') is not None else 'threshold'
    return {row[key]: row['miou'] for row in result.curve}
