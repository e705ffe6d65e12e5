"""Reading and writing label masks as single-channel palette PNGs.

A mask is (H, W) uint8: 0 = background, 1..C = classes, 255 = ignore; it is
stored as a palette ('P' mode) PNG whose pixel values are the labels, the
layout of VOC's ``SegmentationClass`` that MMSeg's ``PascalVOCDataset`` reads.
Writes are atomic (``<path>.tmp-<pid>`` in the same folder, fsync,
``os.replace``), so a reader never sees a half-written mask under the final
name.
"""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from PIL import Image

MASK_SUFFIX = '.png'
# Last chunk of every PNG: length 0, type 'IEND', CRC (PNG spec, sec. 11.2.5).
_PNG_IEND = b'\x00\x00\x00\x00IEND\xaeB`\x82'


def voc_palette(num: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map.

    Colour ``i`` spreads the bits of ``i`` over the high bits of R, G, B
    (``labelcolormap`` of the VOC devkit; 1 -> (128, 0, 0), 255 ->
    (224, 224, 192)).

    Args:
        num (int): Number of colours. Defaults to 256.

    Returns:
        np.ndarray: (num, 3) uint8 RGB.
    """
    palette = np.zeros((num, 3), dtype=np.uint8)
    for i in range(num):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


VOC_PALETTE = voc_palette()


def mask_path(mask_dir: str, img_id: str) -> str:
    """``<mask_dir>/<img_id>.png``."""
    return osp.join(mask_dir, img_id + MASK_SUFFIX)


def _check_mask(path: str, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f'save_mask({path!r}): mask must be (H, W), got '
                         f'shape {mask.shape}')
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        raise ValueError(f'save_mask({path!r}): mask must hold integer '
                         f'labels, got dtype {mask.dtype}')
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f'save_mask({path!r}): labels must be in 0..255 '
                         f'(0..C, 255 = ignore), got range '
                         f'[{mask.min()}, {mask.max()}]')
    return mask.astype(np.uint8)


def save_mask(path: str,
              mask: np.ndarray,
              palette: Optional[Sequence] = None) -> None:
    """Write a label mask as a palette PNG, atomically.

    Args:
        path (str): Destination ``.png``; its folder must exist.
        mask (np.ndarray): (H, W) integer labels in 0..255 (0..C, 255 =
            ignore).
        palette (array-like, optional): (N, 3) RGB colours, N <= 256.
            Defaults to None (the VOC palette).

    Raises:
        ValueError: Bad path, mask or palette (the message names the path).
    """
    path = os.fspath(path)
    if not path.lower().endswith(MASK_SUFFIX):
        raise ValueError(f'save_mask: path must end with {MASK_SUFFIX!r}, '
                         f'got {path!r}')
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise ValueError(f'save_mask: folder {folder!r} of {path!r} does not '
                         'exist')
    mask = _check_mask(path, mask)
    palette = VOC_PALETTE if palette is None else np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or not (
            1 <= palette.shape[0] <= 256):
        raise ValueError(f'save_mask({path!r}): palette must be (N, 3) with '
                         f'N <= 256, got shape {palette.shape}')
    # Pad to 256 colours: with a shorter palette Pillow writes fewer bits
    # per pixel and label 255 would be cut to the low bits.
    full = np.zeros((256, 3), dtype=np.uint8)
    full[:len(palette)] = palette
    # An 'L' image keeps its pixel values and becomes 'P' with the palette.
    image = Image.fromarray(mask)
    image.putpalette(full.ravel().tolist())

    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            image.save(f, format='PNG')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_mask(path: str) -> np.ndarray:
    """Read a label mask (the pixel values of a palette PNG).

    Args:
        path (str): A mask written by :func:`save_mask` (or a VOC
            ``SegmentationClass`` file).

    Returns:
        np.ndarray: (H, W) uint8 labels.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a readable single-channel mask.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'mask file {path!r} does not exist')
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ('P', 'L'):
                raise ValueError(f'mode {image.mode!r}, expected a palette '
                                 "('P') or grey ('L') PNG")
            return np.array(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as err:
        raise ValueError(f'mask file {path!r} is truncated, corrupt or not a '
                         f'label mask ({type(err).__name__}: {err})') from err


def is_complete(path: str) -> bool:
    """Whether ``path`` is a fully written, decodable mask PNG.

    Args:
        path (str): A mask file.

    Returns:
        bool: True only if the file ends with the PNG ``IEND`` chunk and its
        pixels decode.
    """
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < len(_PNG_IEND):
                return False
            f.seek(-len(_PNG_IEND), os.SEEK_END)
            if f.read() != _PNG_IEND:
                return False
        load_mask(path)
    except (OSError, ValueError):
        return False
    return True
