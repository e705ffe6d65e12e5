"""Readers of image-level labels for VOC-layout data sets.

Pure functions: each reads one source (an id list, a label table, a mask, a
VOC XML annotation) and returns plain Python / NumPy values, raising an error
that names the file and the problem on bad input. The data set
(:class:`mmcpal.datasets.voc.VOCImageLevelDataset`) only chooses between them.

Label convention: ``class_names`` are the C foreground classes (the data set's
``metainfo['classes'][1:]``); a multi-hot vector has C entries and entry ``i``
is mask value ``i + 1``.
"""
import os
import xml.etree.ElementTree as ET
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image

#: Mask value that marks ignored pixels (VOC void border).
IGNORE_INDEX = 255

#: Columns a label table must have; ``class_ids`` is checked when present.
REQUIRED_LABEL_COLUMNS = ('id', 'classes')


def read_id_list(path: str) -> List[str]:
    """Read an image id list (one id per line, blank lines ignored).

    Args:
        path (str): The list file, e.g.
            ``ImageSets/Segmentation/train.txt``.

    Returns:
        list[str]: The ids in file order.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: A line holds more than one token, or an id is listed
            twice (both line numbers are named).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image id list not found: {path}')
    ids: List[str] = []
    first_line: Dict[str, int] = {}
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, start=1):
            token = line.strip()
            if not token:
                continue
            if len(token.split()) != 1:
                raise ValueError(
                    f'{path} line {line_no}: expected one image id per line, '
                    f'got {token!r}')
            if token in first_line:
                raise ValueError(
                    f'{path} line {line_no}: duplicate image id {token!r} '
                    f'(first listed on line {first_line[token]})')
            first_line[token] = line_no
            ids.append(token)
    return ids


def names_to_multi_hot(names: Sequence[str],
                       class_names: Sequence[str]) -> np.ndarray:
    """Turn class names into a multi-hot vector.

    Args:
        names (Sequence[str]): Names of the classes present (repeats allowed).
        class_names (Sequence[str]): The C foreground class names.

    Returns:
        np.ndarray: float32 (C,), 1 at the index of each present class.

    Raises:
        KeyError: A name is not in ``class_names``.
    """
    index = {name: i for i, name in enumerate(class_names)}
    label = np.zeros(len(class_names), dtype=np.float32)
    for name in names:
        label[index[name]] = 1.0
    return label


def read_label_file(path: str,
                    class_names: Sequence[str]) -> Dict[str, np.ndarray]:
    """Read a tab-separated image-label table.

    The format of ``voc12-mini/ImageSets/Segmentation/image_labels.tsv``: a
    header line naming the columns (``id split width height classes
    class_ids``; only ``id`` and ``classes`` are required), then one line per
    image. ``classes`` holds space-separated class names (empty for an image
    without foreground); ``class_ids``, when present, the matching mask values
    1..C, which must agree with the names. Blank lines are ignored.

    Args:
        path (str): The table.
        class_names (Sequence[str]): The C foreground class names.

    Returns:
        dict[str, np.ndarray]: Image id -> float32 multi-hot (C,).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Missing columns, a line with the wrong number of fields,
            a duplicate id, an unknown class name (the line number, the name
            and the valid names are given) or ``class_ids`` that disagree with
            the names.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'label file not found: {path}')
    labels: Dict[str, np.ndarray] = {}
    first_line: Dict[str, int] = {}
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    header_no = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_no is None:
        raise ValueError(f'{path}: empty label file, expected a header line '
                         f'with columns {REQUIRED_LABEL_COLUMNS}')
    columns = [c.strip() for c in lines[header_no].split('\t')]
    missing = [c for c in REQUIRED_LABEL_COLUMNS if c not in columns]
    if missing:
        raise ValueError(
            f'{path} line {header_no + 1}: header lacks column(s) {missing}; '
            f'expected tab-separated columns including '
            f'{list(REQUIRED_LABEL_COLUMNS)}, got {columns}')
    col = {name: i for i, name in enumerate(columns)}
    for i in range(header_no + 1, len(lines)):
        line_no = i + 1
        if not lines[i].strip():
            continue
        fields = lines[i].split('\t')
        if len(fields) != len(columns):
            raise ValueError(
                f'{path} line {line_no}: expected {len(columns)} '
                f'tab-separated fields ({columns}), got {len(fields)}')
        img_id = fields[col['id']].strip()
        if img_id in first_line:
            raise ValueError(
                f'{path} line {line_no}: duplicate image id {img_id!r} '
                f'(first on line {first_line[img_id]})')
        first_line[img_id] = line_no
        names = fields[col['classes']].split()
        unknown = [n for n in names if n not in class_names]
        if unknown:
            raise ValueError(
                f'{path} line {line_no}: unknown class name {unknown[0]!r} '
                f'for image {img_id!r}; valid names are {list(class_names)}')
        label = names_to_multi_hot(names, class_names)
        if 'class_ids' in col:
            _check_class_ids(fields[col['class_ids']], label, path, line_no)
        labels[img_id] = label
    return labels


