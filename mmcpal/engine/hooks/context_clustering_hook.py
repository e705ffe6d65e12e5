"""Hook that re-clusters the CPAL support banks into context prototypes."""
import time
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmcpal.models.cpal.cpal_branch import CPALBranch
from mmcpal.registry import HOOKS

DATA_BATCH = Optional[Union[dict, tuple, list]]


@HOOKS.register_module()
class ContextClusteringHook(Hook):
    """Run k-means on every CPAL support bank of the model.

    CPAL (Tang et al., CVPR 2024, Eq. 5) clusters each class's support bank
    into context prototypes at the start of every epoch [paper]. This hook
    calls :meth:`CPALBranch.update_context` on every ``CPALBranch`` found in
    the (unwrapped) model.

    Note:
        - With ``by_epoch=True`` clustering happens in ``before_train_epoch``,
          i.e. at the start of every epoch, from the bank filled during the
          previous epochs; the first epoch starts with an empty bank and is
          skipped (the branch then uses its warm-up behaviour).
        - With ``interval=N > 0`` it also happens after every ``N``-th
          training iteration (``(runner.iter + 1) % N == 0``) [choice]: use
          this, with ``by_epoch=False``, for iteration-based training, where
          ``before_train_epoch`` runs only once, at the start of the run or
          of a resumed run (re-clustering there on resume would replace the
          restored context prototypes by ones the uninterrupted run never
          had).
        - All state (bank, context prototypes) lives in module buffers, so
          checkpoints and ``--resume`` restore it exactly; the hook itself is
          stateless. Clustering is deterministic (seeded) and synchronised
          across ranks by the branch.

    Args:
        by_epoch (bool): Cluster at the start of every epoch. Defaults to
            True.
        interval (int): Also cluster after every ``interval`` training
            iterations; 0 disables it. Defaults to 0.
    """

    priority = 'NORMAL'

    def __init__(self, by_epoch: bool = True, interval: int = 0) -> None:
        assert isinstance(by_epoch, bool), (
            f'`by_epoch` must be a bool, but got {by_epoch!r}')
        assert isinstance(interval, int) and interval >= 0, (
            '`interval` must be a non-negative int (0 disables iteration-'
            f'based clustering), but got {interval!r}')
        assert by_epoch or interval > 0, (
            'ContextClusteringHook never clusters with by_epoch=False and '
            'interval=0: set one of them')
        self.by_epoch = by_epoch
        self.interval = interval

    def before_train_epoch(self, runner) -> None:
        """Cluster at the start of each epoch (when ``by_epoch``).

        Args:
            runner (Runner): The runner of the training process.
        """
        if self.by_epoch:
            self._cluster(runner, f'epoch {runner.epoch + 1} start')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Cluster after every ``interval`` iterations (when enabled).

        Args:
            runner (Runner): The runner of the training process.
            batch_idx (int): Index of the batch in the epoch.
            data_batch (dict | tuple | list, optional): Unused.
            outputs (dict, optional): Unused.
        """
        if self.interval > 0 and self.every_n_train_iters(
                runner, self.interval):
            self._cluster(runner, f'iteration {runner.iter + 1}')

    @staticmethod
    def find_branches(model: nn.Module) -> List[CPALBranch]:
        """All ``CPALBranch`` modules of a (possibly wrapped) model.

        Args:
            model (nn.Module): The model, wrapped or not.

        Returns:
            list[CPALBranch]: In ``model.modules()`` order.
        """
        if is_model_wrapper(model):
            model = model.module
        return [m for m in model.modules() if isinstance(m, CPALBranch)]

    def _cluster(self, runner, when: str) -> None:
        branches: Sequence[CPALBranch] = self.find_branches(runner.model)
        if not branches:
            runner.logger.warning(
                'ContextClusteringHook: the model holds no CPALBranch; '
                'nothing to cluster')
            return
        for i, branch in enumerate(branches):
            if branch.bank.is_empty():
                runner.logger.info(
                    f'ContextClusteringHook ({when}): support bank {i} is '
                    'empty, clustering skipped')
                continue
            start = time.perf_counter()
            num_classes = branch.update_context()
            seconds = time.perf_counter() - start
            runner.logger.info(
                f'ContextClusteringHook ({when}): clustered {num_classes} '
                f'classes of CPAL branch {i} in {seconds:.2f} s')
