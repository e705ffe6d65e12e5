"""Generate the synthetic demo data set (VOC layout) with known answers.

Example:
    python tools/make_demo_data.py data/demo --num-train 200 --num-val 60
"""
import argparse

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.datasets.synthetic import (  # noqa: E402
    format_summary, generate_demo_dataset)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the synthetic WSSS demo set (JPEGImages, '
        'SegmentationClass, ImageSets/Segmentation) into OUT_DIR')
    parser.add_argument('out_dir', help='output folder (new, empty or an '
                        'earlier demo set)')
    parser.add_argument('--num-train', type=int, default=200,
                        help='training images (default 200)')
    parser.add_argument('--num-val', type=int, default=60,
                        help='validation images (default 60)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default 0)')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate even if OUT_DIR is complete or was '
                        'made with other arguments')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    summary = generate_demo_dataset(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed,
        overwrite=args.overwrite)
    print(format_summary(summary))


if __name__ == '__main__':
    main()
