"""Diagnose a CAM network's CPAL branch on images with ground-truth masks.

Reports (JSON and markdown) PACAM's foreground-vs-background AUC next to the
CAM's, the background channels on true background, the effective number of
neighbours and the chosen centres' norms, bank fill and cluster sizes (and on
the demo data the sub-type purity / NMI of the context clusters), precision
and recall of the reliable masks, the background share of ``L_self`` and the
gradients of ``L_self`` / ``L_cls`` on one training-mode batch. The figures
are computed in :mod:`mmcpal.evaluation.cpal_diagnostics` (see its
docstring). Nothing is written to the checkpoint; the bank is restored.

Example::

    OMP_NUM_THREADS=1 python tools/diagnose_cpal.py \\
        configs/cpal/cam_cpal_squeezenet_voc12mini.py work_dirs/x/epoch_10.pth \\
        --scale 320 --oracle --out-json diag.json --out-md diag.md

    # a baseline model with an untrained branch attached (inference only)
    python tools/diagnose_cpal.py configs/cam/cam_squeezenet_voc12mini.py \\
        base.pth --attach-branch configs/cpal/cam_cpal_squeezenet_voc12mini.py
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

import torch  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='CAM network config (CAMClassifier '
                        'or AMN)')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('--data-root', help='another data root (with masks)')
    parser.add_argument('--split', help='id list relative to the data root '
                        "(default: the config's training list)")
    parser.add_argument('--limit', type=int, default=0,
                        help='first N images with masks (0 = all)')
    parser.add_argument('--scale', type=int, default=320,
                        help='long side in pixels of the inference images '
                        '(0 = the image size); default 320')
    parser.add_argument('--oracle', action='store_true',
                        help='instance prototypes from the ground-truth '
                        'masks instead of the CAM')
    parser.add_argument('--attach-branch', metavar='CPAL_CONFIG',
                        help="for a model without a branch: build one from "
                        "this config's model.cpal (random head, empty bank; "
                        'inference only)')
    parser.add_argument('--no-context', action='store_true',
                        help="ignore the checkpoint's context prototypes: "
                        "each image's own prototype builds PACAM (the "
                        'warm-up path), to tell the embedding from the '
                        'context step')
    parser.add_argument('--grad-batch', type=int, default=4,
                        help='images of the training-mode gradient batch '
                        '(0 = skip)')
    parser.add_argument('--seed', type=int, default=0,
                        help='torch seed (attached head, dropout)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out-json', help='write the report here')
    parser.add_argument('--out-md', help='write the markdown report here')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args()


def fail(msg: str) -> None:
    """Exit with a one-line error."""
    print(f'diagnose_cpal: error: {msg}', file=sys.stderr)
    sys.exit(2)


def _read_config(path: str, what: str):
    from mmcpal.apis import load_config
    try:
        return load_config(path)
    except FileNotFoundError as err:
        fail(str(err))
    except Exception as err:  # noqa: BLE001 - syntax errors etc.
        fail(f'cannot read {what} {path}: '
             f'{type(err).__name__}: {str(err).splitlines()[0]}')


def _load_model(args):
    from mmcpal.apis import init_model
    cfg = _read_config(args.config, 'config')
    if args.attach_branch:
        # The branch may read other backbone stages than the baseline
        # returns (the side head reads all four): take the CPAL config's
        # out_indices; the backbone's weights do not depend on them.
        outs = _read_config(args.attach_branch, 'config').model.get(
            'backbone', {}).get('out_indices')
        if outs is not None:
            cfg.model.backbone.out_indices = outs
    if not osp.isfile(args.checkpoint):
        fail(f'checkpoint not found: {args.checkpoint}')
    try:
        model = init_model(cfg, args.checkpoint, device=args.device)
    except Exception as err:  # noqa: BLE001 - corrupt / mismatched files
        first = (str(err).strip().splitlines() or [''])[0]
        fail(f'cannot load checkpoint {args.checkpoint}: '
             f'{type(err).__name__}: {first}')
    return cfg, model


def _attach(model, path: str, device: str) -> str:
    from mmcpal.registry import MODELS
    cpal_cfg = _read_config(path, 'config').model.get('cpal')
    if not cpal_cfg:
        fail(f'--attach-branch {path}: the config has no model.cpal')
    cpal_cfg = dict(cpal_cfg)
    cpal_cfg['num_classes'] = model.num_classes
    try:
        branch = MODELS.build(cpal_cfg)
    except Exception as err:  # noqa: BLE001
        fail(f'--attach-branch {path}: cannot build the branch: {err}')
    model.cpal = branch.to(device).eval()
    return path


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    cfg, model = _load_model(args)
    if getattr(model, 'cpal', None) is None and not args.attach_branch:
        fail(f'{type(model).__name__} of {args.config} has no CPAL branch '
             '(model.cpal is None); pass --attach-branch CPAL_CONFIG to '
             'diagnose it with an untrained branch')
    attached = None
    if args.attach_branch:
        if getattr(model, 'cpal', None) is not None:
            fail('--attach-branch: the model already has a CPAL branch')
        attached = _attach(model, args.attach_branch, args.device)
    if args.no_context:
        if attached:
            fail('--no-context: an attached branch has no context '
                 'prototypes anyway')
        # inference only: the loaded model's buffers, never the file
        model.cpal.context_count.zero_()
        model.cpal.num_updates.zero_()

    from mmcpal.apis.pseudo import image_records
    from mmcpal.evaluation.cpal_diagnostics import (diagnose, format_markdown,
                                                    load_scenes)
    try:
        records, class_names = image_records(cfg, split=args.split,
                                             data_root=args.data_root)
    except Exception as err:  # noqa: BLE001
        fail(f'cannot read the data set: {type(err).__name__}: {err}')
    records = [r for r in records if r.gt_path and osp.isfile(r.gt_path)]
    if args.limit > 0:
        records = records[:args.limit]
    if not records:
        fail('no images with ground-truth masks')
    root = osp.dirname(osp.dirname(records[0].img_path))
    scenes = load_scenes(root)

    grad_batch = 0 if attached else args.grad_batch
    report = diagnose(model, records, class_names, long_side=args.scale,
                      oracle=args.oracle, scenes=scenes,
                      grad_batch=grad_batch, progress=not args.no_progress)
    split = args.split or cfg.train_dataloader.dataset.get('ann_file', '')
    report['protocol'] = {
        'config': args.config,
        'checkpoint': args.checkpoint,
        'branch': (f'attached from {attached} (random head, empty bank: '
                   'fallback PACAM; inference only, no gradients)'
                   if attached else 'trained (from the checkpoint)' +
                   (', context prototypes ignored (--no-context: own '
                    'prototype per image)' if args.no_context else '')),
        'data': f'{root} ({split})',
        'images': len(records),
        'scale': (f'long side {args.scale} px' if args.scale
                  else 'image size'),
        'prototypes': ('oracle (ground-truth masks)' if args.oracle else
                       f'CAM reliable masks (M_c > {model.cpal.tau})'),
        'demo sub-types': 'yes (scenes.jsonl)' if scenes else 'no',
        'gradient batch': grad_batch,
        'seed': args.seed,
    }
    md = format_markdown(report)
    if args.out_json:
        os.makedirs(osp.dirname(osp.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, 'w') as f:
            json.dump(report, f, indent=2)
    if args.out_md:
        os.makedirs(osp.dirname(osp.abspath(args.out_md)), exist_ok=True)
        with open(args.out_md, 'w') as f:
            f.write(md)
    print(md)


if __name__ == '__main__':
    main()
