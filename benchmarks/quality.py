"""Real-data quality benchmark: CAM seeds with and without CPAL on voc12-mini.

Trains the SqueezeNet CAM network of
``configs/cam/cam_squeezenet_voc12mini.py``
(image-level labels only) once per row and seed, always for the same number of
epochs, and scores the FINAL checkpoint (never a checkpoint picked with
masks):

- seed mIoU over the background-threshold sweep of
  :func:`mmcpal.evaluation.evaluate_cam_dir`; the best threshold is picked on
  the evaluated set's own ground truth, as the papers' seed numbers are;
- the whole sweep curve;
- mask mIoU of CRF-refined masks (``refine='crf'``) at ONE fixed background
  threshold chosen a priori (``--bg-threshold``, the same for every row);
- the predicted-foreground fraction (against the ground truth's) and the
  training loss log, as evidence for why a row wins or loses.

Map types (``--cam-types cam pacam fused``, default ``cam``): every run is
also scored as CPAL's prototype-aware CAM (``pacam``) and as the mean of
both (``fused``), from the same trained checkpoint (runs without a CPAL
branch have no PACAM and show ``-``). The run key does not depend on the map
types: a run's ``cam`` numbers and its extra ``by_cam_type`` entries are
made with the same settings, and a missing map type is added to a finished
run without retraining.

Rows (``--rows``, names or groups ``baseline cpal ablation choice all``):
``baseline`` and ``cpal`` run every seed of ``--seeds``; the ablation rows of
the paper's Table 1 (``configs/cpal/ablation/``) and the [choice] rows run the
first ``--extra-seeds`` seeds. Runs whose resolved model config, seed and
protocol are identical are trained once and shared (e.g. the ablation's full
row is the ``cpal`` row). Each run has its own work dir
``<work-dir>/<row>_s<seed>/`` with ``result.json``; a finished run is reused
unless ``--force``. Runs go to ``--workers`` spawned processes, each with one
torch thread.

Example (full run, then a one-minute smoke test)::

    OMP_NUM_THREADS=1 python benchmarks/quality.py \\
        --data ../shared/data/voc12-mini --json quality.json --seeds 0 1 \\
        --workers 2 --doc docs/benchmarks.md
    OMP_NUM_THREADS=1 python benchmarks/quality.py \\
        --data ../shared/data/voc12-mini --json /tmp/q.json --rows baseline \\
        --seeds 0 --epochs 1 --limit 20 --work-dir /tmp/q_smoke

Not run by the tests.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import os.path as osp
import platform
import re
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, List, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CAM_CONFIG = 'configs/cam/cam_squeezenet_voc12mini.py'
CPAL_CONFIG = 'configs/cpal/cam_cpal_squeezenet_voc12mini.py'
ABL = 'configs/cpal/ablation/'
# Share of ground-truth foreground pixels in voc12-mini (docs cpal-method.md
# section 14); recomputed from the confusion matrices of every run.
GT_FG_PERCENT_DOC = 26.5
# Inference at an effective long side of 320 px on the 500 px VOC images:
# the standard scales (1.0, 0.5, 1.5, 2.0) times 320 / 500.
DEFAULT_SCALES = (0.64, 0.32, 0.96, 1.28)
# The masks' background threshold is fixed a priori for every row: 0.10 lies
# between the best seed thresholds of the calibration runs of cpal-method.md
# section 14 (0.05 baseline, 0.10 CPAL); it is never chosen per row here.
DEFAULT_BG_THRESHOLD = 0.10
# The maps a run can be scored as (mmcpal.pseudo.cam_io.CAM_TYPES).
CAM_TYPES = ('cam', 'pacam', 'fused')


def _row(name: str, group: str, config: str, options: Optional[Dict] = None,
         desc: str = '') -> Dict:
    return dict(name=name, group=group, config=config,
                options=dict(options or {}), desc=desc)


def _choice(name: str, options: Dict, desc: str,
            group: str = 'choice') -> Dict:
    """A row of the second reading with ``model.cpal.*`` overrides."""
    return _row(name, group, CPAL_CONFIG,
                {f'model.cpal.{k}': v for k, v in options.items()}, desc)


READING1_CONFIG = 'configs/cpal/reading1/cam_cpal_squeezenet_voc12mini.py'
ROWS: List[Dict] = [
    _row('baseline', 'baseline', CAM_CONFIG, desc='CAM network, no CPAL'),
    _row('cpal', 'cpal', CPAL_CONFIG,
         desc='CPAL, second reading (the CPALBranch defaults)'),
    _row('cpal_r1', 'cpal_r1', READING1_CONFIG,
         desc='CPAL, first reading (MLP head, 1 - max background, raw '
         'dot softmax, pixel shift)'),
    # Table 1 as the paper runs it: rows II-IV without L_self (the CAM
    # network trains as the baseline), scored on PACAM / fused.
    _row('abl_context_prototypes', 'ablation',
         ABL + 'cpal_a1_context_prototypes_squeezenet_voc12mini.py',
         desc='II: context prototypes (all k, equal weights), no alignment, '
         'no L_self'),
    _row('abl_topk_positiveness', 'ablation',
         ABL + 'cpal_a2_topk_positiveness_squeezenet_voc12mini.py',
         desc='III: + top-K (5) and positiveness, no L_self'),
    _row('abl_alignment', 'ablation',
         ABL + 'cpal_a3_alignment_squeezenet_voc12mini.py',
         desc='IV: + alignment (prototype shift), no L_self'),
    _row('abl_full', 'ablation', CPAL_CONFIG,
         desc='V: + L_self = full CPAL (the cpal row)'),
    # Table 2 (k = 10 here, so the paper's K = 10 / 20 / 50 of k = 50 are
    # K = 2 / 5 / 10 of k = 10) and Table 3, on the second reading.
    _choice('t2_all_uniform', dict(
        neighbours=dict(num_neighbours=None),
        positiveness=dict(type='UniformPositiveness')),
        'no neighbour selection, no positiveness (paper 59.2)', 'table2'),
    _choice('t2_topk_uniform',
            dict(positiveness=dict(type='UniformPositiveness')),
            'top-K without positiveness (paper 60.3)', 'table2'),
    _choice('t2_K2', dict(neighbours=dict(num_neighbours=2)),
            'K = 2 of k = 10 (paper K = 10: 61.3)', 'table2'),
    _choice('t2_K10', dict(neighbours=dict(num_neighbours=10)),
            'K = 10 of k = 10 (paper K = 50: 60.1)', 'table2'),
    _choice('t3_cosine', dict(positiveness=dict(metric='cosine')),
            'positiveness metric cosine (paper 61.9)', 'table3'),
    _choice('t3_l1', dict(positiveness=dict(metric='l1')),
            'positiveness metric L1 (paper 59.6)', 'table3'),
    _choice('t3_l2', dict(positiveness=dict(metric='l2')),
            'positiveness metric L2 (paper 58.7)', 'table3'),
    # [choice] rows of the second reading
    _choice('background.region=cam', dict(background=dict(region='cam')),
            "background prototype from the CAM's argmax, not SIPE's seeds"),
    _choice('loss_self.channels=present',
            dict(loss_self=dict(channels='present')),
            'L_self over background + present classes'),
    _choice('loss_self.loss_weight=0.25',
            dict(loss_self=dict(loss_weight=0.25)), 'beta = 0.25'),
    _choice('detach_feats=False', dict(detach_feats=False),
            'L_self reaches the backbone through the head'),
    _row('no_context', 'choice', CPAL_CONFIG, {'custom_hooks': []},
         'never clustered: every PACAM from the image\'s own prototype '
         '(the warm-up path all along, SIPE-like)'),
    _choice('loss_self.detach_pacam=True',
            dict(loss_self=dict(detach_pacam=True)),
            'PACAM a fixed target: no loss trains the side head'),
]
# The AMN route (issue 5) on top of the baseline CAM network of the same
# seed: its CAMs -> round-1 IR labels -> AMN (with or without CPAL) -> AMN
# CAMs (seed mIoU) -> round-2 IR labels -> IRN -> random-walk masks (mask
# mIoU), through :func:`mmcpal.apis.run_chain` with its fixed thresholds.
AMN_CONFIG = 'configs/amn/amn_squeezenet_voc12mini.py'
AMN_CPAL_CONFIG = 'configs/cpal/amn_cpal_squeezenet_voc12mini.py'
IRN_CONFIG = 'configs/irn/irn_squeezenet_voc12mini.py'
CHAIN_ROWS: List[Dict] = [
    _row('amn', 'chain', AMN_CONFIG,
         desc='AMN on the baseline CAMs, then IRN random walk'),
    _row('amn_cpal', 'chain', AMN_CPAL_CONFIG,
         desc='AMN + CPAL on the baseline CAMs, then IRN random walk'),
]
ROWS += CHAIN_ROWS
GROUPS = ('baseline', 'cpal', 'cpal_r1', 'ablation', 'table2', 'table3',
          'choice', 'chain')
# Groups with one row each, reported side by side with paired differences.
ARMS = ('baseline', 'cpal', 'cpal_r1')
# Groups of single-option rows, reported in the row table.
ROW_GROUPS = ('ablation', 'table2', 'table3', 'choice')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True,
                        help='voc12-mini folder (JPEGImages, '
                        'SegmentationClass, ImageSets)')
    parser.add_argument('--json', required=True, help='output JSON file')
    parser.add_argument('--rows', nargs='+', default=['all'],
                        help='row names or groups (baseline cpal ablation '
                        "choice chain all); 'all' leaves out the chain rows "
                        '(ask for them by name or group)')
    parser.add_argument('--backbone', choices=sorted(NETWORKS),
                        default='squeezenet',
                        help='the voc12-mini leaf configs of this backbone '
                        '(use its own --work-dir: run folders are named by '
                        'row and seed)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1],
                        help='training seeds of the baseline and cpal rows')
    parser.add_argument('--extra-seeds', type=int, default=1,
                        help='how many of --seeds the ablation / choice '
                        'rows use')
    parser.add_argument('--chain-seeds', type=int, default=2,
                        help='how many of --seeds the chain rows (AMN, AMN '
                        '+ CPAL) use')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--limit', type=int, default=0,
                        help='use only the first N images (smoke tests)')
    parser.add_argument('--scales', nargs='+', type=float,
                        default=list(DEFAULT_SCALES))
    parser.add_argument('--bg-threshold', type=float,
                        default=DEFAULT_BG_THRESHOLD,
                        help='fixed background threshold of the masks')
    parser.add_argument('--refine', choices=('auto', 'crf', 'none'),
                        default='auto',
                        help="masks: 'crf', 'none' (seed at the fixed "
                        "threshold), 'auto' = crf when mmcpal.pseudo.crf "
                        'imports, else none')
    parser.add_argument('--work-dir', default=osp.join(
        REPO, 'work_dirs', 'benchmarks', 'quality'))
    parser.add_argument('--doc', default=None,
                        help='also write the markdown report here (e.g. '
                        'docs/benchmarks.md)')
    parser.add_argument('--checkpoints-from', default=None,
                        help='work dir of an earlier invocation: reuse its '
                        'final checkpoints of identical trainings (checked '
                        'on their configs) and only redo inference, e.g. '
                        'with other --scales')
    parser.add_argument('--doc-tag', default='',
                        help='name of the report block in --doc (several '
                        'reports, e.g. of other --scales, can share a file)')
    parser.add_argument('--title', default='',
                        help='heading suffix of the report')
    parser.add_argument('--cam-types', nargs='+', choices=CAM_TYPES,
                        default=['cam'],
                        help="maps each run is scored as: 'cam' (always), "
                        "'pacam', 'fused' (rows with a CPAL branch)")
    parser.add_argument('--force', action='store_true',
                        help='rerun finished runs')
    parser.add_argument('--assemble-only', action='store_true',
                        help='run nothing: report the finished runs only')
    args = parser.parse_args(argv)
    args.cam_types = ['cam'] + [t for t in CAM_TYPES[1:]
                                if t in args.cam_types]
    if args.workers < 1 or args.epochs < 1 or args.extra_seeds < 0:
        parser.error('--workers and --epochs must be >= 1, --extra-seeds '
                     '>= 0')
    if not osp.isdir(osp.join(args.data, 'JPEGImages')):
        parser.error(f'--data {args.data!r}: no JPEGImages folder there')
    return args


#: --backbone: what the protocol says of each network.
NETWORKS = dict(
    squeezenet='SqueezeNet 1.1 (ImageNet, ndf), conv1..fire5 frozen, '
    'batch 16, crops 256, SGD lr 0.001 (x10 new layers), poly',
    effnetlite0='EfficientNet-Lite0 (ImageNet, efficientnet-lite0-pytorch-'
    'model), OS16, stem + first three blocks frozen, BatchNorm frozen, batch '
    '16, crops 256, SGD lr 0.01 (x10 new layers; chosen on held-out image '
    'mAP), poly')


def for_backbone(rows: List[Dict], backbone: str) -> List[Dict]:
    """The rows with each config's ``squeezenet`` leaf swapped for the
    backbone's own leaf (``--backbone``); a row without one is refused."""
    if backbone == 'squeezenet':
        return rows
    out = []
    for row in rows:
        config = row['config'].replace('squeezenet', backbone)
        if not osp.isfile(osp.join(REPO, config)):
            raise SystemExit(f'--backbone {backbone}: row {row["name"]!r} has '
                             f'no config {config}')
        out.append(dict(row, config=config))
    return out


