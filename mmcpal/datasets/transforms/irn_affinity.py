"""Augmentation of IRN's affinity training data: random rescale.

The affinity targets themselves are computed by the model on the boundary
grid (``mmcpal.models.irn.affinity_loss``), not in the data pipeline: IRN's
per-sample target arrays (``GetAffinityLabelFromIndices``) would be
``3 x 152 x 128 x 128`` floats per 512 crop at radius 10.
"""
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Resize
from mmcv.transforms.utils import cache_randomness

from mmcpal.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomRescale(BaseTransform):
    """Rescale by a factor drawn uniformly from ``ratio_range``.

    IRN's ``misc/imutils.py::random_scale`` (jiwoon-ahn/irn), used with
    ``rescale=(0.5, 1.5)`` for the boundary network
    (``step/train_irn.py``): the image is resized bicubically (order 3) and
    the label map with nearest neighbours (order 0) to ``round(size *
    ratio)``. The resize is mmcv's ``Resize(scale_factor=ratio,
    keep_ratio=False)`` (each side becomes ``int(side * ratio + 0.5)``),
    which also resizes ``gt_seg_map`` (nearest) and updates ``img_shape``
    and ``scale_factor``; a ``valid_mask`` present is resized with nearest
    neighbours.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``gt_seg_map`` (optional), ``valid_mask`` (optional). Added keys:
    ``scale_factor``.

    Args:
        ratio_range (tuple[float, float]): Inclusive range of the factor.
            Defaults to (0.5, 1.5).
        interpolation (str): Image interpolation. Defaults to 'bicubic'.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
    """

    def __init__(self,
                 ratio_range: Tuple[float, float] = (0.5, 1.5),
                 interpolation: str = 'bicubic',
                 backend: str = 'cv2') -> None:
        if (len(ratio_range) != 2 or not all(
                isinstance(r, (int, float)) and r > 0 for r in ratio_range)
                or ratio_range[0] > ratio_range[1]):
            raise ValueError(
                'ratio_range must be two positive numbers (low, high) with '
                f'low <= high, got {ratio_range!r}')
        self.ratio_range = (float(ratio_range[0]), float(ratio_range[1]))
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def _draw_ratio(self) -> float:
        """Draw the factor uniformly (NumPy's global generator)."""
        low, high = self.ratio_range
        return float(low + np.random.rand() * (high - low))

    def transform(self, results: dict) -> dict:
        """Rescale ``img``, ``gt_seg_map`` and ``valid_mask``.

        Args:
            results (dict): Must hold ``img``.

        Returns:
            dict: The rescaled results.
        """
        ratio = self._draw_ratio()
        results = Resize(
            scale_factor=ratio,
            keep_ratio=False,
            interpolation=self.interpolation,
            backend=self.backend)(
                results)
        valid = results.get('valid_mask')
        if valid is not None:
            h, w = results['img'].shape[:2]
            results['valid_mask'] = mmcv.imresize(
                valid.astype(np.uint8), (w, h),
                interpolation='nearest',
                backend=self.backend).astype(bool)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio_range={self.ratio_range}, '
                f"interpolation='{self.interpolation}', "
                f"backend='{self.backend}')")
