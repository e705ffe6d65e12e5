"""The CPAL branch: support bank + projection head + PACAM self-supervision.

Composes the pure functions of :mod:`mmcpal.models.cpal.functional` in the
order of ``docs/cpal-method.md`` (Secs. 1-9). The branch knows nothing about
its host: it needs backbone features, the host's CAM on the same grid, the
image labels and the valid mask.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, broadcast, get_world_size
from mmengine.model import BaseModule
from torch import Tensor

from mmcpal.registry import MODELS
from .functional import (alignment_shift, batched_spherical_kmeans,
                         cam_from_logits, instance_prototypes, l1_normalise,
                         pacam, positiveness, select_neighbours,
                         self_supervised_loss)
from .projection_head import ProjectionHead
from .support_bank import SupportBank

_POSITIVENESS = ('dot', 'cosine', 'l1', 'l2', 'uniform')
_ALIGN = ('pixels', 'mask', 'prototype', 'none')
_WARMUP = ('fallback', 'cls_only')
_LOSS_CHANNELS = ('all', 'present')
_NORM = ('max', 'l1')


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) \
            or value < minimum:
        raise ValueError(f'CPALBranch: `{name}` must be an int >= {minimum}, '
                         f'but got {value!r}')


def _check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f'CPALBranch: `{name}` must be one of {choices}, '
                         f'but got {value!r}')


def _check_number(name: str, value, expected: str,
                  ok: Callable[[float], bool]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not ok(value):
        raise ValueError(f'CPALBranch: `{name}` must be a number {expected}, '
                         f'but got {value!r}')


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(
            f'CPALBranch: `{name}` must be a bool, but got {value!r}')


@MODELS.register_module()
class CPALBranch(BaseModule):
    """Context Prototype-Aware Learning as a training branch of a CAM network.

    CPAL (Tang et al., CVPR 2024) projects backbone features to an embedding,
    pools instance prototypes inside the reliable CAM regions, keeps them in a
    per-class support bank, clusters the bank into context prototypes (see
    :class:`~mmcpal.engine.hooks.ContextClusteringHook`), and trains the CAM
    to agree with a prototype-aware CAM (PACAM) built from each instance's
    top-K context prototypes. Every step below is marked [paper] or [choice]
    as in ``docs/cpal-method.md``.

    Composition of :meth:`loss` (one mini-batch):

    1. ``M = cam_from_logits(cams, labels, valid, bg_alpha)`` (C+1 channels);
       the reliable masks use ``M.detach()``.
    2. ``z = g(F')``: the selected features resized to the CAM grid,
       concatenated, detached if ``detach_feats``, projected (and L2
       normalised if ``normalize_embed``).
    3. Instance prototypes ``p_{n,c}`` = masked averages of ``z`` where
       ``M_c > tau``; ``present`` marks (n, c) with a non-empty mask.
    4. Per class with context prototypes: top-K neighbours by cosine
       (``select_neighbours``), the alignment shift ``delta_c`` over the
       batch (``alignment_shift``), positiveness weights over the neighbours
       (``positiveness``). Per class without context prototypes: the
       ``warmup`` behaviour.
    5. ``PACAM = pacam(z, neighbours, weights, labels, shift, valid, ...)``.
    6. ``loss_self = loss_weight * self_supervised_loss(M, PACAM, valid,
       channels)`` (after ``l1_normalise`` of both maps with ``norm='l1'``).
    7. The detached prototypes (all-gathered across ranks) are enqueued.

    Note:
        - The branch never clusters by itself: a
          :class:`ContextClusteringHook` (or a call of
          :meth:`update_context`) does, at epoch starts by default. Until a
          class has context prototypes the ``warmup`` option decides.
        - A present class whose reliable mask is empty has no prototype: its
          channel is left out of ``L_self`` (not forced to zero).
        - Every parameter of the branch receives a gradient (possibly zero)
          at every step, also while ``L_self`` is switched off, so DDP with
          ``find_unused_parameters=False`` works.
        - State (bank, context prototypes, counters) lives in persistent
          buffers: checkpoints and resume carry it; under distributed
          training the bank is fed with all-gathered prototypes and the
          context prototypes are broadcast from rank 0, so every rank holds
          identical state.

    Args:
        num_classes (int): Number of foreground classes ``C``.
        in_channels (int): Channels of the projection head's input, i.e. the
            sum of the channels of the selected feature maps.
        in_index (int | Sequence[int]): Which of the host's feature maps to
            use (indices into ``feats``). Ignored when ``feats`` is a single
            Tensor. Defaults to (-2, -1) [choice: last two stages].
        embed_dims (int): Embedding length ``E``. Defaults to 128 [choice].
        head_mid_channels (int, optional): Hidden width of the projection
            head; None means ``embed_dims``. Defaults to None [choice].
        bank_size (int): Capacity ``L`` of each class's support bank.
            Defaults to 1000 [paper].
        num_clusters (int): Context prototypes per class ``k``. Defaults to
            50 [paper].
        num_neighbours (int, optional): Neighbours ``K`` per instance
            prototype; None uses all context prototypes. Defaults to 20
            [paper].
        tau (float): Reliable-mask threshold on the normalised CAM. Defaults
            to 0.1 [paper].
        normalize_embed (bool): L2-normalise pixel embeddings. Defaults to
            False [choice].
        detach_feats (bool): Detach the features before the projection head
            (the backbone learns from ``L_self`` only through the CAM).
            Defaults to True [choice, as SIPE].
        bg_alpha (float): Exponent of the background channel
            ``(1 - max_c M_c) ** bg_alpha``. Defaults to 1.0 [choice].
        positiveness (str): Similarity of the positiveness weights: 'dot'
            [paper, best in Table 3], 'cosine', 'l1', 'l2' (negative
            distances) or 'uniform' (equal weights, an ablation). Defaults to
            'dot'.
        positiveness_scale (float): Scaling factor ``t`` of the softmax
            ``softmax(sim / t)``. Defaults to 1.0 [choice].
        detach_weights (bool): Detach the positiveness weights. Defaults to
            True [choice].
        align (str): Feature distribution alignment: 'pixels' (add
            ``delta_c`` to every pixel embedding used for class c's PACAM),
            'mask' (only inside the reliable mask), 'prototype' (shift the
            instance prototype by ``delta_c`` and search and weight its
            neighbours again from there; pixels unshifted) or 'none'.
            Defaults to 'pixels' [choice].
        detach_shift (bool): Detach ``delta_c``. Defaults to True [choice].
        warmup (str): While a class has no context prototypes: 'fallback'
            builds its PACAM from the instance prototype alone,
            ``ReLU(cos(z, p_{n,c}))``; 'cls_only' sets ``loss_self`` to zero
            until the first clustering, and afterwards leaves classes without
            context prototypes out of ``L_self``. Defaults to 'fallback'
            [choice].
        warmup_iters (int): ``loss_self`` has weight 0 during the first
            ``warmup_iters`` calls of :meth:`loss` (counted in a buffer, so
            resume continues the count). Prototypes are still enqueued.
            Defaults to 0 [choice].
        loss_channels (str): Channels averaged in ``L_self``: 'all' (all C+1
            channels, as SIPE) or 'present' (background and the present
            classes that have a PACAM). Defaults to 'all' [choice].
        norm (str): Normalisation of the compared maps: 'max' (both maps as
            max-normalised) or 'l1' (each channel divided by its spatial
            sum). Defaults to 'max' [choice].
        detach_pacam (bool): Use PACAM as a fixed target (no gradient into
            the projection head through it). Defaults to False [choice].
        loss_weight (float): ``beta``, the weight of ``L_self``. Defaults to
            1.0 [paper].
        kmeans_iters (int): Maximum spherical k-means iterations. Defaults to
            100 [choice].
        seed (int): Seed of the k-means++ initialisation. Defaults to 0
            [choice].
        init_cfg (dict | list[dict], optional): MMEngine initialisation
            config. Defaults to None.
    """

    def __init__(self,
                 *,
                 num_classes: int,
                 in_channels: int,
                 in_index: Union[int, Sequence[int]] = (-2, -1),
                 embed_dims: int = 128,
                 head_mid_channels: Optional[int] = None,
                 bank_size: int = 1000,
                 num_clusters: int = 50,
                 num_neighbours: Optional[int] = 20,
                 tau: float = 0.1,
                 normalize_embed: bool = False,
                 detach_feats: bool = True,
                 bg_alpha: float = 1.0,
                 positiveness: str = 'dot',
                 positiveness_scale: float = 1.0,
                 detach_weights: bool = True,
                 align: str = 'pixels',
                 detach_shift: bool = True,
                 warmup: str = 'fallback',
                 warmup_iters: int = 0,
                 loss_channels: str = 'all',
                 norm: str = 'max',
                 detach_pacam: bool = False,
                 loss_weight: float = 1.0,
                 kmeans_iters: int = 100,
                 seed: int = 0,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        _check_int('num_classes', num_classes, 1)
        _check_int('in_channels', in_channels, 1)
        if isinstance(in_index, int) and not isinstance(in_index, bool):
            in_index = (in_index, )
        if not (isinstance(in_index, Sequence) and len(in_index) > 0 and all(
                isinstance(i, int) and not isinstance(i, bool)
                for i in in_index)):
            raise ValueError(
                'CPALBranch: `in_index` must be an int or a '
                f'non-empty sequence of ints, but got {in_index!r}')
        _check_int('embed_dims', embed_dims, 1)
        _check_int('bank_size', bank_size, 1)
        _check_int('num_clusters', num_clusters, 1)
        if num_neighbours is not None:
            _check_int('num_neighbours', num_neighbours, 1)
        _check_number('tau', tau, 'in [0, 1)', lambda v: 0 <= v < 1)
        flags = dict(
            normalize_embed=normalize_embed,
            detach_feats=detach_feats,
            detach_weights=detach_weights,
            detach_shift=detach_shift,
            detach_pacam=detach_pacam)
        for name, flag in flags.items():
            _check_bool(name, flag)
        _check_number('bg_alpha', bg_alpha, '> 0', lambda v: v > 0)
        _check_choice('positiveness', positiveness, _POSITIVENESS)
        _check_number('positiveness_scale', positiveness_scale, '> 0',
                      lambda v: v > 0)
        _check_choice('align', align, _ALIGN)
        _check_choice('warmup', warmup, _WARMUP)
        _check_int('warmup_iters', warmup_iters, 0)
        _check_choice('loss_channels', loss_channels, _LOSS_CHANNELS)
        _check_choice('norm', norm, _NORM)
        _check_number('loss_weight', loss_weight, '>= 0', lambda v: v >= 0)
        _check_int('kmeans_iters', kmeans_iters, 1)
        _check_int('seed', seed, 0)

        self.num_classes = num_classes
        self.in_channels = in_channels
        self.in_index = tuple(in_index)
        self.embed_dims = embed_dims
        self.num_clusters = num_clusters
        self.num_neighbours = num_neighbours
        self.tau = float(tau)
        self.normalize_embed = normalize_embed
        self.detach_feats = detach_feats
        self.bg_alpha = float(bg_alpha)
        self.positiveness = positiveness
        self.positiveness_scale = float(positiveness_scale)
        self.detach_weights = detach_weights
        self.align = align
        self.detach_shift = detach_shift
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.loss_channels = loss_channels
        self.norm = norm
        self.detach_pacam = detach_pacam
        self.loss_weight = float(loss_weight)
        self.kmeans_iters = kmeans_iters
        self.seed = seed

        self.head = ProjectionHead(in_channels=in_channels,
                                   embed_dims=embed_dims,
                                   mid_channels=head_mid_channels)
        self.bank = SupportBank(num_classes=num_classes,
                                capacity=bank_size,
                                embed_dims=embed_dims)
        self.register_buffer(
            'context', torch.zeros(num_classes, num_clusters, embed_dims))
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
             feats: Union[Sequence[Tensor], Tensor],
             cams: Tensor,
             labels: Tensor,
             valid: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Self-supervised loss of one training mini-batch; updates the bank.

        Args:
            feats (Sequence[Tensor] | Tensor): The host's backbone outputs;
                the maps at ``in_index`` are used (a single Tensor is used
                as is).
            cams (Tensor): ``(B, C, h, w)`` raw foreground CAMs of the host
                (pre-ReLU logits or probabilities), with gradient.
            labels (Tensor): ``(B, C)`` multi-hot image labels.
            valid (Tensor, optional): ``(B, 1, h, w)`` valid-pixel mask on
                the CAM grid; None means all valid. Defaults to None.

        Returns:
            dict[str, Tensor]: ``loss_self`` (scalar, weighted by
            ``loss_weight``, 0 during warm-up) and the logged scalars
            ``cpal_num_protos`` (instance prototypes of this rank's batch)
            and ``cpal_num_clustered`` (classes with context prototypes).
        """
        out = self.compose(feats, cams, labels, valid)
        z = out['embed']
        step = int(self.num_steps)
        self.num_steps += 1
        weight = self.loss_weight
        if step < self.warmup_iters or (self.warmup == 'cls_only'
                                        and not self.clustered):
            weight = 0.0
        # The zero term ties every head parameter to the loss (DDP with
        # find_unused_parameters=False) even when nothing else does.
        zero = z.sum() * 0.0
        if weight == 0.0:
            loss_self = zero
        else:
            loss_self = weight * self._self_loss(out, valid) + zero

        protos, present = out['protos'], out['present']
        self._enqueue(protos.detach()[present], present.nonzero()[:, 1])
        return dict(loss_self=loss_self,
                    cpal_num_protos=present.sum().to(z.dtype).detach(),
                    cpal_num_clustered=(self.context_count
                                        > 0).sum().to(z.dtype).detach())

    @torch.no_grad()
    def predict_pacam(self,
                      feats: Union[Sequence[Tensor], Tensor],
                      cams: Tensor,
                      labels: Tensor,
                      valid: Optional[Tensor] = None) -> Tensor:
        """The prototype-aware CAM of a batch, for inspection.

        The bank and counters are not touched.

        Args:
            feats (Sequence[Tensor] | Tensor): As in :meth:`loss`.
            cams (Tensor): As in :meth:`loss`.
            labels (Tensor): As in :meth:`loss`.
            valid (Tensor, optional): As in :meth:`loss`. Defaults to None.

        Returns:
            Tensor: ``(B, C+1, h, w)`` PACAM, channel 0 the background;
            classes left out (absent, empty reliable mask, no context with
            ``warmup='cls_only'``) are zero.
        """
        return self.compose(feats, cams, labels, valid)['pacam']

    @torch.no_grad()
    def update_context(self) -> int:
        """Cluster each class's bank into ``num_clusters`` context prototypes.

        Spherical k-means (assignments on L2-normalised entries, centres the
        means of the raw entries), batched over classes, seeded; a class with
        fewer entries than ``num_clusters`` keeps its entries as they are.
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
            centres, centre_counts = batched_spherical_kmeans(
                entries,
                counts[classes],
                k=self.num_clusters,
                iters=self.kmeans_iters,
                seed=self.seed)
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

    # ------------------------------------------------------------------
    # composition
    # ------------------------------------------------------------------
    def _select_feats(self, feats: Union[Sequence[Tensor], Tensor],
                      size: Tuple[int, int]) -> Tensor:
        if isinstance(feats, Tensor):
            chosen = [feats]
        else:
            n = len(feats)
            for i in self.in_index:
                if not -n <= i < n:
                    raise ValueError(
                        f'CPALBranch: `in_index` {self.in_index} does not '
                        f'fit the {n} feature maps given')
            chosen = [feats[i] for i in self.in_index]
        resized = [
            f if tuple(f.shape[-2:]) == tuple(size) else F.interpolate(
                f, size=size, mode='bilinear', align_corners=False)
            for f in chosen
        ]
        x = torch.cat(resized, dim=1) if len(resized) > 1 else resized[0]
        if x.shape[1] != self.in_channels:
            raise ValueError(
                'CPALBranch: the selected feature maps have '
                f'{x.shape[1]} channels in total, but `in_channels` is '
                f'{self.in_channels}')
        return x.detach() if self.detach_feats else x

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

    def compose(self,
                feats: Union[Sequence[Tensor], Tensor],
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
        z = self.head(self._select_feats(feats, tuple(cams.shape[-2:])))
        if self.normalize_embed:
            z = F.normalize(z, dim=1)
        fg_masks = cam.detach()[:, 1:]
        protos, present = instance_prototypes(z,
                                              fg_masks,
                                              labels,
                                              tau=self.tau,
                                              valid=valid)
        neighbours, weights, shift, use = self._prototype_awareness(
            protos, present)
        shift_region = None
        if self.align == 'mask':
            shift_region = fg_masks > self.tau
        prototype_cam = pacam(z,
                              neighbours,
                              weights,
                              labels,
                              shift if self.align in ('pixels',
                                                      'mask') else None,
                              valid,
                              mask=use,
                              shift_region=shift_region)
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

    def _max_neighbours(self) -> int:
        if self.num_neighbours is None:
            return self.num_clusters
        return min(self.num_neighbours, self.num_clusters)

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
        k_max = self._max_neighbours()
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
            nb, w, delta = self._neighbours_of_class(p, context)
            neighbours[rows, c, :nb.shape[1]] = nb
            weights[rows, c, :w.shape[1]] = w
            if delta is not None:
                shift[c] = delta
            use[rows, c] = True
        return neighbours, weights, shift, use

    def _neighbours_of_class(
            self, p: Tensor,
            context: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Top-K context prototypes, weights and shift for one class.

        Args:
            p (Tensor): ``(N_c, E)`` instance prototypes of the class in the
                batch.
            context (Tensor): ``(k_c, E)`` its context prototypes.

        Returns:
            tuple: ``neighbours (N_c, K', E)``, ``weights (N_c, K')`` and the
            pixel shift ``delta (E,)`` (None unless ``align`` is 'pixels' or
            'mask').
        """
        k = self._max_neighbours()
        index, _ = select_neighbours(p, context, k)
        nb = context[index]
        delta = None
        if self.align != 'none':
            delta = alignment_shift(p, nb)
            if self.detach_shift:
                delta = delta.detach()
        p_weight = p
        if self.align == 'prototype':
            p_weight = p + delta
            index, _ = select_neighbours(p_weight, context, k)
            nb = context[index]
            delta = None
        w = positiveness(p_weight,
                         nb,
                         metric=self.positiveness,
                         scale=self.positiveness_scale)
        if self.detach_weights:
            w = w.detach()
        return nb, w, delta

    def _self_loss(self, out: Dict[str, Tensor],
                   valid: Optional[Tensor]) -> Tensor:
        """``L_self`` between the CAM and PACAM (step 6, unweighted)."""
        cam, prototype_cam = out['cam'], out['pacam']
        labels, use = out['labels'], out['use']
        b = cam.shape[0]
        bg = torch.ones(b, 1, dtype=torch.bool, device=cam.device)
        if self.loss_channels == 'all':
            # every channel except present classes without a PACAM
            fg = ~(labels & ~use)
        else:
            fg = use
        channels = torch.cat([bg, fg], dim=1)
        if self.norm == 'l1':
            cam = l1_normalise(cam, valid)
            prototype_cam = l1_normalise(prototype_cam, valid)
        if self.detach_pacam:
            prototype_cam = prototype_cam.detach()
        return self_supervised_loss(cam, prototype_cam, valid, channels)

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