def select_rows(names: Sequence[str]) -> List[Dict]:
    """The rows asked for, in the table's order."""
    known = {r['name']: r for r in ROWS}
    wanted: List[str] = []  # in the order asked for
    for name in names:
        if name == 'all':
            more = [r['name'] for r in ROWS if r['group'] != 'chain']
        elif name in GROUPS:
            more = [r['name'] for r in ROWS if r['group'] == name]
        elif name in known:
            more = [name]
        else:
            raise SystemExit(f'--rows: unknown row {name!r}; rows are '
                             f'{sorted(known)}, groups {GROUPS}')
        wanted += [n for n in more if n not in wanted]
    return [known[n] for n in wanted]


def run_options(row: Dict, seed: int, args: argparse.Namespace) -> Dict:
    """``--cfg-options`` of one run: the row's options plus the protocol."""
    data = osp.abspath(args.data)
    opts = dict(row['options'])
    opts.update({
        'randomness.seed': seed,
        'train_cfg.max_epochs': args.epochs,
        'train_dataloader.dataset.data_root': data,
        'test_dataloader.dataset.data_root': data,
        'default_hooks.logger.interval': 7,
        'default_hooks.checkpoint.interval': args.epochs,
        'default_hooks.checkpoint.max_keep_ckpts': 1,
        # the visualizer is a process-wide singleton by name: a fixed name
        # would send a worker's later runs' scalars to its first run's dir
        'visualizer.name': f"quality_{row['name']}_s{seed}",
    })
    if args.limit:
        opts['train_dataloader.dataset.indices'] = args.limit
        opts['test_dataloader.dataset.indices'] = args.limit
    return opts


