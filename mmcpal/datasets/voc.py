"""PASCAL VOC-layout data set with image-level (multi-hot) labels."""
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmseg.datasets import PascalVOCDataset

from mmcpal.registry import DATASETS
from .label_sources import (labels_from_mask, labels_from_xml, read_id_list,
                            read_label_file)

LABEL_SOURCES = ('auto', 'file', 'mask', 'xml')
DEFAULT_LABEL_FILE = 'ImageSets/Segmentation/image_labels.tsv'
# Tried in this order when ``data_prefix`` names no mask folder.
MASK_DIR_CANDIDATES = ('SegmentationClassAug', 'SegmentationClass')


def voc_palette(num_entries: int) -> List[List[int]]:
    """The PASCAL VOC colour map (bit-interleaved), for any length.

    Its first 21 entries are MMSeg's ``PascalVOCDataset`` palette.

    Args:
        num_entries (int): Number of colours (at most 256).

    Returns:
        list[list[int]]: ``num_entries`` RGB triplets.
    """
    palette = []
    for i in range(num_entries):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette.append([r, g, b])
    return palette


def _some(items: Sequence[str], limit: int = 5) -> str:
    """Format a few ids / paths and their count for an error message."""
    shown = ', '.join(repr(i) for i in list(items)[:limit])
    more = f' and {len(items) - limit} more' if len(items) > limit else ''
    return f'{len(items)}: {shown}{more}'


