"""One command that measures on a GPU what a CPU cannot (mmcpal issue 15).

Sections (each reports its figures or ``skipped: <reason>``; an exception in
one section, or in one item of a section, is recorded with its message and
the others still run):

1. ``environment``: GPU name, CUDA, cuDNN, torch, driver (``nvidia-smi``),
   TF32 / bf16 flags.
2. ``multiscale_cam``: multi-scale CAMs (scales 1, 0.5, 1.5, 2 + flips) of
   synthetic 500x375 images, :func:`multiscale_cam_batch` vs the IRN-style
   :func:`multiscale_cam_loop`, SqueezeNet and ResNet-50 at output stride 16
   (random weights, ``benchmarks/cam_speed.py``): images / s of both, their
   ratio (target: batched >= 2x the loop) and the largest map difference.
3. ``crf``: dense CRF, the torch permutohedral lattice on ``--device`` vs
   pydensecrf2 on CPU (``benchmarks/crf_agreement.py``), IRN's label CRF
   parameters, unaries from blurred ground truth with all 21 labels active
   and with 3 active labels: seconds / image and argmax agreement.
4. ``random_walk``: IRN's random walk (stride-4 grid, 256 steps, radius 5)
   at 500x375 and 1000x750 (``benchmarks/random_walk.py``): seconds / image
   and peak GPU memory (``torch.cuda.max_memory_allocated``).
5. ``train_step``: one SGD step of the ResNet-50 CAM network at the paper's
   shapes (batch 16, 512x512 crops, ``benchmarks/cpal_overhead.py``) with
   and without the CPAL branch (full bank, 50 prototypes per class), in
   fp32, AMP fp16 and AMP bf16 (MMEngine's ``AmpOptimWrapper``; bf16 where
   ``torch.cuda.is_bf16_supported()``): seconds / step, first-step loss,
   peak memory and the CPAL overhead ratio per precision.
6. ``dist_resume``: ``torchrun --nproc_per_node 1 tools/train.py
   configs/cpal/cam_cpal_squeezenet_demo.py --launcher pytorch`` on a demo
   set made here (NCCL on CUDA, gloo on CPU) for one short epoch, then
   ``--resume`` for a second; checks the log says it resumed and that the
   CPAL bank (``cpal.bank.*``) of the first checkpoint is still in the
   second.

Data: synthetic images made in memory, the demo set
(:func:`mmcpal.datasets.synthetic.generate_demo_dataset`, written into the
work dir) and, for the CRF, ``../shared/data/voc12-mini`` where present.
``--device cpu --quick`` runs every section on CPU with tiny sizes (CUDA-only
figures skip with their reason); the tests run it. Writes ``--json`` and
prints a markdown table (also written to ``--md``). Example::

    python benchmarks/gpu_check.py --json gpu_check.json --md gpu_check.md
    OMP_NUM_THREADS=1 python benchmarks/gpu_check.py --device cpu --quick \\
        --json /tmp/gpu_check.json
"""
import argparse
import copy
import importlib.util
import json
import os
import os.path as osp
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SECTIONS = ('environment', 'multiscale_cam', 'crf', 'random_walk',
            'train_step', 'dist_resume')
NO_CUDA_MEM = 'no CUDA: peak GPU memory not measurable'
DIST_CONFIG = 'configs/cpal/cam_cpal_squeezenet_demo.py'
BANK_PREFIX = 'cpal.bank.'
_BENCH_MODULES: Dict[str, ModuleType] = {}