def chain_options(row: Dict, seed: int, args: argparse.Namespace) -> Dict:
    """``cfg_options`` of the AMN and IRN trainings of a chain row: the
    seed (and ``--limit``); data root and IR labels are set by the chain,
    schedules are the configs' own."""
    opts = dict(row['options'])
    opts['randomness.seed'] = seed
    opts['default_hooks.logger.interval'] = 10
    if args.limit:
        opts['train_dataloader.dataset.indices'] = args.limit
    return opts


def run_key(row: Dict, seed: int, args: argparse.Namespace) -> str:
    """Hash of everything that decides a run's outcome."""
    sys.path.insert(0, REPO)
    from mmcpal.apis.config import load_config
    if row['group'] == 'chain':
        cfg = load_config(osp.join(REPO, row['config']),
                          chain_options(row, seed, args))
        irn = load_config(osp.join(REPO, IRN_CONFIG))
        extra = dict(base=run_key(ROWS[0], seed, args),
                     schedule=cfg.train_cfg.to_dict(),
                     optim=cfg.optim_wrapper.to_dict(),
                     irn=irn.model.to_dict(), irn_sched=irn.train_cfg.to_dict())
    else:
        cfg = load_config(osp.join(REPO, row['config']),
                          run_options(row, seed, args))
        extra = {}
    blob = json.dumps(
        dict(model=cfg.model.to_dict(), hooks=cfg.get('custom_hooks'),
             seed=seed, epochs=args.epochs, limit=args.limit,
             scales=args.scales, bg=args.bg_threshold, **extra),
        sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _fg_percent(confusion) -> Dict:
    """Predicted / ground-truth foreground share (%) of a confusion matrix
    (rows GT 0..C, columns prediction 0..C + unsure)."""
    import numpy as np
    conf = np.asarray(confusion, dtype=np.float64)
    total = conf.sum()
    if total == 0:
        return dict(pred_fg=None, gt_fg=None)
    return dict(pred_fg=round(100 * conf[:, 1:-1].sum() / total, 2),
                gt_fg=round(100 * (1 - conf[0].sum() / total), 2))


_LOG_LINE = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/\d+\]')
_LOSS = re.compile(r'(loss\w*): ([-+.\deE]+)')


def _loss_log(train_dir: str) -> List[Dict]:
    """Logged training losses, parsed from the text log of the run's last
    timestamp folder with training lines
    (``<train_dir>/<timestamp>/<timestamp>.log``)."""
    files = sorted(glob.glob(osp.join(train_dir, '*', '*.log')))
    for path in reversed(files):  # the last log with training lines
        rows = []
        with open(path) as f:
            for line in f:
                match = _LOG_LINE.search(line)
                if not match:
                    continue
                row = dict(epoch=int(match.group(1)),
                           iter=int(match.group(2)))
                row.update({k: round(float(v), 5)
                            for k, v in _LOSS.findall(line)})
                rows.append(row)
        if rows:
            return rows
    return []


def run_one(job: Dict) -> Dict:
    """Train one row/seed and evaluate its final checkpoint (worker)."""
    os.environ['OMP_NUM_THREADS'] = '1'
    os.chdir(REPO)
    sys.path.insert(0, REPO)
    import torch
    torch.set_num_threads(1)
    work_dir = job['work_dir']
    result_path = osp.join(work_dir, 'result.json')
    result = None
    if osp.isfile(result_path) and not job['force']:
        with open(result_path) as f:
            result = json.load(f)
        _check_key(result, job, result_path)
        if not missing_cam_types(result, job):
            return _pick_masks(result, job['refine'])
    lock = _lock(work_dir)
    try:
        return _run_unlocked(job, work_dir, result_path, result)
    finally:
        os.remove(lock)


def _check_key(result: Dict, job: Dict, result_path: str) -> None:
    """Refuse to reuse a run made with another model, seed or protocol."""
    if result.get('key') != job['key']:
        raise RuntimeError(
            f"{result_path} was made with other settings (run key "
            f"{result.get('key')} != {job['key']}: model, seed, epochs, "
            'images, scales or threshold differ); pass --force to redo it or '
            'use another --work-dir')


def has_cpal(config: str, options: Optional[Dict] = None) -> bool:
    """Whether the run's model has a CPAL branch (hence a PACAM)."""
    sys.path.insert(0, REPO)
    from mmcpal.apis.config import load_config
    return load_config(config, options).model.get('cpal') is not None


def missing_cam_types(result: Dict, job: Dict) -> List[str]:
    """The map types (of ``job['cam_types']``) a finished run still lacks
    the refinement ``job['refine']`` for; ``'cam'`` is the run's own
    ``masks``, the others live in ``result['by_cam_type']``."""
    missing = []
    for cam_type in job.get('cam_types', ['cam']):
        if cam_type == 'cam':
            done = job['refine'] in result.get('masks', {})
        else:
            entry = (result.get('by_cam_type') or {}).get(cam_type)
            done = entry is not None and (
                entry.get('skipped') or job['refine'] in entry.get(
                    'masks', {}))
        if not done:
            missing.append(cam_type)
    return missing


def _score_cam_type(job: Dict, run_cfg: str, ckpt: str, pseudo_dir: str,
                    cam_type: str, log_lines: List[str]) -> Dict:
    """Seeds and masks of one extra map type from the run's checkpoint."""
    from mmcpal.apis.pseudo import generate_pseudo_masks
    if not has_cpal(run_cfg):
        return dict(skipped='no CPAL branch (model.cpal): no PACAM')
    t0 = time.time()
    report = generate_pseudo_masks(
        run_cfg, ckpt, pseudo_dir, stages=('cams', 'seeds', 'masks', 'eval'),
        cam_type=cam_type, scales=tuple(job['scales']), flip=True,
        refine=job['refine'], bg_threshold=job['bg_threshold'],
        crf_backend='torch', progress=False, log=log_lines.append)
    seeds, masks = report['seeds'], report['masks_eval']
    return dict(
        seed_miou=seeds['best']['miou'], seed_thr=seeds['best']['threshold'],
        curve={str(r['threshold']): r['miou'] for r in seeds['curve']},
        fg_at_best_seed_thr=_fg_percent(seeds['confusion']),
        masks={job['refine']: dict(
            miou=masks['best']['miou'], bg_threshold=job['bg_threshold'],
            fg=_fg_percent(masks['confusion']))},
        seconds=round(time.time() - t0, 1))


