"""Peak memory and speed of the memory-bounded IRN random walk on CPU.

For each image size (default 500x375, a VOC image, and 1000x750) a fresh
subprocess builds K class CAMs at image size and a boundary map on the grid,
then runs :func:`mmcpal.pseudo.random_walk.refine_cams_with_boundary` (resize
to the grid, walk, resize back, labels). It reports seconds per image and the
peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``): the
whole process and the increase over the baseline measured just before the
call (torch's own footprint excluded). Two settings are measured:

* ``pipeline``: IRN's setting, the walk on the stride-4 grid with
  ``exp_times=8`` (256 steps), radius 5, beta 10;
* ``stress``: the walk on the full-resolution grid (stride 1, 16x the
  pixels) with ``exp_times=1``: memory does not depend on the number of
  steps, so this shows how memory grows with the number of pixels.

The ratio of the memory increases between the two sizes (4x the pixels) is
printed: ~4 means linear growth; IRN's dense ``hw x hw`` transition matrix
would grow 16x (its size in float32 is printed for comparison).

Example::

    OMP_NUM_THREADS=1 python benchmarks/random_walk.py --json rw.json

Not run by the tests.
"""
import argparse
import gc
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time
from typing import Dict, List, Tuple

SETTINGS = dict(
    pipeline=dict(stride=4, exp_times=8), stress=dict(stride=1, exp_times=1))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', help='output JSON file')
    parser.add_argument(
        '--sizes',
        nargs='+',
        default=['500x375', '1000x750'],
        help='image sizes WxH')
    parser.add_argument(
        '--num-classes',
        type=int,
        default=3,
        help='K, classes of the image (VOC: 1-3)')
    parser.add_argument(
        '--settings',
        nargs='+',
        default=list(SETTINGS),
        choices=list(SETTINGS))
    parser.add_argument(
        '--repeats',
        type=int,
        default=2,
        help='timed runs per worker; the fastest is kept')
    parser.add_argument(
        '--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--size', help=argparse.SUPPRESS)
    parser.add_argument('--setting', help=argparse.SUPPRESS)
    return parser.parse_args()


def _maxrss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux: KiB units)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != 'darwin' else rss / 2**20


def _parse_size(text: str) -> Tuple[int, int]:
    w, h = (int(v) for v in text.lower().split('x'))
    return w, h


def worker(size: str, setting: str, num_classes: int, repeats: int) -> Dict:
    """Measure one size / setting in this (fresh) process."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from mmcpal.pseudo.random_walk import refine_cams_with_boundary
    torch.set_num_threads(1)
    width, height = _parse_size(size)
    stride = SETTINGS[setting]['stride']
    exp_times = SETTINGS[setting]['exp_times']
    grid = ((height - 1) // stride + 1, (width - 1) // stride + 1)
    gen = torch.Generator().manual_seed(0)
    # Smooth CAMs: low-resolution noise upsampled, max-normalised.
    cams = F.interpolate(
        torch.rand(1, num_classes, 12, 16, generator=gen),
        size=(height, width),
        mode='bilinear',
        align_corners=False)[0]
    cams = (cams - 0.5).clamp(min=0)
    cams /= cams.amax(dim=(1, 2), keepdim=True) + 1e-5
    boundary = torch.rand(grid, generator=gen)**8
    keys = np.arange(1, num_classes + 1)
    gc.collect()
    baseline = _maxrss_mb()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = refine_cams_with_boundary(
            cams, boundary, keys, exp_times=exp_times)
        times.append(time.perf_counter() - start)
    peak = _maxrss_mb()
    n_grid = grid[0] * grid[1]
    return dict(
        size=size,
        setting=setting,
        grid=list(grid),
        grid_pixels=n_grid,
        num_classes=num_classes,
        steps=2**exp_times,
        seconds_per_image=min(times),
        peak_rss_mb=peak,
        baseline_rss_mb=baseline,
        walk_rss_increase_mb=peak - baseline,
        dense_transition_matrix_mb=n_grid * n_grid * 4 / 2**20,
        mask_classes=sorted(int(v) for v in out.mask.unique()))


def run_worker(size: str, setting: str, args: argparse.Namespace) -> Dict:
    """Run :func:`worker` in a fresh interpreter and parse its JSON."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [
        sys.executable,
        osp.abspath(__file__), '--worker', '--size', size, '--setting',
        setting, '--num-classes',
        str(args.num_classes), '--repeats',
        str(args.repeats)
    ]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'worker {size} {setting} failed:\n{proc.stderr}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.worker:
        print(
            json.dumps(
                worker(args.size, args.setting, args.num_classes,
                       args.repeats)))
        return
    results = []
    for setting in args.settings:
        for size in args.sizes:
            res = run_worker(size, setting, args)
            results.append(res)
            print(
                f"{setting:8s} {size:>9s} grid {res['grid'][1]}x"
                f"{res['grid'][0]} ({res['grid_pixels']} px), "
                f"{res['steps']} steps: {res['seconds_per_image']:.2f} s/img,"
                f" peak RSS {res['peak_rss_mb']:.0f} MiB (+"
                f"{res['walk_rss_increase_mb']:.1f} MiB over baseline); "
                f"IRN dense T would be "
                f"{res['dense_transition_matrix_mb']:.0f} MiB")
    ratios = {}
    for setting in args.settings:
        rows = [r for r in results if r['setting'] == setting]
        if len(rows) >= 2:
            small, large = rows[0], rows[-1]
            px = large['grid_pixels'] / small['grid_pixels']
            mem = (
                large['walk_rss_increase_mb'] /
                max(small['walk_rss_increase_mb'], 1e-6))
            ratios[setting] = dict(
                pixel_ratio=px,
                memory_increase_ratio=mem,
                time_ratio=large['seconds_per_image'] /
                small['seconds_per_image'])
            print(f'{setting}: {px:.1f}x pixels -> {mem:.2f}x memory increase'
                  f", {ratios[setting]['time_ratio']:.2f}x time "
                  '(linear ~ pixel ratio; dense would be its square)')
    report = dict(
        results=results,
        ratios=ratios,
        machine=dict(
            platform=platform.platform(),
            processor=platform.processor(),
            python=platform.python_version(),
            torch_threads=1))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)


if __name__ == '__main__':
    main()
