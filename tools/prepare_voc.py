"""Build the augmented PASCAL VOC 2012 set from files you already have.

Inputs are the official archives or their extracted folders:
``VOCtrainval_11-May-2012.tar`` and SBD's ``benchmark.tgz``. Writes
``SegmentationClassAug`` (SBD masks where VOC has none, VOC's otherwise),
``ImageSets/Segmentation/train_aug.txt`` (10,582 ids) and
``ImageSets/Segmentation/image_labels.tsv`` (train_aug + val). Reruns skip
finished masks.

Examples::

    python tools/prepare_voc.py --voc data/VOCdevkit \
        --sbd data/benchmark_RELEASE
    python tools/prepare_voc.py --voc VOCtrainval_11-May-2012.tar \
        --sbd benchmark.tgz --out data/VOCdevkit/VOC2012 --json summary.json
"""
import argparse
import json
import sys

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.datasets.prepare import PrepareError, prepare_voc  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='PASCAL VOC 2012 + SBD -> SegmentationClassAug, '
        'train_aug list and image-level labels (no downloads)')
    parser.add_argument('--voc',
                        required=True,
                        help='VOCtrainval_11-May-2012.tar or the extracted '
                        'VOCdevkit (or VOCdevkit/VOC2012) folder')
    parser.add_argument('--sbd',
                        required=True,
                        help='benchmark.tgz or the extracted '
                        'benchmark_RELEASE folder')
    parser.add_argument('--out',
                        default=None,
                        help='output VOC2012 folder (required for an '
                        'archive; default: the VOC2012 folder itself)')
    parser.add_argument('--label-source',
                        choices=['xml', 'mask'],
                        default='xml',
                        help="image-level labels from the XML annotations "
                        "(IRN, default) or from the masks' classes")
    parser.add_argument('--allow-partial',
                        action='store_true',
                        help='incomplete inputs: warn and list the complete '
                        'ids instead of failing')
    parser.add_argument('--overwrite',
                        action='store_true',
                        help='rewrite masks that already exist')
    parser.add_argument('--json', help='also write the summary as JSON here')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = prepare_voc(args.voc,
                             args.sbd,
                             args.out,
                             label_source=args.label_source,
                             allow_partial=args.allow_partial,
                             overwrite=args.overwrite,
                             log=print)
    except (PrepareError, FileNotFoundError, ValueError) as e:
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