def _lock(work_dir: str) -> str:
    """Mark ``work_dir`` as being run by this process (refuse if another
    live process holds it); returns the lock file to remove afterwards."""
    os.makedirs(work_dir, exist_ok=True)
    lock = osp.join(work_dir, '.running')
    if osp.isfile(lock):
        with open(lock) as f:
            pid = int(f.read().strip() or 0)
        if pid and pid != os.getpid() and osp.isdir(f'/proc/{pid}'):
            raise RuntimeError(f'{work_dir} is being run by process {pid}')
    with open(lock, 'w') as f:
        f.write(str(os.getpid()))
    return lock


def run_chain_job(job: Dict) -> Dict:
    """AMN route on top of the baseline run of the same seed (worker).

    The baseline CAM network (trained, or reused, by :func:`run_one`) is
    handed to :func:`mmcpal.apis.run_chain` as its finished ``train_cam``
    stage; the chain then makes round-1 IR labels, trains AMN (the row's
    config, with or without CPAL) and IRN with the configs' own schedules,
    and writes random-walk masks. Every stage is resumable.
    """
    os.environ['OMP_NUM_THREADS'] = '1'
    os.chdir(REPO)
    sys.path.insert(0, REPO)
    import torch
    torch.set_num_threads(1)
    from mmcpal.apis.chain import (STAGES, marker_path, read_marker,
                                   run_chain, write_json_atomic)
    base_job = job['base_job']
    base_path = osp.join(base_job['work_dir'], 'result.json')
    if osp.isfile(base_path) and not job['force']:
        # only the baseline's final checkpoint is needed, whatever masks
        # the baseline run has made so far
        with open(base_path) as f:
            base = json.load(f)
        _check_key(base, base_job, base_path)
    else:
        base = run_one(base_job)
    work_dir = job['work_dir']
    result_path = osp.join(work_dir, 'result.json')
    if osp.isfile(result_path) and not job['force']:
        with open(result_path) as f:
            result = json.load(f)
        _check_key(result, job, result_path)
        return result
    lock = _lock(work_dir)
    try:
        t0 = time.time()
        out = osp.join(work_dir, 'chain')
        cam_config = osp.join(REPO, CAM_CONFIG)
        if job['force'] or read_marker(out, 'train_cam') is None:
            write_json_atomic(marker_path(out, 'train_cam'), dict(
                checkpoint=base['checkpoint'],
                config=osp.join(job['base_job']['work_dir'], 'config.py'),
                source_config=cam_config,
                reused_from=job['base_job']['work_dir'],
                params=dict(config=osp.abspath(cam_config))))
        log_lines: List[str] = []
        report = run_chain(
            out, cam_config=cam_config, amn_config=job['config'],
            irn_config=osp.join(REPO, IRN_CONFIG),
            data_root=osp.abspath(job['data']),
            cfg_options=job['options'],
            stages=[s for s in STAGES if s != 'train_cam'],
            scales=tuple(job['scales']), progress=False,
            log=log_lines.append)
        ir1, ir2, rw = (report['ir_labels_1'], report['ir_labels_2'],
                        report['rw_masks'])
        seeds = ir2['seeds']
        result = dict(
            row=job['row'], seed=job['seed'], key=job['key'],
            config=job['config'], options=job['row_options'],
            checkpoint=report['train_amn']['checkpoint'],
            cam_seed_miou=ir1['seeds']['best']['miou'],
            ir1_miou=ir1['masks_eval']['best']['miou'],
            ir1_fg=_fg_percent(ir1['masks_eval']['confusion']),
            seed_miou=seeds['best']['miou'],
            seed_thr=seeds['best']['threshold'],
            curve={str(r['threshold']): r['miou'] for r in seeds['curve']},
            fg_at_best_seed_thr=_fg_percent(seeds['confusion']),
            ir2_miou=ir2['masks_eval']['best']['miou'],
            ir2_fg=_fg_percent(ir2['masks_eval']['confusion']),
            mask_miou=rw['masks_eval']['best']['miou'],
            fg_of_masks=_fg_percent(rw['masks_eval']['confusion']),
            mask_refine='irn random walk',
            losses=_loss_log(osp.join(out, 'amn')),
            seconds=dict(train_cams_seeds=round(time.time() - t0, 1)))
        with open(result_path + '.tmp', 'w') as f:
            json.dump(result, f, indent=1)
        os.replace(result_path + '.tmp', result_path)
        return result
    finally:
        os.remove(lock)


def _run_unlocked(job: Dict, work_dir: str, result_path: str,
                  result: Optional[Dict]) -> Dict:
    from mmcpal.apis.pseudo import generate_pseudo_masks
    pseudo_dir = osp.join(work_dir, 'pseudo')
    run_cfg = osp.join(work_dir, 'config.py')
    log_lines: List[str] = []
    if result is None:  # train, CAMs, seed sweep
        result = _train_and_seeds(job, run_cfg, pseudo_dir, log_lines)
    if job['refine'] not in result.get('masks', {}):
        _cam_masks(job, result, pseudo_dir, run_cfg, log_lines)
    for cam_type in missing_cam_types(result, job):  # the map types asked
        entry = _score_cam_type(job, run_cfg, result['checkpoint'],
                                pseudo_dir, cam_type, log_lines)
        old = (result.get('by_cam_type') or {}).get(cam_type) or {}
        entry['masks'] = dict(old.get('masks', {}), **entry.get('masks', {}))
        result.setdefault('by_cam_type', {})[cam_type] = entry
    with open(result_path + '.tmp', 'w') as f:
        json.dump(result, f, indent=1)
    os.replace(result_path + '.tmp', result_path)
    return _pick_masks(result, job['refine'])


def _cam_masks(job: Dict, result: Dict, pseudo_dir: str, run_cfg: str,
               log_lines: List[str]) -> None:
    """The CAM's masks at the fixed threshold, into ``result['masks']``."""
    from mmcpal.apis.pseudo import generate_pseudo_masks
    # masks at the fixed threshold; a later pass with another ``--refine``
    # (e.g. crf once it exists) reuses checkpoint, CAMs and seed sweep
    t0 = time.time()
    report = generate_pseudo_masks(
        run_cfg, result['checkpoint'], pseudo_dir, stages=('masks', 'eval'),
        cam_type='cam', scales=tuple(job['scales']), flip=True,
        refine=job['refine'],
        bg_threshold=job['bg_threshold'], crf_backend='torch',
        progress=False, log=log_lines.append)
    masks = report['masks_eval']
    result.setdefault('masks', {})[job['refine']] = dict(
        miou=masks['best']['miou'], bg_threshold=job['bg_threshold'],
        fg=_fg_percent(masks['confusion']), summary=report.get('masks'),
        seconds=round(time.time() - t0, 1))


