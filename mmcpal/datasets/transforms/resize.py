"""Random resize of the long image side (IRN lineage)."""
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Resize
from mmcv.transforms.utils import cache_randomness

from mmcpal.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomLongSideResize(BaseTransform):
    """Resize so the long side is a random integer in ``scale_range``.

    IRN's ``misc/imutils.py::random_resize_long`` (jiwoon-ahn/irn, also used
    by AMN) draws ``target_long = random.randint(min_long, max_long)`` (both
    ends included) and rescales by ``target_long / max(h, w)``, keeping the
    aspect ratio; the CAM training there uses ``resize_long=(320, 640)``.
    The resize itself is mmcv's ``Resize(scale=(n, n), keep_ratio=True)``,
    whose scale factor ``min(n / long, n / short)`` is ``n / long``: the image
    is resized with ``interpolation`` (IRN/AMN use bicubic; bilinear by
    default here), ``gt_seg_map`` with nearest, and ``img_shape``,
    ``scale_factor`` (w, h) and ``scale`` are updated. A ``valid_mask``
    already present (a crop ran earlier) is resized with nearest too.

    For a deterministic test-time "long side = N" use mmcv's
    ``Resize(scale=(N, N), keep_ratio=True)`` directly.

    Args:
        scale_range (tuple[int, int]): Inclusive range of the long side.
            Defaults to (320, 640).
        interpolation (str): Image interpolation of ``mmcv.imresize``.
            Defaults to 'bilinear'.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
    """

    def __init__(self,
                 scale_range: Tuple[int, int] = (320, 640),
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        if (len(scale_range) != 2
                or not all(isinstance(s, int) and s > 0 for s in scale_range)
                or scale_range[0] > scale_range[1]):
            raise ValueError(
                'scale_range must be two positive ints (low, high) with '
                f'low <= high, got {scale_range!r}')
        self.scale_range = tuple(scale_range)
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def _draw_long_side(self) -> int:
        """Draw the target long side uniformly from the inclusive range."""
        low, high = self.scale_range
        return int(np.random.randint(low, high + 1))

    def transform(self, results: dict) -> dict:
        """Resize ``img``, ``gt_seg_map`` (and ``valid_mask``).

        Args:
            results (dict): Must hold ``img``.

        Returns:
            dict: The resized results.
        """
        long_side = self._draw_long_side()
        results = Resize(
            scale=(long_side, long_side),
            keep_ratio=True,
            interpolation=self.interpolation,
            backend=self.backend)(results)
        if results.get('valid_mask') is not None:
            h, w = results['img'].shape[:2]
            valid = mmcv.imresize(
                results['valid_mask'].astype(np.uint8), (w, h),
                interpolation='nearest',
                backend=self.backend)
            results['valid_mask'] = valid.astype(bool)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale_range={self.scale_range}, '
                f"interpolation='{self.interpolation}', "
                f"backend='{self.backend}')")
