"""PASCAL VOC 2012 + SBD -> ``SegmentationClassAug``, id lists and labels.

What the usual augmented VOC set is, and where each fact comes from:

- SBD (``benchmark.tgz``) stores one ``dataset/cls/<id>.mat`` per image
  (11,355 = ``dataset/train.txt`` 8,498 + ``dataset/val.txt`` 2,857) holding
  a MATLAB struct ``GTcls`` with fields ``Segmentation`` (H x W uint8,
  0..20), ``Boundaries`` (a 20 x 1 cell of sparse matrices) and
  ``CategoriesPresent``. ``scipy.io.loadmat`` returns the struct as a (1, 1)
  record array, so the mask is ``loadmat(f)['GTcls'][0, 0]['Segmentation']``
  (MMSeg ``tools/dataset_converters/voc_aug.py::convert_mat`` indexes the
  same element as ``['GTcls'][0]['Segmentation'][0]``).
- ``train_aug`` = (VOC train + SBD train + SBD val) - VOC val, 10,582 ids
  (MMSeg ``voc_aug.py``: ``AUG_LEN = 10582``, ``set(merged) - set(val)``).
- ``SegmentationClassAug`` (the DeepLab recipe the circulating zip follows;
  e.g. xiaweihao/SR-Net ``scripts/download_voc.sh``: convert SBD ``cls`` to
  PNG, then copy VOC's ``SegmentationClass`` over it): SBD's mask where VOC
  has none, VOC's mask (with its 255 void borders) for VOC's 2,913 train +
  val images; 12,031 masks = ``train_aug`` + ``val``.
- Image-level labels for ``train_aug`` + ``val`` come from the XML
  annotations, every object including ``difficult`` ones, as IRN's
  ``make_cls_labels.py`` (jiwoon-ahn/irn) builds ``cls_labels.npy``.
"""
import io
import os
import os.path as osp
import re
import time
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

from ..label_sources import labels_from_xml, read_id_list
from ..voc import VOCImageLevelDataset
from .io import (atomic_write_bytes, atomic_write_text, format_id_list,
                 format_label_rows, png_is_complete, read_image_size,
                 read_index_png, relink, write_mask_png)
from .report import PrepareReport
from .sources import (extract_archive, find_folder, is_archive,
                      iter_matching_files)

VOC_CLASSES: Tuple[str,
                   ...] = tuple(VOCImageLevelDataset.METAINFO['classes'][1:])
NUM_VOC_CLASSES = len(VOC_CLASSES)
IGNORE_INDEX = 255

#: Counts of the complete official inputs (see the module docstring).
EXPECTED_COUNTS = dict(voc_train=1464,
                       voc_val=1449,
                       sbd_train=8498,
                       sbd_val=2857,
                       sbd_mats=11355,
                       train_aug=10582)

LABEL_SOURCES = ('xml', 'mask')
AUG_DIR = 'SegmentationClassAug'
LIST_DIR = 'ImageSets/Segmentation'
LABEL_FILE = 'ImageSets/Segmentation/image_labels.tsv'

# Members of VOCtrainval_11-May-2012.tar: VOCdevkit/VOC2012/<folder>/...
_VOC_MEMBER = re.compile(r'(?:.*/)?VOCdevkit/VOC2012/(?P<rel>[^/].*)')
# Files of benchmark.tgz: benchmark_RELEASE/dataset/{cls/<id>.mat,train.txt}.
_SBD_FILE = re.compile(
    r'(?:.*/)?dataset/(?:cls/(?P<mat>[^/]+)\.mat|(?P<list>train|val)\.txt)')

Log = Optional[Callable[[str], None]]


def build_train_aug(voc_train: Sequence[str], voc_val: Sequence[str],
                    sbd_train: Sequence[str],
                    sbd_val: Sequence[str]) -> List[str]:
    """The ``train_aug`` ids: (VOC train + SBD train + SBD val) - VOC val.

    Args:
        voc_train (Sequence[str]): VOC 2012 ``Segmentation/train.txt`` ids.
        voc_val (Sequence[str]): VOC 2012 ``Segmentation/val.txt`` ids.
        sbd_train (Sequence[str]): SBD ``dataset/train.txt`` ids.
        sbd_val (Sequence[str]): SBD ``dataset/val.txt`` ids.

    Returns:
        list[str]: Sorted ids (10,582 for the complete inputs).
    """
    return sorted((set(voc_train) | set(sbd_train) | set(sbd_val)) -
                  set(voc_val))


