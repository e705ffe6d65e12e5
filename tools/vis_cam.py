"""PNG grids of CAMs: image | CAM per class | seed | mask | GT, per row.

Example::

    python tools/vis_cam.py --cam-dir work_dirs/cams --data-root data/VOC2012 \
        --out-dir work_dirs/vis --num-images 12 --threshold 0.05
"""
import argparse
import os.path as osp
import sys

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.evaluation import read_id_list  # noqa: E402
from mmcpal.pseudo.cam_io import CAM_TYPES  # noqa: E402
from mmcpal.visualization import vis_cam_dir  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw CAM overlays, seeds, masks and GT as PNG grids')
    parser.add_argument('--cam-dir',
                        required=True,
                        help='folder of <id>.npz CAM files')
    parser.add_argument('--data-root',
                        required=True,
                        help='dataset root (e.g. .../VOC2012)')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--split-file',
        default='ImageSets/Segmentation/train.txt',
        help='id list, relative to --data-root unless absolute')
    parser.add_argument('--ids',
                        nargs='+',
                        help='image ids (instead of the split file)')
    parser.add_argument('--img-dir',
                        default='JPEGImages',
                        help='image folder under --data-root')
    parser.add_argument('--gt-dir',
                        default='SegmentationClass',
                        help="GT folder under --data-root ('' for none)")
    parser.add_argument('--mask-dir', help='optional folder of PNG masks')
    parser.add_argument('--cam-type',
                        choices=list(CAM_TYPES),
                        default='cam',
                        help="map to draw: 'cam' (default), 'pacam' or "
                        "'fused'")
    parser.add_argument('--threshold',
                        type=float,
                        default=0.05,
                        help='background score of the seed tile')
    parser.add_argument('--num-images',
                        type=int,
                        default=12,
                        help='draw at most this many images')
    parser.add_argument('--rows-per-png', type=int, default=6)
    parser.add_argument('--tile-height', type=int, default=160)
    names = parser.add_mutually_exclusive_group()
    names.add_argument('--config',
                       help="take the class names from this config's "
                       'training data set (e.g. the demo data\'s own names)')
    names.add_argument('--class-names',
                       nargs='+',
                       help='the C foreground class names, in label order')
    parser.add_argument('--num-classes',
                        type=int,
                        default=None,
                        help='C when neither --config nor --class-names is '
                        'given (default 20, the VOC names)')
    return parser.parse_args(argv)


def config_class_names(path: str) -> list:
    """Foreground class names of a config's training data set.

    The data set config's ``metainfo.classes`` if it sets them, else its
    class's ``METAINFO['classes']``; a leading 'background' is dropped.
    """
    from mmengine.registry import init_default_scope

    from mmcpal.apis import load_config
    from mmcpal.registry import DATASETS
    cfg = load_config(path)
    init_default_scope(cfg.get('default_scope', 'mmcpal'))
    data = cfg.train_dataloader.dataset
    classes = (data.get('metainfo') or {}).get('classes')
    if classes is None:
        cls = DATASETS.get(data.type)
        if cls is None or 'classes' not in getattr(cls, 'METAINFO', {}):
            raise SystemExit(f'vis_cam: {path}: the training data set '
                             f'{data.type!r} has no class names')
        classes = cls.METAINFO['classes']
    classes = list(classes)
    return classes[1:] if classes and classes[0] == 'background' else classes


def _under_root(root: str, path: str) -> str:
    return path if osp.isabs(path) else osp.join(root, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    ids = args.ids or read_id_list(_under_root(args.data_root,
                                               args.split_file))
    gt_dir = _under_root(args.data_root, args.gt_dir) if args.gt_dir else None
    names = args.class_names
    if args.config:
        names = config_class_names(args.config)
    num_classes = len(names) if names else (args.num_classes or 20)
    if names and args.num_classes not in (None, len(names)):
        raise SystemExit(f'vis_cam: --num-classes {args.num_classes} does '
                         f'not match the {len(names)} class names')
    paths = vis_cam_dir(args.cam_dir,
                        _under_root(args.data_root, args.img_dir),
                        ids[:args.num_images],
                        args.out_dir,
                        num_classes=num_classes,
                        class_names=names,
                        gt_dir=gt_dir,
                        mask_dir=args.mask_dir,
                        cam_type=args.cam_type,
                        threshold=args.threshold,
                        tile_height=args.tile_height,
                        rows_per_png=args.rows_per_png)
    for path in paths:
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
