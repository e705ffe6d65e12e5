"""The pseudo-mask chain: CAMs -> seeds -> (CRF | IR labels) -> masks.

Every stage uses one map, ``cam_type``: ``'cam'`` (the classifier CAM, the
default), ``'pacam'`` (CPAL's prototype-aware CAM, stored next to the CAM by
the cams stage) or ``'fused'`` (their mean, computed at load; see
:func:`mmcpal.pseudo.cam_io.fuse_cam_pacam`). The argument wins over the
model config's ``model.test_cfg.cam_type``.

Each stage is a resumable per-image job (:func:`mmcpal.pseudo.jobs.run_image_job`):
outputs are written atomically, finished images are skipped on a rerun, and
under ``torchrun`` every process takes its own shard of the images.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmcpal.pseudo import cam_io, mask_io
from mmcpal.pseudo.jobs import (JobSummary, SkipImage, load_image_checked,
                                run_image_job)
from mmcpal.pseudo.multiscale import (DEFAULT_MAX_PIXELS, DEFAULT_SCALES,
                                      multiscale_cam)
from mmcpal.pseudo.random_walk import (AMN_CAM_POWER, IRN_BETA,
                                       IRN_EXP_TIMES, IRN_SEM_SEG_BG_THRES,
                                       IRN_WALK_RADIUS)
from mmcpal.registry import DATASETS

REFINE_METHODS = ('none', 'crf', 'ir', 'rw')
CAM_TYPES = cam_io.CAM_TYPES
# The random walk of the AMN route: IRN's walk with AMN's CAM power (the
# constants and their sources are in mmcpal.pseudo.random_walk).
RW_DEFAULTS = dict(beta=float(IRN_BETA), exp_times=IRN_EXP_TIMES,
                   radius=IRN_WALK_RADIUS, bg_thres=IRN_SEM_SEG_BG_THRES,
                   cam_power=AMN_CAM_POWER)


@dataclass
class ImageRecord:
    """One image of the set pseudo masks are made for.

    Attributes:
        img_id (str): Image id.
        img_path (str): Image file.
        label (np.ndarray): (C,) multi-hot image-level label.
        gt_path (str | None): Ground-truth mask, for evaluation only.
    """
    img_id: str
    img_path: str
    label: np.ndarray
    gt_path: Optional[str]


def image_records(cfg: Config,
                  *,
                  split: Optional[str] = None,
                  data_root: Optional[str] = None
                  ) -> Tuple[List[ImageRecord], List[str]]:
    """The images of the config's training set (pseudo masks are for them).

    Args:
        cfg (Config): A CAM-network config with a ``train_dataloader``.
        split (str, optional): Another id list (``ann_file``), relative to
            the data root. Defaults to the training list.
        data_root (str, optional): Another data root.

    Returns:
        tuple: The records in the list's order, and the foreground class
        names (the data set's ``classes`` without 'background').
    """
    init_default_scope(cfg.get('default_scope', 'mmcpal'))
    dataset_cfg = dict(cfg.train_dataloader.dataset)
    dataset_cfg.update(pipeline=[], test_mode=True)
    if split is not None:
        dataset_cfg['ann_file'] = split
    if data_root is not None:
        dataset_cfg['data_root'] = data_root
    dataset = DATASETS.build(dataset_cfg)
    records = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        records.append(
            ImageRecord(
                img_id=info['img_id'],
                img_path=info['img_path'],
                label=np.asarray(info['gt_label'], dtype=np.float32),
                gt_path=info.get('seg_map_path')))
    return records, list(dataset.metainfo['classes'][1:])


def gt_dir_of(records: Sequence[ImageRecord]) -> Optional[str]:
    """The ground-truth folder shared by the records, or None."""
    dirs = {osp.dirname(r.gt_path) for r in records if r.gt_path}
    if len(dirs) != 1:
        return None
    return dirs.pop()


def _read_image(path: str) -> np.ndarray:
    try:
        return load_image_checked(path)
    except SkipImage:
        raise
    except (OSError, ValueError) as err:
        raise SkipImage('unreadable image', f'{path}: {err}') from err


def resolve_cam_type(cam_type: Optional[str], cfg: Optional[Config]) -> str:
    """The map the chain uses: the argument, else the config, else 'cam'.

    Args:
        cam_type (str, optional): Explicit choice (e.g. ``--cam-type``).
        cfg (Config, optional): A model config; its
            ``model.test_cfg.cam_type`` is used when ``cam_type`` is None.

    Returns:
        str: One of :data:`CAM_TYPES`.
    """
    if cam_type is None and cfg is not None:
        test_cfg = cfg.get('model', {}).get('test_cfg') or {}
        cam_type = test_cfg.get('cam_type')
    return cam_io.check_cam_type(cam_type or 'cam')


def run_cam_stage(model: torch.nn.Module,
                  records: Sequence[ImageRecord],
                  cam_dir: str,
                  *,
                  cam_type: str = 'cam',
                  scales: Sequence[float] = DEFAULT_SCALES,
                  flip: bool = True,
                  max_pixels_per_batch: int = DEFAULT_MAX_PIXELS,
                  rank: Optional[int] = None,
                  world_size: Optional[int] = None,
                  progress: bool = True) -> JobSummary:
    """Multi-scale CAMs of every record, one ``<cam_dir>/<id>.npz`` each.

    Images without any label are skipped (counted by reason).

    Args:
        model (nn.Module): A CAM-producing model (``forward_cam``), eval mode.
        records (sequence[ImageRecord]): The images.
        cam_dir (str): Output folder.
        cam_type (str): ``'cam'`` stores the CAM only; ``'pacam'`` and
            ``'fused'`` also store the PACAM (``pacam`` array), which needs a
            model with a CPAL branch; a file without it is redone.
            Defaults to ``'cam'``.
        scales (sequence[float]): Inference scales.
        flip (bool): Add horizontal flips.
        max_pixels_per_batch (int): Memory bound of one forward.
        rank (int, optional): This process's rank (default: mmengine.dist).
        world_size (int, optional): Number of processes.
        progress (bool): Progress bar.

    Returns:
        JobSummary: Counts and timing.

    Raises:
        ValueError: ``cam_type`` needs a PACAM and the model has no CPAL
            branch.
    """
    from mmcpal.pseudo.multiscale import check_pacam_model
    with_pacam = cam_io.check_cam_type(cam_type) != 'cam'
    if with_pacam:
        check_pacam_model(model)
    os.makedirs(cam_dir, exist_ok=True)
    by_id = {r.img_id: r for r in records}
    device = next(model.parameters()).device

    def process(img_id: str) -> None:
        record = by_id[img_id]
        if record.label.sum() == 0:
            raise SkipImage('no image-level label')
        img = _read_image(record.img_path)
        tensor = torch.from_numpy(np.ascontiguousarray(
            img.transpose(2, 0, 1))).to(device)
        # Label-conditioned models (AMN) need the image's labels; for the
        # plain CAM network this is a no-op.
        with torch.no_grad(), model.conditioned_on(
                torch.as_tensor(record.label, device=device)):
            out = multiscale_cam(
                model,
                tensor,
                record.label,
                scales=scales,
                flip=flip,
                max_pixels_per_batch=max_pixels_per_batch,
                pacam=with_pacam)
        extra = {k: v.cpu().numpy() for k, v in out.extra.items()}
        cam_io.save_cams(
            cam_io.cam_path(cam_dir, img_id),
            out.cams.cpu().numpy(),
            out.keys.cpu().numpy(),
            extra=extra or None)

    return run_image_job(
        [r.img_id for r in records],
        process,
        lambda i: cam_io.is_complete(cam_io.cam_path(cam_dir, i), cam_type),
        rank=rank,
        world_size=world_size,
        desc='cams',
        progress=progress)


def run_mask_stage(records: Sequence[ImageRecord],
                   cam_dir: str,
                   mask_dir: str,
                   *,
                   cam_type: str = 'cam',
                   refine: str = 'crf',
                   bg_threshold: float = 0.15,
                   fg_threshold: float = 0.30,
                   crf_backend: str = 'torch',
                   irn_model: Optional[torch.nn.Module] = None,
                   rw_options: Optional[Dict] = None,
                   rank: Optional[int] = None,
                   world_size: Optional[int] = None,
                   progress: bool = True) -> JobSummary:
    """Masks (0..C, 255) from stored CAMs, one palette PNG per image.

    Args:
        records (sequence[ImageRecord]): The images.
        cam_dir (str): Folder of CAM files (:func:`run_cam_stage`).
        mask_dir (str): Output folder.
        cam_type (str): The stored map every refinement uses: ``'cam'``,
            ``'pacam'`` or ``'fused'``. Defaults to ``'cam'``.
        refine (str): ``'none'`` (seed: argmax over the background
            threshold and the CAMs), ``'crf'`` (the seed's scores refined by a
            dense CRF) or ``'ir'`` (IRN/AMN IR labels: confident foreground at
            ``fg_threshold``, confident background at ``bg_threshold``, 255
            in between) or ``'rw'`` (IRN: random walk of the CAMs over the
            boundary map of ``irn_model``, background score
            ``rw_options['bg_thres']``; ``bg_threshold`` is not used).
        bg_threshold (float): Background score of the seed (``'none'``,
            ``'crf'``) or the confident-background threshold (``'ir'``).
        fg_threshold (float): Confident-foreground threshold (``'ir'``).
        crf_backend (str): ``'torch'`` or ``'pydensecrf'``.
        irn_model (nn.Module, optional): A trained
            :class:`~mmcpal.models.irn.IRNet` in eval mode, for ``'rw'``.
        rw_options (dict, optional): Keyword arguments of
            :func:`mmcpal.pseudo.random_walk.irn_refine` (``beta``,
            ``exp_times``, ``radius``, ``bg_thres``, ``cam_power``).
            Defaults to :data:`RW_DEFAULTS`.
        rank (int, optional): This process's rank.
        world_size (int, optional): Number of processes.
        progress (bool): Progress bar.

    Returns:
        JobSummary: Counts and timing.

    Raises:
        MissingMapError: The first CAM file lacks the PACAM ``cam_type``
            needs (the message names the file and the fix).
    """
    from mmcpal.pseudo.refine import refine_cams
    cam_io.check_cam_type(cam_type)
    if refine not in REFINE_METHODS:
        raise ValueError(f'refine must be one of {REFINE_METHODS}, got '
                         f"'{refine}'")
    if refine == 'rw' and irn_model is None:
        raise ValueError("refine='rw' needs irn_model (a trained IRNet)")
    rw_kwargs = dict(RW_DEFAULTS, **(rw_options or {}))
    unknown = set(rw_kwargs) - set(RW_DEFAULTS)
    if unknown:
        raise ValueError(f'rw_options: unknown keys {sorted(unknown)}; '
                         f'known: {sorted(RW_DEFAULTS)}')
    cam_io.check_cam_dir(cam_dir, [r.img_id for r in records], cam_type)
    os.makedirs(mask_dir, exist_ok=True)
    by_id = {r.img_id: r for r in records}

    def process(img_id: str) -> None:
        path = cam_io.cam_path(cam_dir, img_id)
        if not cam_io.is_complete(path):
            raise SkipImage('no CAM file', path)
        cams, keys = cam_io.load_cams(path, cam_type)
        if refine == 'rw':
            mask = _random_walk_mask(irn_model, by_id[img_id].img_path, cams,
                                     keys, path, rw_kwargs)
            mask_io.save_mask(mask_io.mask_path(mask_dir, img_id), mask)
            return
        image = None
        if refine != 'none':
            image = _read_image(by_id[img_id].img_path)[..., ::-1].copy()
        mask = refine_cams(
            cams,
            keys,
            image,
            method=refine,
            bg_threshold=bg_threshold,
            fg_threshold=fg_threshold,
            crf_backend=crf_backend)
        mask_io.save_mask(mask_io.mask_path(mask_dir, img_id), mask)

    return run_image_job(
        [r.img_id for r in records],
        process,
        lambda i: mask_io.is_complete(mask_io.mask_path(mask_dir, i)),
        rank=rank,
        world_size=world_size,
        desc=f'masks ({refine})',
        progress=progress)


def _random_walk_mask(irn_model: torch.nn.Module, img_path: str,
                      cams: np.ndarray, keys: np.ndarray, cam_file: str,
                      rw_kwargs: Dict) -> np.ndarray:
    """IRN random-walk mask of one image (its boundary map from the image
    at scale 1.0, as IRN's ``make_sem_seg_labels.py``)."""
    from mmcpal.pseudo.random_walk import irn_refine
    img = _read_image(img_path)
    if img.shape[:2] != cams.shape[1:]:
        raise SkipImage('CAM size differs from the image',
                        f'{cam_file}: {cams.shape[1:]} vs {img.shape[:2]}')
    tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    inputs = irn_model.data_preprocessor({'inputs': [tensor]},
                                         False)['inputs']
    return irn_refine(irn_model, inputs, cams, keys, **rw_kwargs)


def summary_dict(summary: JobSummary) -> Dict:
    """A JSON-friendly view of a job summary."""
    return dict(
        total=summary.total,
        done=summary.done,
        skipped_done=summary.skipped_done,
        failed={k: len(v) for k, v in summary.failed.items()},
        seconds=round(summary.seconds, 2),
        seconds_per_image=round(summary.seconds_per_image, 4))


STAGES = ('cams', 'seeds', 'masks', 'eval')


def _mask_source(refine: str, cam_dir: str, bg_threshold: float,
                 fg_threshold: float, rw_kwargs: Dict,
                 cam_type: str = 'cam') -> str:
    """How the masks were made, for the evaluation protocol."""
    if refine == 'rw':
        return (f'masks_rw: IRN random walk of the {cam_type!r} maps of '
                f"{cam_dir} (beta {rw_kwargs['beta']}, exp_times "
                f"{rw_kwargs['exp_times']}, radius {rw_kwargs['radius']}, "
                f"bg {rw_kwargs['bg_thres']}, cam power "
                f"{rw_kwargs['cam_power']})")
    return (f'masks_{refine} of the {cam_type!r} maps (bg threshold '
            f'{bg_threshold}' +
            (f', fg threshold {fg_threshold}' if refine == 'ir' else '') +
            ')')


def generate_pseudo_masks(config: str,
                          checkpoint: Optional[str],
                          out_dir: str,
                          *,
                          stages: Sequence[str] = STAGES,
                          cam_type: Optional[str] = None,
                          split: Optional[str] = None,
                          data_root: Optional[str] = None,
                          scales: Sequence[float] = DEFAULT_SCALES,
                          flip: bool = True,
                          refine: str = 'crf',
                          bg_threshold: float = 0.15,
                          fg_threshold: float = 0.30,
                          crf_backend: str = 'torch',
                          irn_config: Optional[str] = None,
                          irn_checkpoint: Optional[str] = None,
                          rw_options: Optional[Dict] = None,
                          cam_dir: Optional[str] = None,
                          device: str = 'cpu',
                          progress: bool = True,
                          log=print) -> Dict:
    """Run the chosen stages of the CAM -> pseudo-mask chain.

    Outputs under ``out_dir``: ``cams/`` (CAM files), ``masks_<refine>/``
    (palette PNGs), ``seed_eval.{json,md}`` and ``mask_eval.{json,md}``
    (with ``_<cam_type>`` appended to the mask folder and the evaluation
    files when ``cam_type`` is not ``'cam'``)
    (only where ground truth exists; evaluation is a report, never an input
    to a choice). Finished images are skipped, so a rerun resumes. In a
    process group (``torchrun``) every rank takes its shard; rank 0 then
    evaluates.

    Args:
        config (str): The CAM network's config.
        checkpoint (str, optional): Its trained weights.
        out_dir (str): Output folder.
        stages (sequence[str]): Among ``'cams'``, ``'seeds'`` (seed mIoU
            sweep), ``'masks'`` and ``'eval'`` (mask mIoU).
        cam_type (str, optional): The map every stage uses: ``'cam'``,
            ``'pacam'`` or ``'fused'`` (see the module docstring). None
            reads ``model.test_cfg.cam_type`` of the config, then
            ``'cam'``. ``'pacam'``/``'fused'`` need a model with a CPAL
            branch at the cams stage, and CAM files holding the PACAM at
            the later stages.
        split (str, optional): Id list, defaults to the training list.
        data_root (str, optional): Another data root.
        scales (sequence[float]): Inference scales.
        flip (bool): Add flips.
        refine (str): ``'none'``, ``'crf'``, ``'ir'`` or ``'rw'`` (see
            :func:`run_mask_stage`).
        bg_threshold (float): Background threshold of the masks; fixed
            by the user, never chosen with ground truth here.
        fg_threshold (float): Confident-foreground threshold for ``'ir'``.
        crf_backend (str): ``'torch'`` or ``'pydensecrf'``.
        irn_config (str, optional): IRN config, for ``refine='rw'``.
        irn_checkpoint (str, optional): Trained IRN weights, for ``'rw'``.
        rw_options (dict, optional): Random-walk options (see
            :func:`run_mask_stage`). Defaults to :data:`RW_DEFAULTS`.
        cam_dir (str, optional): Where the CAM files are (read and/or
            written). Defaults to ``<out_dir>/cams``.
        device (str): Device of the model.
        progress (bool): Progress bars.
        log (callable): Where report lines go.

    Returns:
        dict: ``{'cams': summary, 'masks': summary, 'seeds': EvalResult
        json, 'masks_eval': EvalResult json}`` for the stages that ran.
    """
    from mmengine.dist import barrier, get_rank

    from mmcpal.apis.config import load_config
    from mmcpal.apis.inference import init_model
    from mmcpal.evaluation import evaluate_cam_dir, evaluate_masks
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f'unknown stages {sorted(unknown)}; choose among '
                         f'{list(STAGES)}')
    if refine == 'rw' and 'masks' in stages and not (irn_config and
                                                     irn_checkpoint):
        raise ValueError("refine='rw' needs irn_config and irn_checkpoint "
                         '(a trained IRN boundary network)')
    cfg = load_config(config)
    cam_type = resolve_cam_type(cam_type, cfg)
    records, class_names = image_records(
        cfg, split=split, data_root=data_root)
    num_classes = len(class_names)
    cam_dir = cam_dir or osp.join(out_dir, 'cams')
    rw_kwargs = dict(RW_DEFAULTS, **(rw_options or {}))
    # Outputs of another map go elsewhere, so a rerun never mixes them.
    suffix = '' if cam_type == 'cam' else f'_{cam_type}'
    mask_dir = osp.join(out_dir, f'masks_{refine}{suffix}')
    split_name = split or cfg.train_dataloader.dataset.get('ann_file', '')
    report: Dict = {'cam_type': cam_type}
    if 'cams' in stages:
        model = init_model(cfg, checkpoint, device=device)
        summary = run_cam_stage(
            model, records, cam_dir, cam_type=cam_type, scales=scales,
            flip=flip, progress=progress)
        report['cams'] = summary_dict(summary)
        log(summary.format('CAMs'))
    if 'masks' in stages:
        irn_model = None
        if refine == 'rw':
            irn_model = init_model(irn_config, irn_checkpoint, device=device)
        summary = run_mask_stage(
            records,
            cam_dir,
            mask_dir,
            cam_type=cam_type,
            refine=refine,
            bg_threshold=bg_threshold,
            fg_threshold=fg_threshold,
            crf_backend=crf_backend,
            irn_model=irn_model,
            rw_options=rw_kwargs,
            progress=progress)
        report['masks'] = summary_dict(summary)
        log(summary.format(f'masks ({refine})'))
    barrier()
    gt_dir = gt_dir_of(records)
    if get_rank() != 0:
        return report
    ids = [r.img_id for r in records]
    if 'seeds' in stages:
        if gt_dir is None:
            log('seed evaluation skipped: the images have no ground truth')
        else:
            result = evaluate_cam_dir(
                cam_dir, gt_dir, ids, num_classes, split=split_name,
                cam_type=cam_type, class_names=class_names)
            result.save_json(osp.join(out_dir, f'seed_eval{suffix}.json'))
            table = result.to_markdown()
            with open(osp.join(out_dir, f'seed_eval{suffix}.md'), 'w') as f:
                f.write(table + '\n')
            log(table)
            report['seeds'] = result.to_json_dict()
    if 'eval' in stages:
        if gt_dir is None:
            log('mask evaluation skipped: the images have no ground truth')
        else:
            result = evaluate_masks(
                mask_dir,
                gt_dir,
                ids,
                num_classes,
                split=split_name,
                crf=refine == 'crf',
                source=_mask_source(refine, cam_dir, bg_threshold,
                                    fg_threshold, rw_kwargs, cam_type),
                cam_type=cam_type,
                class_names=class_names)
            result.save_json(osp.join(out_dir, f'mask_eval{suffix}.json'))
            table = result.to_markdown()
            with open(osp.join(out_dir, f'mask_eval{suffix}.md'), 'w') as f:
                f.write(table + '\n')
            log(table)
            report['masks_eval'] = result.to_json_dict()
    return report