def _pick_masks(result: Dict, refine: str) -> Dict:
    """The run's result with ``mask_miou`` of the requested refinement."""
    out = dict(result)
    # re-read the losses from the run's own text log (runs of an earlier
    # version stored another run's scalars when a worker was reused)
    train_dir = osp.dirname(result['checkpoint'])
    if osp.isdir(train_dir):
        out['losses'] = _loss_log(train_dir)
    masks = result.get('masks') or {}
    out['mask_refine'] = refine
    out['mask_miou'] = masks[refine]['miou'] if refine in masks else None
    out['fg_of_masks'] = masks[refine]['fg'] if refine in masks else None
    out['mask_miou_by'] = {r: m['miou'] for r, m in masks.items()}
    out['by_map'] = map_scores(result, refine)
    return out


def map_scores(result: Dict, refine: str) -> Dict[str, Dict]:
    """Seed and mask mIoU of a run per map type (``cam`` always; the
    others when scored; None where a map does not exist)."""
    masks = result.get('masks') or {}
    out = {'cam': dict(seed_miou=result.get('seed_miou'),
                       seed_thr=result.get('seed_thr'),
                       mask_miou=(masks.get(refine) or {}).get('miou'))}
    for cam_type, entry in (result.get('by_cam_type') or {}).items():
        out[cam_type] = dict(
            seed_miou=entry.get('seed_miou'), seed_thr=entry.get('seed_thr'),
            mask_miou=((entry.get('masks') or {}).get(refine) or {}).get(
                'miou'), skipped=entry.get('skipped'))
    return out


def _train_and_seeds(job: Dict, run_cfg: str, pseudo_dir: str,
                     log_lines: List[str]) -> Dict:
    """Train (unless the final checkpoint exists), CAMs, seed sweep."""
    from mmengine.runner import Runner

    from mmcpal.apis import prepare_run_config
    from mmcpal.apis.pseudo import generate_pseudo_masks
    work_dir = job['work_dir']
    os.makedirs(work_dir, exist_ok=True)
    t0 = time.time()
    train_dir = osp.join(work_dir, 'train')
    ckpt = osp.join(train_dir, f"epoch_{job['epochs']}.pth")
    cfg = prepare_run_config(job['config'], work_dir=train_dir,
                             cfg_options=job['options'])
    cfg.dump(run_cfg)
    reused = _reusable_checkpoint(job, cfg)
    if reused is not None and not job['force']:
        ckpt = reused  # same model, seed and schedule: only inference differs
        log_lines.append(f'reusing the trained network {ckpt}')
    elif job['force'] or not osp.isfile(ckpt):
        Runner.from_cfg(cfg).train()
    t_train = time.time() - t0
    report = generate_pseudo_masks(
        run_cfg, ckpt, pseudo_dir, stages=('cams', 'seeds'), cam_type='cam',
        scales=tuple(job['scales']), flip=True, refine='none',
        bg_threshold=job['bg_threshold'], progress=False,
        log=log_lines.append)
    seeds = report['seeds']
    return dict(
        row=job['row'], seed=job['seed'], key=job['key'],
        config=job['config'], options=job['row_options'],
        checkpoint=ckpt,
        seed_miou=seeds['best']['miou'], seed_thr=seeds['best']['threshold'],
        curve={str(r['threshold']): r['miou'] for r in seeds['curve']},
        fg_at_best_seed_thr=_fg_percent(seeds['confusion']),
        losses=_loss_log(train_dir),
        cam_summary=report.get('cams'),
        seconds=dict(train=round(t_train, 1),
                     train_cams_seeds=round(time.time() - t0, 1)))


def _train_view(cfg) -> str:
    """What decides a training's outcome, from a (dumped) config."""
    data = cfg.train_dataloader.dataset
    return json.dumps(dict(
        model=cfg.model.to_dict(), hooks=cfg.get('custom_hooks'),
        seed=cfg.randomness.get('seed'), epochs=cfg.train_cfg.max_epochs,
        indices=data.get('indices'), root=osp.abspath(data.data_root),
        optim=cfg.optim_wrapper.to_dict()), sort_keys=True, default=str)


def _reusable_checkpoint(job: Dict, cfg) -> Optional[str]:
    """The final checkpoint of the same run under ``--checkpoints-from``,
    if that run was trained with the same model, hooks, seed, schedule and
    images (checked on its dumped config), else None."""
    src_root = job.get('checkpoints_from')
    if not src_root:
        return None
    from mmengine.config import Config
    src = osp.join(src_root, osp.basename(job['work_dir']))
    src_cfg = osp.join(src, 'config.py')
    src_ckpt = osp.join(src, 'train', f"epoch_{job['epochs']}.pth")
    if not (osp.isfile(src_cfg) and osp.isfile(src_ckpt)):
        return None
    if _train_view(Config.fromfile(src_cfg)) != _train_view(cfg):
        raise RuntimeError(f'--checkpoints-from: {src} was trained with '
                           'other settings; not reusing it')
    return src_ckpt


def _mean_sd(values: List[float]) -> Dict:
    values = [v for v in values if v is not None]
    if not values:
        return dict(mean=None, sd=None, n=0)
    mean = sum(values) / len(values)
    sd = (math.sqrt(sum((v - mean) ** 2 for v in values) /
                    (len(values) - 1)) if len(values) > 1 else None)
    return dict(mean=round(mean, 2), sd=None if sd is None else round(sd, 2),
                n=len(values))


def summarise(runs: List[Dict]) -> Dict:
    """Mean / SD over a row's runs; the curve averaged over seeds."""
    ok = [r for r in runs if 'error' not in r]
    out = dict(runs=runs)
    if not ok:
        return out
    seed = _mean_sd([r['seed_miou'] for r in ok])
    mask = _mean_sd([r['mask_miou'] for r in ok])
    by_refine = {}
    for ref in sorted({k for r in ok for k in r.get('mask_miou_by', {})}):
        stats = _mean_sd([r['mask_miou_by'].get(ref) for r in ok])
        by_refine[ref] = dict(miou=stats['mean'], sd=stats['sd'],
                              n=stats['n'])
    thrs = list(ok[0]['curve'])
    mean_curve = {t: round(sum(r['curve'][t] for r in ok) / len(ok), 2)
                  for t in thrs}
    out.update(
        seed_miou=seed['mean'], seed_miou_sd=seed['sd'], n=seed['n'],
        seed_thr=[r['seed_thr'] for r in ok],
        mean_curve=mean_curve,
        mean_curve_best_thr=float(max(mean_curve, key=mean_curve.get)),
        mask_miou=mask['mean'], mask_miou_sd=mask['sd'],
        mask_miou_by_refine=by_refine,
        pred_fg_at_best_thr=_mean_sd(
            [r['fg_at_best_seed_thr']['pred_fg'] for r in ok])['mean'],
        pred_fg_of_masks=_mean_sd(
            [(r.get('fg_of_masks') or {}).get('pred_fg') for r in ok])['mean'],
        gt_fg=ok[0]['fg_at_best_seed_thr']['gt_fg'],
        by_map=summarise_maps(ok))
    return out


def summarise_maps(runs: List[Dict]) -> Dict[str, Dict]:
    """Mean / SD of seed and mask mIoU per map type over a row's runs."""
    types = [t for t in CAM_TYPES
             if any(t in (r.get('by_map') or {}) for r in runs)]
    out = {}
    for cam_type in types:
        cells = [(r.get('by_map') or {}).get(cam_type) or {} for r in runs]
        seed = _mean_sd([c.get('seed_miou') for c in cells])
        mask = _mean_sd([c.get('mask_miou') for c in cells])
        out[cam_type] = dict(seed_miou=seed['mean'], seed_miou_sd=seed['sd'],
                             mask_miou=mask['mean'], mask_miou_sd=mask['sd'],
                             n=seed['n'])
    return out


