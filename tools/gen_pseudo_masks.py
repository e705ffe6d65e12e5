"""Turn a trained CAM network into pseudo masks (and score every stage).

Stages: ``cams`` (multi-scale CAMs, one file per image), ``seeds`` (seed mIoU
over a background-threshold sweep, with its protocol), ``masks`` (palette PNGs
0..C / 255 from the CAMs: ``--refine none|crf|ir|rw``), ``eval`` (mask mIoU).

The AMN route: CAMs of an AMN checkpoint with ``--refine ir`` give IR labels
for IRN (``tools/dist_train.sh configs/irn/...``); the same CAMs with
``--refine rw --irn-config C --irn-checkpoint K`` give the random-walk masks.

``--cam-type pacam|fused`` makes every stage use CPAL's prototype-aware CAM
(or its mean with the CAM) instead of the CAM; the cams stage then stores the
PACAM next to the CAM (needs a model with a CPAL branch). Without the option
the config's ``model.test_cfg.cam_type`` applies, then ``cam``.

Reruns skip finished images; ``torchrun --nproc_per_node N`` (or
``--launcher pytorch``) splits the images across processes.

Example::

    python tools/gen_pseudo_masks.py configs/cpal/cam_cpal_squeezenet_demo.py \
        work_dirs/demo/cam_cpal/epoch_5.pth --out-dir work_dirs/demo/pseudo
"""
import argparse
import json
import os
import os.path as osp

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

import torch  # noqa: E402

from mmcpal.apis.pseudo import (  # noqa: E402
    CAM_TYPES, REFINE_METHODS, RW_DEFAULTS, STAGES, generate_pseudo_masks)
from mmcpal.utils import exit_after_distributed  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='CAM network config')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--stages', nargs='+', default=list(STAGES), choices=STAGES)
    parser.add_argument(
        '--cam-type', choices=list(CAM_TYPES), default=None,
        help="map every stage uses: 'cam' (classifier CAM), 'pacam' "
        "(CPAL's prototype-aware CAM) or 'fused' (their mean); default: the "
        "config's model.test_cfg.cam_type, else 'cam'")
    parser.add_argument(
        '--split', help='id list relative to the data root (default: the '
        "config's training list)")
    parser.add_argument('--data-root', help='another data root')
    parser.add_argument(
        '--scales', nargs='+', type=float, default=[1.0, 0.5, 1.5, 2.0])
    parser.add_argument('--no-flip', action='store_true')
    parser.add_argument(
        '--refine', choices=list(REFINE_METHODS), default='crf',
        help="'none' (seed at --bg-thr), 'crf' (dense CRF of the seed), "
        "'ir' (IR labels: --fg-thr / --bg-thr, 255 between), 'rw' (IRN "
        'random walk: needs --irn-config and --irn-checkpoint)')
    parser.add_argument('--bg-thr', type=float, default=0.15)
    parser.add_argument('--fg-thr', type=float, default=0.30)
    parser.add_argument(
        '--crf-backend', choices=['torch', 'pydensecrf'], default='torch')
    parser.add_argument('--irn-config', help="IRN config (--refine rw)")
    parser.add_argument('--irn-checkpoint',
                        help='trained IRN weights (--refine rw)')
    parser.add_argument('--rw-beta', type=float,
                        default=RW_DEFAULTS['beta'])
    parser.add_argument('--rw-exp-times', type=int,
                        default=RW_DEFAULTS['exp_times'])
    parser.add_argument('--rw-radius', type=int,
                        default=RW_DEFAULTS['radius'])
    parser.add_argument('--rw-bg-thr', type=float,
                        default=RW_DEFAULTS['bg_thres'],
                        help='background score of the random walk')
    parser.add_argument('--rw-cam-power', type=float,
                        default=RW_DEFAULTS['cam_power'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch'], default='none')
    parser.add_argument('--json', help='also write the report here')
    args = parser.parse_args()
    if args.refine == 'rw' and 'masks' in args.stages and not (
            args.irn_config and args.irn_checkpoint):
        parser.error('--refine rw needs --irn-config and --irn-checkpoint')
    return args


def main() -> None:
    args = parse_args()
    if args.launcher != 'none':
        if torch.cuda.is_available():
            from mmengine.dist import init_dist
            init_dist('pytorch', backend='nccl')
            args.device = f"cuda:{os.environ.get('LOCAL_RANK', 0)}"
        else:  # mmengine's init_dist calls torch.cuda.set_device
            torch.distributed.init_process_group(backend='gloo')
    report = generate_pseudo_masks(
        args.config,
        args.checkpoint,
        args.out_dir,
        stages=args.stages,
        cam_type=args.cam_type,
        split=args.split,
        data_root=args.data_root,
        scales=args.scales,
        flip=not args.no_flip,
        refine=args.refine,
        bg_threshold=args.bg_thr,
        fg_threshold=args.fg_thr,
        crf_backend=args.crf_backend,
        irn_config=args.irn_config,
        irn_checkpoint=args.irn_checkpoint,
        rw_options=dict(beta=args.rw_beta, exp_times=args.rw_exp_times,
                        radius=args.rw_radius, bg_thres=args.rw_bg_thr,
                        cam_power=args.rw_cam_power),
        device=args.device,
        progress=not args.no_progress)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    exit_after_distributed()


if __name__ == '__main__':
    main()