def sbd_mask_from_mat(source: Union[str, bytes], name: str) -> np.ndarray:
    """Read ``GTcls.Segmentation`` from an SBD ``dataset/cls/*.mat`` file.

    Args:
        source (str | bytes): The file path or its content.
        name (str): The file's name for errors.

    Returns:
        np.ndarray: (H, W) uint8 mask.

    Raises:
        ValueError: Not a MATLAB file, or no ``GTcls.Segmentation`` matrix.
    """
    from scipy.io import loadmat
    try:
        data = loadmat(
            io.BytesIO(source) if isinstance(source, bytes) else source)
    except Exception as e:  # scipy raises several types on bad files
        raise ValueError(f'{name}: cannot read the MATLAB file '
                         f'({type(e).__name__}: {e})') from None
    if 'GTcls' not in data:
        raise ValueError(
            f'{name}: no GTcls struct (variables {sorted(data)}); expected '
            'an SBD dataset/cls/*.mat file (dataset/inst holds GTinst)')
    gt = data['GTcls']
    names = gt.dtype.names or ()
    if 'Segmentation' not in names or gt.size != 1:
        raise ValueError(f'{name}: GTcls is not a 1x1 struct with a '
                         f'Segmentation field (fields {names})')
    seg = np.asarray(gt[0, 0]['Segmentation'])
    if seg.ndim != 2 or not np.issubdtype(seg.dtype, np.integer):
        raise ValueError(f'{name}: GTcls.Segmentation must be an integer '
                         f'H x W matrix, got {seg.dtype} {seg.shape}')
    return seg


def present_values(mask: np.ndarray) -> np.ndarray:
    """The distinct values of a mask (a histogram for uint8, 7x faster
    than ``np.unique`` on 500x375).

    Args:
        mask (np.ndarray): An integer array.

    Returns:
        np.ndarray: Sorted distinct values.
    """
    if mask.dtype == np.uint8:
        return np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    return np.unique(mask)


def mask_problem(mask: np.ndarray, num_classes: int,
                 image_size: Optional[Tuple[int,
                                            int]], name: str) -> Optional[str]:
    """Check a mask's values (0..C, 255) and its size against the image.

    Args:
        mask (np.ndarray): (H, W) labels.
        num_classes (int): C.
        image_size (tuple[int, int], optional): ``(width, height)`` of the
            image, None to skip the size check.
        name (str): The mask's name for the message.

    Returns:
        str | None: What is wrong, or None.
    """
    if mask.ndim != 2:
        return f'{name}: mask has shape {mask.shape}, expected (H, W)'
    values = present_values(mask)
    bad = [
        int(v) for v in values
        if v < 0 or (v > num_classes and v != IGNORE_INDEX)
    ]
    if bad:
        return (f'{name}: mask values {bad[:10]} outside 0..{num_classes} '
                f'and {IGNORE_INDEX}')
    if image_size is not None:
        width, height = image_size
        if mask.shape != (height, width):
            return (f'{name}: mask is {mask.shape[1]}x{mask.shape[0]} '
                    f'(WxH) but its image is {width}x{height}')
    return None


def _parse_id_text(text: str, name: str) -> List[str]:
    """Ids of a list file's content; duplicates raise."""
    ids, seen = [], set()
    for line_no, line in enumerate(text.splitlines(), start=1):
        token = line.strip()
        if not token:
            continue
        if token in seen:
            raise ValueError(f'{name} line {line_no}: duplicate id {token!r}')
        seen.add(token)
        ids.append(token)
    return ids