def maps_table(out: Dict, refine: str) -> List[str]:
    """Markdown rows: seed / mask mIoU of every row per map type (only when
    a map other than the CAM was scored)."""
    items = [(n, out.get(n)) for n in ARMS]
    items += [(r['row'], r) for g in ROW_GROUPS for r in out.get(g, [])]
    items = [(n, s) for n, s in items if s and s.get('by_map')]
    if not any(set(s['by_map']) - {'cam'} for _, s in items):
        return []
    lines = ['', 'Seed and mask mIoU per scored map (same checkpoints; '
             '`cam` the classifier CAM, `pacam` the prototype-aware CAM, '
             '`fused` their mean; `-`: no CPAL branch):', '',
             f'| row | map | n | seed mIoU (mean ± SD) | mask mIoU, {refine} '
             '(fixed thr) |', '|---|---|---|---|---|']
    for name, s in items:
        for cam_type, m in s['by_map'].items():
            lines.append(f"| {name} | {cam_type} | {m['n']} | "
                         f"{_pm(m['seed_miou'], m['seed_miou_sd'])} | "
                         f"{_pm(m['mask_miou'], m['mask_miou_sd'])} |")
    return lines


def paired_differences(arm: Dict, base: Dict, cam_type: str,
                       field: str) -> Dict:
    """Per-seed ``arm[cam_type] - baseline[cam]`` of ``field`` and their
    mean / SD over the seeds both have."""
    def by_seed(summary, kind):
        out = {}
        for r in summary.get('runs') or []:
            cell = (r.get('by_map') or {}).get(kind) or {}
            if 'error' not in r and cell.get(field) is not None:
                out[r['seed']] = cell[field]
        return out
    a, b = by_seed(arm, cam_type), by_seed(base, 'cam')
    diffs = [round(a[k] - b[k], 2) for k in sorted(set(a) & set(b))]
    stats = _mean_sd(diffs)
    return dict(diffs=diffs, mean=stats['mean'], sd=stats['sd'],
                n=stats['n'])


def paired_table(out: Dict, refine: str) -> List[str]:
    """Markdown: each CPAL arm's map minus the baseline CAM, seed by seed."""
    base = out.get('baseline') or {}
    lines = []
    for name in ARMS[1:]:
        arm = out.get(name) or {}
        for cam_type in (arm.get('by_map') or {}):
            seed = paired_differences(arm, base, cam_type, 'seed_miou')
            mask = paired_differences(arm, base, cam_type, 'mask_miou')
            if not seed['n']:
                continue
            lines.append(f"| {name} | {cam_type} | {seed['n']} | "
                         f"{_pm(seed['mean'], seed['sd'])} "
                         f"{seed['diffs']} | {_pm(mask['mean'], mask['sd'])} "
                         f"{mask['diffs']} |")
    if not lines:
        return []
    return ['', 'Paired differences to the baseline CAM of the same seed '
            '(arm map minus baseline `cam`; mean ± SD over seeds, then the '
            'per-seed values):', '',
            f'| arm | map | seeds | seed mIoU diff | mask mIoU diff, {refine} '
            '|', '|---|---|---|---|---|'] + lines


def resolve_refine(choice: str) -> str:
    if choice != 'auto':
        return choice
    try:
        sys.path.insert(0, REPO)
        from mmcpal.pseudo.crf import crf_masks  # noqa: F401
        return 'crf'
    except ImportError as err:
        print(f'CRF unavailable ({err}); masks fall back to refine=none')
        return 'none'


def run_seconds(results: Sequence[Dict]) -> float:
    """Single-process seconds spent on the given runs (training, CAMs, seed
    sweep and masks)."""
    total = 0.0
    for res in results:
        total += (res.get('seconds') or {}).get('train_cams_seeds', 0.0)
        total += sum(m.get('seconds', 0.0)
                     for m in (res.get('masks') or {}).values())
    return round(total, 1)


def protocol(args: argparse.Namespace, refine: str, seconds: float) -> Dict:
    import torch
    return dict(
        data=osp.abspath(args.data),
        images=args.limit or 'all (330)',
        labels='image-level labels only for training; masks only to score',
        network=NETWORKS[args.backbone],
        epochs=args.epochs,
        checkpoint='final epoch, the same for every row (never picked '
        'with masks)',
        seeds_baseline_cpal=args.seeds,
        seeds_ablation_choice=args.seeds[:args.extra_seeds],
        seeds_chain=args.seeds[:args.chain_seeds],
        chain='AMN / AMN + CPAL (configs/amn/amn_squeezenet_voc12mini.py, '
        'configs/cpal/amn_cpal_squeezenet_voc12mini.py: batch 8, crops 256, '
        'Adam 1e-4, 5 epochs) and IRN (configs/irn/'
        'irn_squeezenet_voc12mini.py: 3 epochs), final checkpoints',
        inference=f'CAMs at scales {args.scales} (each with its flip) of the '
        'full-resolution image (effective long side 320 px on 500 px VOC '
        'images), maps upsampled to full resolution, scored against '
        'full-resolution GT',
        seed_miou='best background threshold of the sweep 0.01..0.95, '
        "picked on the evaluated set's own GT (as the papers' seed numbers "
        'are)',
        mask_miou=f'refine={refine!r} masks at a FIXED background threshold '
        f'{args.bg_threshold} chosen a priori, the same for every row',
        gt_fg_percent_doc=GT_FG_PERCENT_DOC,
        command='python ' + ' '.join(sys.argv),
        date=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
        machine=f'{platform.node()} {platform.machine()} '
        f'{platform.processor() or ""} {os.cpu_count()} CPUs, '
        f'python {platform.python_version()}, torch {torch.__version__}',
        workers=args.workers,
        title=args.title,
        mask_refine=refine,
        cam_types=list(getattr(args, 'cam_types', ['cam'])),
        checkpoints_from=args.checkpoints_from,
        threads_per_worker=1,
        seconds=round(seconds, 1))


def _fmt(v, nd=1) -> str:
    return '-' if v is None else f'{v:.{nd}f}'


def _pm(mean, sd) -> str:
    if mean is None:
        return '-'
    return _fmt(mean, 2) + ('' if sd is None else f' ± {sd:.2f}')


def final_losses(run: Dict) -> Dict:
    """Mean logged ``loss_cls`` / ``loss_self`` of the first and last
    epoch of a run."""
    losses = run.get('losses') or []
    out = {}
    if not losses:
        return out
    for tag, epoch in (('first', min(r['epoch'] for r in losses)),
                       ('last', max(r['epoch'] for r in losses))):
        rows = [r for r in losses if r['epoch'] == epoch]
        for key in ('loss_cls', 'loss_self'):
            vals = [r[key] for r in rows if key in r]
            if vals:
                out[f'{key}_{tag}'] = sum(vals) / len(vals)
    return out


