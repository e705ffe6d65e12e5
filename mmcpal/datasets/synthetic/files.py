"""Atomic, deterministic writers of VOC-layout files (photos, palette masks,
id lists, the image-label table).

Every writer encodes to bytes first and publishes them with one
``os.replace`` of a ``<path>.tmp-<pid>`` file in the same folder, so a killed
run never leaves a truncated file under the final name. Encoders carry no
timestamps: the same input gives the same bytes.
"""
import io
import os
import sys
from typing import Iterable, List, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from .metainfo import voc_colormap

#: Infix of temporary files (``<name><TMP_INFIX><pid>``).
TMP_INFIX = '.tmp-'

#: The VOC palette flattened for ``PIL.Image.putpalette``.
_VOC_PALETTE = voc_colormap(256).reshape(-1).tolist()

#: Header of ``image_labels.tsv`` (voc12-mini format).
LABEL_TABLE_COLUMNS = ('id', 'split', 'width', 'height', 'classes',
                       'class_ids')


def atomic_write_bytes(path: str, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, replace).

    Args:
        path (str): Destination; its folder must exist.
        data (bytes): Content.
        fsync (bool): Flush the file to disk before the rename. Bulk writers
            may skip it and call :func:`sync_all` once before their
            completion marker. Defaults to True.
    """
    tmp = f'{path}{TMP_INFIX}{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def sync_all() -> None:
    """Flush all written files to disk (``os.sync``; no-op on Windows)."""
    if sys.platform != 'win32':
        os.sync()


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB image as baseline JPEG without chroma subsampling.

    4:4:4 sampling keeps the colours of small details (the demo set's
    discriminative parts are 5-20 px).

    Args:
        rgb (np.ndarray): uint8 (H, W, 3) RGB.
        quality (int): JPEG quality 1..100. Defaults to 90.

    Returns:
        bytes: The JPEG file.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected a uint8 (H, W, 3) RGB image, got '
                         f'{rgb.dtype} {rgb.shape}')
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality),
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    if not ok:
        raise RuntimeError('OpenCV failed to encode a JPEG image')
    return buf.tobytes()


def encode_palette_png(mask: np.ndarray) -> bytes:
    """Encode a label mask as a single-channel PNG with the VOC palette.

    Args:
        mask (np.ndarray): uint8 (H, W) class indices (255 = ignore).

    Returns:
        bytes: The PNG file (mode 'P').
    """
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f'expected a uint8 (H, W) mask, got {mask.dtype} '
                         f'{mask.shape}')
    height, width = mask.shape
    img = Image.frombytes('P', (width, height),
                          np.ascontiguousarray(mask).tobytes())
    img.putpalette(_VOC_PALETTE)
    buf = io.BytesIO()
    img.save(buf, format='PNG', optimize=False)
    return buf.getvalue()


def write_id_list(path: str, ids: Iterable[str]) -> None:
    """Write an id list (one id per line) atomically.

    Args:
        path (str): Destination.
        ids (Iterable[str]): Image ids.
    """
    atomic_write_bytes(path, ''.join(f'{i}\n' for i in ids).encode())


def label_table_row(img_id: str, split: str, width: int, height: int,
                    class_ids: Sequence[int],
                    class_names: Sequence[str]) -> str:
    """One line of ``image_labels.tsv`` (without newline).

    Args:
        img_id (str): Image id.
        split (str): Split name.
        width (int): Image width.
        height (int): Image height.
        class_ids (Sequence[int]): Mask values 1..C present.
        class_names (Sequence[str]): All names with 'background' first.

    Returns:
        str: Tab-separated fields.
    """
    ids = sorted(int(i) for i in class_ids)
    return '\t'.join([
        img_id, split, str(width), str(height),
        ' '.join(class_names[i] for i in ids), ' '.join(map(str, ids))
    ])


def write_label_table(path: str, rows: List[str]) -> None:
    """Write ``image_labels.tsv`` (header plus rows) atomically.

    Args:
        path (str): Destination.
        rows (list[str]): Lines made by :func:`label_table_row`.
    """
    text = '\t'.join(LABEL_TABLE_COLUMNS) + '\n' + ''.join(
        f'{r}\n' for r in rows)
    atomic_write_bytes(path, text.encode())


def mask_class_ids(mask: np.ndarray, num_classes: int) -> List[int]:
    """The foreground values 1..C present in a mask.

    Args:
        mask (np.ndarray): uint8 mask.
        num_classes (int): C.

    Returns:
        list[int]: Sorted class indices.

    Raises:
        ValueError: The mask holds a value outside 0..C and 255.
    """
    values = np.unique(mask)
    bad = [int(v) for v in values if num_classes < v < 255]
    if bad:
        raise ValueError(f'mask holds values {bad} outside 0..{num_classes} '
                         f'and 255')
    return [int(v) for v in values if 1 <= v <= num_classes]


def remove_temp_files(folders: Sequence[str]) -> Tuple[str, ...]:
    """Delete leftover ``*.tmp-<pid>`` files of a killed run.

    Args:
        folders (Sequence[str]): Folders to clean (missing ones are skipped).

    Returns:
        tuple[str, ...]: The removed paths.
    """
    removed = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if TMP_INFIX in name:
                os.remove(os.path.join(folder, name))
                removed.append(os.path.join(folder, name))
    return tuple(removed)
