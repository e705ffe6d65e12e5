"""Check a VOC-layout folder of masks (ground truth or pseudo masks).

Reports colour (RGB) masks, JPEG masks, values outside 0..C and 255, non-VOC
palettes, ids without image or mask, unlisted masks, size mismatches and
label statistics (class frequencies, mean classes per image, foreground
fraction, masks that are all background or all 255). Exit status 1 when
errors are found.

Examples::

    python tools/check_dataset.py data/VOCdevkit/VOC2012 \
        --split-file ImageSets/Segmentation/train_aug.txt
    python tools/check_dataset.py data/VOCdevkit/VOC2012 \
        --mask-dir work_dirs/pseudo_masks --split-file \
        ImageSets/Segmentation/train_aug.txt --label-file \
        ImageSets/Segmentation/image_labels.tsv --json check.json
    python tools/check_dataset.py data/coco2014 --classes coco14 \
        --img-dir JPEGImages/val2014 --mask-dir SegmentationClass/val2014 \
        --split-file ImageSets/Segmentation/val.txt
"""
import argparse
import json
import sys

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.datasets.coco import COCO14_CLASSES  # noqa: E402
from mmcpal.datasets.prepare import (  # noqa: E402
    check_dataset, format_check_report)
from mmcpal.datasets.prepare.voc import VOC_CLASSES  # noqa: E402

CLASS_SETS = dict(voc=VOC_CLASSES, coco14=COCO14_CLASSES)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check masks of a VOC-layout data set and print label '
        'statistics')
    parser.add_argument('root', help='data set root (e.g. .../VOC2012)')
    parser.add_argument('--mask-dir',
                        default=None,
                        help='mask folder, relative to root unless absolute '
                        '(default: SegmentationClassAug, else '
                        'SegmentationClass)')
    parser.add_argument('--img-dir',
                        default='JPEGImages',
                        help='image folder (default: JPEGImages)')
    parser.add_argument('--split-file',
                        default=None,
                        help='id list to check (default: every mask file)')
    parser.add_argument('--label-file',
                        default=None,
                        help='image-label table to compare mask classes '
                        'with, e.g. ImageSets/Segmentation/image_labels.tsv')
    parser.add_argument('--classes',
                        choices=sorted(CLASS_SETS),
                        default='voc',
                        help='class names (default: voc)')
    parser.add_argument('--max-examples',
                        type=int,
                        default=5,
                        help='ids shown per finding (default: 5)')
    parser.add_argument('--json', help='also write the full report here')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = check_dataset(args.root,
                               mask_dir=args.mask_dir,
                               img_dir=args.img_dir,
                               split_file=args.split_file,
                               label_file=args.label_file,
                               class_names=CLASS_SETS[args.classes])
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(format_check_report(report, args.max_examples))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'saved {args.json}')
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
