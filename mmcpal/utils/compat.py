"""Fixes for two known defects of the OpenMMLab stack mmcpal runs on.

Applied by mmcpal's own entry points (``tools/*.py``, :mod:`mmcpal.apis`),
never by editing installed packages. See ``docs/environment.md`` of the
project for the background.

1. **Config inheritance across packages.** MMEngine maps a config scope such
   as ``mmseg::`` to a *distribution* name (``mmsegmentation``) to find the
   package's ``.mim/configs``. The forks install the same modules under other
   distribution names (``onedl-mmsegmentation``), so ``_base_ =
   'mmseg::...'`` fails with "mmsegmentation is not installed".
   :func:`register_config_scopes` points a scope at the fork's distribution
   only when that fork is installed (MMEngine's own mapping is right for
   upstream and is left alone), and adds ``mmcpal::`` on either stack.
2. **CPU DDP.** With ``launcher='pytorch'`` MMEngine initialises NCCL, calls
   ``torch.cuda.set_device`` and wraps the model with
   ``device_ids=[local_rank]``, all of which fail without CUDA (upstream has
   the same bug). :func:`setup_cpu_distributed` initialises a ``gloo``
   process group first and sets ``device_ids=None`` in the wrapper config.
   It acts only with a distributed launcher on a machine without CUDA, on
   either stack.
"""
import os
from typing import Dict

import torch

from mmcpal import stack

# Config scope -> the fork's distribution name (upstream's is MMEngine's
# default: 'mmsegmentation', 'mmpretrain').
_FORK_SCOPES: Dict[str, str] = {
    'mmseg': 'onedl-mmsegmentation',
    'mmpretrain': 'onedl-mmpretrain',
}


def register_config_scopes() -> Dict[str, str]:
    """Make ``mmseg::``, ``mmpretrain::`` and ``mmcpal::`` configs resolvable.

    Updates ``mmengine.config.utils.MODULE2PACKAGE`` in place (the mapping
    MMEngine consults when it meets ``scope::path`` in ``_base_``):
    ``mmcpal`` always; ``mmseg`` / ``mmpretrain`` only when the fork
    distribution is installed (with upstream MMSegmentation / MMPretrain,
    MMEngine's own entries are right and stay). Idempotent.

    Returns:
        dict: The scope -> distribution entries that were set.
    """
    from mmengine.config import utils as config_utils

    updates = {'mmcpal': 'mmcpal'}
    for scope, fork in _FORK_SCOPES.items():
        if stack.installed_version(fork) is not None:
            updates[scope] = fork
    config_utils.MODULE2PACKAGE.update(updates)
    return updates


def setup_cpu_distributed(cfg, launcher: str) -> bool:
    """Prepare a CPU-only distributed run for the MMEngine Runner.

    When ``launcher`` is not ``'none'`` and CUDA is unavailable, initialise
    the default process group with the ``gloo`` backend from the ``torchrun``
    environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``)
    before the Runner does, and make the DDP wrapper use ``device_ids=None``.
    The Runner then finds the process group initialised and skips its own
    (CUDA-only) initialisation.

    Args:
        cfg (mmengine.Config): The config; ``model_wrapper_cfg`` and
            ``env_cfg.dist_cfg`` are updated in place.
        launcher (str): The job launcher (``'none'``, ``'pytorch'``,
            ``'slurm'``, ``'mpi'``).

    Returns:
        bool: True when the CPU (gloo) set-up was applied.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    import torch.distributed as torch_dist

    if not torch_dist.is_initialized():
        if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
            raise RuntimeError(
                f"launcher='{launcher}' needs the RANK and WORLD_SIZE "
                'environment variables; start the job with torchrun '
                '(tools/dist_train.sh) or use --launcher none.')
        torch_dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    return True


def teardown_distributed() -> bool:
    """Leave the default process group cleanly at the end of a tool.

    MMEngine's Runner never destroys the process group it (or
    :func:`setup_cpu_distributed`) created. With ``gloo`` a process that
    exits with the group alive can abort in C++ teardown ("terminate called
    without an active exception", SIGABRT) after its work is done, which
    torchrun reports as a failed job. Observed once in CI on a 2-process CPU
    training whose checkpoint had been written. PyTorch's documentation asks
    every process to call ``destroy_process_group`` before exiting.

    Returns:
        bool: True when a process group was destroyed.
    """
    import torch.distributed as torch_dist
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return False
    torch_dist.barrier()  # no rank tears down while another still talks
    torch_dist.destroy_process_group()
    return True


def exit_after_distributed(code: int = 0) -> None:
    """End a tool's process after :func:`teardown_distributed`.

    With a process group, the interpreter's own shutdown still aborted once
    more in CI after the group was destroyed (2-process gloo training under
    load, 2026-12-04: "terminate called without an active exception",
    SIGABRT, in C++ static destructors at exit, reported by torchrun as a
    failed job). So once the tool's work is done and the group destroyed,
    streams and logging are flushed and the process leaves with
    ``os._exit``, skipping the C++ destructors. Without a process group
    (one process, no launcher) this only returns.

    Args:
        code (int): Exit status. Defaults to 0.
    """
    import logging
    import os
    import sys
    if not teardown_distributed():
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)
