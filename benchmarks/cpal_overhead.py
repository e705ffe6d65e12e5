"""Training-step overhead of the CPAL branch, and k-means of the full bank.

Times one training step (forward + backward + SGD step) of the baseline CAM
network (``CAMClassifier`` with ``cpal=None``) and of the same network with
``CPALBranch`` at the paper's shapes (docs/cpal-method.md §10: batch 16,
32x32 CAM grid at output stride 16, C = 20, bank 20 x 1000 x 128, k = 50,
K = 20), in two variants:

- ``isolated``: the backbone is replaced by a module returning fixed
  ``(B, 1024, 32, 32)`` and ``(B, 2048, 32, 32)`` feature maps that require
  grad (leaves, not parameters), so the step holds only the 1x1 classifier,
  the loss and, with CPAL, the branch: the difference is the branch's cost.
- ``resnet50``: a randomly initialised ``mmpretrain.ResNet`` (depth 50,
  ``strides=(1, 2, 2, 1)``, ``out_indices=(2, 3)``) on 512x512 inputs. Slow on
  a CPU, so its batch is ``--resnet-batch`` (the JSON says what ran), and the
  batch-16 ratio is also *estimated* as ``(16/b * baseline_b + isolated
  overhead at 16) / (16/b * baseline_b)``.

Before timing, every class's support bank is filled (1000 entries) and
``update_context()`` is run, so PACAM uses 50 real context prototypes per
class and top-20 neighbours. ``update_context()`` itself is timed on the full
bank with two fillings: isotropic Gaussian entries (no structure: Lloyd runs
longest) and 50 noisy directions per class (clustered, nearer to a trained
embedding). Baseline and CPAL steps alternate (ABBA order) within one process
with one torch thread; each figure is the median of ``--repeats`` rounds,
wall time and process CPU time (the CPU time is robust to other processes on
a shared machine). ``--profile`` adds torch.profiler and cProfile tables of
the isolated CPAL step and the CPU seconds of its two dense phases (feature
concatenation, projection head forward + backward).

Example::

    OMP_NUM_THREADS=1 python benchmarks/cpal_overhead.py \\
        --json cpal_overhead.json --resnet-batch 2 --profile

Not run by the tests.
"""
import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.structures import PixelData

NUM_CLASSES = 20  # VOC
GRID = 32  # 512 crop at output stride 16
CROP = 512
FEAT_CHANNELS = (1024, 2048)  # ResNet-50 stages 3 and 4
# Classes per image in the 330 ground-truth masks of voc12-mini (counted
# with numpy on ../shared/data/voc12-mini/SegmentationClass): 1: 168,
# 2: 113, 3: 43, 4: 5, 5: 1 images.
CLASSES_PER_IMAGE = (168, 113, 43, 5, 1)
# Paper recipe (docs/cpal-method.md §10): SGD, momentum 0.9, wd 1e-4.
SGD_CFG = dict(lr=0.01, momentum=0.9, weight_decay=1e-4)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', required=True, help='output JSON file')
    parser.add_argument('--batch', type=int, default=16,
                        help='batch of the isolated variant (paper: 16)')
    parser.add_argument('--resnet-batch', type=int, default=2,
                        help='batch of the ResNet-50 variant (16 = paper; '
                        'about 1 min per step on one CPU thread)')
    parser.add_argument('--repeats', type=int, default=7,
                        help='alternating rounds of the isolated variant')
    parser.add_argument('--resnet-repeats', type=int, default=5,
                        help='alternating rounds of the ResNet-50 variant')
    parser.add_argument('--kmeans-repeats', type=int, default=5,
                        help='timed update_context() calls per filling')
    parser.add_argument('--skip-resnet', action='store_true',
                        help='only the isolated variant and k-means')
    parser.add_argument('--profile', action='store_true',
                        help='profile the isolated CPAL step')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