class _VOCPreparer:
    """One run of :func:`prepare_voc` (state shared by its steps)."""

    def __init__(self, report: PrepareReport, voc_root: str, out_dir: str,
                 expected: Dict[str, int], overwrite: bool, log: Log) -> None:
        self.report = report
        self.voc_root = voc_root
        self.out_dir = out_dir
        self.aug_dir = osp.join(out_dir, AUG_DIR)
        self.expected = expected
        self.overwrite = overwrite
        self.log = log or (lambda msg: None)
        self.sizes: Dict[str, Optional[Tuple[int, int]]] = {}
        self.partial: List[str] = []

    def count(self, key: str, n: int = 1) -> None:
        self.report.counts[key] = self.report.counts.get(key, 0) + n

    def expect(self, key: str, actual: int, what: str) -> None:
        """Record a partial-input finding when a count is not the usual."""
        want = self.expected.get(key)
        if want is not None and actual != want:
            self.partial.append(f'{what}: {actual} ids, expected {want}')

    def image_size(self, img_id: str) -> Optional[Tuple[int, int]]:
        """(width, height) of a VOC JPEG, None (and noted) if missing."""
        if img_id not in self.sizes:
            path = osp.join(self.voc_root, 'JPEGImages', img_id + '.jpg')
            try:
                self.sizes[img_id] = read_image_size(path)
            except FileNotFoundError:
                self.sizes[img_id] = None
            except ValueError as e:
                self.report.problems.append(str(e))
                self.sizes[img_id] = None
        return self.sizes[img_id]

    def copy_voc_masks(self, ids: Sequence[str]) -> Set[str]:
        """Validate VOC ``SegmentationClass`` masks and copy them over."""
        have = set()
        for img_id in ids:
            src = osp.join(self.voc_root, 'SegmentationClass', img_id + '.png')
            dst = osp.join(self.aug_dir, img_id + '.png')
            if not osp.isfile(src):
                self.partial.append(f'VOC mask missing: {src}')
                continue
            have.add(img_id)
            if not self.overwrite and png_is_complete(dst):
                self.count('voc_masks_kept')
                continue
            try:
                mask, mode = read_index_png(src)
            except ValueError as e:
                self.report.problems.append(str(e))
                continue
            problem = (f'{src}: mode {mode!r}, expected a palette PNG of '
                       'class indices' if mode not in ('P', 'L') else
                       mask_problem(mask, NUM_VOC_CLASSES,
                                    self.image_size(img_id), src))
            if problem:
                self.report.problems.append(problem)
                continue
            with open(src, 'rb') as f:
                atomic_write_bytes(dst, f.read(), fsync=False)
            self.count('voc_masks_copied')
        return have

    def convert_sbd(
            self, sbd: str,
            voc_mask_ids: Set[str]) -> Tuple[Dict[str, List[str]], Set[str]]:
        """Stream SBD: read its lists, convert the masks VOC lacks."""
        lists: Dict[str, List[str]] = {}
        mat_ids: Set[str] = set()
        for match, read in iter_matching_files(sbd, _SBD_FILE):
            if match.group('list'):
                split = match.group('list')
                lists[split] = _parse_id_text(read().decode('utf-8'),
                                              f'{sbd}: {match.group(0)}')
                continue
            img_id = match.group('mat')
            if img_id in mat_ids:
                raise ValueError(f'{sbd}: two masks for id {img_id!r}')
            mat_ids.add(img_id)
            if img_id in voc_mask_ids:
                self.count('sbd_masks_replaced_by_voc')
                continue
            dst = osp.join(self.aug_dir, img_id + '.png')
            if not self.overwrite and png_is_complete(dst):
                self.count('sbd_masks_kept')
                continue
            name = f'{sbd}: {match.group(0)}'
            try:
                mask = sbd_mask_from_mat(read(), name)
            except ValueError as e:
                self.report.problems.append(str(e))
                continue
            problem = mask_problem(mask, NUM_VOC_CLASSES,
                                   self.image_size(img_id), name)
            if problem:
                self.report.problems.append(problem)
                continue
            write_mask_png(dst, mask)
            self.count('sbd_masks_converted')
            done = self.report.counts['sbd_masks_converted']
            if done % 2000 == 0:
                self.log(f'  converted {done} SBD masks')
        for split in ('train', 'val'):
            if split not in lists:
                raise FileNotFoundError(
                    f'SBD input {sbd} has no dataset/{split}.txt')
        return lists, mat_ids

    def complete_ids(self, ids: Sequence[str], list_name: str) -> List[str]:
        """Keep the ids that have an image and a finished mask; note the
        rest."""
        keep = []
        for img_id in ids:
            mask = osp.join(self.aug_dir, img_id + '.png')
            missing = [
                what for what, ok in (('image',
                                       self.image_size(img_id) is not None),
                                      ('mask', png_is_complete(mask)))
                if not ok
            ]
            if missing:
                self.partial.append(f'{list_name} id {img_id}: no '
                                    f'{" and no ".join(missing)}')
            else:
                keep.append(img_id)
        return keep

    def label_rows(self, splits: Dict[str, List[str]],
                   source: str) -> List[dict]:
        """Image-level label rows of the ids of ``splits``.

        Ids without an annotation file (``source='xml'``) get no row and
        are removed from ``splits`` in place.
        """
        rows = []
        for split, ids in splits.items():
            for img_id in list(ids):
                if source == 'xml':
                    xml = osp.join(self.voc_root, 'Annotations',
                                   img_id + '.xml')
                    if not osp.isfile(xml):
                        self.partial.append(f'annotation missing: {xml}')
                        ids.remove(img_id)
                        continue
                    label = labels_from_xml(xml, VOC_CLASSES)
                    class_ids = (np.flatnonzero(label) + 1).tolist()
                else:
                    mask, _ = read_index_png(
                        osp.join(self.aug_dir, img_id + '.png'))
                    values = present_values(mask)
                    class_ids = [
                        int(v) for v in values if 1 <= v <= NUM_VOC_CLASSES
                    ]
                width, height = self.image_size(img_id)
                rows.append(
                    dict(id=img_id,
                         split=split,
                         width=width,
                         height=height,
                         class_ids=class_ids))
        return rows