@dataclass
class Context:
    """What every section needs.

    Attributes:
        device (torch.device): Device of the measured code.
        quick (bool): Tiny sizes (seconds on a CPU).
        work_dir (str): Scratch folder (demo data, training runs).
        voc_root (str): voc12-mini folder (used by the CRF if present).
        repeats (int): Timed rounds per measurement; the fastest counts.
        seed (int): Seed of the synthetic data and models.
        cam_images (int): Images of the multi-scale CAM section.
        crf_images (int): Images per CRF setting.
        train_batch (int): Batch of the training-step section.
        timeout (float): Seconds allowed per ``torchrun`` call.
        fail_section (str, optional): Section forced to fail (tests).
        demo_root (str, optional): The demo set once generated.
    """
    device: torch.device
    quick: bool
    work_dir: str
    voc_root: str
    repeats: int
    seed: int
    cam_images: int
    crf_images: int
    train_batch: int
    timeout: float
    fail_section: Optional[str] = None
    demo_root: Optional[str] = field(default=None)

    @property
    def cuda(self) -> bool:
        return self.device.type == 'cuda'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', required=True, help='output JSON file')
    parser.add_argument('--md', help='also write the markdown table here')
    parser.add_argument('--device', default='auto',
                        help="'auto' (cuda if available), 'cuda', "
                        "'cuda:N' or 'cpu'")
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes: every section in seconds on CPU')
    parser.add_argument('--sections', nargs='+', default=list(SECTIONS),
                        choices=SECTIONS, help='sections to run')
    parser.add_argument('--voc-root',
                        default=osp.join(osp.dirname(REPO), 'shared', 'data',
                                         'voc12-mini'),
                        help='voc12-mini (CRF images; demo set if absent)')
    parser.add_argument('--work-dir',
                        help='scratch folder, kept (default: a temporary '
                        'folder, removed at the end)')
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed rounds (default 3, --quick 1)')
    parser.add_argument('--cam-images', type=int, default=None,
                        help='images of the CAM section (default 8)')
    parser.add_argument('--crf-images', type=int, default=None,
                        help='images per CRF setting (default 4)')
    parser.add_argument('--train-batch', type=int, default=None,
                        help='batch of the training step (default 16, the '
                        "paper's)")
    parser.add_argument('--timeout', type=float, default=None,
                        help='seconds per torchrun call (default 240, '
                        '--quick 150)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--fail-section', choices=SECTIONS,
                        help='raise in this section (for testing that the '
                        'others still run)')
    return parser.parse_args(argv)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def bench_module(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (the folder is not a package)."""
    if name not in _BENCH_MODULES:
        spec = importlib.util.spec_from_file_location(
            f'mmcpal_bench_{name}', osp.join(REPO, 'benchmarks', f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _BENCH_MODULES[name] = module
    return _BENCH_MODULES[name]


def skipped(reason: str) -> Dict[str, str]:
    """An item that did not run, with why."""
    return dict(status='skipped', skipped=reason)


def guard(fn: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """Run ``fn``; an exception becomes ``status='error'`` with its message.

    A CUDA out-of-memory error frees the cache so later items can run.
    """
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001  (recorded, the rest goes on)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return dict(status='error', error=f'{type(exc).__name__}: {exc}',
                    traceback=traceback.format_exc(limit=8))
    out.setdefault('status', 'ok')
    return out


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> Tuple[Any, float]:
    """Result and wall seconds of one call, device work included."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def reset_peak(device: torch.device) -> int:
    """Reset the peak-memory counter; return the bytes allocated now."""
    if device.type != 'cuda':
        return 0
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def peak_mb(device: torch.device, baseline: int = 0) -> Optional[float]:
    """Peak allocated MiB since :func:`reset_peak` minus ``baseline``."""
    if device.type != 'cuda':
        return None
    return (torch.cuda.max_memory_allocated(device) - baseline) / 2**20


def fmt_mem(value: Optional[float]) -> str:
    return 'n/a (no CUDA)' if value is None else f'{value:.0f} MiB'


def demo_root(ctx: Context) -> str:
    """The demo set of this run (generated once into the work dir)."""
    if ctx.demo_root is None:
        from mmcpal.datasets.synthetic import generate_demo_dataset
        root = osp.join(ctx.work_dir, 'demo')
        generate_demo_dataset(root, num_train=16 if ctx.quick else 32,
                              num_val=2, seed=ctx.seed + 1)
        ctx.demo_root = root
    return ctx.demo_root


# --------------------------------------------------------------------------
# 1. environment
# --------------------------------------------------------------------------
def section_environment(ctx: Context) -> Dict[str, Any]:
    """Versions, device and flags that decide the figures."""
    import mmengine
    out: Dict[str, Any] = dict(
        device=str(ctx.device),
        python=platform.python_version(),
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        torch_threads=torch.get_num_threads(),
        mmengine=mmengine.__version__,
        cuda_available=torch.cuda.is_available(),
        cudnn=(torch.backends.cudnn.version()
               if torch.backends.cudnn.is_available() else None),
        cudnn_tf32=torch.backends.cudnn.allow_tf32,
        matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    rows = [['torch', f"{out['torch']} (CUDA build {out['torch_cuda']}, "
             f"cuDNN {out['cudnn']})"]]
    if ctx.cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        out.update(gpu_name=props.name,
                   gpu_capability=f'{props.major}.{props.minor}',
                   gpu_memory_mb=props.total_memory / 2**20,
                   gpu_count=torch.cuda.device_count(),
                   bf16_supported=torch.cuda.is_bf16_supported())
        rows.append(['gpu', f"{props.name} (sm {out['gpu_capability']}, "
                     f"{out['gpu_memory_mb']:.0f} MiB, "
                     f"{out['gpu_count']} visible)"])
    else:
        out['gpu'] = skipped('no CUDA device in use')
        rows.append(['gpu', 'skipped: no CUDA device in use'])
    smi = shutil.which('nvidia-smi')
    if smi is None:
        out['nvidia_smi'] = skipped('nvidia-smi not found')
        rows.append(['driver', 'skipped: nvidia-smi not found'])
    else:
        proc = subprocess.run(
            [smi, '--query-gpu=name,driver_version,memory.total',
             '--format=csv,noheader'], capture_output=True, text=True,
            timeout=30, check=False)
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        out['nvidia_smi'] = dict(returncode=proc.returncode, gpus=lines,
                                 stderr=proc.stderr.strip()[-500:])
        driver = (lines[0].split(',')[1].strip()
                  if lines and ',' in lines[0] else None)
        out['driver'] = driver
        rows.append(['driver', driver or
                     f'nvidia-smi failed: {proc.stderr.strip()[:100]}'])
    out['rows'] = rows
    return out


# --------------------------------------------------------------------------
# 2. multi-scale CAMs
# --------------------------------------------------------------------------
def _cam_item(ctx: Context, backbone: str, imgs: List[torch.Tensor],
              labels: List[torch.Tensor]) -> Dict[str, Any]:
    """Batched vs looped multi-scale CAMs of one backbone."""
    from mmcpal.pseudo.multiscale import (multiscale_cam_batch,
                                          multiscale_cam_loop)
    cam_speed = bench_module('cam_speed')
    torch.manual_seed(ctx.seed)
    model = cam_speed.build_model(backbone).to(ctx.device)

    def run_loop() -> list:
        return [multiscale_cam_loop(model, i, lb)
                for i, lb in zip(imgs, labels)]

    def run_batched() -> list:
        return multiscale_cam_batch(model, imgs, labels)

    with torch.no_grad():
        multiscale_cam_loop(model, imgs[0], labels[0])  # warm-up
        multiscale_cam_batch(model, imgs[:1], labels[:1])
        best = dict(loop=float('inf'), batched=float('inf'))
        results: Dict[str, list] = {}
        base = reset_peak(ctx.device)
        for _ in range(ctx.repeats):
            for name, fn in (('loop', run_loop), ('batched', run_batched)):
                results[name], sec = timed(fn, ctx.device)
                best[name] = min(best[name], sec)
    max_diff = max(float((a.cams - b.cams).abs().max())
                   for a, b in zip(results['loop'], results['batched']))
    n = len(imgs)
    out = dict(
        images=n,
        image_size=list(imgs[0].shape[-2:]),
        loop_images_per_s=n / best['loop'],
        batched_images_per_s=n / best['batched'],
        ratio=best['loop'] / best['batched'],
        target_batched_ge_2x=best['loop'] / best['batched'] >= 2.0,
        max_abs_diff=max_diff,
        cams_device=str(results['batched'][0].cams.device),
        peak_mem_mb=peak_mb(ctx.device, base))
    if out['peak_mem_mb'] is None:
        out['peak_mem_mb_skipped'] = NO_CUDA_MEM
    return out


def section_multiscale_cam(ctx: Context) -> Dict[str, Any]:
    """Batched vs IRN-loop multi-scale CAMs, SqueezeNet and ResNet-50."""
    from mmcpal.pseudo.multiscale import DEFAULT_SCALES
    cam_speed = bench_module('cam_speed')
    imgs, labels = cam_speed.make_data(ctx.cam_images, ctx.seed)
    if ctx.quick:  # 500x375 -> 100x75
        size = (cam_speed.IMG_H // 5, cam_speed.IMG_W // 5)
        imgs = [F.interpolate(i[None].float(), size=size, mode='bilinear',
                              align_corners=False)[0].round().to(torch.uint8)
                for i in imgs]
    # Images on the device: host-to-device copies are not what is compared.
    imgs = [i.to(ctx.device) for i in imgs]
    out: Dict[str, Any] = dict(scales=list(DEFAULT_SCALES), flip=True,
                               repeats=ctx.repeats)
    rows = []
    for backbone in ('squeezenet', 'resnet50'):
        item = guard(lambda b=backbone: _cam_item(ctx, b, imgs, labels))
        out[backbone] = item
        if item['status'] == 'ok':
            rows.append([backbone, (
                f"{item['image_size'][1]}x{item['image_size'][0]}: loop "
                f"{item['loop_images_per_s']:.2f} img/s, batched "
                f"{item['batched_images_per_s']:.2f} img/s, ratio "
                f"{item['ratio']:.2f}x, max diff {item['max_abs_diff']:.1e}"
                f", peak {fmt_mem(item['peak_mem_mb'])}")])
        else:
            rows.append([backbone, _item_text(item)])
    out['rows'] = rows
    return out


# --------------------------------------------------------------------------
# 3. dense CRF
# --------------------------------------------------------------------------
def _crf_images(ctx: Context, n: int) -> Tuple[str, List[Tuple]]:
    """``(source, [(id, rgb uint8, gt)])``: images with >= 3 labels first.

    voc12-mini where present, else the demo set; ``--quick`` shrinks each to
    a long side of 128 pixels.
    """
    from PIL import Image
    root, source = ctx.voc_root, 'voc12-mini'
    ids_file = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    if not osp.isfile(ids_file):
        root, source = demo_root(ctx), 'demo'
        ids_file = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    with open(ids_file) as f:
        ids = [line.strip() for line in f if line.strip()]
    rich, poor = [], []
    for img_id in ids[:max(4 * n, 20)]:
        gt = np.array(Image.open(
            osp.join(root, 'SegmentationClass', img_id + '.png')))
        labels = np.unique(gt[gt != 255])
        (rich if len(labels) >= 3 else poor).append((img_id, gt))
        if len(rich) >= n:
            break
    picked = (rich + poor)[:n]
    out = []
    for img_id, gt in picked:
        image = np.array(Image.open(
            osp.join(root, 'JPEGImages', img_id + '.jpg')).convert('RGB'))
        if ctx.quick:
            import cv2
            scale = 128 / max(gt.shape)
            size = (max(1, round(gt.shape[1] * scale)),
                    max(1, round(gt.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            gt = cv2.resize(gt, size, interpolation=cv2.INTER_NEAREST)
        out.append((img_id, image, gt))
    return source, out


def crf_probs(gt: np.ndarray, active: int, sigma: float) -> np.ndarray:
    """21-channel unary probabilities with ``active`` labels in play.

    ``active == 21``: every label keeps a real probability (the dense case
    of ``benchmarks/crf_agreement.py``). Otherwise the ``active`` most
    frequent labels of ``gt`` are kept (the others are merged into the most
    frequent) and blurred one-hot, so at most ``active`` channels are
    non-zero.

    Args:
        gt (np.ndarray): ``(H, W)`` VOC mask (255 = void).
        active (int): 21, or the number of labels to keep.
        sigma (float): Blur of the one-hot in pixels.

    Returns:
        np.ndarray: ``(21, H, W)`` float32.
    """
    crf_agreement = bench_module('crf_agreement')
    if active >= crf_agreement.NUM_CLASSES:
        return crf_agreement.make_probs(gt, sigma, 'dense')
    labels = np.where(gt == 255, 0, gt)
    values, counts = np.unique(labels, return_counts=True)
    keep = values[np.argsort(-counts)[:active]]
    merged = np.where(np.isin(labels, keep), labels, keep[0]).astype(gt.dtype)
    return crf_agreement.make_probs(merged, sigma, 'sparse')


def _crf_setting(ctx: Context, samples: List[Tuple], active: int,
                 params: Dict[str, float], sigma: float) -> Dict[str, Any]:
    from mmcpal.pseudo.crf import dense_crf
    probs = [crf_probs(gt, active, sigma) for _, _, gt in samples]
    # Labels the torch backend keeps in message passing (prune 1e-4).
    n_active = [int((p.reshape(p.shape[0], -1).max(1) >= 1e-4).sum())
                for p in probs]

    def run_torch(i: int) -> np.ndarray:
        return dense_crf(samples[i][1], probs[i], backend='torch',
                         device=ctx.device, **params)

    run_torch(0)  # warm-up: kernels, cached smoothness lattice
    sec_torch, q_torch = [], []
    for i in range(len(samples)):
        q, sec = min((timed(lambda: run_torch(i), ctx.device)
                      for _ in range(ctx.repeats)), key=lambda r: r[1])
        q_torch.append(q)
        sec_torch.append(sec)
    out: Dict[str, Any] = dict(
        images=len(samples),
        active_labels=n_active,
        torch_device=str(ctx.device),
        torch_s_per_image=float(np.mean(sec_torch)))
    try:
        import pydensecrf  # noqa: F401
    except ImportError:
        out['pydensecrf'] = skipped(
            "pydensecrf2 not installed (pip install 'mmcpal[crf]')")
        return out
    sec_ref, agree = [], []
    for i, (_, image, _) in enumerate(samples):
        q_ref, sec = min((timed(lambda: dense_crf(
            image, probs[i], backend='pydensecrf', **params),
            torch.device('cpu')) for _ in range(ctx.repeats)),
            key=lambda r: r[1])
        sec_ref.append(sec)
        agree.append(float((q_ref.argmax(0) == q_torch[i].argmax(0)).mean()))
    out.update(pydensecrf_s_per_image=float(np.mean(sec_ref)),
               torch_over_pydensecrf=float(np.mean(sec_torch)) /
               float(np.mean(sec_ref)),
               agreement=float(np.mean(agree)),
               min_agreement=float(min(agree)))
    return out


def section_crf(ctx: Context) -> Dict[str, Any]:
    """Torch lattice on the device vs pydensecrf2 (CPU), 21 and 3 labels."""
    from mmcpal.pseudo.crf import CRF_PRESETS
    source, samples = _crf_images(ctx, ctx.crf_images)
    if not samples:
        raise RuntimeError('no CRF images found')
    params = dict(CRF_PRESETS['irn_label'], iters=10)
    sigma = 3.0 if ctx.quick else 12.0
    out: Dict[str, Any] = dict(
        source=source, ids=[s[0] for s in samples],
        shapes=[list(s[1].shape[:2]) for s in samples], preset='irn_label',
        params=params, blur_sigma=sigma)
    rows = []
    for key, active in (('labels_21', 21), ('labels_3', 3)):
        item = guard(lambda a=active: _crf_setting(ctx, samples, a, params,
                                                   sigma))
        out[key] = item
        if item['status'] != 'ok':
            rows.append([key, _item_text(item)])
            continue
        text = (f"{source} x{item['images']}: torch ({item['torch_device']})"
                f" {item['torch_s_per_image']:.3f} s/img")
        if 'agreement' in item:
            text += (f", pydensecrf (cpu) {item['pydensecrf_s_per_image']:.3f}"
                     f" s/img, agreement {100 * item['agreement']:.2f}%")
        else:
            text += f", pydensecrf {_item_text(item['pydensecrf'])}"
        rows.append([key, text])
    out['rows'] = rows
    return out


# --------------------------------------------------------------------------
# 4. random walk
# --------------------------------------------------------------------------
def _walk_item(ctx: Context, size: str, num_classes: int = 3
               ) -> Dict[str, Any]:
    from mmcpal.pseudo.random_walk import refine_cams_with_boundary
    rw = bench_module('random_walk')
    setting = rw.SETTINGS['pipeline']
    width, height = rw._parse_size(size)
    stride = setting['stride']
    grid = ((height - 1) // stride + 1, (width - 1) // stride + 1)
    gen = torch.Generator().manual_seed(ctx.seed)
    cams = F.interpolate(torch.rand(1, num_classes, 12, 16, generator=gen),
                         size=(height, width), mode='bilinear',
                         align_corners=False)[0]
    cams = (cams - 0.5).clamp(min=0)
    cams = (cams / (cams.amax(dim=(1, 2), keepdim=True) + 1e-5)).to(
        ctx.device)
    boundary = (torch.rand(grid, generator=gen)**8).to(ctx.device)
    # keys on the CAMs' device, as MultiScaleCAM gives them
    keys = torch.arange(1, num_classes + 1, device=ctx.device)

    def run() -> Any:
        return refine_cams_with_boundary(cams, boundary, keys,
                                         exp_times=setting['exp_times'])

    run()  # warm-up
    base = reset_peak(ctx.device)
    out_walk, sec = min((timed(run, ctx.device) for _ in range(ctx.repeats)),
                        key=lambda r: r[1])
    out = dict(size=size, grid=list(grid), steps=2**setting['exp_times'],
               num_classes=num_classes, seconds_per_image=sec,
               peak_mem_mb=peak_mb(ctx.device, base),
               mask_device=str(out_walk.mask.device))
    if out['peak_mem_mb'] is None:
        out['peak_mem_mb_skipped'] = NO_CUDA_MEM
    return out


def section_random_walk(ctx: Context) -> Dict[str, Any]:
    """IRN's walk at 500x375 and 1000x750: s/image, peak GPU memory."""
    sizes = ['100x75', '200x150'] if ctx.quick else ['500x375', '1000x750']
    out: Dict[str, Any] = dict(sizes=sizes, setting='pipeline')
    rows = []
    for size in sizes:
        item = guard(lambda s=size: _walk_item(ctx, s))
        out[size] = item
        rows.append([size, _item_text(item) if item['status'] != 'ok' else (
            f"grid {item['grid'][1]}x{item['grid'][0]}, {item['steps']} "
            f"steps: {item['seconds_per_image']:.3f} s/img, peak "
            f"{fmt_mem(item['peak_mem_mb'])}")])
    out['rows'] = rows
    return out


# --------------------------------------------------------------------------
# 5. training step: fp32 / AMP fp16 / AMP bf16, CPAL overhead
# --------------------------------------------------------------------------
PRECISIONS = dict(fp32=None, fp16=torch.float16, bf16=torch.bfloat16)


def precision_skip(precision: str, device: torch.device) -> Optional[str]:
    """Why ``precision`` cannot run on ``device`` (None: it can)."""
    if precision == 'fp16' and device.type != 'cuda':
        return ("no CUDA: AMP fp16 needs a GPU (MMEngine's AmpOptimWrapper "
                'refuses CPU; CPU autocast is bf16)')
    if precision == 'bf16' and device.type == 'cuda' and \
            not torch.cuda.is_bf16_supported():
        return 'torch.cuda.is_bf16_supported() is False on this GPU'
    return None


def make_train_step(model: torch.nn.Module, inputs: torch.Tensor,
                    samples: list, precision: str,
                    device: torch.device) -> Callable[[], float]:
    """One SGD step (the paper's optimiser) in ``precision``.

    On CUDA, fp16 / bf16 go through MMEngine's ``AmpOptimWrapper`` (what
    ``tools/train.py --amp`` uses; dynamic loss scale); on CPU, bf16 runs
    under ``torch.autocast('cpu')`` with a plain ``OptimWrapper``.

    Returns:
        callable: runs the step, returns the loss (float).
    """
    from contextlib import nullcontext

    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    co = bench_module('cpal_overhead')
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, **co.SGD_CFG)
    dtype = PRECISIONS[precision]
    cpu_autocast = None
    if dtype is None:
        wrapper = OptimWrapper(optimizer=optim)
    elif device.type == 'cuda':
        wrapper = AmpOptimWrapper(optimizer=optim, dtype=dtype,
                                  loss_scale='dynamic')
    else:
        wrapper = OptimWrapper(optimizer=optim)
        cpu_autocast = dtype

    def step() -> float:
        extra = (torch.autocast('cpu', dtype=cpu_autocast)
                 if cpu_autocast is not None else nullcontext())
        with wrapper.optim_context(model), extra:
            losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        wrapper.update_params(loss)
        return float(loss.detach())

    return step


def _train_models(ctx: Context, batch: int) -> Dict[str, torch.nn.Module]:
    """ResNet-50 CAM network with and without CPAL (bank full, clustered)."""
    co = bench_module('cpal_overhead')
    models = {}
    for name, with_cpal in (('cam', False), ('cam_cpal', True)):
        model = co.build_model('resnet50', batch, with_cpal, ctx.seed)
        if with_cpal:
            co.fill_bank(model.cpal, 'gaussian', ctx.seed)
        model = model.to(ctx.device)
        if with_cpal:
            model.cpal.update_context()
        models[name] = model
    return models


def _train_batch(ctx: Context, batch: int, crop: int) -> Tuple[Any, list]:
    """The paper-shaped batch of ``cpal_overhead.make_batch`` (cropped)."""
    from mmengine.structures import PixelData
    co = bench_module('cpal_overhead')
    inputs, samples = co.make_batch(batch, ctx.seed, image=True)
    if crop < co.CROP:
        inputs = inputs[..., :crop, :crop].contiguous()
        for s in samples:
            s.valid_mask = PixelData(
                data=s.valid_mask.data[:, :crop, :crop].clone())
    return inputs.to(ctx.device), [s.to(ctx.device) for s in samples]


def _precision_item(ctx: Context, models: Dict[str, torch.nn.Module],
                    states: Dict[str, dict], inputs: torch.Tensor,
                    samples: list, precision: str) -> Dict[str, Any]:
    reason = precision_skip(precision, ctx.device)
    if reason is not None:
        return skipped(reason)
    out: Dict[str, Any] = {}
    steps = {}
    for name, model in models.items():
        model.load_state_dict(states[name])  # same start for every precision
        steps[name] = make_train_step(model, inputs, samples, precision,
                                      ctx.device)
        base = reset_peak(ctx.device)
        loss, sec = timed(steps[name], ctx.device)  # warm-up, first loss
        out[name] = dict(first_loss=loss, first_step_s=sec,
                         first_loss_finite=bool(np.isfinite(loss)),
                         peak_mem_mb=peak_mb(ctx.device, base))
    best = {name: float('inf') for name in steps}
    for r in range(ctx.repeats):  # ABBA
        for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            best[name] = min(best[name], timed(steps[name], ctx.device)[1])
    for name in steps:
        out[name]['step_s'] = best[name]
    out['cpal_overhead_ratio'] = best['cam_cpal'] / best['cam']
    return out


def section_train_step(ctx: Context) -> Dict[str, Any]:
    """Training step fp32 / fp16 / bf16 and the CPAL overhead ratio."""
    co = bench_module('cpal_overhead')
    batch = ctx.train_batch
    crop = 64 if ctx.quick else co.CROP
    torch.manual_seed(ctx.seed)
    models = _train_models(ctx, batch)
    states = {n: copy.deepcopy(m.state_dict()) for n, m in models.items()}
    inputs, samples = _train_batch(ctx, batch, crop)
    out: Dict[str, Any] = dict(
        backbone='mmpretrain.ResNet depth 50, strides (1, 2, 2, 1)',
        batch=batch, crop=crop, repeats=ctx.repeats,
        cpal=dict(bank=list(models['cam_cpal'].cpal.bank.bank.shape),
                  reading='first (cpal_overhead.cpal_cfg)'))
    rows = []
    for precision in PRECISIONS:
        item = guard(lambda p=precision: _precision_item(
            ctx, models, states, inputs, samples, p))
        out[precision] = item
        if item['status'] != 'ok':
            rows.append([precision, _item_text(item)])
            continue
        fp32 = out.get('fp32', {})
        speed = ''
        if precision != 'fp32' and fp32.get('status') == 'ok':
            item['speedup_vs_fp32'] = fp32['cam']['step_s'] / \
                item['cam']['step_s']
            item['first_loss_rel_diff_vs_fp32'] = abs(
                item['cam']['first_loss'] - fp32['cam']['first_loss']) / max(
                    abs(fp32['cam']['first_loss']), 1e-12)
            speed = f" ({item['speedup_vs_fp32']:.2f}x fp32)"
        rows.append([precision, (
            f"b{batch} {crop}px: CAM {item['cam']['step_s']:.3f} s/step"
            f"{speed}, +CPAL {item['cam_cpal']['step_s']:.3f} s (ratio "
            f"{item['cpal_overhead_ratio']:.3f}), loss "
            f"{item['cam']['first_loss']:.4f}, peak "
            f"{fmt_mem(item['cam_cpal']['peak_mem_mb'])}")])
    out['rows'] = rows
    return out


# --------------------------------------------------------------------------
# 6. torchrun, then --resume
# --------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _torchrun(ctx: Context, work_dir: str, options: List[str],
              resume: bool) -> Dict[str, Any]:
    """One 1-process ``torchrun tools/train.py`` call."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    if not ctx.cuda:
        env['CUDA_VISIBLE_DEVICES'] = ''  # gloo, even on a GPU machine
    else:  # the one GPU measured here is the run's cuda:0
        env['CUDA_VISIBLE_DEVICES'] = visible_devices(ctx.device.index or 0)
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           '--nproc_per_node=1', '--nnodes=1', '--master_addr=127.0.0.1',
           f'--master_port={_free_port()}',
           osp.join(REPO, 'tools', 'train.py'), DIST_CONFIG,
           '--launcher', 'pytorch', '--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    cmd += ['--cfg-options'] + options
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=ctx.timeout, check=False)
    res = dict(returncode=proc.returncode,
               seconds=time.perf_counter() - start)
    if proc.returncode != 0:
        raise RuntimeError(
            f"torchrun{' --resume' if resume else ''} exited with "
            f'{proc.returncode}: {proc.stderr.strip()[-1500:]}')
    return res


def _latest_log(work_dir: str) -> str:
    import glob
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    if not logs:
        raise RuntimeError(f'no log file under {work_dir}')
    with open(logs[-1]) as f:
        return f.read()


def bank_restored(first: Dict[str, torch.Tensor],
                  second: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Whether the bank of checkpoint ``first`` survives in ``second``.

    Per class, the entries written before the first checkpoint stay in
    their slots until the queue wraps, so a restored bank keeps them and
    has at least as many entries; a bank re-initialised at resume would not.

    Args:
        first (dict): ``state_dict`` of the first checkpoint.
        second (dict): ``state_dict`` of the resumed run's checkpoint.

    Returns:
        dict: ``restored`` (bool), counts and the classes compared.
    """
    count1 = first[BANK_PREFIX + 'bank_count']
    count2 = second[BANK_PREFIX + 'bank_count']
    cap = first[BANK_PREFIX + 'bank'].shape[1]
    compared = []
    same = bool((count2 >= count1).all())
    for c in range(count1.shape[0]):
        n1, n2 = int(count1[c]), int(count2[c])
        if n1 == 0 or n2 >= cap:  # nothing to compare, or wrapped
            continue
        compared.append(c)
        same &= torch.equal(first[BANK_PREFIX + 'bank'][c, :n1],
                            second[BANK_PREFIX + 'bank'][c, :n1])
    return dict(restored=same and bool(compared),
                bank_count_first=int(count1.sum()),
                bank_count_second=int(count2.sum()),
                classes_compared=compared)


def section_dist_resume(ctx: Context) -> Dict[str, Any]:
    """1-process torchrun of a CPAL config, then --resume."""
    root = demo_root(ctx)
    work_dir = osp.join(ctx.work_dir, 'dist_resume')
    n_images, batch = (8, 4) if ctx.quick else (16, 4)
    options = [
        f'train_dataloader.dataset.data_root={root}',
        f'train_dataloader.dataset.indices={n_images}',
        f'train_dataloader.batch_size={batch}',
        f'val_dataloader.dataset.data_root={root}',
        'val_dataloader.dataset.indices=1', 'train_cfg.val_interval=100',
        'default_hooks.logger.interval=1'
    ]
    first = _torchrun(ctx, work_dir, options + ['train_cfg.max_epochs=1'],
                      resume=False)
    log1 = _latest_log(work_dir)
    second = _torchrun(ctx, work_dir, options + ['train_cfg.max_epochs=2'],
                       resume=True)
    log2 = _latest_log(work_dir)
    backend = re.search(r"backend='(\w+)'", log1)
    ckpts = [torch.load(osp.join(work_dir, f'epoch_{e}.pth'),
                        map_location='cpu', weights_only=False)
             for e in (1, 2)]
    bank = bank_restored(ckpts[0]['state_dict'], ckpts[1]['state_dict'])
    iters = n_images // batch
    out = dict(
        config=DIST_CONFIG,
        images=n_images,
        batch=batch,
        backend=backend.group(1) if backend else None,
        distributed=('Distributed training: True' in log1),
        first_run_s=first['seconds'],
        resume_run_s=second['seconds'],
        first_epoch_done=f'Epoch(train) [1][{iters}/{iters}]' in log1,
        log_says_resumed='resumed epoch: 1' in log2,
        second_epoch_done=f'Epoch(train) [2][{iters}/{iters}]' in log2,
        checkpoint_epochs=[int(c['meta']['epoch']) for c in ckpts],
        **bank)
    out['ok'] = bool(out['distributed'] and out['log_says_resumed']
                     and out['second_epoch_done'] and bank['restored'])
    out['rows'] = [
        ['torchrun', f"1 process, {out['backend']}, {iters} iterations/epoch:"
         f" {first['seconds']:.1f} s, --resume {second['seconds']:.1f} s"],
        ['resume', f"log resumed: {out['log_says_resumed']}, bank "
         f"{bank['bank_count_first']} -> {bank['bank_count_second']} entries,"
         f" restored: {bank['restored']}; all checks "
         f"{'passed' if out['ok'] else 'FAILED'}"]]
    return out


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
SECTION_FNS: Dict[str, Callable[[Context], Dict[str, Any]]] = dict(
    environment=section_environment,
    multiscale_cam=section_multiscale_cam,
    crf=section_crf,
    random_walk=section_random_walk,
    train_step=section_train_step,
    dist_resume=section_dist_resume)


def _item_text(item: Dict[str, Any]) -> str:
    if item.get('status') == 'skipped':
        return f"skipped: {item['skipped']}"
    if item.get('status') == 'error':
        return f"error: {item['error'][:200]}"
    return 'ok'


def run_section(name: str, ctx: Context) -> Dict[str, Any]:
    """Run one section, timed, with its errors recorded."""
    def call() -> Dict[str, Any]:
        if ctx.fail_section == name:
            raise RuntimeError(f'forced failure (--fail-section {name})')
        return SECTION_FNS[name](ctx)

    start = time.perf_counter()
    out = guard(call)
    out['seconds'] = time.perf_counter() - start
    return out


def markdown(report: Dict[str, Any]) -> str:
    """The short table: one row per item of every section."""
    lines = [f"gpu_check on `{report['device']}`"
             f"{' (--quick)' if report['quick'] else ''}, "
             f"{report['seconds_total']:.0f} s", '',
             '| section | item | result |', '|---|---|---|']
    for name, sec in report['sections'].items():
        rows = sec.get('rows') if sec['status'] == 'ok' else None
        for item, text in rows or [['', _item_text(sec)]]:
            lines.append(f'| {name} | {item} | {text.replace("|", "/")} |')
    return '\n'.join(lines) + '\n'


def resolve_device(text: str) -> torch.device:
    """``--device`` as a torch.device; clear error if CUDA is missing."""
    if text == 'auto':
        text = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(text)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f'gpu_check: --device {text} but torch sees no CUDA'
                         ' device; use --device cpu')
    if device.type not in ('cuda', 'cpu'):
        raise SystemExit(f"gpu_check: --device must be 'cpu' or 'cuda[:N]', "
                         f'got {text!r}')
    if device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())
    return device


def visible_devices(index: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` that makes visible GPU ``index`` the only
    one (respecting an existing ``CUDA_VISIBLE_DEVICES`` list)."""
    current = os.environ.get('CUDA_VISIBLE_DEVICES')
    if current:
        ids = [d.strip() for d in current.split(',') if d.strip()]
        if index < len(ids):
            return ids[index]
    return str(index)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if device.type == 'cuda':
        torch.cuda.set_device(device)
    if device.type == 'cpu' and 'OMP_NUM_THREADS' in os.environ:
        torch.set_num_threads(max(1, int(os.environ['OMP_NUM_THREADS'])))
    q = args.quick
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='gpu_check_')
    os.makedirs(work_dir, exist_ok=True)
    ctx = Context(
        device=device, quick=q, work_dir=work_dir, voc_root=args.voc_root,
        repeats=args.repeats or (1 if q else 3), seed=args.seed,
        cam_images=args.cam_images or (1 if q else 8),
        crf_images=args.crf_images or (1 if q else 4),
        train_batch=args.train_batch or (2 if q else 16),
        timeout=args.timeout or (150 if q else 240),
        fail_section=args.fail_section)
    import mmcpal.models  # noqa: F401  (registers the models)
    start = time.perf_counter()
    report: Dict[str, Any] = dict(
        device=str(device), quick=q, argv=sys.argv[1:] if argv is None
        else list(argv), sections={})
    try:
        for name in args.sections:
            print(f'[gpu_check] {name} ...', file=sys.stderr, flush=True)
            report['sections'][name] = run_section(name, ctx)
            print(f"[gpu_check] {name}: {report['sections'][name]['status']}"
                  f" ({report['sections'][name]['seconds']:.1f} s)",
                  file=sys.stderr, flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    report['seconds_total'] = time.perf_counter() - start
    table = markdown(report)
    os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2, default=str)
    if args.md:
        with open(args.md, 'w') as f:
            f.write(table)
    print(table)
    return report


if __name__ == '__main__':
    main()
