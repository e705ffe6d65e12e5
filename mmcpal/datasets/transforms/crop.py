"""IRN-style random crop that records which pixels are real."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmcpal.registry import TRANSFORMS

# (canvas_top, canvas_left, image_top, image_left, height, width)
CropBox = Tuple[int, int, int, int, int, int]


def random_crop_box(img_hw: Tuple[int, int], crop_hw: Tuple[int, int],
                    rng: np.random.RandomState) -> CropBox:
    """Draw an IRN crop box, each axis on its own.

    Follows ``misc/imutils.py::get_random_crop_box`` of jiwoon-ahn/irn: on
    an axis where the image is longer than the crop, a window starts at an
    offset drawn uniformly in ``[0, size - crop]`` and fills the canvas;
    where it is shorter or equal, the whole image is pasted at a canvas
    offset drawn uniformly in ``[0, crop - size]``.

    Args:
        img_hw (tuple[int, int]): Image (H, W).
        crop_hw (tuple[int, int]): Crop / canvas (h, w).
        rng (np.random.RandomState): Source of the offsets (``np.random``
            works too).

    Returns:
        tuple: ``(canvas_top, canvas_left, image_top, image_left, height,
        width)``: ``canvas[ct:ct+height, cl:cl+width] =
        image[it:it+height, il:il+width]``.
    """
    starts = []
    for size, crop in zip(img_hw, crop_hw):
        space = size - crop
        if space > 0:
            starts.append((0, int(rng.randint(0, space + 1))))
        else:
            starts.append((int(rng.randint(0, -space + 1)), 0))
    (ct, it), (cl, il) = starts
    return (ct, cl, it, il, min(crop_hw[0], img_hw[0]),
            min(crop_hw[1], img_hw[1]))


def paste_crop(array: np.ndarray, box: CropBox, crop_hw: Tuple[int, int],
               pad_val: Union[float, Sequence[float], bool]) -> np.ndarray:
    """Cut ``box`` out of ``array`` onto a ``crop_hw`` canvas of ``pad_val``.

    Args:
        array (np.ndarray): (H, W) or (H, W, C).
        box (tuple): A box from :func:`random_crop_box`.
        crop_hw (tuple[int, int]): The canvas (h, w).
        pad_val (float | Sequence[float] | bool): Canvas value (one per
            channel allowed).

    Returns:
        np.ndarray: (h, w[, C]) of ``array.dtype``.
    """
    ct, cl, it, il, h, w = box
    canvas = np.empty(tuple(crop_hw) + array.shape[2:], dtype=array.dtype)
    canvas[...] = pad_val
    canvas[ct:ct + h, cl:cl + w] = array[it:it + h, il:il + w]
    return canvas


@TRANSFORMS.register_module()
class RandomCropWithValid(BaseTransform):
    """Random crop of fixed size; smaller images are padded (IRN style).

    Each axis is handled as IRN's ``random_crop`` (see
    :func:`random_crop_box`), so the output is always ``crop_size``. The
    image is padded with ``pad_val``, ``gt_seg_map`` and the other
    ``seg_fields`` with ``seg_pad_val``, and ``valid_mask`` (H, W) bool
    records the real pixels (False on padding). An existing ``valid_mask``
    is cropped along (padding False).

    Note:
        IRN crops *after* normalisation, so its padding is 0 in normalised
        space (the mean colour). Here the crop runs on raw pixels before the
        model's data preprocessor, so the padding is ``pad_val`` in pixel
        space; use ``valid_mask`` to mask it out. mmcv's ``RandomFlip`` flips
        ``img`` and ``gt_seg_map`` but not ``valid_mask``: put this crop
        after the flip (IRN's order: resize, flip, crop).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``gt_seg_map`` and ``seg_fields`` (optional). Added keys:
    ``valid_mask``.

    Args:
        crop_size (int | tuple[int, int]): Output (h, w); an int gives a
            square. Defaults to 512.
        pad_val (float | Sequence[float]): Image padding (per channel
            allowed). Defaults to 0.
        seg_pad_val (int): Mask padding. Defaults to 255 (ignore).
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]] = 512,
                 pad_val: Union[float, Sequence[float]] = 0,
                 seg_pad_val: int = 255) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        if (len(crop_size) != 2
                or not all(isinstance(s, int) and s > 0 for s in crop_size)):
            raise ValueError('crop_size must be a positive int or (h, w) of '
                             f'positive ints, got {crop_size!r}')
        if not 0 <= seg_pad_val <= 255:
            raise ValueError(
                f'seg_pad_val must be in 0..255 (uint8 masks), got '
                f'{seg_pad_val!r}')
        self.crop_size = tuple(crop_size)
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    @cache_randomness
    def _draw_box(self, img_hw: Tuple[int, int]) -> CropBox:
        """Draw the crop box with NumPy's global generator."""
        return random_crop_box(img_hw, self.crop_size, np.random)

    def transform(self, results: dict) -> dict:
        """Crop / pad ``img``, the masks and ``valid_mask``.

        Args:
            results (dict): Must hold ``img``.

        Returns:
            dict: The cropped results.
        """
        img = results['img']
        box = self._draw_box(img.shape[:2])
        results['img'] = paste_crop(img, box, self.crop_size, self.pad_val)
        keys = list(results.get('seg_fields', []))
        if 'gt_seg_map' in results and 'gt_seg_map' not in keys:
            keys.append('gt_seg_map')
        for key in keys:
            results[key] = paste_crop(results[key], box, self.crop_size,
                                      self.seg_pad_val)
        valid = results.get('valid_mask')
        if valid is None:
            valid = np.ones(img.shape[:2], dtype=bool)
        results['valid_mask'] = paste_crop(valid.astype(bool), box,
                                           self.crop_size, False)
        results['img_shape'] = self.crop_size
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})')
