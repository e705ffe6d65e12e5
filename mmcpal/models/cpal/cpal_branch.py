"""The CPAL branch: a short composer of registered parts.

Head -> instance prototypes -> bank -> neighbours -> alignment ->
positiveness -> PACAM (foreground + background part) -> loss part, with the
warm-up policy, in the order of ``docs/cpal-method.md`` (Secs. 1-9). The
branch knows its parts only through their call interfaces (each part's
module docstring states its own) and nothing about its host: it needs
backbone features, the host's CAM on the same grid, the image labels and
the valid mask.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.dist import all_gather, broadcast, get_world_size
from mmengine.model import BaseModule
from torch import Tensor

from mmcpal.registry import MODELS
# (the parts register themselves when the package mmcpal.models.cpal is
# imported, which any import of this module does first)
from .functional import (cam_from_logits, instance_prototypes,
                         pacam_foreground)
from .validation import check_bool, check_choice, check_int, check_number

_WARMUP = ('fallback', 'cls_only')

#: The parts of the branch and their default configs: the second reading
#: of the method page (§2.1 SIPE embedding is the usual ``head``; §6.1
#: standardised positiveness; §7 prototype shift, the literal Eq. 9; §8.1
#: image-specific background prototype). ``head`` has no default (it needs
#: the host's channels).
DEFAULT_PARTS = dict(
    bank=dict(type='SupportBank', capacity=1000),
    clustering=dict(type='SphericalKMeans', num_clusters=50),
    neighbours=dict(type='TopKNeighbours', num_neighbours=20),
    positiveness=dict(type='StandardisedPositiveness', metric='dot'),
    alignment=dict(type='PrototypeShiftAlignment'),
    background=dict(type='PrototypeBackground', region='sipe'),
    loss_self=dict(type='PACAMLoss', loss_weight=1.0),
)

Feats = Union[Sequence[Tensor], Tensor]


def _build(name: str, cfg: Union[dict, nn.Module, None], **extra):
    """Build a part from its config (a module is used as is).

    None builds the default part; a dict without ``type`` overrides
    arguments of the default part (``loss_self=dict(loss_weight=0.5)``).
    """
    if isinstance(cfg, nn.Module):
        return cfg
    if cfg is None:
        cfg = DEFAULT_PARTS[name]
    if isinstance(cfg, dict) and 'type' not in cfg and name in DEFAULT_PARTS:
        # a partial config overrides arguments of the default part
        cfg = dict(DEFAULT_PARTS[name], **cfg)
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'CPALBranch: `{name}` must be a config dict with a '
                         f"'type' (or a module), but got {cfg!r}")
    cfg = dict(cfg)
    for key, value in extra.items():
        cfg.setdefault(key, value)
    part_type = cfg.pop('type')
    # Resolved in mmcpal's registry (and through it any scope named as
    # 'scope.Type'), not in the caller's default scope: a Runner of another
    # scope (e.g. 'mmengine') must still find mmcpal's parts.
    cls = MODELS.get(part_type) if isinstance(part_type, str) else part_type
    if cls is None:
        raise KeyError(f'CPALBranch: `{name}` type {part_type!r} is not '
                       'registered in mmcpal.registry.MODELS (register your '
                       "own with @MODELS.register_module() or name it as "
                       "'scope.Type')")
    return cls(**cfg)


@MODELS.register_module()
class CPALBranch(BaseModule):
    """Context Prototype-Aware Learning as a training branch of a CAM network.

    CPAL (Tang et al., CVPR 2024) embeds every pixel, pools instance
    prototypes inside the reliable CAM regions, keeps them in a per-class
    support bank, clusters the bank into context prototypes (see
    :class:`~mmcpal.engine.hooks.ContextClusteringHook`), and trains the CAM
    to agree with a prototype-aware CAM (PACAM) built from each instance's
    neighbouring context prototypes. The branch composes registered parts
    (method page §15 lists them with their config keys); every step is
    marked [paper] or [choice] in ``docs/cpal-method.md``.

    Composition of :meth:`loss` (one mini-batch):

    1. ``M = cam_from_logits(cams, labels, valid, bg_alpha)`` (C+1 channels);
       the reliable masks use ``M.detach()``.
    2. ``z = head(feats, grid)`` (features detached first if
       ``detach_feats``).
    3. Instance prototypes ``p_{n,c}`` = masked averages of ``z`` where
       ``M_c > tau``; ``present`` marks (n, c) with a non-empty mask.
    4. Per class with context prototypes: ``neighbours`` selects, then
       ``alignment`` shifts (the prototype, or gives a pixel shift), then
       ``positiveness`` weighs. Per class without context prototypes: the
       ``warmup`` behaviour.
    5. PACAM: the foreground channels from the weighted neighbours
       (``pacam_foreground``) and the ``background`` part's channel 0.
    6. ``loss_self`` (the loss part, weighted) between ``M`` and PACAM.
    7. The detached prototypes (all-gathered across ranks) go to the
       ``bank``.

    Note:
        - The branch never clusters by itself: a
          :class:`ContextClusteringHook` (or a call of
          :meth:`update_context`) does, with the ``clustering`` part.
        - A present class whose reliable mask is empty has no prototype: its
          channel is left out of ``L_self`` (not forced to zero).
        - Every parameter of the branch receives a gradient (possibly zero)
          at every step, so DDP with ``find_unused_parameters=False`` works.
        - State (bank, context prototypes, counters) lives in persistent
          buffers with the names of the first (flat-argument) branch, so its
          checkpoints load; under distributed training the bank is fed with
          all-gathered prototypes and the context prototypes are broadcast
          from rank 0.

    Args:
        num_classes (int): Number of foreground classes ``C`` (the host sets
            it).
        head (dict | nn.Module): The embedding head, e.g.
            ``dict(type='SideProjectionHead', in_channels=(256, 512, 1024,
            2048))`` or ``dict(type='MLPProjectionHead', in_channels=3072)``.
        bank (dict | nn.Module, optional): The support bank;
            ``num_classes`` and ``embed_dims`` are filled in. Defaults to
            ``SupportBank(capacity=1000)`` [paper].
        clustering (dict | nn.Module, optional): Defaults to
            ``SphericalKMeans(num_clusters=50)`` [paper k].
        neighbours (dict | nn.Module, optional): Defaults to
            ``TopKNeighbours(num_neighbours=20)`` [paper].
        positiveness (dict | nn.Module, optional): Defaults to
            ``StandardisedPositiveness(metric='dot')``.
        alignment (dict | nn.Module, optional): Defaults to
            ``PrototypeShiftAlignment()``.
        background (dict | nn.Module, optional): Defaults to
            ``PrototypeBackground(region='sipe')``.
        loss_self (dict | nn.Module, optional): Defaults to
            ``PACAMLoss(loss_weight=1.0)``.
        tau (float): Reliable-mask threshold on the normalised CAM.
            Defaults to 0.1 [paper].
        bg_alpha (float): Exponent of the CAM's background
            ``(1 - max_c M_c) ** bg_alpha``. Defaults to 1.0 [choice].
        detach_feats (bool): Detach the features before the head. Defaults
            to True [choice, as SIPE].
        warmup (str): While a class has no context prototypes: 'fallback'
            builds its PACAM from the instance prototype alone; 'cls_only'
            sets ``loss_self`` to zero until the first clustering and
            afterwards leaves such classes out. Defaults to 'fallback'
            [choice].
        warmup_iters (int): ``loss_self`` has weight 0 during the first
            ``warmup_iters`` calls of :meth:`loss` (counted in a buffer).
            Defaults to 0 [choice].
        init_cfg (dict | list[dict], optional): MMEngine init config.
    """

    def __init__(self,
                 *,
                 num_classes: int,
                 head: Union[dict, nn.Module, None] = None,
                 bank: Union[dict, nn.Module, None] = None,
                 clustering: Union[dict, nn.Module, None] = None,
                 neighbours: Union[dict, nn.Module, None] = None,
                 positiveness: Union[dict, nn.Module, None] = None,
                 alignment: Union[dict, nn.Module, None] = None,
                 background: Union[dict, nn.Module, None] = None,
                 loss_self: Union[dict, nn.Module, None] = None,
                 tau: float = 0.1,
                 bg_alpha: float = 1.0,
                 detach_feats: bool = True,
                 warmup: str = 'fallback',
                 warmup_iters: int = 0,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **flat) -> None:
        if flat:
            raise TypeError(
                f'CPALBranch: unknown arguments {sorted(flat)}. The flat '
                'form (in_channels=, bank_size=, align=, ...) was replaced '
                'by parts (head=dict(type=...), bank=dict(type=...), ...; '
                'docs/cpal-method.md §15); '
                'mmcpal.models.cpal.parts_from_flat(**old_cfg) converts an '
                'old config with the same behaviour')
        super().__init__(init_cfg=init_cfg)
        check_int('CPALBranch', 'num_classes', num_classes, 1)
        check_number('CPALBranch', 'tau', tau, 'in [0, 1)',
                     lambda v: 0 <= v < 1)
        check_number('CPALBranch', 'bg_alpha', bg_alpha, '> 0',
                     lambda v: v > 0)
        check_bool('CPALBranch', 'detach_feats', detach_feats)
        check_choice('CPALBranch', 'warmup', warmup, _WARMUP)
        check_int('CPALBranch', 'warmup_iters', warmup_iters, 0)
        self.num_classes = num_classes
        self.tau = float(tau)
        self.bg_alpha = float(bg_alpha)
        self.detach_feats = detach_feats
        self.warmup = warmup
        self.warmup_iters = warmup_iters

        if head is None:
            raise ValueError('CPALBranch: `head` is required, e.g. '
                             "head=dict(type='SideProjectionHead', "
                             'in_channels=(...))')
        self.head = _build('head', head)
        self.embed_dims = int(self.head.embed_dims)
        self.bank = _build('bank', bank, num_classes=num_classes,
                           embed_dims=self.embed_dims)
        self.clustering = _build('clustering', clustering)
        self.neighbours = _build('neighbours', neighbours)
        self.positiveness = _build('positiveness', positiveness)
        self.alignment = _build('alignment', alignment)
        self.background = _build('background', background)
        self.loss_self = _build('loss_self', loss_self)
        self.num_clusters = int(self.clustering.num_clusters)
        self.register_buffer(
            'context',
            torch.zeros(num_classes, self.num_clusters, self.embed_dims))
        self.register_buffer('context_count',
                             torch.zeros(num_classes, dtype=torch.long))
        # calls of loss() so far (drives warmup_iters)
        self.register_buffer('num_steps', torch.zeros((), dtype=torch.long))
        # completed clusterings (0 = never clustered)
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------
    @property
    def clustered(self) -> bool:
        """Whether :meth:`update_context` has produced prototypes yet."""
        return bool(self.num_updates > 0)

    def loss(self,
             feats: Feats,
             cams: Tensor,
             labels: Tensor,
             valid: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Self-supervised loss of one training mini-batch; updates the bank.

        Args:
            feats (Sequence[Tensor] | Tensor): The host's backbone outputs
                (the head picks its maps; the background part may use the
                last one).
            cams (Tensor): ``(B, C, h, w)`` raw foreground CAMs of the host
                (pre-ReLU logits or probabilities), with gradient.
            labels (Tensor): ``(B, C)`` multi-hot image labels.
            valid (Tensor, optional): ``(B, 1, h, w)`` valid-pixel mask on
                the CAM grid; None means all valid. Defaults to None.

        Returns:
            dict[str, Tensor]: ``loss_self`` (scalar, weighted, 0 during
            warm-up) and the logged scalars ``cpal_num_protos`` (instance
            prototypes of this rank's batch) and ``cpal_num_clustered``
            (classes with context prototypes).
        """
        out = self.compose(feats, cams, labels, valid)
        z = out['embed']
        step = int(self.num_steps)
        self.num_steps += 1
        off = step < self.warmup_iters or (self.warmup == 'cls_only'
                                           and not self.clustered)
        # The zero term ties every head parameter to the loss (DDP with
        # find_unused_parameters=False) even when nothing else does.
        zero = z.sum() * 0.0
        if off or self.loss_self.loss_weight == 0.0:
            loss_self = zero
        else:
            loss_self = self.loss_self(out['cam'], out['pacam'],
                                       labels=out['labels'], use=out['use'],
                                       valid=valid) + zero
        protos, present = out['protos'], out['present']
        self._enqueue(protos.detach()[present], present.nonzero()[:, 1])
        return dict(loss_self=loss_self,
                    cpal_num_protos=present.sum().to(z.dtype).detach(),
                    cpal_num_clustered=(self.context_count
                                        > 0).sum().to(z.dtype).detach())

    @torch.no_grad()
    def predict_pacam(self,
                      feats: Feats,
                      cams: Tensor,
                      labels: Tensor,
                      valid: Optional[Tensor] = None) -> Tensor:
        """The prototype-aware CAM of a batch (inference; state untouched).

        Args:
            feats, cams, labels, valid: As in :meth:`loss`.

        Returns:
            Tensor: ``(B, C+1, h, w)`` PACAM, channel 0 the background;
            classes left out (absent, empty reliable mask, no context with
            ``warmup='cls_only'``) are zero.
        """
        return self.compose(feats, cams, labels, valid)['pacam']

    @torch.no_grad()
    def update_context(self) -> int:
        """Cluster each class's bank into context prototypes.

        Uses the ``clustering`` part on every non-empty class at once; a
        class with fewer entries than ``num_clusters`` keeps its entries.
        Under distributed training the result of rank 0 is broadcast.

        Returns:
            int: Number of classes that hold context prototypes now.
        """
        counts = self.bank.bank_count
        classes = (counts > 0).nonzero()[:, 0]
        if classes.numel() > 0:
            max_count = int(counts[classes].max())
            # bank slots [0, count) are exactly the filled ones (the queue
            # fills slot 0 first and stays full once wrapped)
            entries = self.bank.bank[classes, :max_count]
            centres, centre_counts = self.clustering(entries,
                                                     counts[classes])
            self.context.zero_()
            self.context_count.zero_()
            self.context[classes, :centres.shape[1]] = centres.to(self.context)
            self.context_count[classes] = centre_counts.to(self.context_count)
            self.num_updates += 1
        if get_world_size() > 1:
            broadcast(self.context, src=0)
            broadcast(self.context_count, src=0)
            broadcast(self.num_updates, src=0)
        return int((self.context_count > 0).sum())

    def compose(self,
                feats: Feats,
                cams: Tensor,
                labels: Tensor,
                valid: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Steps 1-5 of the class docstring (no loss, no bank update).

        The intermediate results, for :meth:`loss`, :meth:`predict_pacam`
        and diagnostics (``tools/diagnose_cpal.py``).

        Args:
            feats, cams, labels, valid: As in :meth:`loss`.

        Returns:
            dict[str, Tensor]: ``cam`` (B, C+1, h, w) the normalised CAM
            ``M``; ``embed`` (B, E, h, w) the embeddings ``z``; ``protos``
            (B, C, E) and ``present`` (B, C) the instance prototypes;
            ``labels`` (B, C) bool; ``use`` (B, C) bool, the pairs with a
            PACAM channel; ``neighbours`` (B, C, K, E) and ``weights``
            (B, C, K) (zero-padded); ``shift`` (C, E); ``pacam``
            (B, C+1, h, w).
        """
        self._check_inputs(cams, labels, valid)
        labels = labels > 0.5
        cam = cam_from_logits(cams, labels, valid, bg_alpha=self.bg_alpha)
        if self.detach_feats:
            feats = feats.detach() if isinstance(feats, Tensor) else [
                f.detach() for f in feats
            ]
        z = self.head(feats, tuple(cams.shape[-2:]))
        fg_masks = cam.detach()[:, 1:]
        protos, present = instance_prototypes(z,
                                              fg_masks,
                                              labels,
                                              tau=self.tau,
                                              valid=valid)
        neighbours, weights, shift, use = self._prototype_awareness(
            protos, present)
        region = self.alignment.pixel_region
        fg = pacam_foreground(z,
                              neighbours,
                              weights,
                              labels,
                              shift if region is not None else None,
                              valid,
                              mask=use,
                              shift_region=fg_masks > self.tau
                              if region == 'mask' else None)
        last = feats if isinstance(feats, Tensor) else feats[-1]
        bg = self.background(fg, embed=z, cam=cam, feats=last,
                             labels=labels, valid=valid)
        valid_f = torch.ones_like(bg) if valid is None else \
            (valid > 0).to(bg.dtype)
        prototype_cam = torch.cat([bg, fg], dim=1) * valid_f
        return dict(cam=cam,
                    embed=z,
                    protos=protos,
                    present=present,
                    use=use,
                    labels=labels,
                    neighbours=neighbours,
                    weights=weights,
                    shift=shift,
                    pacam=prototype_cam)

    # ------------------------------------------------------------------
    # composition
    # ------------------------------------------------------------------
    def _check_inputs(self, cams: Tensor, labels: Tensor,
                      valid: Optional[Tensor]) -> None:
        if cams.dim() != 4 or cams.shape[1] != self.num_classes:
            raise ValueError(
                f'CPALBranch: `cams` must have shape (B, {self.num_classes}'
                f', h, w), but got {tuple(cams.shape)}')
        b, _, h, w = cams.shape
        if tuple(labels.shape) != (b, self.num_classes):
            raise ValueError(
                f'CPALBranch: `labels` must have shape ({b}, '
                f'{self.num_classes}), but got {tuple(labels.shape)}')
        if valid is not None and tuple(valid.shape) != (b, 1, h, w):
            raise ValueError(
                f'CPALBranch: `valid` must have shape ({b}, 1, {h}, {w}) '
                f'(the CAM grid), but got {tuple(valid.shape)}')

    def _prototype_awareness(
            self, protos: Tensor,
            present: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Neighbours, positiveness weights and shift per (image, class).

        Returns:
            tuple: ``neighbours (B, C, K, E)`` and ``weights (B, C, K)``
            (zero-padded where a class has fewer than K), ``shift (C, E)``
            (zero where not aligned) and ``use (B, C)`` bool, the (n, c)
            that get a PACAM channel.
        """
        b, c_num, e = protos.shape
        k_max = self.neighbours.max_neighbours(self.num_clusters)
        neighbours = protos.new_zeros(b, c_num, k_max, e)
        weights = protos.new_zeros(b, c_num, k_max)
        shift = protos.new_zeros(c_num, e)
        use = torch.zeros_like(present)
        for c in present.any(dim=0).nonzero()[:, 0].tolist():
            rows = present[:, c].nonzero()[:, 0]
            p = protos[rows, c]
            count = int(self.context_count[c])
            if count == 0:
                if self.warmup == 'fallback':
                    # PACAM_c = ReLU(cos(z, p_{n,c})): one neighbour, weight 1
                    neighbours[rows, c, 0] = p
                    weights[rows, c, 0] = 1.0
                    use[rows, c] = True
                continue
            context = self.context[c, :count].to(p.dtype)
            nb = context[self.neighbours(p, context)]
            p_weight, nb, delta = self.alignment(p, nb, context,
                                                 self.neighbours)
            w = self.positiveness(p_weight, nb)
            neighbours[rows, c, :nb.shape[1]] = nb
            weights[rows, c, :w.shape[1]] = w
            if delta is not None:
                shift[c] = delta
            use[rows, c] = True
        return neighbours, weights, shift, use

    # ------------------------------------------------------------------
    # bank update
    # ------------------------------------------------------------------
    @torch.no_grad()
    def _enqueue(self, entries: Tensor, classes: Tensor) -> None:
        """All-gather (under distributed training) and enqueue, rank order."""
        if get_world_size() > 1:
            entries, classes = _all_gather_rows(entries, classes)
        self.bank.enqueue(entries, classes)


def _all_gather_rows(entries: Tensor,
                     classes: Tensor) -> Tuple[Tensor, Tensor]:
    """Gather a variable number of rows from every rank, in rank order.

    Rows are padded to the largest count (gathered first), gathered with
    :func:`mmengine.dist.all_gather` and unpadded.
    """
    count = torch.tensor([entries.shape[0]], device=entries.device)
    counts = [int(n) for n in all_gather(count)]
    size = max(max(counts), 1)
    padded = entries.new_zeros(size, entries.shape[1])
    padded[:entries.shape[0]] = entries
    padded_cls = classes.new_full((size, ), -1)
    padded_cls[:classes.shape[0]] = classes
    all_entries = all_gather(padded)
    all_classes = all_gather(padded_cls)
    entries = torch.cat([x[:n] for x, n in zip(all_entries, counts)])
    classes = torch.cat([x[:n] for x, n in zip(all_classes, counts)])
    return entries, classes