def _loss_text(run: Dict) -> str:
    f = final_losses(run)
    text = (f"{_fmt(f.get('loss_cls_first'), 3)} → "
            f"{_fmt(f.get('loss_cls_last'), 3)}")
    if 'loss_self_last' in f:
        text += (f" / {_fmt(f.get('loss_self_first'), 3)} → "
                 f"{_fmt(f.get('loss_self_last'), 3)}")
    return text


def to_markdown(out: Dict) -> str:
    """The report: protocol, main table, ablation / choice table, curves."""
    p = out['protocol']
    lines = ['## Seed and mask quality on voc12-mini '
             '(`benchmarks/quality.py`)' + (f", {p['title']}"
                                             if p.get('title') else ''),
             '', f"Report written {p['date']} on {p['machine']}; this "
             f"invocation took {p['seconds']} s with {p['workers']} worker "
             "processes of one thread each; the runs it reports took "
             f"{p.get('run_seconds_sum', '-')} s of wall clock summed over "
             'runs (each run single-threaded, on a shared machine).', '',
             '```', p['command'], '```', '', 'Protocol:', '']
    for key in ('data', 'images', 'labels', 'network', 'epochs', 'checkpoint',
                'seeds_baseline_cpal', 'seeds_ablation_choice',
                'seeds_chain', 'chain', 'inference', 'cam_types',
                'seed_miou', 'mask_miou'):
        lines.append(f'- {key}: {p.get(key, "-")}')
    refines = [p['mask_refine']] + [
        r for r in ('crf', 'none') if r != p['mask_refine']]
    lines += ['', '| row | seeds | seed mIoU (mean ± SD) | best thr per seed '
              '| ' + ' | '.join(f'mask mIoU, {r} (fixed thr)'
                                for r in refines) +
              f" | pred. fg % at best thr | pred. fg % of {refines[0]} "
              'masks |', '|---|---|---|---|' + '---|' * len(refines) +
              '---|---|']
    for name in ARMS:
        s = out.get(name) or {}
        if not s.get('n'):
            continue
        by = s.get('mask_miou_by_refine') or {}
        cells = [_pm(by.get(r, {}).get('miou'), by.get(r, {}).get('sd')) +
                 (f" (n={by[r]['n']})" if r in by and
                  by[r]['n'] != s.get('n') else '') for r in refines]
        lines.append(
            f"| {name} | {s.get('n', 0)} | "
            f"{_pm(s.get('seed_miou'), s.get('seed_miou_sd'))} | "
            f"{s.get('seed_thr', '-')} | " + ' | '.join(cells) + ' | '
            f"{_fmt(s.get('pred_fg_at_best_thr'))} | "
            f"{_fmt(s.get('pred_fg_of_masks'))} |")
    lines += maps_table(out, refines[0])
    lines += paired_table(out, refines[0])
    gt = (out.get('baseline') or {}).get('gt_fg')
    lines += ['', f'Ground-truth foreground: {_fmt(gt)} % of the scored '
              'pixels.', '']
    rows = [r for g in ROW_GROUPS for r in out.get(g, [])]
    if rows:
        lines += ['| row | group | options / config | seed | seed mIoU | '
                  'thr | ' + ' | '.join(f'mask mIoU, {r}' for r in refines)
                  + ' | pred. fg % at best thr |',
                  '|---|---|---|---|---|---|' + '---|' * len(refines) +
                  '---|']
        for r in rows:
            what = r.get('options') or {}
            what = ', '.join(f'{k.split(".")[-1]}={v}'
                             for k, v in what.items()) or osp.basename(
                                 r['config'])
            if not r.get('runs'):
                lines.append(f"| {r['row']} | {r['group']} | {what} | - | "
                             'not run | | | |')
            for run in r.get('runs', []):
                if 'error' in run:
                    lines.append(f"| {r['row']} | {r['group']} | {what} | "
                                 f"{run['seed']} | error | | | |")
                    continue
                by = run.get('mask_miou_by') or {}
                lines.append(
                    f"| {r['row']} | {r['group']} | {what} | {run['seed']} | "
                    f"{_fmt(run['seed_miou'], 2)} | {run['seed_thr']} | " +
                    ' | '.join(_fmt(by.get(ref), 2) for ref in refines) +
                    f" | {_fmt(run['fg_at_best_seed_thr']['pred_fg'])} |")
    chain = out.get('chain', [])
    if chain:
        lines += ['', '### The AMN route on voc12-mini', '',
                  'Each chain row starts from the baseline CAM network of '
                  'the same seed (its final checkpoint): round-1 IR labels '
                  '(fg 0.30 / bg 0.05) → AMN (the row\'s config, its own '
                  'schedule) → AMN CAMs (seed mIoU: best threshold of the '
                  'same sweep) → round-2 IR labels (fg 0.45 / bg 0.15) → '
                  'IRN → random walk (beta 10, 2^8 steps, radius 5, bg '
                  '0.25, CAM power 1.3) → masks (mask mIoU, no threshold '
                  'chosen with GT). IR-label mIoU counts the unsure 255 '
                  'pixels as wrong. Same images, scales and GT handling as '
                  'above.', '',
                  '| row | seed | CAM seed mIoU | IR labels 1 mIoU (fg %) | '
                  'AMN seed mIoU (thr) | IR labels 2 mIoU (fg %) | '
                  'random-walk mask mIoU | pred. fg % of masks |',
                  '|---|---|---|---|---|---|---|---|']
        for r in chain:
            if not r.get('runs'):
                lines.append(f"| {r['row']} | - | not run | | | | | |")
            for run in r.get('runs', []):
                if 'error' in run:
                    lines.append(f"| {r['row']} | {run['seed']} | error: "
                                 f"{run['error'][:80]} | | | | | |")
                    continue
                lines.append(
                    f"| {r['row']} | {run['seed']} | "
                    f"{_fmt(run['cam_seed_miou'], 2)} | "
                    f"{_fmt(run['ir1_miou'], 2)} "
                    f"({_fmt(run['ir1_fg']['pred_fg'])}) | "
                    f"{_fmt(run['seed_miou'], 2)} ({run['seed_thr']}) | "
                    f"{_fmt(run['ir2_miou'], 2)} "
                    f"({_fmt(run['ir2_fg']['pred_fg'])}) | "
                    f"{_fmt(run['mask_miou'], 2)} | "
                    f"{_fmt(run['fg_of_masks']['pred_fg'])} |")
            if r.get('n', 0) > 1:
                lines.append(
                    f"| {r['row']} mean ± SD | {r['n']} | | | "
                    f"{_pm(r.get('seed_miou'), r.get('seed_miou_sd'))} | | "
                    f"{_pm(r.get('mask_miou'), r.get('mask_miou_sd'))} | |")
    lines += ['', 'Per run (all rows): logged training loss, first → last '
              'epoch mean, `loss_cls` / `loss_self`:', '',
              '| row | seed | seed mIoU | thr | losses |',
              '|---|---|---|---|---|']
    for name in ARMS:
        for run in (out.get(name) or {}).get('runs', []):
            if 'error' not in run:
                lines.append(f"| {name} | {run['seed']} | "
                             f"{_fmt(run['seed_miou'], 2)} | "
                             f"{run['seed_thr']} | "
                             f'{_loss_text(run)} |')
    for r in rows:
        for run in r.get('runs', []):
            if 'error' not in run:
                lines.append(f"| {r['row']} | {run['seed']} | "
                             f"{_fmt(run['seed_miou'], 2)} | "
                             f"{run['seed_thr']} | "
                             f'{_loss_text(run)} |')
    lines += ['', 'Seed mIoU curves (mean over seeds) per background '
              'threshold:', '']
    curves = [(n, (out.get(n) or {}).get('mean_curve')) for n in ARMS]
    curves = [(n, c) for n, c in curves if c]
    if curves:
        thrs = list(curves[0][1])
        lines += ['| row | ' + ' | '.join(thrs) + ' |',
                  '|---|' + '---|' * len(thrs)]
        for n, c in curves:
            lines.append(f'| {n} | ' + ' | '.join(_fmt(c[t]) for t in thrs)
                         + ' |')
    return '\n'.join(lines) + '\n'


