"""Checks of a VOC-layout folder of label masks (ground truth or pseudo).

Finds what silently breaks WSSS training and evaluation: colour (RGB) masks
instead of palette indices, masks saved as JPEG, values outside 0..C and
255, palettes that are not VOC's, ids without image or mask, masks of no
listed id, masks whose size differs from their image, and masks without any
foreground (the classic cause of a model that predicts background only).
:func:`check_dataset` returns a JSON-serialisable dict;
:func:`format_check_report` renders it for people.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..label_sources import read_id_list, read_label_file
from ..voc import voc_palette

IGNORE_INDEX = 255
#: Mask folders tried, in order, when none is named.
MASK_DIR_CANDIDATES = ('SegmentationClassAug', 'SegmentationClass')
#: Suffixes of mask files that are not PNG (counted as JPEG / wrong format).
OTHER_MASK_SUFFIXES = ('.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.gif')
#: Above this fraction of masks without foreground, the verdict warns.
NO_FOREGROUND_WARN = 0.05
#: Below this fraction of foreground pixels, the verdict warns (VOC 2012
#: train ground truth is about 30 % foreground).
FOREGROUND_WARN = 0.05

ERROR_KINDS = ('missing_image', 'missing_mask', 'rgb_mask', 'jpeg_mask',
               'bad_mode', 'unreadable', 'out_of_range', 'size_mismatch')
WARNING_KINDS = ('wrong_palette', 'unlisted_mask', 'missing_label',
                 'mask_classes_not_in_labels', 'no_foreground')


def _resolve(root: str, path: Optional[str]) -> Optional[str]:
    if path is None or osp.isabs(path):
        return path
    return osp.join(root, path)


def _palette_codes() -> np.ndarray:
    """The 256 VOC colours as ``r << 16 | g << 8 | b`` ints."""
    pal = np.asarray(voc_palette(256), dtype=np.int64)
    return (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]


def _read_mask(path: str) -> Tuple[Optional[np.ndarray], Dict]:
    """Read a mask file; return its indices (or None) and what is wrong.

    Returns:
        tuple: ``(indices or None, finding)`` where ``finding`` holds
        ``kind`` (an error / warning kind or '') and a ``detail``.
    """
    try:
        with Image.open(path) as img:
            img.load()
            fmt, mode = img.format, img.mode
            palette = img.getpalette() if mode == 'P' else None
            pixels = np.array(img)
    except (OSError, SyntaxError, ValueError) as e:
        return None, dict(kind='unreadable',
                          detail=f'{type(e).__name__}: '
                          f'{e}')
    if fmt == 'JPEG':
        return None, dict(kind='jpeg_mask', detail='PNG name, JPEG content')
    if mode in ('RGB', 'RGBA'):
        rgb = pixels[..., :3].astype(np.int64)
        codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        share = float(np.isin(codes, _palette_codes()).mean())
        return None, dict(
            kind='rgb_mask',
            detail=f'{mode} colours ({share:.0%} of pixels are VOC palette '
            'colours): convert colours to class indices')
    if mode not in ('P', 'L'):
        return None, dict(kind='bad_mode',
                          detail=f'mode {mode!r}, expected P or L')
    finding = dict(kind='', detail='')
    if palette is not None:
        used = np.flatnonzero(np.bincount(pixels.ravel(), minlength=256))
        expected = np.asarray(voc_palette(256), dtype=np.int64)
        pal = np.zeros((256, 3), dtype=np.int64)
        given = np.asarray(palette, dtype=np.int64)[:768]
        pal.reshape(-1)[:given.size] = given
        wrong = [int(v) for v in used if (pal[v] != expected[v]).any()]
        if wrong:
            finding = dict(
                kind='wrong_palette',
                detail=f'colours of values {wrong[:10]} are not VOC '
                'colours (indices may still be right)')
    return pixels.astype(np.uint8, copy=False), finding


def _list_masks(mask_dir: str) -> Dict[str, List[str]]:
    """Stem -> file names of the mask folder."""
    files: Dict[str, List[str]] = {}
    for name in sorted(os.listdir(mask_dir)):
        stem, suffix = osp.splitext(name)
        if suffix.lower() in ('.png', ) + OTHER_MASK_SUFFIXES:
            files.setdefault(stem, []).append(name)
    return files


def check_dataset(root: str,
                  *,
                  mask_dir: Optional[str] = None,
                  img_dir: str = 'JPEGImages',
                  split_file: Optional[str] = None,
                  label_file: Optional[str] = None,
                  class_names: Sequence[str] = (),
                  img_suffix: str = '.jpg') -> dict:
    """Check a VOC-layout folder of masks and gather label statistics.

    Args:
        root (str): The data set root; relative paths below are under it.
        mask_dir (str, optional): Mask folder (``<id>.png``), e.g. a folder
            of pseudo masks. Defaults to None (the first existing of
            ``SegmentationClassAug``, ``SegmentationClass``).
        img_dir (str): Image folder. Defaults to 'JPEGImages'.
        split_file (str, optional): Id list to check. Defaults to None (the
            stems of the mask folder's files).
        label_file (str, optional): Image-label table to compare the masks'
            classes with. Defaults to None.
        class_names (Sequence[str]): The C foreground names (mask values
            1..C). Required.
        img_suffix (str): Image suffix. Defaults to '.jpg'.

    Returns:
        dict: ``paths``, ``counts``, ``errors`` and ``warnings`` (kind ->
        list of ids or ``{id, ...}`` dicts), ``stats``, ``verdict`` (list of
        sentences) and ``ok`` (no errors).

    Raises:
        FileNotFoundError: The root, mask folder or a named file is missing.
        ValueError: No class names.
    """
    if not class_names:
        raise ValueError('class_names must list the C foreground classes')
    names = list(class_names)
    num_classes = len(names)
    if not osp.isdir(root):
        raise FileNotFoundError(f'data set root not found: {root}')
    if mask_dir is None:
        found = [
            d for d in MASK_DIR_CANDIDATES if osp.isdir(osp.join(root, d))
        ]
        if not found:
            raise FileNotFoundError(f'{root}: no mask folder among '
                                    f'{MASK_DIR_CANDIDATES}; give mask_dir')
        mask_dir = found[0]
    mask_dir, img_dir = _resolve(root, mask_dir), _resolve(root, img_dir)
    if not osp.isdir(mask_dir):
        raise FileNotFoundError(f'mask folder not found: {mask_dir}')
    mask_files = _list_masks(mask_dir)
    split_file = _resolve(root, split_file)
    ids = read_id_list(split_file) if split_file else sorted(mask_files)
    labels = (read_label_file(_resolve(root, label_file), names)
              if label_file else None)

    errors: Dict[str, list] = {k: [] for k in ERROR_KINDS}
    warnings: Dict[str, list] = {k: [] for k in WARNING_KINDS}
    class_pixels = np.zeros(num_classes + 1, dtype=np.int64)
    class_images = np.zeros(num_classes + 1, dtype=np.int64)
    ignore_pixels = total_pixels = masks_read = num_present = 0
    all_background, all_ignore = [], []
    for img_id in ids:
        img_path = osp.join(img_dir, img_id + img_suffix)
        img_size = None
        if osp.isfile(img_path):
            try:
                with Image.open(img_path) as img:
                    img_size = img.size
            except (OSError, SyntaxError) as e:
                errors['unreadable'].append(
                    dict(id=img_id, file=img_path, detail=str(e)))
        else:
            errors['missing_image'].append(img_id)
        files = mask_files.get(img_id, [])
        if img_id + '.png' not in files:
            kind = 'jpeg_mask' if files else 'missing_mask'
            errors[kind].append(img_id if kind == 'missing_mask' else dict(
                id=img_id, detail=f'mask file {files[0]} is not a PNG'))
            continue
        mask, finding = _read_mask(osp.join(mask_dir, img_id + '.png'))
        if finding['kind'] in errors:
            errors[finding['kind']].append(
                dict(id=img_id, detail=finding['detail']))
            continue
        if finding['kind']:
            warnings[finding['kind']].append(
                dict(id=img_id, detail=finding['detail']))
        masks_read += 1
        if img_size is not None and mask.shape != img_size[::-1]:
            errors['size_mismatch'].append(
                dict(id=img_id,
                     mask=list(mask.shape[::-1]),
                     image=list(img_size)))
        hist = np.bincount(mask.ravel(), minlength=256)
        bad = [
            int(v) for v in np.flatnonzero(hist)
            if v > num_classes and v != IGNORE_INDEX
        ]
        if bad:
            errors['out_of_range'].append(dict(id=img_id, values=bad))
        class_pixels += hist[:num_classes + 1]
        ignore_pixels += int(hist[IGNORE_INDEX])
        total_pixels += int(mask.size)
        present = np.flatnonzero(hist[1:num_classes + 1]) + 1
        class_images[np.flatnonzero(hist[:num_classes + 1])] += 1
        num_present += len(present)
        if not len(present):
            (all_ignore if hist[IGNORE_INDEX] == mask.size else
             all_background).append(img_id)
        if labels is not None:
            if img_id not in labels:
                warnings['missing_label'].append(img_id)
            else:
                labelled = set((np.flatnonzero(labels[img_id]) + 1).tolist())
                extra = sorted(set(present.tolist()) - labelled)
                if extra:
                    warnings['mask_classes_not_in_labels'].append(
                        dict(id=img_id, classes=[names[c - 1] for c in extra]))
    if split_file:
        listed = set(ids)
        warnings['unlisted_mask'] = [
            name for stem, files in mask_files.items() if stem not in listed
            for name in files
        ]
    warnings['no_foreground'] = sorted(all_background + all_ignore)
    stats = _stats(names, class_pixels, class_images, ignore_pixels,
                   total_pixels, masks_read, num_present, all_background,
                   all_ignore)
    report = dict(paths=dict(root=root,
                             mask_dir=mask_dir,
                             img_dir=img_dir,
                             split_file=split_file,
                             label_file=label_file),
                  counts=dict(ids=len(ids),
                              mask_files=sum(map(len, mask_files.values())),
                              masks_read=masks_read,
                              num_classes=num_classes),
                  errors={
                      k: v
                      for k, v in errors.items() if v
                  },
                  warnings={
                      k: v
                      for k, v in warnings.items() if v
                  },
                  stats=stats)
    report['verdict'] = _verdict(report)
    report['ok'] = not report['errors']
    return report


def _stats(names: List[str], class_pixels: np.ndarray,
           class_images: np.ndarray, ignore_pixels: int, total_pixels: int,
           masks_read: int, num_present: int, all_background: List[str],
           all_ignore: List[str]) -> dict:
    """Label statistics over the masks read."""
    labelled = int(class_pixels.sum())
    return dict(
        class_images={
            n: int(c)
            for n, c in zip(['background'] + names, class_images)
        },
        class_pixel_fraction={
            n: float(c) / labelled if labelled else 0.0
            for n, c in zip(['background'] + names, class_pixels)
        },
        mean_classes_per_image=num_present / masks_read if masks_read else 0.0,
        foreground_fraction=float(class_pixels[1:].sum()) /
        labelled if labelled else 0.0,
        ignore_fraction=ignore_pixels / total_pixels if total_pixels else 0.0,
        all_background=len(all_background),
        all_ignore=len(all_ignore),
        absent_classes=[n for n, c in zip(names, class_images[1:]) if not c])


def _verdict(report: dict) -> List[str]:
    """Sentences on what the findings mean for training."""
    out = []
    errors, stats = report['errors'], report['stats']
    read = report['counts']['masks_read']
    if 'rgb_mask' in errors:
        out.append('Some masks are colour images: loaders read colours, not '
                   'class indices; save single-channel palette PNGs.')
    if 'jpeg_mask' in errors:
        out.append('Some masks are JPEG: compression invents values at '
                   'every edge; masks must be PNG.')
    if 'out_of_range' in errors:
        out.append('Values outside 0..C and 255 break the loss and the '
                   'metric (check --classes / the palette mapping).')
    no_fg = stats['all_background'] + stats['all_ignore']
    if read and no_fg / read > NO_FOREGROUND_WARN:
        out.append(f'{no_fg / read:.0%} of the masks have no foreground '
                   f'({stats["all_background"]} all background, '
                   f'{stats["all_ignore"]} all 255): a model trained on them '
                   'learns to predict background only.')
    if read and stats['foreground_fraction'] < FOREGROUND_WARN:
        out.append(f'Only {stats["foreground_fraction"]:.1%} of the labelled '
                   'pixels are foreground: expect a background-only model.')
    if read and stats['absent_classes']:
        out.append(f'{len(stats["absent_classes"])} class(es) never appear: '
                   f'{stats["absent_classes"][:10]}.')
    if 'mask_classes_not_in_labels' in report['warnings']:
        out.append('Some masks hold classes that their image-level labels '
                   'do not: pseudo masks leak classes.')
    if not out:
        out.append('No problems found.')
    return out


def _examples(items: list, limit: int) -> str:
    shown = [
        i['id'] if isinstance(i, dict) and 'id' in i else str(i)
        for i in items[:limit]
    ]
    more = f' and {len(items) - limit} more' if len(items) > limit else ''
    detail = ''
    if items and isinstance(items[0], dict):
        extra = {k: v for k, v in items[0].items() if k != 'id'}
        detail = f' (first: {extra})'
    return f'{", ".join(shown)}{more}{detail}'


def format_check_report(report: dict, max_examples: int = 5) -> str:
    """Render a :func:`check_dataset` report as text.

    Args:
        report (dict): The report.
        max_examples (int): Ids shown per finding. Defaults to 5.

    Returns:
        str: A multi-line report.
    """
    paths, counts, stats = report['paths'], report['counts'], report['stats']
    lines = [
        f'Data set check of {paths["root"]}',
        f'  masks   {paths["mask_dir"]} ({counts["masks_read"]} read, '
        f'{counts["mask_files"]} files)', f'  images  {paths["img_dir"]}',
        f'  ids     {counts["ids"]} from '
        f'{paths["split_file"] or "the mask folder"}'
    ]
    for title, group in (('ERRORS', report['errors']), ('WARNINGS',
                                                        report['warnings'])):
        if group:
            lines.append(f'{title}:')
            for kind, items in group.items():
                lines.append(f'  {kind}: {len(items)}: '
                             f'{_examples(items, max_examples)}')
    lines += [
        'Statistics:',
        f'  mean classes per image  {stats["mean_classes_per_image"]:.2f}',
        f'  foreground fraction     {stats["foreground_fraction"]:.1%} '
        '(of non-ignore pixels)',
        f'  ignore (255) fraction   {stats["ignore_fraction"]:.1%}',
        f'  all background          {stats["all_background"]}',
        f'  all 255                 {stats["all_ignore"]}',
        f'  {"class":<16}{"images":>8}{"pixels":>9}'
    ]
    for name, n in stats['class_images'].items():
        frac = stats['class_pixel_fraction'][name]
        lines.append(f'  {name:<16}{n:>8}{frac:>9.2%}')
    lines.append('Verdict:')
    lines += [f'  - {v}' for v in report['verdict']]
    lines.append('Result: ' + ('OK' if report['ok'] else
                               f'{sum(map(len, report["errors"].values()))} '
                               'error(s)'))
    return '\n'.join(lines)
