"""Writer of the synthetic demo data set in VOC layout.

Layout of ``out_dir``::

    JPEGImages/<id>.jpg                      photos (RGB, 128..192 px a side)
    SegmentationClass/<id>.png               palette masks 0..C, 255 = void
    ImageSets/Segmentation/train.txt         id lists
    ImageSets/Segmentation/val.txt
    ImageSets/Segmentation/image_labels.tsv  id split width height classes
                                             class_ids (voc12-mini format)
    scenes.jsonl                             per image: objects, sub-types,
                                             boxes, parts, contexts
    dataset_card.json                        parameters, classes, statistics;
                                             written last = completion marker

The content is a pure function of the arguments (byte-identical reruns).
"""
import json
import os
import re
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .files import (atomic_write_bytes, encode_jpeg, encode_palette_png,
                    label_table_row, mask_class_ids, remove_temp_files,
                    sync_all, write_id_list, write_label_table)
from .metainfo import (DEMO_CLASSES, DEMO_CONTEXTS, DEMO_METAINFO, DEMO_PARTS,
                       DEMO_SUBTYPES)
from .render import RenderConfig, render_scene
from .scene import sample_scenes
from .stats import demo_statistics

#: Bump when the drawing changes: folders of an older version are redrawn
#: (without ``overwrite``), never taken as complete.
GENERATOR_VERSION = 2
CARD_NAME = 'dataset_card.json'
PROGRESS_NAME = '.demo_incomplete'
SCENES_NAME = 'scenes.jsonl'
IMG_DIR, MASK_DIR = 'JPEGImages', 'SegmentationClass'
SET_DIR = os.path.join('ImageSets', 'Segmentation')
LABEL_TABLE = os.path.join(SET_DIR, 'image_labels.tsv')
SPLITS = ('train', 'val')
_ID_PATTERN = re.compile(r'^demo_(train|val)_\d{5}\.(jpg|png)$')


def demo_image_id(split: str, index: int) -> str:
    """The id of the ``index``-th image of a split, e.g. 'demo_train_00007'.

    Args:
        split (str): 'train' or 'val'.
        index (int): Position in the split.

    Returns:
        str: The image id.
    """
    return f'demo_{split}_{index:05d}'


def _check_range(name: str, value: Sequence[int], low: int) -> None:
    if (len(value) != 2 or int(value[0]) != value[0]
            or int(value[1]) != value[1] or not low <= value[0] <= value[1]):
        raise ValueError(f'{name} must be two integers (min, max) with '
                         f'{low} <= min <= max, got {value!r}')


def _validate(num_train: int, num_val: int, seed: int, image_size,
              object_size, context_rate: float, lone_context_rate: float,
              void_radius: int, jpeg_quality: int) -> None:
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f'{name} must be an int >= 0, got {value!r}')
    if num_train + num_val == 0:
        raise ValueError('num_train + num_val must be > 0, got 0 images')
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f'seed must be an int >= 0, got {seed!r}')
    _check_range('image_size', image_size, 32)
    _check_range('object_size', object_size, 12)
    if object_size[1] > image_size[0] - 2:
        raise ValueError(f'object_size max {object_size[1]} must be smaller '
                         f'than the smallest image side {image_size[0]} - 2')
    for name, value in (('context_rate', context_rate),
                        ('lone_context_rate', lone_context_rate)):
        if not 0. <= value <= 1.:
            raise ValueError(f'{name} must be in [0, 1], got {value!r}')
    if not isinstance(void_radius, int) or not 0 <= void_radius <= 8:
        raise ValueError(f'void_radius must be an int in 0..8, got '
                         f'{void_radius!r}')
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in 1..100, got '
                         f'{jpeg_quality!r}')


def _expected_ids(num_train: int, num_val: int) -> Dict[str, List[str]]:
    return dict(train=[demo_image_id('train', i) for i in range(num_train)],
                val=[demo_image_id('val', i) for i in range(num_val)])


