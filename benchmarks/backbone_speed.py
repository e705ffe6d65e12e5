"""SqueezeNet vs EfficientNet-Lite0, side by side in one run (issue 18).

For each backbone, the voc12-mini configs of the benchmark
(``configs/cam/cam_<backbone>_voc12mini.py`` and
``configs/cpal/cam_cpal_<backbone>_voc12mini.py``) are built with random
weights (timing does not depend on them) and timed, alternating the
backbones round by round so a load change hits both alike:

- one training step (forward + backward + SGD step) of the CAM network and
  of CAM + CPAL at the benchmark's shapes (batch 16, 256 x 256 crops, a
  bank filled and clustered);
- multi-scale CAM inference of a 500 x 375 image at the benchmark's scale
  (0.64, i.e. long side 320, with its flip), CAM alone and CAM + PACAM.

Medians over rounds of CPU seconds (one thread) are reported; the ratios
EfficientNet / SqueezeNet are the figures to read, the absolute times depend
on the machine's load. Never part of the test suite.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/backbone_speed.py --json OUT.json \\
        [--rounds 3] [--batch 16]
"""
import argparse
import json
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BACKBONES = ('squeezenet', 'effnetlite0')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', required=True, help='output JSON file')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--crop', type=int, default=256)
    parser.add_argument('--scales', nargs='+', type=float, default=[0.64])
    return parser.parse_args()


def build(config: str) -> torch.nn.Module:
    """The config's model with random weights (no pretrained download)."""
    sys.path.insert(0, REPO)
    from mmengine.registry import init_default_scope

    from mmcpal.apis import load_config
    from mmcpal.registry import MODELS
    cfg = load_config(osp.join(REPO, config))
    init_default_scope('mmcpal')
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def samples(batch: int, num_classes: int) -> list:
    from mmcpal.structures import WSSSDataSample
    out = []
    for i in range(batch):
        s = WSSSDataSample()
        label = torch.zeros(num_classes)
        label[[i % num_classes, (7 * i + 3) % num_classes]] = 1
        s.gt_label = label
        out.append(s)
    return out


def fill_bank(model: torch.nn.Module) -> None:
    """A full, clustered bank, as after the first epochs."""
    branch = model.cpal
    cap, e = branch.bank.capacity, branch.embed_dims
    gen = torch.Generator().manual_seed(0)
    for c in range(branch.num_classes):
        branch.bank.enqueue(torch.randn(cap, e, generator=gen),
                            torch.full((cap, ), c))
    branch.update_context()


def cpu_seconds(fn: Callable[[], None]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def train_step_fn(model, batch: int, crop: int) -> Callable[[], None]:
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=1e-4, momentum=0.9)
    x = torch.randn(batch, 3, crop, crop) * 50
    data = samples(batch, model.num_classes)

    def step() -> None:
        losses = model.loss(x, data)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def inference_fn(model, scales: List[float],
                 pacam: bool) -> Callable[[], None]:
    from mmcpal.pseudo.multiscale import multiscale_cam
    model.eval()
    img = (torch.rand(3, 375, 500) * 255).to(torch.uint8)
    label = torch.zeros(model.num_classes)
    label[[2, 11]] = 1

    def infer() -> None:
        with torch.no_grad():
            multiscale_cam(model, img, label, scales=tuple(scales), flip=True,
                           pacam=pacam)
    return infer


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    jobs: Dict[str, Callable[[], None]] = {}
    for name in BACKBONES:
        cam = build(f'configs/cam/cam_{name}_voc12mini.py')
        cpal = build(f'configs/cpal/cam_cpal_{name}_voc12mini.py')
        fill_bank(cpal)
        jobs[f'{name}/train_cam'] = train_step_fn(cam, args.batch, args.crop)
        jobs[f'{name}/train_cpal'] = train_step_fn(cpal, args.batch,
                                                   args.crop)
        jobs[f'{name}/infer_cam'] = inference_fn(cam, args.scales, False)
        jobs[f'{name}/infer_cam_pacam'] = inference_fn(cpal, args.scales, True)
    for fn in jobs.values():  # warm-up
        fn()
    times: Dict[str, List[float]] = {k: [] for k in jobs}
    for _ in range(args.rounds):
        for key, fn in jobs.items():
            times[key].append(cpu_seconds(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {
        what: med[f'effnetlite0/{what}'] / med[f'squeezenet/{what}']
        for what in ('train_cam', 'train_cpal', 'infer_cam',
                     'infer_cam_pacam')
    }
    report = dict(median_cpu_s=med, all_cpu_s=times,
                  effnet_over_squeezenet=ratios, rounds=args.rounds,
                  batch=args.batch, crop=args.crop, scales=args.scales,
                  threads=1, torch=torch.__version__,
                  machine=platform.machine(),
                  date=time.strftime('%Y-%m-%d %H:%M:%S %Z'))
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=1)
    print('| what | SqueezeNet (CPU s) | EfficientNet-Lite0 (CPU s) | ratio |')
    print('|---|---|---|---|')
    for what, ratio in ratios.items():
        print(f"| {what} | {med[f'squeezenet/{what}']:.3f} | "
              f"{med[f'effnetlite0/{what}']:.3f} | {ratio:.2f} |")


if __name__ == '__main__':
    main()