def _resolve_voc(voc: str, out_dir: Optional[str], report: PrepareReport,
                 log: Log) -> Tuple[str, str]:
    """Extract the VOC archive or locate the VOC folder; pick the output."""
    if is_archive(voc):
        if not out_dir:
            raise ValueError(f'{voc} is an archive: give out_dir (the '
                             'VOC2012 folder to extract it to)')
        if log:
            log(f'extracting VOCdevkit/VOC2012 of {voc} to {out_dir}')
        written, kept = extract_archive(voc, _VOC_MEMBER, out_dir, log)
        report.counts['voc_files_extracted'] = written
        report.counts['voc_files_kept'] = kept
        if written + kept == 0:
            raise ValueError(f'{voc}: no VOCdevkit/VOC2012/ members; is it '
                             'VOCtrainval_11-May-2012.tar?')
        voc_root = find_folder(out_dir, [''], ['JPEGImages', LIST_DIR],
                               f'VOC archive {voc}')
        return voc_root, out_dir
    voc_root = find_folder(voc, ['', 'VOC2012', 'VOCdevkit/VOC2012'],
                           ['JPEGImages', LIST_DIR], f'VOC input {voc}')
    out_dir = out_dir or voc_root
    if osp.realpath(out_dir) != osp.realpath(voc_root):
        for folder in ('JPEGImages', 'Annotations', 'SegmentationClass'):
            if osp.isdir(osp.join(voc_root, folder)):
                message = relink(osp.join(out_dir, folder),
                                 osp.join(voc_root, folder))
                if message:
                    report.warn(message)
    return voc_root, out_dir


