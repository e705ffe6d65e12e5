"""Turn a config file and command-line choices into a runnable config."""
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction  # noqa: F401 (re-export)

from mmcpal.utils.compat import register_config_scopes, setup_cpu_distributed


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config with the fork-stack scope fix applied.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.

    Returns:
        Config: The merged config.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    register_config_scopes()
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.setdefault('default_scope', 'mmcpal')
    return cfg


def prepare_run_config(config: str,
                       *,
                       work_dir: Optional[str] = None,
                       resume: Optional[str] = None,
                       amp: bool = False,
                       cfg_options: Optional[dict] = None,
                       launcher: str = 'none') -> Config:
    """Build the Runner config of ``tools/train.py`` / ``tools/test.py``.

    Args:
        config (str): Config file.
        work_dir (str, optional): Output folder; defaults to
            ``./work_dirs/<config name>`` when the config sets none.
        resume (str, optional): ``'auto'`` resumes from the latest
            checkpoint of ``work_dir``; a path resumes from that checkpoint.
        amp (bool): Automatic mixed precision (CUDA only).
        cfg_options (dict, optional): Overrides.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        Config: Ready for ``Runner.from_cfg``.
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume
    if amp:
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError(
                '--amp needs a CUDA device: MMEngine\'s AmpOptimWrapper '
                'refuses to run on CPU. Drop --amp to train in fp32.')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    setup_cpu_distributed(cfg, launcher)
    return cfg