def _read_json(path: str):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_complete(out_dir: str, params: Dict,
                 ids: Dict[str, List[str]]) -> bool:
    """True when the folder holds a finished set made with ``params``."""
    card = _read_json(os.path.join(out_dir, CARD_NAME))
    if card is None or card.get('params') != params:
        return False
    if os.path.exists(os.path.join(out_dir, PROGRESS_NAME)):
        return False
    needed = [CARD_NAME, SCENES_NAME, LABEL_TABLE] + [
        os.path.join(SET_DIR, f'{s}.txt') for s in SPLITS
    ]
    for split_ids in ids.values():
        for i in split_ids:
            needed += [os.path.join(IMG_DIR, f'{i}.jpg'),
                       os.path.join(MASK_DIR, f'{i}.png')]
    if not all(os.path.isfile(os.path.join(out_dir, p)) for p in needed):
        return False
    for sub in (IMG_DIR, MASK_DIR, SET_DIR, ''):
        folder = os.path.join(out_dir, sub)
        if any('.tmp-' in n for n in os.listdir(folder)):
            return False
    return True


def _check_folder(out_dir: str, params: Dict, overwrite: bool) -> None:
    """Refuse folders that are not (unfinished) demo sets of these params."""
    if not os.path.exists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise NotADirectoryError(f'out_dir {out_dir} exists and is not a '
                                 f'folder')
    entries = os.listdir(out_dir)
    if not entries:
        return
    if CARD_NAME not in entries and PROGRESS_NAME not in entries:
        raise ValueError(
            f'out_dir {out_dir} is not empty and holds no demo data set '
            f'(neither {CARD_NAME} nor {PROGRESS_NAME} is there); choose an '
            f'empty or new folder')
    card = _read_json(os.path.join(out_dir, CARD_NAME))
    old = None if card is None else card.get('params')
    diff = [] if old is None else sorted(
        k for k in set(old) | set(params) if old.get(k) != params.get(k))
    if diff and diff != ['generator_version'] and not overwrite:
        raise ValueError(
            f'out_dir {out_dir} holds a demo data set generated with other '
            f'parameters (differing: {diff}; old '
            f'{ {k: old.get(k) for k in diff} }, new '
            f'{ {k: params.get(k) for k in diff} }); pass overwrite=True '
            f'(--overwrite) to replace it')


def _remove_stale(out_dir: str, ids: Dict[str, List[str]]) -> None:
    """Delete demo images of a previous, larger run that are not in ``ids``."""
    keep = {i for split_ids in ids.values() for i in split_ids}
    for sub in (IMG_DIR, MASK_DIR):
        folder = os.path.join(out_dir, sub)
        for name in os.listdir(folder):
            if _ID_PATTERN.match(name) and name.rsplit('.', 1)[0] not in keep:
                os.remove(os.path.join(folder, name))


def _card(params: Dict, stats: Dict, split_stats: Dict) -> Dict:
    return dict(
        name='mmcpal synthetic WSSS demo set',
        description=(
            'Procedurally drawn VOC-layout images for weakly-supervised '
            'segmentation. Each class stands on its own background context '
            '(co-occurrence), comes in visually different sub-types '
            '(intra-class variation) and carries a small discriminative '
            'marking (part): a CAM baseline activates on the part and the '
            'context. Contexts are background (0) in the masks; 255 marks a '
            'void band on object outlines.'),
        license='Generated data, no third-party content.',
        params=params,
        metainfo=dict(classes=list(DEMO_METAINFO['classes']),
                      palette=DEMO_METAINFO['palette']),
        contexts={c: x for c, x in zip(DEMO_CLASSES[1:], DEMO_CONTEXTS)},
        subtypes={c: list(s) for c, s in DEMO_SUBTYPES.items()},
        parts={c: dict(shape=p[0], colours=[list(p[1]), list(p[2])])
               for c, p in DEMO_PARTS.items()},
        layout=dict(images=IMG_DIR, masks=MASK_DIR, splits=SET_DIR,
                    label_file=LABEL_TABLE, scenes=SCENES_NAME),
        statistics=stats,
        split_statistics=split_stats,
    )


