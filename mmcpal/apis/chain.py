"""The AMN route, stage by stage: CAM -> IR labels -> AMN -> IR labels ->
IRN -> random-walk masks, with seed and mask mIoU of every stage.

Stages (folders under ``out_dir``):

=============  ===============  ==============================================
stage          folder           what
=============  ===============  ==============================================
train_cam      ``cam/``         train the CAM network (+CPAL per config)
ir_labels_1    ``cam_pseudo/``  its CAMs, seed mIoU, round-1 IR labels
train_amn      ``amn/``         train AMN (+CPAL per config) on them
ir_labels_2    ``amn_pseudo/``  AMN CAMs, seed mIoU, round-2 IR labels
train_irn      ``irn/``         train IRN on the round-2 IR labels
rw_masks       ``rw/``          random walk of the AMN CAMs, mask mIoU
table          ``summary.md``   seed / mask mIoU of every stage
=============  ===============  ==============================================

Every stage writes ``<folder>/DONE.json`` (its summary) last, atomically; a
stage whose marker exists is skipped, so a rerun resumes (training resumes
from the latest checkpoint of its work dir, the per-image stages skip
finished images). All thresholds are fixed options, never chosen with the
ground truth; ground truth only feeds the reported mIoU.

Thresholds (gaviotas/AMN ``run_sample.py``): round-1 IR labels from the CAM
network at fg 0.30 / bg 0.05, round-2 IR labels from AMN at fg 0.45 / bg
0.15; IRN random walk beta 10, exp_times 8, radius 5, background 0.25
(jiwoon-ahn/irn ``run_sample.py``), CAM power 1.3 (AMN
``make_sem_seg_labels.py``, see :mod:`mmcpal.pseudo.random_walk`).
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, Optional, Sequence

from mmengine.config import Config

from mmcpal.apis.pseudo import RW_DEFAULTS
from mmcpal.pseudo.multiscale import DEFAULT_SCALES

STAGES = ('train_cam', 'ir_labels_1', 'train_amn', 'ir_labels_2', 'train_irn',
          'rw_masks', 'table')
STAGE_DIRS = dict(train_cam='cam',
                  ir_labels_1='cam_pseudo',
                  train_amn='amn',
                  ir_labels_2='amn_pseudo',
                  train_irn='irn',
                  rw_masks='rw')
MARKER = 'DONE.json'
RUN_CONFIG = 'chain_config.py'


def marker_path(out_dir: str, stage: str) -> str:
    """``<out_dir>/<stage folder>/DONE.json``."""
    if stage not in STAGE_DIRS:
        raise ValueError(f'unknown stage {stage!r}; stages with a marker: '
                         f'{list(STAGE_DIRS)}')
    return osp.join(out_dir, STAGE_DIRS[stage], MARKER)


def read_marker(out_dir: str, stage: str) -> Optional[Dict]:
    """The summary a finished stage left, or None if it is unfinished."""
    path = marker_path(out_dir, stage)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f'stage marker {path!r} is unreadable ({err}); '
                         'delete it to redo the stage') from err


def write_json_atomic(path: str, data: Dict) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file + rename."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_params(out_dir: str, stage: str, done: Dict, params: Dict) -> None:
    """Refuse to reuse a stage finished with other fixed options."""
    old = done.get('params', {})
    diff = {k: (old.get(k), v) for k, v in params.items() if old.get(k) != v}
    if diff:
        raise ValueError(
            f'stage {stage} in {osp.join(out_dir, STAGE_DIRS[stage])} was '
            f'finished with other options (old, new): {diff}; delete that '
            'folder (and the later stages) to redo it')


def _check_job(stage: str, summary: Dict, what: str) -> None:
    """Refuse to mark a per-image stage done when it produced nothing."""
    if summary['done'] + summary['skipped_done'] == 0:
        raise RuntimeError(
            f'stage {stage}: no {what} was produced ({summary["total"]} '
            f'images, failures {summary["failed"]}); see the log above')


def _require(out_dir: str, stage: str, needed_by: str) -> Dict:
    done = read_marker(out_dir, stage)
    if done is None:
        raise FileNotFoundError(
            f'stage {needed_by} needs the output of stage {stage} '
            f'({marker_path(out_dir, stage)} not found); add {stage} to '
            'the stages')
    return done


def _ir_label_index(cfg: Config, config: str) -> int:
    pipeline = cfg.train_dataloader.dataset.pipeline
    for i, step in enumerate(pipeline):
        if step.get('type') in ('LoadIRLabel', 'mmcpal.LoadIRLabel'):
            return i
    raise ValueError(f'config {config!r}: its training pipeline has no '
                     'LoadIRLabel step to read the IR labels from')


def stage_cfg_options(config: str,
                      *,
                      data_root: Optional[str] = None,
                      ir_label_dir: Optional[str] = None,
                      cfg_options: Optional[Dict] = None) -> Dict:
    """Overrides of one training config: data root, IR labels, user's.

    Args:
        config (str): Config file.
        data_root (str, optional): Data root for every dataloader the config
            has. Defaults to None (the config's).
        ir_label_dir (str, optional): IR labels for the ``LoadIRLabel``
            step of the training pipeline (found by type). Defaults to None.
        cfg_options (dict, optional): User overrides, applied last.

    Returns:
        dict: For :func:`mmcpal.apis.prepare_run_config`.
    """
    from mmcpal.apis.config import load_config
    cfg = load_config(config, cfg_options)
    options: Dict = {}
    if data_root is not None:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key) is not None:
                options[f'{key}.dataset.data_root'] = data_root
    if ir_label_dir is not None:
        index = _ir_label_index(cfg, config)
        options[f'train_dataloader.dataset.pipeline.{index}.ir_label_dir'] = \
            ir_label_dir
    options.update(cfg_options or {})
    return options


def train_stage(config: str,
                work_dir: str,
                cfg_options: Dict,
                log: Callable[[str], None] = print) -> Dict:
    """Train with MMEngine's Runner, resuming a killed run of ``work_dir``.

    Args:
        config (str): Config file.
        work_dir (str): Logs and checkpoints.
        cfg_options (dict): Overrides (:func:`stage_cfg_options`).
        log (callable): Report lines.

    Returns:
        dict: ``checkpoint`` (the last one) and ``config`` (the merged config
        dumped to ``<work_dir>/chain_config.py``, for inference).
    """
    from mmengine.runner import Runner

    from mmcpal.apis.config import prepare_run_config
    cfg = prepare_run_config(config,
                             work_dir=work_dir,
                             resume='auto',
                             cfg_options=cfg_options)
    # A distinct visualizer per run: several Runners share this process.
    if cfg.get('visualizer') is not None:
        cfg.visualizer.pop('name', None)
    os.makedirs(work_dir, exist_ok=True)
    run_config = osp.join(work_dir, RUN_CONFIG)
    cfg.dump(run_config)
    log(f'training {config} in {work_dir}')
    Runner.from_cfg(cfg).train()
    last = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(last):
        raise FileNotFoundError(f'training of {config} left no checkpoint '
                                f'({last} missing)')
    with open(last) as f:
        checkpoint = f.read().strip()
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'{last} names {checkpoint!r}, which does '
                                'not exist')
    return dict(checkpoint=checkpoint, config=run_config, source_config=config)


def rw_masks_stage(irn_config: str,
                   irn_checkpoint: str,
                   amn_config: str,
                   cam_dir: str,
                   out_dir: str,
                   *,
                   data_root: Optional[str] = None,
                   beta: float = RW_DEFAULTS['beta'],
                   exp_times: int = RW_DEFAULTS['exp_times'],
                   radius: int = RW_DEFAULTS['radius'],
                   bg_thres: float = RW_DEFAULTS['bg_thres'],
                   cam_power: float = RW_DEFAULTS['cam_power'],
                   device: str = 'cpu',
                   progress: bool = True,
                   log: Callable[[str], None] = print) -> Dict:
    """Random-walk masks of stored CAMs with a trained IRN, and their mIoU.

    :func:`mmcpal.apis.pseudo.generate_pseudo_masks` with ``refine='rw'``
    (what ``tools/gen_pseudo_masks.py --refine rw`` runs): a resumable
    per-image job writing ``<out_dir>/masks_rw/<id>.png``, then
    ``<out_dir>/mask_eval.{json,md}`` when ground truth exists.

    Args:
        irn_config (str): IRN config (merged, e.g. its ``chain_config.py``).
        irn_checkpoint (str): Trained IRN weights.
        amn_config (str): Config whose training set the CAMs are of.
        cam_dir (str): CAM files (``<id>.npz``).
        out_dir (str): Output folder.
        data_root (str, optional): Another data root. Defaults to None.
        beta (float): Affinity exponent. Defaults to 10.
        exp_times (int): ``2 ** exp_times`` walk steps. Defaults to 8.
        radius (int): Walk radius. Defaults to 5.
        bg_thres (float): Background score. Defaults to 0.25.
        cam_power (float): CAM exponent. Defaults to 1.3.
        device (str): Device. Defaults to 'cpu'.
        progress (bool): Progress bar. Defaults to True.
        log (callable): Report lines.

    Returns:
        dict: ``masks`` (job summary) and ``masks_eval`` (EvalResult JSON,
        absent without ground truth).
    """
    from mmcpal.apis.pseudo import generate_pseudo_masks
    return generate_pseudo_masks(
        amn_config,
        None,
        out_dir,
        stages=('masks', 'eval'),
        data_root=data_root,
        refine='rw',
        irn_config=irn_config,
        irn_checkpoint=irn_checkpoint,
        rw_options=dict(beta=beta, exp_times=exp_times, radius=radius,
                        bg_thres=bg_thres, cam_power=cam_power),
        cam_dir=cam_dir,
        device=device,
        progress=progress,
        log=log)


def chain_table(out_dir: str, names: Optional[Sequence[str]] = None) -> str:
    """Markdown table of seed and mask mIoU of every pseudo-label stage.

    Args:
        out_dir (str): The chain's output folder.
        names (sequence[str], optional): Row names of ``cam_pseudo``,
            ``amn_pseudo`` and ``rw``.

    Returns:
        str: :func:`mmcpal.evaluation.compare.compare_runs` of the three.
    """
    from mmcpal.evaluation.compare import compare_runs
    names = names or ('CAM -> IR labels round 1', 'AMN -> IR labels round 2',
                      'AMN CAMs + IRN random walk')
    dirs = [
        osp.join(out_dir, STAGE_DIRS[s])
        for s in ('ir_labels_1', 'ir_labels_2', 'rw_masks')
    ]
    return compare_runs(dirs, names)


def run_chain(out_dir: str,
              *,
              cam_config: str,
              amn_config: str,
              irn_config: str,
              data_root: Optional[str] = None,
              cfg_options: Optional[Dict] = None,
              cam_cfg_options: Optional[Dict] = None,
              amn_cfg_options: Optional[Dict] = None,
              irn_cfg_options: Optional[Dict] = None,
              stages: Sequence[str] = STAGES,
              scales: Sequence[float] = DEFAULT_SCALES,
              flip: bool = True,
              ir1_thresholds: Sequence[float] = (0.30, 0.05),
              ir2_thresholds: Sequence[float] = (0.45, 0.15),
              rw_beta: float = RW_DEFAULTS['beta'],
              rw_exp_times: int = RW_DEFAULTS['exp_times'],
              rw_radius: int = RW_DEFAULTS['radius'],
              rw_bg_thres: float = RW_DEFAULTS['bg_thres'],
              rw_cam_power: float = RW_DEFAULTS['cam_power'],
              device: str = 'cpu',
              progress: bool = True,
              log: Callable[[str], None] = print) -> Dict:
    """Run the chosen stages of the AMN route (see the module docstring).

    Args:
        out_dir (str): Output folder (one sub-folder per stage).
        cam_config (str): CAM network config (+CPAL or not).
        amn_config (str): AMN config (its pipeline has ``LoadIRLabel``).
        irn_config (str): IRN config (its pipeline has ``LoadIRLabel``).
        data_root (str, optional): Data root of every stage. Defaults to
            None (each config's).
        cfg_options (dict, optional): Overrides of all three trainings
            (e.g. ``{'train_cfg.max_epochs': 1}``). Defaults to None.
        cam_cfg_options (dict, optional): CAM-only overrides, after
            ``cfg_options``. Defaults to None.
        amn_cfg_options (dict, optional): AMN-only overrides.
        irn_cfg_options (dict, optional): IRN-only overrides.
        stages (sequence[str]): Among :data:`STAGES`. Defaults to all.
        scales (sequence[float]): CAM inference scales. Defaults to
            ``(1.0, 0.5, 1.5, 2.0)``.
        flip (bool): Flip in CAM inference. Defaults to True.
        ir1_thresholds (sequence[float]): (fg, bg) of the round-1 IR labels.
            Defaults to (0.30, 0.05).
        ir2_thresholds (sequence[float]): (fg, bg) of the round-2 IR labels.
            Defaults to (0.45, 0.15).
        rw_beta (float): Random-walk affinity exponent. Defaults to 10.
        rw_exp_times (int): ``2 ** exp_times`` steps. Defaults to 8.
        rw_radius (int): Walk radius. Defaults to 5.
        rw_bg_thres (float): Background score of the walk. Defaults to 0.25.
        rw_cam_power (float): CAM exponent before the walk. Defaults to 1.3.
        device (str): Inference device. Defaults to 'cpu'.
        progress (bool): Progress bars. Defaults to True.
        log (callable): Report lines. Defaults to print.

    Returns:
        dict: ``{stage: 'skipped' | 'done'}`` under ``'status'``, each
        stage's marker contents under its name, and ``'table'`` (markdown)
        when that stage ran.
    """
    from mmcpal.apis.pseudo import generate_pseudo_masks
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f'unknown stages {unknown}; choose among '
                         f'{list(STAGES)}')
    for name, path in (('cam_config', cam_config), ('amn_config', amn_config),
                       ('irn_config', irn_config)):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{name}: config file {path!r} not found')
    for name, pair in (('ir1_thresholds', ir1_thresholds), ('ir2_thresholds',
                                                            ir2_thresholds)):
        if len(pair) != 2 or not 0 <= pair[1] <= pair[0] <= 1:
            raise ValueError(f'{name} must be (fg, bg) with 0 <= bg <= fg '
                             f'<= 1, got {tuple(pair)}')
    if not scales:
        raise ValueError('scales must hold at least one scale')
    os.makedirs(out_dir, exist_ok=True)
    report: Dict = dict(status={})
    per_net = dict(train_cam=(cam_config, cam_cfg_options, None),
                   train_amn=(amn_config, amn_cfg_options, 'ir_labels_1'),
                   train_irn=(irn_config, irn_cfg_options, 'ir_labels_2'))
    pseudo = dict(ir_labels_1=('train_cam', ir1_thresholds),
                  ir_labels_2=('train_amn', ir2_thresholds))
    rw_params = dict(beta=rw_beta,
                     exp_times=rw_exp_times,
                     radius=rw_radius,
                     bg_thres=rw_bg_thres,
                     cam_power=rw_cam_power)

    for stage in STAGES:
        if stage not in stages:
            continue
        if stage == 'table':
            table = chain_table(out_dir)
            path = osp.join(out_dir, 'summary.md')
            old = None
            if osp.isfile(path):
                with open(path) as f:
                    old = f.read()
            if old != table + '\n':
                with open(path, 'w') as f:
                    f.write(table + '\n')
            log(table)
            report['table'] = table
            continue
        stage_dir = osp.join(out_dir, STAGE_DIRS[stage])
        if stage in per_net:
            config, options, labels_from = per_net[stage]
            params = dict(config=osp.abspath(config))
        elif stage in pseudo:
            net_stage, (fg, bg) = pseudo[stage]
            params = dict(fg=fg, bg=bg, scales=list(scales), flip=flip)
        else:
            params = dict(rw_params)
        done = read_marker(out_dir, stage)
        if done is not None:
            _check_params(out_dir, stage, done, params)
            log(f'[chain] {stage}: done before ({marker_path(out_dir, stage)}'
                '), skipped')
            report['status'][stage] = 'skipped'
            report[stage] = done
            continue
        log(f'[chain] {stage}: running in {stage_dir}')
        if stage in per_net:
            ir_dir = None
            if labels_from is not None:
                _require(out_dir, labels_from, stage)
                ir_dir = osp.join(out_dir, STAGE_DIRS[labels_from], 'masks_ir')
            merged = dict(cfg_options or {})
            merged.update(options or {})
            result = train_stage(config,
                                 stage_dir,
                                 stage_cfg_options(config,
                                                   data_root=data_root,
                                                   ir_label_dir=ir_dir,
                                                   cfg_options=merged),
                                 log=log)
        elif stage in pseudo:
            net = _require(out_dir, net_stage, stage)
            result = generate_pseudo_masks(net['config'],
                                           net['checkpoint'],
                                           stage_dir,
                                           data_root=data_root,
                                           scales=scales,
                                           flip=flip,
                                           refine='ir',
                                           fg_threshold=fg,
                                           bg_threshold=bg,
                                           device=device,
                                           progress=progress,
                                           log=log)
            _check_job(stage, result['cams'], 'CAM file')
            _check_job(stage, result['masks'], 'IR label')
            result.update(config=net['config'], checkpoint=net['checkpoint'])
        else:
            irn = _require(out_dir, 'train_irn', stage)
            amn = _require(out_dir, 'train_amn', stage)
            _require(out_dir, 'ir_labels_2', stage)
            result = rw_masks_stage(irn['config'],
                                    irn['checkpoint'],
                                    amn['config'],
                                    osp.join(out_dir,
                                             STAGE_DIRS['ir_labels_2'],
                                             'cams'),
                                    stage_dir,
                                    data_root=data_root,
                                    device=device,
                                    progress=progress,
                                    log=log,
                                    **rw_params)
            _check_job(stage, result['masks'], 'random-walk mask')
        result['params'] = params
        write_json_atomic(marker_path(out_dir, stage), result)
        report['status'][stage] = 'done'
        report[stage] = result
    return report
