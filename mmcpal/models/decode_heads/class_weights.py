"""Class weights for a class-balanced cross-entropy on (pseudo) masks.

MMSeg's ``CrossEntropyLoss(class_weight=...)`` takes a list, or the path of a
``.npy`` / ``.json`` / ``.pkl`` file holding one. These functions compute the
median-frequency balancing weights of Eigen & Fergus ("Predicting Depth,
Surface Normals and Semantic Labels with a Common Multi-Scale Convolutional
Architecture", ICCV 2015, Sec. 4.2): ``w_c = median_freq / freq_c`` with
``freq_c`` the pixels of class ``c`` divided by the pixels of the images in
which ``c`` appears (ignore pixels excluded).
"""
from typing import Iterable, Tuple

import numpy as np
from PIL import Image


def count_class_pixels(mask_files: Iterable[str], num_classes: int,
                       ignore_index: int = 255) -> Tuple[np.ndarray,
                                                         np.ndarray]:
    """Count labelled pixels per class over palette / grey masks.

    Args:
        mask_files (Iterable[str]): PNG masks with values ``0..num_classes-1``
            and ``ignore_index``.
        num_classes (int): Classes including the background.
        ignore_index (int): Label skipped. Defaults to 255.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(class_pixels, image_pixels)``, both
        (num_classes,) int64: pixels of each class, and the non-ignored
        pixels of the images containing that class.

    Raises:
        ValueError: A mask holds a value outside ``0..num_classes-1`` and
            ``ignore_index`` (the file is named).
    """
    if not (isinstance(num_classes, int) and num_classes > 0):
        raise ValueError(
            f'num_classes must be a positive int, got {num_classes!r}')
    class_pixels = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    for path in mask_files:
        mask = np.asarray(Image.open(path))
        labels = mask[mask != ignore_index].astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'{path}: mask values must be in 0..{num_classes - 1} or '
                f'{ignore_index}, found {int(labels.max())}')
        counts = np.bincount(labels, minlength=num_classes)
        class_pixels += counts
        image_pixels[counts > 0] += labels.size
    return class_pixels, image_pixels


def median_frequency_weights(class_pixels: np.ndarray,
                             image_pixels: np.ndarray) -> np.ndarray:
    """Median-frequency balancing weights.

    Args:
        class_pixels (np.ndarray): (C,) pixels of each class.
        image_pixels (np.ndarray): (C,) labelled pixels of the images that
            contain each class.

    Returns:
        np.ndarray: (C,) float32 ``median(freq) / freq_c`` over the classes
        that occur; classes that never occur get weight 0 (they add nothing
        to the loss either way).
    """
    class_pixels = np.asarray(class_pixels, np.float64)
    image_pixels = np.asarray(image_pixels, np.float64)
    if class_pixels.shape != image_pixels.shape or class_pixels.ndim != 1:
        raise ValueError('class_pixels and image_pixels must be (C,) arrays '
                         f'of one shape, got {class_pixels.shape} and '
                         f'{image_pixels.shape}')
    present = class_pixels > 0
    if not present.any():
        raise ValueError('no labelled pixel in any class: cannot balance')
    freq = np.zeros_like(class_pixels)
    freq[present] = class_pixels[present] / image_pixels[present]
    weights = np.zeros_like(freq)
    weights[present] = np.median(freq[present]) / freq[present]
    return weights.astype(np.float32)