def write_doc(path: str, table: str, tag: str = '') -> None:
    """Write the generated report between the markers
    ``<!-- quality.py[tag]: begin/end -->`` of an existing file (the text
    around them is kept), or append it."""
    name = f'quality.py[{tag}]' if tag else 'quality.py'
    begin, end = f'<!-- {name}: begin -->', f'<!-- {name}: end -->'
    block = f'{begin}\n{table}{end}\n'
    text = open(path).read() if osp.isfile(path) else ''
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1].lstrip('\n')
    else:
        text = (text + '\n' if text else '') + block
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


def main() -> None:
    args = parse_args()
    t0 = time.time()
    sys.path.insert(0, REPO)
    rows = for_backbone(select_rows(args.rows), args.backbone)
    refine = resolve_refine(args.refine)
    os.makedirs(args.work_dir, exist_ok=True)
    jobs: Dict[str, Dict] = {}
    plan = []  # (row, seed, key)
    for row in rows:
        seeds = args.seeds if row['group'] in ARMS \
            else args.seeds[:args.chain_seeds] if row['group'] == 'chain' \
            else args.seeds[:args.extra_seeds]
        for seed in seeds:
            key = run_key(row, seed, args)
            plan.append((row, seed, key))
            if key in jobs:
                continue
            if row['group'] == 'chain':
                jobs[key] = dict(
                    kind='chain', row=row['name'], seed=seed, key=key,
                    config=osp.join(REPO, row['config']),
                    row_options=row['options'],
                    options=chain_options(row, seed, args),
                    data=args.data, scales=args.scales, force=args.force,
                    base_job=base_job(seed, args, refine),
                    work_dir=osp.join(args.work_dir,
                                      f"{row['name']}_s{seed}"))
            else:
                jobs[key] = dict(
                    row=row['name'], seed=seed, key=key,
                    config=osp.join(REPO, row['config']),
                    row_options=row['options'],
                    options=run_options(row, seed, args),
                    epochs=args.epochs, scales=args.scales,
                    bg_threshold=args.bg_threshold, refine=refine,
                    cam_types=args.cam_types,
                    force=args.force, checkpoints_from=args.checkpoints_from,
                    work_dir=osp.join(args.work_dir,
                                      f"{row['name'].replace('=', '-')}"
                                      f'_s{seed}'))
    # baseline / cpal first, seed by seed, so a cut-short run still compares
    order = sorted(jobs.values(), key=lambda j: (
        0 if j['row'] in ARMS else
        2 if j.get('kind') == 'chain' else 1, j['seed']))
    print(f'{len(plan)} row-runs, {len(jobs)} distinct trainings, refine='
          f'{refine}, mask bg threshold {args.bg_threshold}, scales '
          f'{args.scales}', flush=True)
    results: Dict[str, Dict] = {}

    def assemble() -> Dict:
        out: Dict = {}
        by_row: Dict[str, List[Dict]] = {}
        for row, seed, key in plan:
            if key in results:
                run = dict(results[key])
                run['row'], run['seed'] = row['name'], seed
                by_row.setdefault(row['name'], []).append(run)
        for row in rows:
            runs = by_row.get(row['name'], [])
            summary = summarise(runs)
            if row['group'] in ARMS:
                out[row['group']] = summary
            else:
                item = dict(row=row['name'], group=row['group'],
                            config=row['config'], options=row['options'],
                            desc=row['desc'])
                item.update(summary)
                out.setdefault(row['group'], []).append(item)
        out['protocol'] = protocol(args, refine, time.time() - t0)
        out['protocol']['run_seconds_sum'] = run_seconds(
            [r for r in results.values() if 'error' not in r])
        return out

    def save() -> Dict:
        out = assemble()
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
        if args.doc:
            write_doc(args.doc, to_markdown(out), args.doc_tag)
        return out

    if args.assemble_only:
        for job in order:
            path = osp.join(job['work_dir'], 'result.json')
            if osp.isfile(path):
                with open(path) as f:
                    res = json.load(f)
                if res.get('key') != job['key']:
                    print(f'{path}: made with other settings, left out')
                elif job.get('kind') == 'chain':
                    results[job['key']] = res
                elif res.get('masks'):  # mask_miou None without `refine`
                    results[job['key']] = _pick_masks(res, refine)
        order = []
    if args.workers == 1:
        for job in order:
            results[job['key']] = _safe(job)
            _print_done(results[job['key']])
            save()
    else:
        import multiprocessing as mp
        with ProcessPoolExecutor(args.workers,
                                 mp_context=mp.get_context('spawn')) as ex:
            futures = {ex.submit(_safe, j): j['key'] for j in order}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                _print_done(results[futures[fut]])
                save()
    out = save()
    print(to_markdown(out))


def base_job(seed: int, args: argparse.Namespace, refine: str) -> Dict:
    """The baseline run of ``seed`` (the CAM network a chain row starts
    from)."""
    row = ROWS[0]
    return dict(row=row['name'], seed=seed, key=run_key(row, seed, args),
                config=osp.join(REPO, row['config']),
                row_options=row['options'],
                options=run_options(row, seed, args), epochs=args.epochs,
                scales=args.scales, bg_threshold=args.bg_threshold,
                refine=refine, force=False,
                work_dir=osp.join(args.work_dir, f"{row['name']}_s{seed}"))


def _safe(job: Dict) -> Dict:
    try:
        if job.get('kind') == 'chain':
            return run_chain_job(job)
        return run_one(job)
    except Exception as err:  # report the row as failed, keep the others
        traceback.print_exc()
        return dict(row=job['row'], seed=job['seed'], key=job['key'],
                    config=job['config'], options=job['row_options'],
                    error=f'{type(err).__name__}: {err}')


def _print_done(res: Dict) -> None:
    if 'error' in res:
        print(f"[{time.strftime('%H:%M:%S')}] {res['row']} seed "
              f"{res['seed']}: ERROR {res['error']}", flush=True)
    else:
        print(f"[{time.strftime('%H:%M:%S')}] {res['row']} seed "
              f"{res['seed']}: seed mIoU {res['seed_miou']} at "
              f"{res['seed_thr']}, mask mIoU {res['mask_miou']}, "
              f"{res['seconds']}", flush=True)


if __name__ == '__main__':
    main()
