"""Score CAM seeds (threshold sweep) or PNG masks against ground truth.

Examples::

    python tools/eval_seeds.py --cam-dir work_dirs/cams \
        --data-root data/VOC2012
    python tools/eval_seeds.py --cam-dir work_dirs/cams \
        --data-root data/VOC2012 --cam-type pacam
    python tools/eval_seeds.py --mask-dir work_dirs/masks --data-root ... \
        --pred-ignore exclude --json out.json

Prints the protocol and the table (markdown); ``--json`` saves
``{"protocol", "best", "curve", "per_class", "confusion"}``.
"""
import argparse
import os.path as osp
import sys

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.evaluation import (  # noqa: E402
    DEFAULT_THRESHOLDS, evaluate_cam_dir, evaluate_masks, read_id_list)
from mmcpal.pseudo.cam_io import CAM_TYPES  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Seed mIoU of CAM files (background-threshold sweep) '
        'or mIoU of PNG masks, printed with its protocol')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--cam-dir', help='folder of <id>.npz CAM files')
    source.add_argument('--mask-dir', help='folder of <id>.png label masks')
    parser.add_argument('--data-root',
                        required=True,
                        help='dataset root (e.g. .../VOC2012)')
    parser.add_argument(
        '--split-file',
        default='ImageSets/Segmentation/train.txt',
        help='id list, relative to --data-root unless absolute')
    parser.add_argument(
        '--gt-dir',
        default='SegmentationClass',
        help='ground-truth PNG folder, relative to --data-root unless '
        'absolute')
    parser.add_argument('--num-classes',
                        type=int,
                        default=20,
                        help='number of foreground classes C')
    rule = parser.add_mutually_exclusive_group()
    rule.add_argument('--thresholds',
                      type=float,
                      nargs='+',
                      help='constant background scores to sweep (default: '
                      f'{" ".join(f"{t:g}" for t in DEFAULT_THRESHOLDS)})')
    rule.add_argument('--alpha',
                      type=float,
                      nargs='+',
                      help='sweep bg = (1 - max CAM) ** alpha instead')
    parser.add_argument('--cam-type',
                        choices=list(CAM_TYPES),
                        default='cam',
                        help="map of the CAM files to score: 'cam' "
                        "(default), 'pacam' or 'fused' (mean of CAM and "
                        'PACAM); --cam-dir only')
    parser.add_argument('--pred-ignore',
                        choices=['wrong', 'exclude'],
                        default='wrong',
                        help='255 in predictions: wrong (default) or '
                        'excluded with coverage reported')
    parser.add_argument('--on-missing',
                        choices=['skip', 'error', 'background'],
                        default='skip',
                        help='missing prediction: skip and report '
                        '(default), fail, or score as all background')
    parser.add_argument('--crf',
                        action='store_true',
                        help='record in the protocol that the maps were '
                        'CRF-refined')
    parser.add_argument('--json', help='also write the result as JSON here')
    parser.add_argument('--no-per-class',
                        action='store_true',
                        help='omit the per-class table from the print-out')
    return parser.parse_args(argv)


def _under_root(root: str, path: str) -> str:
    return path if osp.isabs(path) else osp.join(root, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    split_file = _under_root(args.data_root, args.split_file)
    gt_dir = _under_root(args.data_root, args.gt_dir)
    ids = read_id_list(split_file)
    common = dict(pred_ignore=args.pred_ignore,
                  on_missing=args.on_missing,
                  split=args.split_file,
                  crf=args.crf)
    if args.cam_dir:
        result = evaluate_cam_dir(args.cam_dir,
                                  gt_dir,
                                  ids,
                                  args.num_classes,
                                  thresholds=args.thresholds,
                                  alphas=args.alpha,
                                  cam_type=args.cam_type,
                                  **common)
    else:
        if args.thresholds or args.alpha:
            print('--thresholds/--alpha apply to --cam-dir only',
                  file=sys.stderr)
            return 2
        result = evaluate_masks(args.mask_dir, gt_dir, ids, args.num_classes,
                                **common)
    print(result.to_markdown(per_class=not args.no_per_class))
    if args.json:
        result.save_json(args.json)
        print(f'saved {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