def _summary(out_dir: str, card: Dict, generated: bool) -> Dict:
    stats = card['statistics']
    return dict(
        out_dir=os.path.abspath(out_dir),
        generated=generated,
        num_train=card['params']['num_train'],
        num_val=card['params']['num_val'],
        seed=card['params']['seed'],
        classes=card['metainfo']['classes'],
        num_objects=stats['overall']['objects'],
        context_alone_rate=stats['overall']['context_alone_rate'],
        context_cooccurrence={
            name: stats['classes'][name]['context_cooccurrence']
            for name in card['metainfo']['classes'][1:]
        },
        card=os.path.join(os.path.abspath(out_dir), CARD_NAME),
    )


def _write_split(out_dir: str, split: str, split_ids: List[str],
                 rng_seed: Tuple[int, int], params: Dict,
                 cfg: RenderConfig) -> Tuple[List[Dict], List[str]]:
    """Draw and write one split; returns its scene records and tsv rows."""
    scenes = sample_scenes(np.random.default_rng(list(rng_seed)),
                           len(split_ids), len(DEMO_CLASSES) - 1,
                           params['context_rate'],
                           params['lone_context_rate'])
    records, rows = [], []
    for img_id, spec in zip(split_ids, scenes):
        img, mask, record = render_scene(spec, cfg)
        atomic_write_bytes(os.path.join(out_dir, IMG_DIR, f'{img_id}.jpg'),
                           encode_jpeg(img, params['jpeg_quality']),
                           fsync=False)
        atomic_write_bytes(os.path.join(out_dir, MASK_DIR, f'{img_id}.png'),
                           encode_palette_png(mask), fsync=False)
        class_ids = mask_class_ids(mask, len(DEMO_CLASSES) - 1)
        rows.append(label_table_row(img_id, split, record['width'],
                                    record['height'], class_ids,
                                    DEMO_CLASSES))
        records.append(dict(id=img_id, split=split, **record))
    return records, rows


