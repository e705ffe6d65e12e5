"""Reading id lists, label PNGs and class names for evaluation."""
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image

# PASCAL VOC 2012 foreground classes in mask order 1..20.
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')


def read_id_list(path: str) -> List[str]:
    """Read image ids, one per line (the first token of each line).

    Args:
        path (str): A list such as ``ImageSets/Segmentation/train.txt``.

    Returns:
        list[str]: Ids in file order; blank lines are skipped.

    Raises:
        FileNotFoundError: The list does not exist.
        ValueError: The list holds no id.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'id list {path!r} does not exist')
    with open(path) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    if not ids:
        raise ValueError(f'id list {path!r} is empty')
    return ids


def read_label_png(path: str) -> np.ndarray:
    """Read a label PNG as class indices (palette indices, not colours).

    Args:
        path (str): A single-channel PNG (mode ``P``, ``L`` or ``I``), e.g. a
            VOC ``SegmentationClass`` file: values 0..C and 255.

    Returns:
        np.ndarray: (H, W) int64 label map.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is a colour image or unreadable.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'label PNG {path!r} does not exist')
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode not in ('P', 'L', 'I', 'I;16'):
                raise ValueError(
                    f'label PNG {path!r} has mode {mode!r}; expected a '
                    "single-channel palette ('P') or grayscale ('L') PNG of "
                    'class indices, not a colour image')
            return np.array(img).astype(np.int64)
    except (OSError, SyntaxError) as err:
        raise ValueError(f'label PNG {path!r} cannot be read: {err}') from err


def default_class_names(
        num_classes: int,
        class_names: Optional[Sequence[str]] = None) -> List[str]:
    """C + 1 class names, background first.

    Args:
        num_classes (int): C, the number of foreground classes.
        class_names (Sequence[str], optional): Names to check; either C + 1
            names with background first or C foreground names. Defaults to
            the VOC names when C = 20, else ``class1``... .

    Returns:
        list[str]: ``['background', ...]`` of length C + 1.
    """
    if class_names is None:
        if num_classes == len(VOC_CLASSES):
            return ['background', *VOC_CLASSES]
        return ['background'
                ] + [f'class{i}' for i in range(1, num_classes + 1)]
    names = list(class_names)
    if len(names) == num_classes:
        return ['background', *names]
    if len(names) != num_classes + 1:
        raise ValueError(f'class_names must list C = {num_classes} '
                         'foreground names or C + 1 names with background '
                         f'first, got {len(names)}')
    return names
