"""MS COCO 2014 instances -> 81-class semantic masks and image-level labels.

Conventions, and where they come from:

- Mask values: 0 background, 1..80 the categories in ascending category id
  (:data:`mmcpal.datasets.coco.COCO14_CATEGORY_IDS`), 255 ignore. This is
  the order of ToCo's ``datasets/coco.py`` ``class_list`` and of the
  (0-based) labels of CLIP-ES's ``coco14/train.txt``.
- Overlaps: objects are painted from the largest ``area`` (the annotation's
  field) to the smallest, so a smaller object lies on top of a larger one;
  equal areas: the lower annotation id on top. This is the rule of
  alicranck/coco2voc (``coco2voc_aux.py::annotations_to_mask`` sorts by
  area, smallest first, and the first label a pixel gets wins: "Smaller
  items first, so they won't be covered"), the converter ToCo's README
  names for its COCO masks; CLIP-ES and RIB link the same pre-rendered masks
  as ToCo and ship no script.
- Crowd regions (``iscrowd=1``, uncompressed RLE): ``crowd='class'``
  (default) paints them with their class in the same area order, as
  coco2voc does (it renders every annotation of an image);
  ``crowd='ignore'`` paints them 255 beneath every non-crowd object.
- Polygons with fewer than 3 points are dropped and counted: pycocotools
  would read a 4-number polygon as a box (detectron2 drops them too).
- Image-level labels: the classes present in the rendered mask, as ToCo's
  ``CocoClsDataset._to_onehot`` derives them from the mask; with
  ``crowd='ignore'`` a class seen only in crowd regions is no label.

pycocotools (the optional extra ``coco``) is imported only where needed.
"""
import json
import multiprocessing
import os
import os.path as osp
import time
from typing import (Callable, Dict, Iterable, List, Mapping, NamedTuple,
                    Optional, Sequence, Tuple)

import numpy as np

from ..coco import COCO14_CATEGORY_IDS, COCO14_CLASSES
from .io import (atomic_write_text, format_id_list, format_label_rows,
                 png_is_complete, read_image_size, read_index_png,
                 read_label_rows, relink, write_mask_png)
from .report import PrepareReport

IGNORE_INDEX = 255
CROWD_MODES = ('class', 'ignore')
NUM_COCO_CLASSES = len(COCO14_CLASSES)

#: Images in the official instances files (COCO 2014 release).
EXPECTED_IMAGES = dict(train2014=82783, val2014=40504)

MASK_DIR = 'SegmentationClass'
#: Settings of the rendered masks, beside the split folders of MASK_DIR.
SETTINGS_FILE = 'prepare_coco.json'
IMG_DIR = 'JPEGImages'
LIST_DIR = 'ImageSets/Segmentation'
LABEL_FILE = 'ImageSets/Segmentation/image_labels.tsv'

Log = Optional[Callable[[str], None]]


class CocoObject(NamedTuple):
    """One annotation, reduced to what rendering needs.

    Args:
        label (int): Mask value 1..80.
        area (float): The annotation's ``area``.
        ann_id (int): The annotation id.
        iscrowd (bool): Crowd region.
        segmentation (list | dict): Polygons or RLE, as in the json.
    """

    label: int
    area: float
    ann_id: int
    iscrowd: bool
    segmentation: object


def _mask_api():
    """``pycocotools.mask``, with an error naming the extra to install."""
    try:
        from pycocotools import mask
    except ImportError as e:
        raise ImportError(
            'preparing COCO needs pycocotools: pip install "mmcpal[coco]" '
            '(or pip install pycocotools)') from e
    return mask


def category_map(categories: Sequence[Mapping], source: str) -> Dict[int, int]:
    """Map the 80 COCO category ids to mask values 1..80.

    Args:
        categories (Sequence[dict]): The json's ``categories``.
        source (str): The json's path, for errors.

    Returns:
        dict[int, int]: Category id -> mask value.

    Raises:
        ValueError: The categories are not the standard 80 (ids and names).
    """
    found = {int(c['id']): str(c['name']) for c in categories}
    if sorted(found) != list(COCO14_CATEGORY_IDS):
        raise ValueError(
            f'{source}: categories have ids {sorted(found)}; expected the 80 '
            f'COCO ids {list(COCO14_CATEGORY_IDS)}')
    wrong = [(cid, found[cid], name)
             for cid, name in zip(COCO14_CATEGORY_IDS, COCO14_CLASSES)
             if found[cid].replace(' ', '_') != name]
    if wrong:
        raise ValueError(f'{source}: category names differ from COCO 2014 '
                         f'(id, found, expected): {wrong[:5]}')
    return {cid: i + 1 for i, cid in enumerate(COCO14_CATEGORY_IDS)}


