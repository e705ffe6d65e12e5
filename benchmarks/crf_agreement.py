"""Dense CRF: torch backend vs pydensecrf2, agreement and speed side by side.

For a few voc12-mini photos the unary is a blurred version of the
ground-truth mask over all 21 VOC labels:

* ``dense``: ``0.9 * blurred one-hot + 0.1 / 21``, so every label keeps a
  real probability everywhere (no label can be pruned: worst case for the
  torch backend);
* ``sparse``: the blurred one-hot alone (absent classes clip to 1e-5, the
  usual situation of CAM-derived unaries).

Both backends run the same parameters on one CPU thread; the script reports
pixel-wise argmax agreement, seconds per image, the time ratio and the mIoU
of the unary and of each CRF output against the ground truth. On a machine
shared with other jobs, ``--cpu-time`` times both backends by thread CPU
time (steadier than wall time); ``--profile`` prints the torch ops of one
run. Not run by the tests. Example::

    OMP_NUM_THREADS=1 python benchmarks/crf_agreement.py --num-images 8 \\
        --json work_dirs/crf_agreement.json
"""
import argparse
import json
import os
import os.path as osp
import time

import cv2
import numpy as np
import torch
from PIL import Image

from mmcpal.pseudo.crf import CRF_PRESETS, dense_crf
from mmcpal.pseudo.crf_torch import gaussian_lattice

NUM_CLASSES = 21


def parse_args() -> argparse.Namespace:
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--data-root',
        default=osp.join(osp.dirname(repo), 'shared', 'data', 'voc12-mini'),
        help='VOC-style folder with JPEGImages/ and SegmentationClass/')
    parser.add_argument('--num-images', type=int, default=8)
    parser.add_argument('--preset', default='irn_label',
                        choices=sorted(CRF_PRESETS))
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--blur-sigma', type=float, default=12.0,
                        help='Gaussian blur (pixels) of the one-hot GT')
    parser.add_argument('--unary', default='both',
                        choices=['dense', 'sparse', 'both'])
    parser.add_argument('--repeats', type=int, default=1,
                        help='runs per image and backend; the fastest counts')
    parser.add_argument('--cold', action='store_true',
                        help='clear the torch smoothness-lattice cache '
                        'before every torch run')
    parser.add_argument('--cpu-time', action='store_true',
                        help='time both backends by the CPU time of this '
                        'thread (time.thread_time) instead of wall time; '
                        'steadier on a shared machine')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument('--profile', action='store_true',
                        help='print a torch.profiler table of one torch-'
                        'backend run (last image) per unary kind')
    return parser.parse_args()


def make_probs(mask: np.ndarray, sigma: float, mode: str) -> np.ndarray:
    """Blurred one-hot of a VOC mask (void pixels become background)."""
    labels = np.where(mask == 255, 0, mask).astype(np.int64)
    onehot = np.zeros((NUM_CLASSES, ) + labels.shape, np.float32)
    np.put_along_axis(onehot, labels[None], 1.0, axis=0)
    blurred = np.stack(
        [cv2.GaussianBlur(c, (0, 0), sigma) for c in onehot])
    blurred /= blurred.sum(0, keepdims=True)
    if mode == 'dense':
        return 0.9 * blurred + 0.1 / NUM_CLASSES
    return blurred


def timed(fn, repeats: int, before=None, clock=time.perf_counter):
    best, out = float('inf'), None
    for _ in range(repeats):
        if before is not None:
            before()
        start = clock()
        out = fn()
        best = min(best, clock() - start)
    return out, best


def confusion(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    valid = gt != 255
    idx = gt[valid].astype(np.int64) * NUM_CLASSES + pred[valid]
    return np.bincount(idx, minlength=NUM_CLASSES**2).reshape(
        NUM_CLASSES, NUM_CLASSES)


def miou(conf: np.ndarray) -> float:
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean())


