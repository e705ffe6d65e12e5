"""Run the AMN route stage by stage: CAM -> IR labels -> AMN -> IR labels ->
IRN -> random-walk masks, and print the seed / mask mIoU table.

Each stage is skipped when its ``DONE.json`` exists, so a rerun resumes;
``--stages`` selects stages. Thresholds are fixed options (AMN's defaults).

Example::

    python tools/run_chain.py work_dirs/demo_amn \
        --cam-config configs/cpal/cam_cpal_squeezenet_demo.py \
        --amn-config configs/cpal/amn_cpal_squeezenet_demo.py \
        --irn-config configs/irn/irn_squeezenet_demo.py --data-root data/demo
"""
import argparse
import json

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmengine.config import DictAction  # noqa: E402

from mmcpal.apis.chain import STAGES, run_chain  # noqa: E402
from mmcpal.apis.pseudo import RW_DEFAULTS  # noqa: E402
from mmcpal.pseudo.multiscale import DEFAULT_SCALES  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='output folder (one per stage)')
    parser.add_argument('--cam-config', required=True)
    parser.add_argument('--amn-config', required=True)
    parser.add_argument('--irn-config', required=True)
    parser.add_argument('--data-root', help='data root of every stage')
    parser.add_argument('--stages',
                        nargs='+',
                        default=list(STAGES),
                        choices=STAGES)
    for net in ('', 'cam-', 'amn-', 'irn-'):
        parser.add_argument(
            f'--{net}cfg-options',
            nargs='+',
            action=DictAction,
            help=f'overrides of {"every" if not net else "the " + net[:-1]}'
            ' training config, e.g. train_cfg.max_epochs=1')
    parser.add_argument('--scales',
                        nargs='+',
                        type=float,
                        default=list(DEFAULT_SCALES))
    parser.add_argument('--no-flip', action='store_true')
    parser.add_argument('--ir1-thr',
                        nargs=2,
                        type=float,
                        default=[0.30, 0.05],
                        metavar=('FG', 'BG'),
                        help='round-1 IR labels (default 0.30 0.05)')
    parser.add_argument('--ir2-thr',
                        nargs=2,
                        type=float,
                        default=[0.45, 0.15],
                        metavar=('FG', 'BG'),
                        help='round-2 IR labels (default 0.45 0.15)')
    parser.add_argument('--rw-beta', type=float,
                        default=RW_DEFAULTS['beta'])
    parser.add_argument('--rw-exp-times', type=int,
                        default=RW_DEFAULTS['exp_times'])
    parser.add_argument('--rw-radius', type=int,
                        default=RW_DEFAULTS['radius'])
    parser.add_argument('--rw-bg-thr', type=float,
                        default=RW_DEFAULTS['bg_thres'])
    parser.add_argument('--rw-cam-power', type=float,
                        default=RW_DEFAULTS['cam_power'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--json', help='also write the report here')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    report = run_chain(args.out_dir,
                       cam_config=args.cam_config,
                       amn_config=args.amn_config,
                       irn_config=args.irn_config,
                       data_root=args.data_root,
                       cfg_options=args.cfg_options,
                       cam_cfg_options=args.cam_cfg_options,
                       amn_cfg_options=args.amn_cfg_options,
                       irn_cfg_options=args.irn_cfg_options,
                       stages=args.stages,
                       scales=args.scales,
                       flip=not args.no_flip,
                       ir1_thresholds=tuple(args.ir1_thr),
                       ir2_thresholds=tuple(args.ir2_thr),
                       rw_beta=args.rw_beta,
                       rw_exp_times=args.rw_exp_times,
                       rw_radius=args.rw_radius,
                       rw_bg_thres=args.rw_bg_thr,
                       rw_cam_power=args.rw_cam_power,
                       device=args.device,
                       progress=not args.no_progress)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2, default=str)


if __name__ == '__main__':
    main()