def coco_objects(annotations: Iterable[Mapping],
                 cat_map: Mapping[int, int]) -> List[CocoObject]:
    """Reduce json annotations to :class:`CocoObject`.

    Args:
        annotations (Iterable[dict]): Annotations of one image.
        cat_map (Mapping[int, int]): From :func:`category_map`.

    Returns:
        list[CocoObject]: In input order.

    Raises:
        ValueError: An unknown category id.
    """
    objects = []
    for ann in annotations:
        missing = [
            k for k in ('id', 'category_id', 'segmentation') if k not in ann
        ]
        if missing:
            raise ValueError(f'annotation {ann.get("id")}: no {missing}')
        cid = int(ann['category_id'])
        if cid not in cat_map:
            raise ValueError(f'annotation {ann.get("id")}: unknown category '
                             f'id {cid}')
        objects.append(
            CocoObject(cat_map[cid], float(ann.get('area',
                                                   0.0)), int(ann['id']),
                       bool(ann.get('iscrowd', 0)), ann['segmentation']))
    return objects


def segmentation_to_mask(segmentation, height: int, width: int,
                         name: str) -> Tuple[np.ndarray, int]:
    """Rasterise a COCO segmentation (polygons or RLE) with pycocotools.

    Args:
        segmentation (list | dict): Polygons ``[[x0, y0, ...], ...]``,
            uncompressed RLE ``{'size': [h, w], 'counts': [...]}`` or
            compressed RLE (``counts`` a string).
        height (int): Image height.
        width (int): Image width.
        name (str): What to call it in errors.

    Returns:
        tuple[np.ndarray, int]: (H, W) bool mask and the number of polygons
        dropped for having fewer than 3 points.

    Raises:
        ValueError: RLE of another size, or an unknown format.
    """
    api = _mask_api()
    if isinstance(segmentation, list):
        polygons = [[float(v) for v in p] for p in segmentation
                    if len(p) >= 6 and len(p) % 2 == 0]
        dropped = len(segmentation) - len(polygons)
        if not polygons:
            return np.zeros((height, width), dtype=bool), dropped
        rle = api.merge(api.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and 'counts' in segmentation:
        size = [int(v) for v in segmentation.get('size', ())]
        if size != [height, width]:
            raise ValueError(f'{name}: RLE size {size} but the image is '
                             f'[{height}, {width}] (height, width)')
        counts = segmentation['counts']
        if isinstance(counts, list):
            rle = api.frPyObjects(segmentation, height, width)
        else:
            rle = dict(size=size,
                       counts=counts.encode('ascii') if isinstance(
                           counts, str) else counts)
        dropped = 0
    else:
        raise ValueError(f'{name}: segmentation is neither polygons nor RLE '
                         f'({type(segmentation).__name__})')
    return api.decode(rle).astype(bool), dropped


def render_semantic_mask(height: int,
                         width: int,
                         objects: Sequence[CocoObject],
                         crowd: str = 'class') -> Tuple[np.ndarray, int]:
    """Render one image's objects as a semantic mask.

    Objects are painted largest ``area`` first, so smaller ones end on top;
    equal areas put the lower annotation id on top. With ``crowd='ignore'``
    crowd regions are painted 255 first, under every non-crowd object.

    Args:
        height (int): Image height.
        width (int): Image width.
        objects (Sequence[CocoObject]): The image's objects.
        crowd (str): ``'class'`` or ``'ignore'``. Defaults to 'class'.

    Returns:
        tuple[np.ndarray, int]: (H, W) uint8 mask (0 background, 1..80,
        255) and the number of dropped degenerate polygons.
    """
    if crowd not in CROWD_MODES:
        raise ValueError(f'crowd must be one of {CROWD_MODES}, got {crowd!r}')
    mask = np.zeros((height, width), dtype=np.uint8)
    dropped = 0
    order = sorted(objects, key=lambda o: (-o.area, -o.ann_id))
    if crowd == 'ignore':
        layers = [(o, IGNORE_INDEX) for o in order if o.iscrowd]
        layers += [(o, o.label) for o in order if not o.iscrowd]
    else:
        layers = [(o, o.label) for o in order]
    for obj, value in layers:
        region, n = segmentation_to_mask(obj.segmentation, height, width,
                                         f'annotation {obj.ann_id}')
        dropped += n
        mask[region] = value
    return mask, dropped


class ImageTask(NamedTuple):
    """Work for one image (picklable, sent to a worker process)."""

    img_id: str
    height: int
    width: int
    objects: Tuple[CocoObject, ...]
    mask_path: str
    img_path: Optional[str]
    crowd: str
    overwrite: bool


class ImageResult(NamedTuple):
    """What a worker returns for one image."""

    img_id: str
    status: str  # 'rendered', 'kept' or 'failed'
    class_ids: Tuple[int, ...]
    problems: Tuple[str, ...]
    partial: Tuple[str, ...]
    dropped_polygons: int
    seconds: float


def process_image(task: ImageTask) -> ImageResult:
    """Render (or keep) one image's mask and return its labels.

    Args:
        task (ImageTask): The image.

    Returns:
        ImageResult: Status, classes present, problems (broken input),
        partial-input notes (missing image) and time.
    """
    start = time.perf_counter()
    problems, partial = [], []
    if task.img_path is not None:
        try:
            size = read_image_size(task.img_path)
            if size != (task.width, task.height):
                problems.append(
                    f'{task.img_path}: image is {size[0]}x{size[1]} but the '
                    f'json says {task.width}x{task.height} (WxH)')
        except FileNotFoundError:
            partial.append(f'image missing: {task.img_path}')
        except ValueError as e:
            problems.append(str(e))
    mask, status, dropped = None, 'rendered', 0
    if not task.overwrite and png_is_complete(task.mask_path):
        try:
            kept, _ = read_index_png(task.mask_path)
            if kept.shape == (task.height, task.width):
                mask, status = kept, 'kept'
        except ValueError:
            pass
    if mask is None:
        try:
            mask, dropped = render_semantic_mask(task.height, task.width,
                                                 task.objects, task.crowd)
        except ValueError as e:
            problems.append(f'{task.img_id}: {e}')
    if problems:
        return ImageResult(task.img_id, 'failed', (), tuple(problems),
                           tuple(partial), dropped,
                           time.perf_counter() - start)
    if status == 'rendered':
        write_mask_png(task.mask_path, mask)
    values = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    class_ids = tuple(int(v) for v in values if 1 <= v <= NUM_COCO_CLASSES)
    return ImageResult(task.img_id, status, class_ids, (), tuple(partial),
                       dropped,
                       time.perf_counter() - start)


def load_instances(path: str) -> dict:
    """Load an ``instances_*.json`` file and check its top-level keys.

    Args:
        path (str): The json.

    Returns:
        dict: The parsed file.

    Raises:
        FileNotFoundError: It does not exist.
        ValueError: Not json, or missing ``images`` / ``annotations`` /
            ``categories``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'COCO annotation file not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: not valid json ({e})') from None
    missing = [
        k for k in ('images', 'annotations', 'categories') if k not in data
    ]
    if missing:
        raise ValueError(f'{path}: no {missing}; expected a COCO instances '
                         'file')
    return data


def _split_tasks(data: dict, source: str, split: str, out_dir: str,
                 img_root: Optional[str], crowd: str,
                 overwrite: bool) -> List[ImageTask]:
    """One :class:`ImageTask` per image of an instances file."""
    cat_map = category_map(data['categories'], source)
    by_image: Dict[int, List[dict]] = {}
    for ann in data['annotations']:
        by_image.setdefault(int(ann['image_id']), []).append(ann)
    images, stems = {}, set()
    for img in data['images']:
        img_id = int(img['id'])
        stem = osp.splitext(osp.basename(img['file_name']))[0]
        if img_id in images or stem in stems:
            raise ValueError(f'{source}: image id {img_id} / file '
                             f'{img["file_name"]} listed twice')
        images[img_id] = img
        stems.add(stem)
    orphans = sorted(set(by_image) - set(images))
    if orphans:
        raise ValueError(f'{source}: annotations refer to image ids not in '
                         f'"images": {orphans[:10]}')
    mask_dir = osp.join(out_dir, MASK_DIR, split)
    tasks = []
    for img_id, img in sorted(images.items(),
                              key=lambda kv: kv[1]['file_name']):
        stem = osp.splitext(osp.basename(img['file_name']))[0]
        try:
            objects = coco_objects(by_image.get(img_id, ()), cat_map)
        except ValueError as e:
            raise ValueError(f'{source}: image {stem}: {e}') from None
        tasks.append(
            ImageTask(
                stem, int(img['height']), int(img['width']), tuple(objects),
                osp.join(mask_dir, stem + '.png'),
                osp.join(img_root, split, img['file_name'])
                if img_root else None, crowd, overwrite))
    return tasks


def _run_tasks(tasks: Sequence[ImageTask], workers: int,
               log: Log) -> List[ImageResult]:
    """Process tasks in this process (workers=1) or a process pool."""
    results = []
    step = max(len(tasks) // 20, 1)
    if workers <= 1:
        iterator = map(process_image, tasks)
        pool = None
    else:
        pool = multiprocessing.get_context().Pool(workers)
        chunk = max(1, min(64, len(tasks) // (workers * 8) or 1))
        iterator = pool.imap_unordered(process_image, tasks, chunksize=chunk)
    try:
        for i, result in enumerate(iterator, start=1):
            results.append(result)
            if log and (i % step == 0 or i == len(tasks)):
                log(f'  {i}/{len(tasks)} images')
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results


def prepare_coco(ann_dir: str,
                 out_dir: str,
                 *,
                 img_root: Optional[str] = None,
                 splits: Sequence[str] = ('train2014', 'val2014'),
                 crowd: str = 'class',
                 workers: int = 1,
                 allow_partial: bool = False,
                 overwrite: bool = False,
                 expected: Optional[Dict[str, int]] = None,
                 log: Log = None) -> PrepareReport:
    """Render COCO 2014 semantic masks and write lists and labels.

    For each split ``S`` (e.g. ``train2014``) reads
    ``<ann_dir>/instances_S.json`` and writes
    ``<out_dir>/SegmentationClass/S/<id>.png`` (VOC-palette PNGs, 0..80 and
    255), ``<out_dir>/ImageSets/Segmentation/<S without 2014>.txt`` (the
    images with at least one class) and rows of
    ``ImageSets/Segmentation/image_labels.tsv`` (every image, split
    ``train`` / ``val``; rows of splits not prepared now are kept). With
    ``img_root``, links ``<out_dir>/JPEGImages/S`` to ``<img_root>/S`` and
    checks each image's size against the json. Ids are the file stems,
    e.g. ``COCO_train2014_000000000009``.

    Args:
        ann_dir (str): Folder of ``instances_<split>.json``.
        out_dir (str): Output root.
        img_root (str, optional): Folder holding ``train2014/`` and
            ``val2014/`` images. Defaults to None (no image checks, no
            links).
        splits (Sequence[str]): Splits to prepare. Defaults to
            ``('train2014', 'val2014')``.
        crowd (str): Crowd regions as their ``'class'`` or ``'ignore'``
            (255). Defaults to 'class'.
        workers (int): Processes (1 = this process). Defaults to 1.
        allow_partial (bool): Accept unusual image counts and missing image
            files (warn) instead of raising. Defaults to False.
        overwrite (bool): Re-render finished masks. Defaults to False.
        expected (dict, optional): Expected image count per split. Defaults
            to None (:data:`EXPECTED_IMAGES`).
        log (Callable, optional): Progress printer. Defaults to None.

    Returns:
        PrepareReport: Counts, warnings, time and ms per image.

    Raises:
        PrepareError: Broken inputs (RLE or image sizes that disagree with
            the json), or partial ones without ``allow_partial``. Finished
            masks stay, so a rerun resumes.
        ValueError: Bad arguments, or an instances file that is not COCO
            2014 (categories, duplicate or orphan ids).
    """
    if crowd not in CROWD_MODES:
        raise ValueError(f'crowd must be one of {CROWD_MODES}, got {crowd!r}')
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    if not splits:
        raise ValueError('splits must name at least one split')
    expected = EXPECTED_IMAGES if expected is None else expected
    _mask_api()  # fail before any work when pycocotools is missing
    _check_settings(out_dir, crowd, overwrite)
    start = time.perf_counter()
    report = PrepareReport(f'MS COCO 2014 (crowd={crowd})', out_dir)
    partial: List[str] = []
    rows: List[dict] = []
    lists: Dict[str, List[str]] = {}
    render_times: List[float] = []
    for split in splits:
        source = osp.join(ann_dir, f'instances_{split}.json')
        if log:
            log(f'reading {source}')
        tasks = _split_tasks(load_instances(source), source, split, out_dir,
                             img_root, crowd, overwrite)
        want = expected.get(split)
        if want is not None and len(tasks) != want:
            partial.append(f'{source}: {len(tasks)} images, expected {want}')
        os.makedirs(osp.join(out_dir, MASK_DIR, split), exist_ok=True)
        if img_root:
            if not osp.isdir(osp.join(img_root, split)):
                raise FileNotFoundError(f'image folder not found: '
                                        f'{osp.join(img_root, split)}')
            message = relink(osp.join(out_dir, IMG_DIR, split),
                             osp.join(img_root, split))
            if message:
                report.warn(message)
        if log:
            log(f'rendering {len(tasks)} {split} masks with {workers} '
                'process(es)')
        results = _run_tasks(tasks, workers, log)
        short = split_name(split)
        sizes = {t.img_id: (t.width, t.height) for t in tasks}
        lists[short] = []
        for res in sorted(results, key=lambda r: r.img_id):
            report.problems.extend(res.problems)
            partial.extend(res.partial)
            _add(report.counts, f'{short}_masks_{res.status}')
            _add(report.counts, 'degenerate_polygons_dropped',
                 res.dropped_polygons)
            if res.status == 'rendered':
                render_times.append(res.seconds)
            if res.status == 'failed' or res.partial:
                continue
            width, height = sizes[res.img_id]
            rows.append(
                dict(id=res.img_id,
                     split=short,
                     width=width,
                     height=height,
                     class_ids=list(res.class_ids)))
            if res.class_ids:
                lists[short].append(res.img_id)
        report.counts[f'{short}_images'] = len(tasks)
        report.counts[f'{short}_images_with_labels'] = len(lists[short])
        report.counts[f'{short}_crowd_objects'] = sum(o.iscrowd for t in tasks
                                                      for o in t.objects)
    if render_times:
        report.timings['mean time per rendered mask'] = float(
            np.mean(render_times))
    report.seconds = time.perf_counter() - start
    report.raise_if_problems('Fix these inputs and rerun; finished masks '
                             'are kept.')
    if partial:
        if not allow_partial:
            report.problems.extend(partial)
            report.raise_if_problems(
                'The inputs look partial. Rerun with allow_partial '
                '(--allow-partial) to write lists of the complete images.')
        for message in partial:
            report.warn(f'partial input: {message}')
    for short, ids in lists.items():
        atomic_write_text(osp.join(out_dir, LIST_DIR, short + '.txt'),
                          format_id_list(ids))
    _write_labels(out_dir, rows, set(lists))
    report.seconds = time.perf_counter() - start
    return report


def _check_settings(out_dir: str, crowd: str, overwrite: bool) -> None:
    """Refuse to mix masks rendered with another crowd mode.

    The mode is stored in ``<out_dir>/SegmentationClass/prepare_coco.json``;
    a rerun with another mode must pass ``overwrite`` (re-render all).
    """
    path = osp.join(out_dir, MASK_DIR, SETTINGS_FILE)
    if osp.isfile(path) and not overwrite:
        with open(path, encoding='utf-8') as f:
            before = json.load(f).get('crowd')
        if before != crowd:
            raise ValueError(
                f'{out_dir} holds masks rendered with crowd={before!r}; '
                f'use overwrite (--overwrite) to re-render them with '
                f'crowd={crowd!r}, or another output folder')
    atomic_write_text(path, json.dumps(dict(crowd=crowd)) + '\n')


def split_name(split: str) -> str:
    """The list / label-table name of a split: ``'train2014'`` -> ``'train'``.

    Args:
        split (str): A COCO split, e.g. ``'val2014'``.

    Returns:
        str: The name without the trailing year.
    """
    return split[:-4] if split.endswith('2014') else split


def _add(counts: Dict[str, int], key: str, n: int = 1) -> None:
    """Add ``n`` to ``counts[key]`` (keys appear only once non-zero)."""
    if n:
        counts[key] = counts.get(key, 0) + n


def _write_labels(out_dir: str, rows: List[dict], splits: set) -> None:
    """Write the label table, keeping rows of splits not prepared now."""
    path = osp.join(out_dir, LABEL_FILE)
    kept = []
    if osp.isfile(path):
        kept = [r for r in read_label_rows(path) if r['split'] not in splits]
    merged = sorted(kept + rows, key=lambda r: (r['split'], r['id']))
    atomic_write_text(path, format_label_rows(merged, COCO14_CLASSES))