def generate_demo_dataset(out_dir: str,
                          num_train: int = 200,
                          num_val: int = 60,
                          seed: int = 0,
                          *,
                          overwrite: bool = False,
                          image_size: Tuple[int, int] = (128, 192),
                          object_size: Tuple[int, int] = (30, 90),
                          context_rate: float = 0.85,
                          lone_context_rate: float = 0.05,
                          void_radius: int = 2,
                          jpeg_quality: int = 90) -> Dict:
    """Generate the synthetic demo set (idempotent, resumable).

    A complete folder made with the same arguments is left alone. A folder
    left half-written by a killed run (no card, or the in-progress marker
    still there, missing files or temporary files) is redone; the result is
    byte-identical to an uninterrupted run.

    Args:
        out_dir (str): Output folder (created; must be new, empty or a demo
            set folder).
        num_train (int): Training images. Defaults to 200.
        num_val (int): Validation images. Defaults to 60.
        seed (int): Seed of everything drawn. Defaults to 0.
        overwrite (bool): Regenerate even when complete, and replace a demo
            set made with other arguments. Defaults to False.
        image_size (tuple[int, int]): Range of image height and width.
            Defaults to (128, 192).
        object_size (tuple[int, int]): Range of an object's long side
            (drawn log-uniformly; about 3x). Defaults to (30, 90).
        context_rate (float): Share of each class's objects drawn on the
            class's context. Defaults to 0.85.
        lone_context_rate (float): Share of images showing a context whose
            class is absent. Defaults to 0.05.
        void_radius (int): Half-width of the 255 band on object outlines.
            Defaults to 2.
        jpeg_quality (int): JPEG quality. Defaults to 90.

    Returns:
        dict: Summary: ``out_dir``, ``generated`` (False when the folder was
        already complete), ``num_train``, ``num_val``, ``seed``, ``classes``,
        ``num_objects``, ``context_alone_rate``, ``context_cooccurrence`` per
        class, ``card`` (path of ``dataset_card.json``) and ``seconds``.
    """
    start = time.perf_counter()
    _validate(num_train, num_val, seed, image_size, object_size,
              context_rate, lone_context_rate, void_radius, jpeg_quality)
    params = dict(generator_version=GENERATOR_VERSION, num_train=num_train,
                  num_val=num_val, seed=seed, image_size=list(image_size),
                  object_size=list(object_size),
                  context_rate=float(context_rate),
                  lone_context_rate=float(lone_context_rate),
                  void_radius=void_radius, jpeg_quality=int(jpeg_quality))
    ids = _expected_ids(num_train, num_val)
    _check_folder(out_dir, params, overwrite)
    if not overwrite and os.path.isdir(out_dir) and _is_complete(
            out_dir, params, ids):
        card = _read_json(os.path.join(out_dir, CARD_NAME))
        return dict(_summary(out_dir, card, generated=False),
                    seconds=round(time.perf_counter() - start, 3))

    for sub in ('', IMG_DIR, MASK_DIR, SET_DIR):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    atomic_write_bytes(os.path.join(out_dir, PROGRESS_NAME),
                       json.dumps(params, sort_keys=True).encode())
    if os.path.exists(os.path.join(out_dir, CARD_NAME)):
        os.remove(os.path.join(out_dir, CARD_NAME))
    remove_temp_files([os.path.join(out_dir, s)
                       for s in ('', IMG_DIR, MASK_DIR, SET_DIR)])
    _remove_stale(out_dir, ids)

    cfg = RenderConfig(image_size=tuple(image_size),
                       object_size=tuple(object_size),
                       void_radius=void_radius)
    records, rows = [], []
    for split_index, split in enumerate(SPLITS):
        r, t = _write_split(out_dir, split, ids[split], (seed, split_index),
                            params, cfg)
        records += r
        rows += t
        write_id_list(os.path.join(out_dir, SET_DIR, f'{split}.txt'),
                      ids[split])
    write_label_table(os.path.join(out_dir, LABEL_TABLE), rows)
    atomic_write_bytes(
        os.path.join(out_dir, SCENES_NAME),
        ''.join(json.dumps(r, sort_keys=True) + '\n'
                for r in records).encode())
    split_stats = {
        s: demo_statistics([r for r in records if r['split'] == s])
        for s in SPLITS
    }
    card = _card(params, demo_statistics(records), split_stats)
    sync_all()  # every image on disk before the completion marker
    atomic_write_bytes(os.path.join(out_dir, CARD_NAME),
                       (json.dumps(card, indent=2, sort_keys=True) +
                        '\n').encode())
    os.remove(os.path.join(out_dir, PROGRESS_NAME))
    return dict(_summary(out_dir, card, generated=True),
                seconds=round(time.perf_counter() - start, 3))


def format_summary(summary: Dict) -> str:
    """A few human-readable lines describing a generation summary.

    Args:
        summary (dict): What :func:`generate_demo_dataset` returned.

    Returns:
        str: The text.
    """
    state = 'generated' if summary['generated'] else 'already complete'
    lines = [
        f"demo set {state}: {summary['out_dir']} "
        f"({summary['num_train']} train + {summary['num_val']} val images, "
        f"{summary['num_objects']} objects, seed {summary['seed']}, "
        f"{summary['seconds']:.1f} s)",
        'class       on its context (share of its images)',
    ]
    for name, rate in summary['context_cooccurrence'].items():
        lines.append(f'  {name:<10}{rate:6.1%}')
    lines.append(f"images with a context but not its class: "
                 f"{summary['context_alone_rate']:.1%}")
    lines.append(f"card: {summary['card']}")
    return '\n'.join(lines)
