"""The CAM network: backbone + 1x1 CAM head (+ optional CPAL branch)."""
import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from mmcpal.registry import MODELS
from mmcpal.structures import WSSSDataSample, stack_labels, stack_valid
from mmcpal.models.cpal.functional import cam_from_logits
from .cam_ops import downsample_valid, masked_gap

NO_CPAL_MESSAGE = ('this model has no CPAL branch (model.cpal); '
                   '--cam-type pacam needs one')


def label_rows(labels: torch.Tensor, batch: int,
               num_classes: int) -> torch.Tensor:
    """One multi-hot label row per input row.

    Args:
        labels (Tensor): ``(C,)`` for every row, or ``(B, C)`` with
            ``batch % B == 0``; row ``i`` gets ``labels[i % B]`` (the layout
            ``[x_0..x_{B-1}, flip(x_0)..]`` of flip-augmented inference).
        batch (int): Input rows N.
        num_classes (int): C.

    Returns:
        Tensor: ``(N, C)`` float labels.
    """
    labels = torch.as_tensor(labels).float()
    if labels.dim() == 1:
        labels = labels[None]
    if (labels.dim() != 2 or labels.shape[1] != num_classes
            or labels.shape[0] == 0 or batch % labels.shape[0] != 0):
        raise ValueError(f'labels must be (C,) or (B, C) with C={num_classes}'
                         f' and B dividing the {batch} input rows, got '
                         f'shape {tuple(labels.shape)}')
    return labels.repeat(batch // labels.shape[0], 1)


def pacam_of_views(branch: nn.Module, feats: Sequence[torch.Tensor],
                   cams: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Foreground PACAM channels of each input row on its own.

    Every row (an image, a rescaled image, a flip) is its own batch for
    ``branch.predict_pacam`` [choice]: the alignment shift of CPAL is a mean
    over the batch, so one test view's PACAM must not depend on which other
    views share its forward. The whole crop is valid (``valid=None``).

    Args:
        branch (nn.Module): A ``CPALBranch`` (its trained head and context
            prototypes are used; its state is not changed).
        feats (sequence[Tensor]): The host's feature maps, as in training.
        cams (Tensor): (N, C, h, w) the maps the host gives the branch in
            training.
        labels (Tensor): (N, C) multi-hot labels of the rows.

    Returns:
        Tensor: (N, C, h, w) PACAM foreground channels (absent classes 0).
    """
    rows = []
    for i in range(cams.shape[0]):
        view = [f[i:i + 1] for f in feats]
        rows.append(branch.predict_pacam(view, cams[i:i + 1],
                                         labels[i:i + 1], None)[:, 1:])
    return torch.cat(rows)


@MODELS.register_module()
class CAMClassifier(BaseModel):
    """IRN-style CAM network trained from image-level labels.

    ``A = W * F`` with ``W`` a 1x1 convolution without bias on the backbone's
    last feature map ``F``; the image score is the global average of ``A``
    and the loss the multi-label soft margin (IRN, Ahn et al. 2019). With
    ``cpal=dict(type='CPALBranch', ...)`` the CPAL branch adds ``loss_self``
    (see ``docs`` and ``mmcpal.models.cpal``); with ``cpal=None`` this is the
    plain baseline.

    Note:
        The image score averages ``A`` over *real* pixels only (the crop's
        valid mask pooled to the feature grid, > 0.5 = valid) [choice]: IRN
        pads its crops with zeros after normalisation and averages over the
        padding too, which biases scores of small images.

    Args:
        backbone (dict): Backbone config, any registered backbone returning a
            tuple of feature maps (e.g. ``mmpretrain.ResNet`` with
            ``out_indices=(2, 3)``, ``strides=(1, 2, 2, 1)``).
        num_classes (int): Foreground classes C.
        in_channels (int): Channels of the feature map the CAM is computed on.
        cam_index (int): Which backbone output the CAM head uses.
            Defaults to -1.
        cpal (dict, optional): Config of the CPAL branch, built with
            ``num_classes`` filled in. Defaults to None (baseline).
        loss_cls_weight (float): ``alpha`` of ``L = alpha L_cls + beta
            L_self``. Defaults to 1.0.
        test_cfg (dict, optional): Inference options read by the pseudo-mask
            API, e.g. ``dict(cam_type='pacam')`` (the map the chain uses:
            ``'cam'``, ``'pacam'`` or ``'fused'``). Defaults to None.
        data_preprocessor (dict, optional): Normalisation config, an
            ``ImgDataPreprocessor`` by default.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 *,
                 backbone: dict,
                 num_classes: int,
                 in_channels: int,
                 cam_index: int = -1,
                 cpal: Optional[dict] = None,
                 loss_cls_weight: float = 1.0,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.test_cfg = dict(test_cfg or {})
        assert num_classes > 0, f'num_classes must be > 0, got {num_classes}'
        assert in_channels > 0, f'in_channels must be > 0, got {in_channels}'
        self.num_classes = num_classes
        self.cam_index = cam_index
        self.loss_cls_weight = loss_cls_weight
        self.backbone = MODELS.build(backbone)
        self.classifier = nn.Conv2d(
            in_channels, num_classes, kernel_size=1, bias=False)
        self.cpal = None
        if cpal is not None:
            cpal = dict(cpal)
            cpal.setdefault('num_classes', num_classes)
            assert cpal['num_classes'] == num_classes, (
                f"cpal.num_classes ({cpal['num_classes']}) must equal the "
                f'classifier num_classes ({num_classes})')
            self.cpal = MODELS.build(cpal)

    @property
    def with_cpal(self) -> bool:
        """Whether the CPAL branch is attached."""
        return self.cpal is not None

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Backbone feature maps (always a tuple)."""
        feats = self.backbone(inputs)
        if isinstance(feats, torch.Tensor):
            feats = (feats, )
        return tuple(feats)

    def cam_from_feats(self,
                       feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Raw CAM ``A`` (B, C, h, w) from backbone features."""
        return self.classifier(feats[self.cam_index])

    def forward_cam(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw class activation maps, before ReLU, on the feature grid.

        Args:
            inputs (Tensor): Preprocessed images (N, 3, H, W).

        Returns:
            Tensor: (N, C, h, w) logits per pixel.
        """
        return self.cam_from_feats(self.extract_feat(inputs))

    def forward_cam_pacam(self, inputs: torch.Tensor, labels: torch.Tensor
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raw CAM and PACAM of a batch from one backbone pass.

        The branch gets what it gets in training (all backbone maps and the
        raw CAM logits) and uses the checkpoint's context prototypes; each
        row is its own batch (see :func:`pacam_of_views`).

        Args:
            inputs (Tensor): Preprocessed images (N, 3, H, W).
            labels (Tensor): ``(C,)``, ``(N, C)`` or ``(B, C)`` multi-hot
                (see :func:`label_rows`): the classes of each row.

        Returns:
            tuple[Tensor, Tensor]: The raw CAM (N, C, h, w) (as
            :meth:`forward_cam`) and the PACAM foreground channels
            (N, C, h, w) in [0, 1], on the CAM grid.

        Raises:
            ValueError: The model has no CPAL branch.
        """
        if self.cpal is None:
            raise ValueError(f'{type(self).__name__}: {NO_CPAL_MESSAGE}')
        feats = self.extract_feat(inputs)
        cams = self.cam_from_feats(feats)
        rows = label_rows(labels, cams.shape[0],
                          self.num_classes).to(cams.device)
        return cams, pacam_of_views(self.cpal, feats, cams, rows)

    def forward_pacam(self, inputs: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
        """PACAM foreground channels (N, C, h, w) on the CAM grid.

        See :meth:`forward_cam_pacam`.
        """
        return self.forward_cam_pacam(inputs, labels)[1]

    @contextlib.contextmanager
    def conditioned_on(self,
                       labels: Optional[torch.Tensor]) -> Iterator[None]:
        """No-op: this network's CAMs do not depend on the image labels.

        Every CAM-producing model of mmcpal has ``conditioned_on``, so CAM
        inference can condition label-aware models (AMN) the same way.
        """
        yield

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[WSSSDataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, torch.Tensor], list, torch.Tensor]:
        """Dispatch to ``loss``, ``predict`` or the raw CAM (``tensor``)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_cam(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', "
                         f"got '{mode}'")

    def loss(self, inputs: torch.Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, torch.Tensor]:
        """``L_cls`` (and ``L_self`` with CPAL) for a batch."""
        feats = self.extract_feat(inputs)
        cams = self.cam_from_feats(feats)
        labels = stack_labels(data_samples).to(cams.device)
        valid = stack_valid(data_samples)
        if valid is not None:
            valid = downsample_valid(valid.to(cams.device), cams.shape[-2:])
        scores = masked_gap(cams, valid)
        losses = dict(
            loss_cls=self.loss_cls_weight *
            F.multilabel_soft_margin_loss(scores, labels))
        if self.cpal is not None:
            losses.update(self.cpal.loss(feats, cams, labels, valid))
        return losses

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor,
                data_samples: List[WSSSDataSample]) -> List[WSSSDataSample]:
        """Class probabilities and CAMs at image resolution.

        Sets ``pred_score`` (sigmoid of the image scores), ``gt_score`` (a copy
        of the labels, for MMPretrain's multi-label metrics) and ``cams``
        (C, H, W): ReLU'd, max-normalised per class, zero for the classes the
        image does not have, cropped to ``img_shape`` and resized to
        ``ori_shape`` when those are in the metainfo.
        """
        cams = self.forward_cam(inputs)
        valid = stack_valid(data_samples)
        if valid is not None:
            valid = downsample_valid(valid.to(cams.device), cams.shape[-2:])
        scores = masked_gap(cams, valid)
        labels = stack_labels(data_samples).to(cams.device)
        full = F.interpolate(
            cams, size=inputs.shape[-2:], mode='bilinear',
            align_corners=False)
        for i, sample in enumerate(data_samples):
            sample.pred_score = scores[i].sigmoid()
            sample.gt_score = labels[i]
            cam = full[i:i + 1]
            img_h, img_w = sample.metainfo.get('img_shape',
                                               inputs.shape[-2:])[:2]
            cam = cam[..., :img_h, :img_w]
            ori = sample.metainfo.get('ori_shape')
            if ori is not None and tuple(ori[:2]) != (img_h, img_w):
                cam = F.interpolate(
                    cam, size=tuple(ori[:2]), mode='bilinear',
                    align_corners=False)
            sample.cams = PixelData(
                data=cam_from_logits(cam, labels[i:i + 1])[0, 1:])
        return data_samples
