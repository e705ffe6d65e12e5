"""Inter-pixel-relation (IR) labels and CRF pseudo masks from CAMs.

IR labels follow IRN's ``step/cam_to_ir_label.py`` (jiwoon-ahn/irn), which
AMN reuses unchanged in ``step/amn_cam_to_ir_label.py`` (gaviotas/AMN):

1. confident foreground: pad the CAMs with a background score ``fg_thr``,
   argmax, refine with the label CRF (``crf_inference_label``);
2. confident background: the same with the lower score ``bg_thr``;
3. combine: start from the foreground map, mark its background pixels 255
   (unsure), then set 0 where both maps say background.

Thresholds: IRN ``conf_fg_thres=0.30``, ``conf_bg_thres=0.05``
(``run_sample.py``); AMN ``conf_fg_thres=0.45``, ``conf_bg_thres=0.15``
(gaviotas/AMN ``run_sample.py``), in ``IRN_THRESHOLDS`` / ``AMN_THRESHOLDS``.
"""
from typing import Dict, Tuple

import numpy as np

from .crf import IRN_LABEL_CRF, crf_inference_label

IRN_THRESHOLDS: Dict[str, float] = dict(fg_thr=0.30, bg_thr=0.05)
AMN_THRESHOLDS: Dict[str, float] = dict(fg_thr=0.45, bg_thr=0.15)
IGNORE_INDEX = 255