def prepare_voc(voc: str,
                sbd: str,
                out_dir: Optional[str] = None,
                *,
                label_source: str = 'xml',
                allow_partial: bool = False,
                overwrite: bool = False,
                expected: Optional[Dict[str, int]] = None,
                log: Log = None) -> PrepareReport:
    """Build ``SegmentationClassAug``, ``train_aug`` and the label table.

    Writes under ``out_dir``: ``SegmentationClassAug/<id>.png`` (VOC-palette
    PNGs, values 0..20 and 255), ``ImageSets/Segmentation/train_aug.txt``
    (plus ``train.txt`` / ``val.txt`` when ``out_dir`` is not the VOC folder,
    which then also gets links to ``JPEGImages``, ``Annotations`` and
    ``SegmentationClass``) and ``ImageSets/Segmentation/image_labels.tsv``
    (rows of ``train_aug`` with split ``train_aug`` and of ``val``).

    Every mask is checked before it is written: values in 0..20 or 255 and
    its size equal to its JPEG's. Reruns keep finished masks (writes are
    atomic) and rewrite the lists only when their content changes.

    Args:
        voc (str): ``VOCtrainval_11-May-2012.tar`` or the extracted folder
            (``VOCdevkit``, ``VOCdevkit/VOC2012`` or a parent of them).
        sbd (str): ``benchmark.tgz`` or the extracted ``benchmark_RELEASE``
            (or its ``dataset`` folder).
        out_dir (str, optional): Output root. Required for an archive (it is
            extracted there). Defaults to None (the VOC2012 folder itself).
        label_source (str): ``'xml'`` (IRN's labels: every annotated object)
            or ``'mask'`` (the classes present in the mask). Defaults to
            'xml'.
        allow_partial (bool): With incomplete inputs (unusual counts, ids
            without image, mask or annotation), write lists of the complete
            ids and warn instead of raising. Defaults to False.
        overwrite (bool): Rewrite finished masks. Defaults to False.
        expected (dict, optional): Expected counts, keys of
            :data:`EXPECTED_COUNTS`. Defaults to None (the official ones).
        log (Callable, optional): Progress printer. Defaults to None.

    Returns:
        PrepareReport: Counts (masks copied / converted / kept, list sizes),
        warnings and time.

    Raises:
        PrepareError: Broken inputs (bad values, sizes, unreadable files),
            or incomplete ones without ``allow_partial``. Valid masks are
            written before raising, so a rerun resumes.
        FileNotFoundError: An input or a required file of it is missing.
    """
    if label_source not in LABEL_SOURCES:
        raise ValueError(f'label_source must be one of {LABEL_SOURCES}, got '
                         f'{label_source!r}')
    start = time.perf_counter()
    report = PrepareReport('PASCAL VOC 2012 + SBD', out_dir or voc)
    voc_root, out_dir = _resolve_voc(voc, out_dir, report, log)
    report.out_dir = out_dir
    prep = _VOCPreparer(report, voc_root, out_dir,
                        EXPECTED_COUNTS if expected is None else expected,
                        overwrite, log)
    voc_train = read_id_list(osp.join(voc_root, LIST_DIR, 'train.txt'))
    voc_val = read_id_list(osp.join(voc_root, LIST_DIR, 'val.txt'))
    both = sorted(set(voc_train) & set(voc_val))
    if both:
        raise ValueError(f'{voc_root}: ids in both train.txt and val.txt: '
                         f'{both[:10]}')
    prep.expect('voc_train', len(voc_train), 'VOC Segmentation/train.txt')
    prep.expect('voc_val', len(voc_val), 'VOC Segmentation/val.txt')

    os.makedirs(prep.aug_dir, exist_ok=True)
    if log:
        log(f'copying {len(voc_train) + len(voc_val)} VOC masks')
    voc_masks = prep.copy_voc_masks(voc_train + voc_val)
    if log:
        log(f'converting SBD masks from {sbd}')
    sbd_lists, mat_ids = prep.convert_sbd(sbd, voc_masks)
    prep.expect('sbd_train', len(sbd_lists['train']), 'SBD train.txt')
    prep.expect('sbd_val', len(sbd_lists['val']), 'SBD val.txt')
    prep.expect('sbd_mats', len(mat_ids), 'SBD dataset/cls/*.mat')
    train_aug = build_train_aug(voc_train, voc_val, sbd_lists['train'],
                                sbd_lists['val'])
    prep.expect('train_aug', len(train_aug), 'train_aug')
    train_aug = prep.complete_ids(train_aug, 'train_aug')
    val = prep.complete_ids(voc_val, 'val')
    train = prep.complete_ids(voc_train, 'train')
    rows = prep.label_rows(dict(train_aug=train_aug, val=val), label_source)
    report.counts.update(train_aug=len(train_aug),
                         train=len(train),
                         val=len(val),
                         labelled_images=len(rows))
    report.raise_if_problems(
        'Fix or replace these files and rerun; finished masks are kept.')
    if prep.partial:
        if not allow_partial:
            report.problems.extend(prep.partial)
            report.raise_if_problems(
                'The inputs look partial. Rerun with allow_partial '
                '(--allow-partial) to write lists of the complete ids.')
        for message in prep.partial:
            report.warn(f'partial input: {message}')

    lists = dict(train_aug=train_aug)
    if osp.realpath(out_dir) != osp.realpath(voc_root):
        lists.update(train=train, val=val)
    for name, ids in lists.items():
        atomic_write_text(osp.join(out_dir, LIST_DIR, name + '.txt'),
                          format_id_list(ids))
    atomic_write_text(osp.join(out_dir, LABEL_FILE),
                      format_label_rows(rows, VOC_CLASSES))
    report.seconds = time.perf_counter() - start
    return report
