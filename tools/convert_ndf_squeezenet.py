"""Convert ndf's ImageNet SqueezeNet 1.1 weights to a torch checkpoint.

Usage::

    python tools/convert_ndf_squeezenet.py OUT.pth [--prefix backbone.]
        [--no-classifier] [--pkl squeezenet_weights.pkl]

The pickle is read with a restricted unpickler (numpy arrays only) and the
Keras kernels are transposed to torch layout; Keras is not needed. The
result is ``dict(state_dict=..., meta=...)``, loadable with
``init_cfg=dict(type='Pretrained', checkpoint=OUT.pth)`` (add
``prefix='backbone.'`` there when converted with ``--prefix backbone.``).
"""
import argparse
import os
import os.path as osp
from collections import OrderedDict
from typing import List, Optional

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

import torch  # noqa: E402

from mmcpal.models.backbones.ndf_weights import (  # noqa: E402
    CAFFE_MEAN_BGR, CAFFE_STD, load_ndf_squeezenet, ndf_pickle_path)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Convert ndf SqueezeNet 1.1 ImageNet weights to .pth')
    parser.add_argument('out', help='output checkpoint (.pth)')
    parser.add_argument(
        '--pkl',
        default=None,
        help='weight pickle; defaults to the one of the installed ndf')
    parser.add_argument(
        '--prefix',
        default='',
        help="prefix of every key, e.g. 'backbone.' for a full model")
    parser.add_argument('--no-classifier',
                        action='store_true',
                        help='drop conv10 (the ImageNet classifier)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    """Write the converted checkpoint.

    Args:
        argv (list[str], optional): Command-line arguments. Defaults to
            None (``sys.argv[1:]``).

    Returns:
        str: Path of the written checkpoint.
    """
    args = parse_args(argv)
    if not args.out.endswith('.pth'):
        raise SystemExit(f'convert_ndf_squeezenet: OUT must end with .pth, '
                         f'got {args.out!r}')
    pkl = args.pkl if args.pkl is not None else ndf_pickle_path()
    state_dict = load_ndf_squeezenet(pkl)
    state_dict = OrderedDict(
        (args.prefix + k, v) for k, v in state_dict.items()
        if not (args.no_classifier and k.startswith('conv10.')))
    meta = dict(source=osp.abspath(pkl),
                arch='SqueezeNet 1.1 (mmcpal.SqueezeNet)',
                mean_bgr=CAFFE_MEAN_BGR,
                std=CAFFE_STD,
                input='BGR, 0..255, mean subtracted, no std')
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(dict(state_dict=state_dict, meta=meta), args.out)
    print(f'wrote {len(state_dict)} tensors to {args.out}')
    return args.out


if __name__ == '__main__':
    main()