@DATASETS.register_module()
class VOCImageLevelDataset(BaseDataset):
    """A VOC-layout data set for classification with image-level labels.

    Layout under ``data_root``: ``JPEGImages/<id>.jpg``, optional masks
    ``<mask dir>/<id>.png`` (palette PNGs, 0 = background, 1..C classes,
    255 = ignore), optional ``Annotations/<id>.xml`` and an id list
    (``ann_file``, one id per line, blank lines ignored).

    Labels come from one source for the whole data set, chosen by
    ``label_source``:

    - ``'file'``: a tab-separated label table (see
      :func:`mmcpal.datasets.label_sources.read_label_file`), ``label_file``
      or, when that is None, ``ImageSets/Segmentation/image_labels.tsv``.
    - ``'mask'``: the unique values 1..C of each image's mask.
    - ``'xml'``: the object names of each VOC XML annotation (objects marked
      difficult count as present, as in IRN and AMN).
    - ``'auto'`` (default): the label file if it exists; else the masks if
      the mask folder holds a mask for every id; else the XML annotations.

    Each data info holds ``img_path``, ``img_id``, ``seg_map_path`` (None
    when the image has no mask, so seeds can still be evaluated where masks
    exist), ``gt_label`` (float32 multi-hot (C,)), ``label_names``,
    ``reduce_zero_label=False`` and ``seg_fields=[]``.

    Note:
        Images whose label has no foreground class are skipped by default
        and their number is logged with ``print_log(..., logger='current')``
        (their ids are kept in :attr:`skipped_ids`). With
        ``skip_unlabeled=False`` they raise an error naming the ids instead.
        Labels from masks read every mask at initialisation (a few ms per
        image, ~30 s for the 10,582 images of ``train_aug``): prefer a label
        file for large sets.

    Args:
        ann_file (str): The id list, relative to ``data_root`` unless
            absolute, e.g. ``'ImageSets/Segmentation/train.txt'``.
        data_root (str): Root of the VOC layout. Defaults to ''.
        data_prefix (dict, optional): Folders relative to ``data_root``:
            ``img_path`` (images) and ``seg_map_path`` (masks). A missing or
            None ``seg_map_path`` picks the first existing folder of
            ``SegmentationClassAug``, ``SegmentationClass``. Defaults to
            ``dict(img_path='JPEGImages', seg_map_path=None)``.
        label_file (str, optional): A label table relative to ``data_root``.
            It must exist when given. Defaults to None (use
            ``ImageSets/Segmentation/image_labels.tsv`` if it exists).
        label_source (str): One of ``'auto'``, ``'file'``, ``'mask'``,
            ``'xml'``. Defaults to ``'auto'``.
        xml_dir (str): Folder of VOC XML annotations relative to
            ``data_root``. Defaults to ``'Annotations'``.
        img_suffix (str): Image file suffix. Defaults to ``'.jpg'``.
        seg_map_suffix (str): Mask file suffix. Defaults to ``'.png'``.
        skip_unlabeled (bool): Skip images without foreground labels (else
            raise). Defaults to True.
        metainfo (Mapping, optional): Overrides of ``classes`` (background
            first) and ``palette``. Without a palette of matching length the
            VOC colour map is extended. Defaults to None (MMSeg's VOC
            classes and palette).
        pipeline (list): Transforms (config dicts or callables). Defaults to
            ``[]``.
        test_mode (bool): Passed to ``BaseDataset``. Defaults to False.
        lazy_init (bool): Defer reading ids and labels until first use.
            Defaults to False.
        indices (int | Sequence[int], optional): Keep a subset. Defaults to
            None.
        serialize_data (bool): Passed to ``BaseDataset``. Defaults to True.
        max_refetch (int): Passed to ``BaseDataset``. Defaults to 1000.
    """

    METAINFO = dict(
        classes=tuple(PascalVOCDataset.METAINFO['classes']),
        palette=[list(c) for c in PascalVOCDataset.METAINFO['palette']])

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 label_file: Optional[str] = None,
                 label_source: str = 'auto',
                 xml_dir: str = 'Annotations',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 skip_unlabeled: bool = True,
                 metainfo: Optional[Mapping] = None,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 max_refetch: int = 1000) -> None:
        if label_source not in LABEL_SOURCES:
            raise ValueError(f'label_source must be one of {LABEL_SOURCES}, '
                             f'got {label_source!r}')
        if label_file is not None and label_source not in ('auto', 'file'):
            raise ValueError(
                f'label_file={label_file!r} is given but '
                f'label_source={label_source!r} would ignore it; use '
                f"label_source='file' or 'auto', or drop label_file")
        if not ann_file:
            raise ValueError('ann_file (the image id list) is required')
        data_root = data_root or ''
        prefix = dict(img_path='JPEGImages', seg_map_path=None)
        prefix.update(data_prefix or {})
        if not prefix.get('seg_map_path'):
            prefix['seg_map_path'] = self._find_mask_dir(data_root)
        self.label_source = label_source
        self.label_file_given = label_file is not None
        self.label_file = self._join(data_root, label_file
                                     or DEFAULT_LABEL_FILE)
        self.xml_dir = self._join(data_root, xml_dir)
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.skip_unlabeled = skip_unlabeled
        self.skipped_ids: List[str] = []
        self.used_label_source: Optional[str] = None
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=prefix,
            indices=indices,
            serialize_data=serialize_data,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[Mapping] = None) -> dict:
        """Merge ``metainfo`` into ``METAINFO`` and validate classes."""
        meta = super()._load_metainfo(metainfo)
        classes = meta.get('classes')
        if (not isinstance(classes, (list, tuple)) or len(classes) < 2
                or not all(isinstance(c, str) for c in classes)):
            raise ValueError(
                'metainfo["classes"] must list the background then at least '
                f'one foreground class name, got {classes!r}')
        if len(set(classes)) != len(classes):
            raise ValueError(f'metainfo["classes"] has duplicate names: '
                             f'{list(classes)}')
        palette = meta.get('palette')
        if palette is None or len(palette) != len(classes):
            if metainfo is not None and 'palette' in metainfo:
                raise ValueError(
                    f'metainfo["palette"] has {len(palette or [])} colours '
                    f'for {len(classes)} classes; give one RGB per class')
            meta['palette'] = voc_palette(len(classes))
        return meta

    @property
    def class_names(self) -> List[str]:
        """The C foreground class names (mask values 1..C)."""
        return list(self._metainfo['classes'][1:])

    @property
    def num_classes(self) -> int:
        """C, the number of foreground classes."""
        return len(self._metainfo['classes']) - 1

    def get_label_matrix(self) -> np.ndarray:
        """Return the (N, C) float32 multi-hot labels of all entries."""
        if len(self) == 0:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        return np.stack(
            [self.get_data_info(i)['gt_label'] for i in range(len(self))])

    def load_data_list(self) -> List[dict]:
        """Read the ids and their labels; build one data info per image."""
        ids = read_id_list(self.ann_file)
        source = self._resolve_label_source(ids)
        self.used_label_source = source
        labels = self._read_labels(ids, source)
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix.get('seg_map_path')
        img_paths = [osp.join(img_dir, i + self.img_suffix) for i in ids]
        missing = [p for p in img_paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f'image file(s) listed in {self.ann_file} do not exist: '
                f'{_some(missing)}')
        names = self.class_names
        data_list, unlabeled = [], []
        for img_id in ids:
            label = labels[img_id]
            if not label.any():
                unlabeled.append(img_id)
                continue
            seg_path = None
            if seg_dir:
                candidate = osp.join(seg_dir, img_id + self.seg_map_suffix)
                seg_path = candidate if osp.isfile(candidate) else None
            data_list.append(
                dict(
                    img_path=osp.join(img_dir, img_id + self.img_suffix),
                    img_id=img_id,
                    seg_map_path=seg_path,
                    gt_label=label,
                    label_names=[names[k] for k in np.flatnonzero(label)],
                    reduce_zero_label=False,
                    seg_fields=[]))
        self._handle_unlabeled(unlabeled, source)
        return data_list

    def _handle_unlabeled(self, unlabeled: List[str], source: str) -> None:
        """Raise on or log (and remember) images with no foreground."""
        self.skipped_ids = unlabeled
        if not unlabeled:
            return
        where = self._source_description(source)
        if not self.skip_unlabeled:
            raise ValueError(
                f'{self.ann_file}: image ids without any foreground label in '
                f'{where} (skip_unlabeled=False), {_some(unlabeled)}')
        print_log(
            f'{type(self).__name__}: skipped {len(unlabeled)} image(s) with '
            f'no foreground label in {where}; ids {_some(unlabeled)}',
            logger='current')

    def _source_description(self, source: str) -> str:
        """Name a label source with its path, for messages."""
        return dict(
            file=f'label file {self.label_file}',
            mask=f'masks in {self.data_prefix.get("seg_map_path")}',
            xml=f'annotations in {self.xml_dir}')[source]

    def _resolve_label_source(self, ids: List[str]) -> str:
        """Pick the label source (see the class docstring)."""
        if self.label_source != 'auto':
            return self.label_source
        if self.label_file_given or osp.isfile(self.label_file):
            return 'file'
        seg_dir = self.data_prefix.get('seg_map_path')
        no_mask = ids
        if seg_dir and osp.isdir(seg_dir):
            no_mask = [
                i for i in ids
                if not osp.isfile(osp.join(seg_dir, i + self.seg_map_suffix))
            ]
            if not no_mask:
                return 'mask'
        if osp.isdir(self.xml_dir):
            return 'xml'
        raise FileNotFoundError(
            f'{self.ann_file}: no image-level label source found: no label '
            f'file {self.label_file}; masks in {seg_dir} missing for ids '
            f'{_some(no_mask)}; no annotation folder {self.xml_dir}')

    def _read_labels(self, ids: List[str],
                     source: str) -> Dict[str, np.ndarray]:
        """Read the multi-hot label of every id from ``source``."""
        names = self.class_names
        if source == 'file':
            table = read_label_file(self.label_file, names)
            absent = [i for i in ids if i not in table]
            if absent:
                raise ValueError(
                    f'label file {self.label_file} has no line for image '
                    f'ids listed in {self.ann_file}, {_some(absent)}')
            return {i: table[i] for i in ids}
        if source == 'mask':
            seg_dir = self.data_prefix.get('seg_map_path')
            return {
                i: labels_from_mask(
                    osp.join(seg_dir, i + self.seg_map_suffix), len(names))
                for i in ids
            }
        return {
            i: labels_from_xml(osp.join(self.xml_dir, i + '.xml'), names)
            for i in ids
        }

    @staticmethod
    def _join(data_root: str, path: str) -> str:
        """Join a relative path to ``data_root`` (absolute paths kept)."""
        if osp.isabs(path) or not data_root:
            return path
        return osp.join(data_root, path)

    @staticmethod
    def _find_mask_dir(data_root: str) -> str:
        """The first existing candidate mask folder (relative)."""
        for name in MASK_DIR_CANDIDATES:
            if osp.isdir(osp.join(data_root, name)):
                return name
        return MASK_DIR_CANDIDATES[-1]