def _check_cams(image: np.ndarray, cams: np.ndarray, keys: np.ndarray,
                fn: str) -> np.ndarray:
    """Validates CAM inputs; returns keys as int64."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or \
            image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'{fn}: image must be an (H, W, 3) uint8 RGB '
                         f'np.ndarray, got {getattr(image, "dtype", "")} '
                         f'{getattr(image, "shape", type(image))}')
    if not isinstance(cams, np.ndarray) or cams.ndim != 3 or \
            cams.shape[1:] != image.shape[:2]:
        raise ValueError(f'{fn}: cams must be a (K, H, W) np.ndarray with '
                         f'(H, W) = {image.shape[:2]}, got '
                         f'{getattr(cams, "shape", type(cams))}')
    keys = np.asarray(keys)
    if keys.ndim != 1 or keys.shape[0] != cams.shape[0] or \
            (keys.size and not np.issubdtype(keys.dtype, np.integer)):
        raise ValueError(f'{fn}: keys must be K={cams.shape[0]} integer '
                         f'class indices, got {keys.dtype} {keys.shape}')
    if keys.size and (keys.min() < 1 or keys.max() >= IGNORE_INDEX):
        raise ValueError(f'{fn}: keys must be foreground class indices in '
                         f'1..254 (0 is background), got {keys.tolist()}')
    if len(set(keys.tolist())) != keys.size:
        raise ValueError(f'{fn}: keys must be distinct, got {keys.tolist()}')
    if np.isnan(cams).any():
        raise ValueError(f'{fn}: cams contain NaN')
    return keys.astype(np.int64)


def _crf_kwargs(fn: str, crf_params: Dict[str, float] | None, iters: int,
                gt_prob: float, device: str) -> dict:
    """Keyword arguments of :func:`crf_inference_label`."""
    params = dict(IRN_LABEL_CRF)
    if crf_params is not None:
        unknown = set(crf_params) - set(IRN_LABEL_CRF)
        if unknown:
            raise ValueError(f'{fn}: unknown crf_params {sorted(unknown)}, '
                             f'expected keys of {sorted(IRN_LABEL_CRF)}')
        params.update(crf_params)
    return dict(params, iters=iters, gt_prob=gt_prob, device=device)


def _threshold_labels(image: np.ndarray, cams: np.ndarray, keys: np.ndarray,
                      bg_score: float, use_crf: bool, crf_backend: str,
                      crf_kwargs: dict) -> np.ndarray:
    """Background-padded argmax (optionally CRF-refined) as class indices.

    Ties go to background (``np.argmax`` keeps the first maximum, as IRN).
    """
    h, w = image.shape[:2]
    scores = np.concatenate(
        [np.full((1, h, w), bg_score, dtype=np.float32),
         cams.astype(np.float32)], 0)
    index = np.argmax(scores, axis=0)
    if use_crf:
        index = crf_inference_label(
            image, index, len(keys) + 1, backend=crf_backend, **crf_kwargs)
    return np.concatenate([[0], keys])[index]


def make_ir_labels(image: np.ndarray,
                   cams: np.ndarray,
                   keys: np.ndarray,
                   fg_thr: float = IRN_THRESHOLDS['fg_thr'],
                   bg_thr: float = IRN_THRESHOLDS['bg_thr'],
                   *,
                   crf_backend: str = 'torch',
                   use_crf: bool = True,
                   gt_prob: float = 0.7,
                   crf_iters: int = 10,
                   crf_params: Dict[str, float] | None = None,
                   device: str = 'cpu') -> np.ndarray:
    """IR label map from CAMs: confident fg / confident bg / unsure.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        cams (np.ndarray): ``(K, H, W)`` CAMs normalised to [0, 1].
        keys (np.ndarray): ``(K,)`` foreground class indices (1..C).
        fg_thr (float): Background score for the confident-foreground map.
            Defaults to 0.30 (IRN; AMN uses 0.45).
        bg_thr (float): Background score for the confident-background map,
            must be <= ``fg_thr``. Defaults to 0.05 (IRN; AMN uses 0.15).
        crf_backend (str): ``'torch'`` or ``'pydensecrf'``.
            Defaults to 'torch'.
        use_crf (bool): Refine both maps with the label CRF, as IRN.
            Defaults to True.
        gt_prob (float): Label CRF confidence. Defaults to 0.7 (IRN).
        crf_iters (int): Mean-field iterations. Defaults to 10 (IRN).
        crf_params (dict | None): Pairwise parameters (keys of
            ``IRN_LABEL_CRF``). Defaults to None, i.e. ``IRN_LABEL_CRF``.
        device (str): Torch CRF device. Defaults to 'cpu'.

    Returns:
        np.ndarray: ``(H, W)`` uint8 with 0 = confident background,
        ``keys`` = confident foreground, 255 = unsure.
    """
    fn = 'make_ir_labels'
    keys = _check_cams(image, cams, keys, fn)
    if not bg_thr <= fg_thr:
        raise ValueError(f'{fn}: bg_thr must be <= fg_thr, got '
                         f'bg_thr={bg_thr}, fg_thr={fg_thr}')
    crf_kwargs = _crf_kwargs(fn, crf_params, crf_iters, gt_prob, device)
    fg_conf = _threshold_labels(image, cams, keys, fg_thr, use_crf,
                                crf_backend, crf_kwargs)
    bg_conf = _threshold_labels(image, cams, keys, bg_thr, use_crf,
                                crf_backend, crf_kwargs)
    return combine_ir_labels(fg_conf, bg_conf)


def combine_ir_labels(fg_conf: np.ndarray, bg_conf: np.ndarray) -> np.ndarray:
    """IRN's combination of the two thresholded maps.

    ``conf = fg_conf; conf[fg_conf == 0] = 255; conf[bg_conf + fg_conf ==
    0] = 0`` (jiwoon-ahn/irn ``step/cam_to_ir_label.py``): foreground where
    the high-threshold map finds it, background where both maps agree on
    background, unsure where only the low-threshold map sees foreground.

    Args:
        fg_conf (np.ndarray): ``(H, W)`` labels from the ``fg_thr`` map.
        bg_conf (np.ndarray): ``(H, W)`` labels from the ``bg_thr`` map.

    Returns:
        np.ndarray: ``(H, W)`` uint8 IR labels.
    """
    if fg_conf.shape != bg_conf.shape:
        raise ValueError('combine_ir_labels: fg_conf and bg_conf shapes '
                         f'differ: {fg_conf.shape} vs {bg_conf.shape}')
    conf = fg_conf.astype(np.uint8)
    conf[fg_conf == 0] = IGNORE_INDEX
    conf[(fg_conf == 0) & (bg_conf == 0)] = 0
    return conf


def crf_masks(image: np.ndarray,
              cams: np.ndarray,
              keys: np.ndarray,
              bg_thr: float,
              *,
              crf_backend: str = 'torch',
              use_crf: bool = True,
              gt_prob: float = 0.7,
              crf_iters: int = 10,
              crf_params: Dict[str, float] | None = None,
              device: str = 'cpu') -> np.ndarray:
    """Pseudo mask from CAMs by a background threshold and a dense CRF.

    The short route CAMs -> dense CRF -> pseudo masks: pad the CAMs with
    the background score ``bg_thr``, take the argmax (ties to background)
    and refine it with the label CRF of :func:`crf_inference_label`.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        cams (np.ndarray): ``(K, H, W)`` CAMs normalised to [0, 1].
        keys (np.ndarray): ``(K,)`` foreground class indices (1..C).
        bg_thr (float): Background score (e.g. the seed evaluation
            threshold).
        crf_backend, use_crf, gt_prob, crf_iters, crf_params, device: As
            :func:`make_ir_labels`.

    Returns:
        np.ndarray: ``(H, W)`` uint8 labels in ``{0} | keys``.
    """
    keys = _check_cams(image, cams, keys, 'crf_masks')
    crf_kwargs = _crf_kwargs('crf_masks', crf_params, crf_iters, gt_prob,
                             device)
    return _threshold_labels(image, cams, keys, bg_thr, use_crf, crf_backend,
                             crf_kwargs).astype(np.uint8)


def ir_label_stats(ir_labels: np.ndarray) -> Tuple[float, float, float]:
    """Fractions of (background, foreground, unsure) pixels of an IR map."""
    total = max(ir_labels.size, 1)
    bg = float((ir_labels == 0).sum()) / total
    unsure = float((ir_labels == IGNORE_INDEX).sum()) / total
    return bg, 1.0 - bg - unsure, unsure
