"""Render MS COCO 2014 semantic masks and image-level labels.

Needs pycocotools (``pip install "mmcpal[coco]"``). From the official
``instances_{train,val}2014.json`` writes
``SegmentationClass/<split>/<id>.png`` (0 background, 1..80 the categories
in ascending id order, 255 ignore; smaller objects drawn over larger ones),
``ImageSets/Segmentation/{train,val}.txt`` and
``ImageSets/Segmentation/image_labels.tsv``. Resumable: finished masks
are kept. Parallel: ``--workers``.

Example::

    python tools/prepare_coco.py --ann-dir data/coco/annotations \
        --img-root data/coco --out data/coco2014 --workers 2
"""
import argparse
import json
import sys

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.datasets.prepare import PrepareError, prepare_coco  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='COCO 2014 instances -> 81-class semantic masks, id '
        'lists and image-level labels (no downloads)')
    parser.add_argument('--ann-dir',
                        required=True,
                        help='folder of instances_<split>.json')
    parser.add_argument('--out', required=True, help='output root')
    parser.add_argument('--img-root',
                        default=None,
                        help='folder holding train2014/ and val2014/ images '
                        '(checks sizes, links JPEGImages/<split>)')
    parser.add_argument('--splits',
                        nargs='+',
                        default=['train2014', 'val2014'],
                        help='splits to prepare (default: train2014 '
                        'val2014)')
    parser.add_argument('--crowd',
                        choices=['class', 'ignore'],
                        default='class',
                        help='crowd regions as their class (default, as '
                        'coco2voc) or as 255')
    parser.add_argument('--workers',
                        type=int,
                        default=1,
                        help='processes (default: 1)')
    parser.add_argument('--allow-partial',
                        action='store_true',
                        help='unusual image counts or missing images: warn '
                        'instead of failing')
    parser.add_argument('--overwrite',
                        action='store_true',
                        help='re-render masks that already exist')
    parser.add_argument('--json', help='also write the summary as JSON here')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = prepare_coco(args.ann_dir,
                              args.out,
                              img_root=args.img_root,
                              splits=args.splits,
                              crowd=args.crowd,
                              workers=args.workers,
                              allow_partial=args.allow_partial,
                              overwrite=args.overwrite,
                              log=print)
    except (PrepareError, FileNotFoundError, ValueError, ImportError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(report.format())
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report.to_dict(), f, indent=2)
        print(f'saved {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