# --------------------------------------------------------------------------
# models and data
# --------------------------------------------------------------------------
class FixedFeatures(nn.Module):
    """A stand-in backbone returning the same feature maps at every call.

    Each call returns fresh leaf views of the stored maps with
    ``requires_grad=True``, so backward computes the gradient a real backbone
    would receive (and frees it with the graph), without parameters for the
    optimiser to update.

    Args:
        batch (int): Batch size ``B``.
        channels (tuple[int, ...]): Channels of each returned map. Defaults
            to (1024, 2048).
        grid (int): Side of the square maps. Defaults to 32.
        seed (int): Seed of the random maps. Defaults to 0.
    """

    def __init__(self,
                 batch: int,
                 channels: Tuple[int, ...] = FEAT_CHANNELS,
                 grid: int = GRID,
                 seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        # ReLU'd Gaussians, like post-ReLU backbone activations.
        self.maps = [
            torch.randn(batch, c, grid, grid, generator=gen).relu()
            for c in channels
        ]

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(m.detach().requires_grad_(True) for m in self.maps)


def cpal_cfg() -> dict:
    """The first reading's branch at the paper's shapes (the figures of
    docs/cpal-method.md §16 were measured with it; the second reading's side
    head reads all four stages and is not timed here yet)."""
    from mmcpal.models.cpal import parts_from_flat
    return parts_from_flat(in_channels=sum(FEAT_CHANNELS), in_index=(-2, -1),
                           embed_dims=128, bank_size=1000, num_clusters=50,
                           num_neighbours=20, tau=0.1)


def build_model(variant: str, batch: int, with_cpal: bool,
                seed: int) -> nn.Module:
    """A ``CAMClassifier`` of the given variant, with or without CPAL."""
    from mmcpal.models.classifiers import CAMClassifier
    torch.manual_seed(seed)
    backbone = dict(type='mmpretrain.ResNet', depth=50,
                    strides=(1, 2, 2, 1), out_indices=(2, 3))
    model = CAMClassifier(backbone=backbone, num_classes=NUM_CLASSES,
                          in_channels=FEAT_CHANNELS[-1],
                          cpal=cpal_cfg() if with_cpal else None)
    if variant == 'isolated':
        # same maps for both models (same seed): only the branch differs
        model.backbone = FixedFeatures(batch, seed=seed)
    return model.train()


def make_batch(batch: int, seed: int, image: bool
               ) -> Tuple[torch.Tensor, list]:
    """Inputs and ``WSSSDataSample`` s with VOC-like labels and crops.

    Labels: 1-5 classes per image with voc12-mini's frequencies. Valid masks:
    images with long side 512 and short side 320-512 pasted top-left in the
    512x512 crop (the rest is padding), as random-scale + crop produces.
    """
    from mmcpal.structures import WSSSDataSample
    gen = torch.Generator().manual_seed(seed + 1)
    freq = torch.tensor(CLASSES_PER_IMAGE, dtype=torch.float)
    samples = []
    for _ in range(batch):
        k = int(torch.multinomial(freq, 1, generator=gen)) + 1
        label = torch.zeros(NUM_CLASSES)
        label[torch.randperm(NUM_CLASSES, generator=gen)[:k]] = 1.0
        short = int(torch.randint(320, CROP + 1, (1, ), generator=gen))
        valid = torch.zeros(1, CROP, CROP, dtype=torch.bool)
        if bool(torch.rand(1, generator=gen) < 0.5):
            valid[:, :short, :] = True
        else:
            valid[:, :, :short] = True
        sample = WSSSDataSample()
        sample.gt_label = label
        sample.valid_mask = PixelData(data=valid)
        samples.append(sample)
    if image:
        inputs = torch.randn(batch, 3, CROP, CROP, generator=gen)
    else:
        inputs = torch.zeros(batch, 3, 1, 1)  # ignored by FixedFeatures
    return inputs, samples


def fill_bank(branch: nn.Module, mode: str, seed: int) -> None:
    """Fill every class's support bank to capacity.

    Args:
        branch (CPALBranch): The branch whose bank is filled (in place).
        mode (str): 'gaussian' (isotropic N(0, 1) entries) or 'clustered'
            (50 random directions per class, norm 1, plus N(0, 0.15^2)
            noise per coordinate).
        seed (int): Seed of the entries.
    """
    bank = branch.bank
    c, cap, e = bank.bank.shape
    gen = torch.Generator().manual_seed(seed + 2)
    if mode == 'gaussian':
        entries = torch.randn(c, cap, e, generator=gen)
    else:
        dirs = nn.functional.normalize(
            torch.randn(c, 50, e, generator=gen), dim=2)
        pick = torch.randint(0, 50, (c, cap), generator=gen)
        entries = dirs.gather(1, pick[..., None].expand(-1, -1, e))
        entries = entries + 0.15 * torch.randn(c, cap, e, generator=gen)
    for cls in range(c):
        bank.enqueue(entries[cls], torch.full((cap, ), cls))


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------
def make_step(model: nn.Module, inputs: torch.Tensor,
              samples: list) -> Callable[[], None]:
    """One training step of ``model`` on a fixed batch."""
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, **SGD_CFG)

    def step() -> None:
        optim.zero_grad(set_to_none=True)
        losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        loss.backward()
        optim.step()

    return step