def _check_class_ids(field: str, label: np.ndarray, path: str,
                     line_no: int) -> None:
    """Check that a ``class_ids`` field matches the names' multi-hot."""
    try:
        ids = sorted({int(t) for t in field.split()})
    except ValueError:
        raise ValueError(f'{path} line {line_no}: class_ids {field!r} are not '
                         f'space-separated integers') from None
    expected = (np.flatnonzero(label) + 1).tolist()
    if ids != expected:
        raise ValueError(
            f'{path} line {line_no}: class_ids {ids} disagree with the class '
            f'names, which give mask values {expected}')


def read_mask(path: str) -> np.ndarray:
    """Read a single-channel (palette or grey) label PNG as indices.

    Pillow is used because OpenCV expands palette PNGs to BGR colours (MMSeg
    reads masks with ``imdecode_backend='pillow'`` for the same reason).

    Args:
        path (str): The mask file.

    Returns:
        np.ndarray: uint8 (H, W) mask values.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file cannot be decoded, or is not a single-channel
            index image.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'mask file not found: {path}')
    try:
        with Image.open(path) as img:
            mode = img.mode
            mask = np.asarray(img)
    except Exception as e:  # PIL raises several types on corrupt files
        raise ValueError(f'cannot read mask {path}: corrupt or not an image '
                         f'({type(e).__name__}: {e})') from None
    if mode not in ('P', 'L') or mask.ndim != 2:
        raise ValueError(
            f'mask {path} has image mode {mode!r} and shape {mask.shape}; '
            f'expected a single-channel palette (P) or grey (L) PNG of '
            f'class indices')
    return mask.astype(np.uint8, copy=False)


def labels_from_mask(path: str, num_classes: int) -> np.ndarray:
    """Image-level labels from the unique values of a mask.

    Values 0 (background) and 255 (ignore) are skipped; every value 1..C
    present switches on entry ``value - 1``.

    Args:
        path (str): The mask file.
        num_classes (int): C, the number of foreground classes.

    Returns:
        np.ndarray: float32 multi-hot (C,).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The mask is unreadable, or holds values outside
            ``0..C`` and 255.
    """
    values = np.unique(read_mask(path))
    bad = [int(v) for v in values if v > num_classes and v != IGNORE_INDEX]
    if bad:
        raise ValueError(
            f'mask {path} holds values {bad} outside 0..{num_classes} (the '
            f'classes) and {IGNORE_INDEX} (ignore)')
    label = np.zeros(num_classes, dtype=np.float32)
    fg = values[(values >= 1) & (values <= num_classes)].astype(np.int64)
    label[fg - 1] = 1.0
    return label


def labels_from_xml(path: str, class_names: Sequence[str]) -> np.ndarray:
    """Image-level labels from a VOC XML annotation.

    Every ``<object>`` counts, including those marked ``<difficult>1``: IRN's
    ``voc12/dataloader.py::load_image_label_from_xml`` (jiwoon-ahn/irn) and
    AMN's copy of it (gaviotas/AMN, same file) take every ``<name>`` element
    in the file without looking at ``difficult``. Only the ``name`` of each
    ``<object>`` is read, so person-layout part names (``<part><name>head``)
    are not mistaken for classes (IRN skips them by name instead).

    Args:
        path (str): The ``Annotations/<id>.xml`` file.
        class_names (Sequence[str]): The C foreground class names.

    Returns:
        np.ndarray: float32 multi-hot (C,).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The XML cannot be parsed, an object has no name, or a
            name is not a known class.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'annotation file not found: {path}')
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f'cannot parse annotation {path}: {e}') from None
    names = []
    for obj in root.iter('object'):
        name = (obj.findtext('name') or '').strip()
        if not name:
            raise ValueError(f'annotation {path}: an <object> has no <name>')
        if name not in class_names:
            raise ValueError(f'annotation {path}: unknown class name '
                             f'{name!r}; valid names are {list(class_names)}')
        names.append(name)
    return names_to_multi_hot(names, class_names)
