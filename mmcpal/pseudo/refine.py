"""From stored CAMs of one image to a label map: seed, CRF or IR labels."""
from typing import Optional

import numpy as np

REFINE_METHODS = ('none', 'crf', 'ir')


def refine_cams(cams: np.ndarray,
                keys: np.ndarray,
                image: Optional[np.ndarray],
                *,
                method: str = 'crf',
                bg_threshold: float = 0.15,
                fg_threshold: float = 0.30,
                crf_backend: str = 'torch') -> np.ndarray:
    """Turn an image's CAMs into a mask (0 background, keys, 255 unsure).

    Args:
        cams (np.ndarray): (K, H, W) max-normalised CAMs.
        keys (np.ndarray): (K,) mask values 1..C of the maps.
        image (np.ndarray, optional): (H, W, 3) uint8 RGB image; needed by
            ``'crf'`` and ``'ir'``.
        method (str): ``'none'``: argmax over a constant background score
            ``bg_threshold`` and the CAMs (the seed). ``'crf'``: the same
            scores refined by a dense CRF (the CAM -> CRF route of the
            paper's COCO pipeline). ``'ir'``: IRN / AMN IR labels, 255 where
            the confident-foreground (``fg_threshold``) and the
            confident-background (``bg_threshold``) CRF labelings disagree.
        bg_threshold (float): See ``method``. Defaults to 0.15.
        fg_threshold (float): See ``method``. Defaults to 0.30.
        crf_backend (str): ``'torch'`` or ``'pydensecrf'``.

    Returns:
        np.ndarray: (H, W) uint8 mask.
    """
    if method not in REFINE_METHODS:
        raise ValueError(
            f'method must be one of {REFINE_METHODS}, got {method!r}')
    cams = np.asarray(cams, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.int64)
    if method == 'none':
        from mmcpal.evaluation.seeds import cams_to_seed
        return cams_to_seed(cams, keys, threshold=bg_threshold).astype(
            np.uint8)
    if image is None:
        raise ValueError(f"method '{method}' needs the image")
    if image.shape[:2] != cams.shape[1:]:
        raise ValueError(f'image {image.shape[:2]} and CAMs {cams.shape[1:]} '
                         'differ in size')
    if method == 'crf':
        from mmcpal.pseudo.ir_labels import crf_masks
        return crf_masks(
            image, cams, keys, bg_threshold,
            crf_backend=crf_backend).astype(np.uint8)
    from mmcpal.pseudo.ir_labels import make_ir_labels
    return make_ir_labels(
        image, cams, keys, fg_threshold, bg_threshold,
        crf_backend=crf_backend).astype(np.uint8)