def print_profile(fn, mode: str, rows: int = 15) -> None:
    """Prints the ops of one call of ``fn`` by self CPU time."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    print(f'[{mode}] torch backend profile (one image):')
    print(prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=rows))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    ids_file = osp.join(args.data_root, 'ImageSets', 'Segmentation',
                        'train.txt')
    if not osp.isfile(ids_file):
        raise SystemExit(f'crf_agreement: {ids_file} not found; pass '
                         '--data-root')
    with open(ids_file) as f:
        ids = [line.strip() for line in f if line.strip()][:args.num_images]
    params = dict(CRF_PRESETS[args.preset], iters=args.iters)
    clock = time.thread_time if args.cpu_time else time.perf_counter
    modes = ['dense', 'sparse'] if args.unary == 'both' else [args.unary]
    results = dict(
        preset=args.preset,
        params=params,
        clock='thread_time' if args.cpu_time else 'perf_counter',
        modes={})
    for mode in modes:
        rows = []
        conf = {k: np.zeros((NUM_CLASSES, ) * 2, np.int64)
                for k in ('unary', 'torch', 'pydensecrf')}
        for img_id in ids:
            image = np.array(
                Image.open(osp.join(args.data_root, 'JPEGImages',
                                    img_id + '.jpg')).convert('RGB'))
            gt = np.array(
                Image.open(osp.join(args.data_root, 'SegmentationClass',
                                    img_id + '.png')))
            probs = make_probs(gt, args.blur_sigma, mode)
            q_ref, t_ref = timed(
                lambda: dense_crf(image, probs, backend='pydensecrf',
                                  **params), args.repeats, clock=clock)
            q_torch, t_torch = timed(
                lambda: dense_crf(image, probs, backend='torch', **params),
                args.repeats,
                before=gaussian_lattice.cache_clear if args.cold else None,
                clock=clock)
            a_ref, a_torch = q_ref.argmax(0), q_torch.argmax(0)
            conf['unary'] += confusion(probs.argmax(0), gt)
            conf['torch'] += confusion(a_torch, gt)
            conf['pydensecrf'] += confusion(a_ref, gt)
            row = dict(
                id=img_id,
                shape=list(image.shape[:2]),
                agreement=float((a_ref == a_torch).mean()),
                max_abs_diff=float(np.abs(q_ref - q_torch).max()),
                sec_torch=t_torch,
                sec_pydensecrf=t_ref)
            rows.append(row)
            print(f"[{mode}] {img_id} {row['shape']} agreement "
                  f"{100 * row['agreement']:.3f}% torch {t_torch:.3f}s "
                  f"pydensecrf {t_ref:.3f}s ratio "
                  f'{t_torch / t_ref:.2f}', flush=True)
        if args.profile:
            print_profile(lambda: dense_crf(image, probs, backend='torch',
                                            **params), mode)
        agree = float(np.mean([r['agreement'] for r in rows]))
        sec_t = float(np.mean([r['sec_torch'] for r in rows]))
        sec_r = float(np.mean([r['sec_pydensecrf'] for r in rows]))
        summary = dict(
            images=len(rows),
            agreement=agree,
            min_agreement=float(min(r['agreement'] for r in rows)),
            sec_per_image_torch=sec_t,
            sec_per_image_pydensecrf=sec_r,
            time_ratio_torch_over_pydensecrf=sec_t / sec_r,
            miou_unary=miou(conf['unary']),
            miou_torch=miou(conf['torch']),
            miou_pydensecrf=miou(conf['pydensecrf']))
        results['modes'][mode] = dict(summary=summary, images=rows)
        print(f'[{mode}] mean agreement {100 * agree:.3f}% | s/image torch '
              f'{sec_t:.3f} pydensecrf {sec_r:.3f} (torch/pydensecrf '
              f"{sec_t / sec_r:.2f}) | mIoU unary {summary['miou_unary']:.4f}"
              f" torch {summary['miou_torch']:.4f} pydensecrf "
              f"{summary['miou_pydensecrf']:.4f}")
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