def timed(fn: Callable[[], object]) -> Tuple[float, float]:
    """Wall and process-CPU seconds of one call of ``fn``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def alternate(fns: Dict[str, Callable[[], None]],
              repeats: int) -> Dict[str, Dict[str, object]]:
    """Time the functions side by side, ABBA order, one warm-up call each.

    Returns:
        dict: per name, ``wall_s`` / ``cpu_s`` medians and the raw lists.
    """
    for fn in fns.values():
        fn()  # warm-up: allocator, oneDNN kernel selection
    names = list(fns)
    walls: Dict[str, List[float]] = {n: [] for n in names}
    cpus: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            wall, cpu = timed(fns[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {
        n: dict(wall_s=statistics.median(walls[n]),
                cpu_s=statistics.median(cpus[n]),
                wall_runs=[round(x, 4) for x in walls[n]],
                cpu_runs=[round(x, 4) for x in cpus[n]])
        for n in names
    }


def compare(variant: str, batch: int, repeats: int,
            seed: int) -> Tuple[dict, nn.Module, Callable[[], None]]:
    """Baseline vs CPAL steps of one variant; returns the figures too."""
    base = build_model(variant, batch, False, seed)
    cpal = build_model(variant, batch, True, seed)
    fill_bank(cpal.cpal, 'gaussian', seed)
    classes = cpal.cpal.update_context()
    assert classes == NUM_CLASSES and int(
        cpal.cpal.context_count.min()) == 50, 'bank did not cluster fully'
    inputs, samples = make_batch(batch, seed, image=variant == 'resnet50')
    steps = dict(baseline=make_step(base, inputs, samples),
                 cpal=make_step(cpal, inputs, samples))
    res = alternate(steps, repeats)
    out = dict(
        batch=batch,
        repeats=repeats,
        baseline_step_s=res['baseline']['wall_s'],
        cpal_step_s=res['cpal']['wall_s'],
        ratio=res['cpal']['wall_s'] / res['baseline']['wall_s'],
        baseline_step_cpu_s=res['baseline']['cpu_s'],
        cpal_step_cpu_s=res['cpal']['cpu_s'],
        ratio_cpu=res['cpal']['cpu_s'] / res['baseline']['cpu_s'],
        overhead_s=res['cpal']['wall_s'] - res['baseline']['wall_s'],
        overhead_cpu_s=res['cpal']['cpu_s'] - res['baseline']['cpu_s'],
        runs=res)
    return out, cpal, steps['cpal']


def time_kmeans(mode: str, repeats: int, seed: int) -> dict:
    """Median seconds of ``update_context()`` on a full bank."""
    from mmcpal.models.cpal import CPALBranch
    from mmcpal.models.cpal import functional
    branch = CPALBranch(num_classes=NUM_CLASSES, in_channels=8)
    fill_bank(branch, mode, seed)
    # Count Lloyd assignment steps once (untimed): functional._lloyd looks
    # `_assign` up in the module globals, so a counting wrapper sees them.
    calls = []
    original = functional._assign

    def counting(xn, centres):
        calls.append(xn.shape[0])
        return original(xn, centres)

    functional._assign = counting
    try:
        branch.update_context()
    finally:
        functional._assign = original
    branch.update_context()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = timed(branch.update_context)
        walls.append(wall)
        cpus.append(cpu)
    return dict(fill=mode,
                wall_s=statistics.median(walls),
                cpu_s=statistics.median(cpus),
                wall_runs=[round(x, 4) for x in walls],
                lloyd_iterations=len(calls) - 1,  # first call: after init
                groups_per_iteration=calls[1:])


# --------------------------------------------------------------------------
# profiling
# --------------------------------------------------------------------------
def profile_step(step: Callable[[], None], top: int = 15) -> dict:
    """torch.profiler op table and cProfile function table of one step."""
    from torch.profiler import ProfilerActivity, profile
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = sorted(prof.key_averages(),
                    key=lambda ev: ev.self_cpu_time_total, reverse=True)
    total = sum(ev.self_cpu_time_total for ev in events)
    ops = [
        dict(op=ev.key, calls=ev.count,
             self_ms=round(ev.self_cpu_time_total / 1e3, 2),
             self_pct=round(100.0 * ev.self_cpu_time_total / total, 1))
        for ev in events[:top]
    ]
    prof_c = cProfile.Profile()
    prof_c.enable()
    step()
    prof_c.disable()
    stream = io.StringIO()
    stats = pstats.Stats(prof_c, stream=stream)
    funcs = []
    for (path, line, name), row in stats.stats.items():
        if 'mmcpal' not in path and name not in ('backward', ):
            continue
        funcs.append(dict(function=f'{os.path.basename(path)}:{name}',
                          calls=row[1], cum_ms=round(row[3] * 1e3, 2),
                          self_ms=round(row[2] * 1e3, 2)))
    funcs.sort(key=lambda d: d['cum_ms'], reverse=True)
    return dict(profiler_total_self_ms=round(total / 1e3, 1),
                torch_ops=ops, python_functions=funcs[:top])


def phase_breakdown(model: nn.Module, repeats: int) -> dict:
    """Median CPU seconds of the branch's two dense phases, in isolation.

    ``concat``: resizing/concatenating the selected maps into the head's
    input (``CPALBranch._select_feats``); ``head_fwd_bwd``: the projection
    head's forward plus its weight-gradient backward on that input (the
    input is detached, as with ``detach_feats=True``). The rest of the
    branch overhead is prototypes, neighbours, PACAM, loss and enqueue.
    """
    branch = model.cpal
    feats = model.extract_feat(torch.zeros(1))
    size = tuple(feats[-1].shape[-2:])
    x = branch._select_feats(feats, size)

    def concat() -> None:
        branch._select_feats(feats, size)

    def head() -> None:
        branch.head.zero_grad(set_to_none=True)
        branch.head(x).sum().backward()

    out = {}
    for name, fn in (('concat', concat), ('head_fwd_bwd', head)):
        fn()
        out[name + '_cpu_s'] = statistics.median(
            timed(fn)[1] for _ in range(repeats))
    return out


# --------------------------------------------------------------------------
def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    import mmcpal.models  # noqa: F401  (registers CAMClassifier, CPAL)
    load_start = os.getloadavg()
    report: Dict[str, object] = dict(
        shapes=dict(num_classes=NUM_CLASSES, grid=[GRID, GRID],
                    crop=CROP, feat_channels=list(FEAT_CHANNELS),
                    bank=[NUM_CLASSES, 1000, 128], k=50, K=20),
        sgd=SGD_CFG,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        loadavg_start=list(load_start))

    iso, iso_model, iso_step = compare('isolated', args.batch, args.repeats,
                                       args.seed)
    report['isolated'] = iso
    print(f"isolated (batch {args.batch}): baseline "
          f"{iso['baseline_step_s']:.3f} s, cpal {iso['cpal_step_s']:.3f} s "
          f"(CPU {iso['baseline_step_cpu_s']:.3f} / "
          f"{iso['cpal_step_cpu_s']:.3f} s); branch overhead "
          f"{iso['overhead_s']:.3f} s wall, {iso['overhead_cpu_s']:.3f} s CPU")

    kmeans = {m: time_kmeans(m, args.kmeans_repeats, args.seed)
              for m in ('gaussian', 'clustered')}
    report['kmeans'] = kmeans
    # the slower filling counts
    report['kmeans_full_bank_s'] = max(k['wall_s'] for k in kmeans.values())
    report['kmeans_full_bank_cpu_s'] = max(k['cpu_s']
                                           for k in kmeans.values())
    for m, k in kmeans.items():
        print(f"update_context() full bank, {m}: {k['wall_s']:.3f} s wall, "
              f"{k['cpu_s']:.3f} s CPU, {k['lloyd_iterations']} Lloyd "
              'iterations')

    if args.profile:
        report['profile_isolated_cpal'] = profile_step(iso_step)
        phases = phase_breakdown(iso_model, args.repeats)
        phases['rest_cpu_s'] = (iso['overhead_cpu_s'] -
                                phases['concat_cpu_s'] -
                                phases['head_fwd_bwd_cpu_s'])
        report['isolated']['phases'] = phases
        print('branch phases (CPU s): ' + ', '.join(
            f'{k[:-6]} {v:.3f}' for k, v in phases.items()))
    del iso_model, iso_step

    resnet: Optional[dict] = None
    if not args.skip_resnet:
        resnet, _, _ = compare('resnet50', args.resnet_batch,
                               args.resnet_repeats, args.seed)
        scale = args.batch / args.resnet_batch
        for key, ov in (('ratio_est_batch16', 'overhead_s'),
                        ('ratio_cpu_est_batch16', 'overhead_cpu_s')):
            base_key = 'baseline_step_s' if key.startswith(
                'ratio_est') else 'baseline_step_cpu_s'
            base16 = scale * resnet[base_key]
            resnet[key] = (base16 + iso[ov]) / base16
        resnet['note'] = (
            f'ran at batch {args.resnet_batch} (not 16) for CPU time; '
            'ratio_*est_batch16 scales the baseline step linearly to 16 and '
            'adds the isolated branch overhead measured at 16')
        report['resnet50'] = resnet
        print(f"resnet50 (batch {args.resnet_batch}, 512x512): baseline "
              f"{resnet['baseline_step_s']:.2f} s, cpal "
              f"{resnet['cpal_step_s']:.2f} s, ratio {resnet['ratio']:.3f} "
              f"(CPU {resnet['ratio_cpu']:.3f}); estimated at batch 16: "
              f"{resnet['ratio_est_batch16']:.3f} "
              f"(CPU {resnet['ratio_cpu_est_batch16']:.3f})")

    head = resnet if resnet is not None else iso
    report.update(
        variant_of_top_level=('resnet50' if resnet is not None else
                              'isolated'),
        baseline_step_s=head['baseline_step_s'],
        cpal_step_s=head['cpal_step_s'],
        ratio=head['ratio'],
        ratio_cpu=head['ratio_cpu'],
        ratio_est_batch16=(None if resnet is None else
                           resnet['ratio_est_batch16']),
        ratio_cpu_est_batch16=(None if resnet is None else
                               resnet['ratio_cpu_est_batch16']),
        targets=dict(
            ratio_resnet50_le_1_10=(None if resnet is None else
                                    resnet['ratio'] <= 1.10),
            ratio_cpu_resnet50_le_1_10=(None if resnet is None else
                                        resnet['ratio_cpu'] <= 1.10),
            kmeans_full_bank_le_0_5_s=report['kmeans_full_bank_s'] <= 0.5,
            kmeans_full_bank_cpu_le_0_5_s=report['kmeans_full_bank_cpu_s']
            <= 0.5),
        loadavg_end=list(os.getloadavg()))
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
