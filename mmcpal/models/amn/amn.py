"""AMN: the label-conditioned per-pixel network (+ optional CPAL branch)."""
import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor

from mmcpal.models.classifiers.cam_classifier import (NO_CPAL_MESSAGE,
                                                      pacam_of_views)
from mmcpal.models.classifiers.cam_ops import downsample_valid
from mmcpal.registry import MODELS
from mmcpal.structures import WSSSDataSample
from .aspp import AtrousClassifier
from .conditioning import LabelConditioning, expand_labels
from .grid_labels import (pad_valid_masks, resize_labels_nearest,
                          stack_ir_labels)
from .loss import AMN_EPS, balanced_smoothed_ce

_CPAL_CAMS = ('prob', 'logit')


@MODELS.register_module()
class AMN(BaseModel):
    """Activation Manipulation Network (Lee et al., CVPR 2022).

    "Threshold Matters in WSSS: Manipulating the Activation for the Robust
    and Accurate Segmentation Model Against Thresholds"; public code
    gaviotas/AMN. A segmentation-style network trained per pixel on the IR
    labels of a CAM network (0 background, 1..C confident foreground, 255
    unsure), whose activation maps replace the CAMs for the next stage:

    1. ``F = backbone(x)[feat_index]``; ``F' = F * label_enc(y)`` with ``y``
       the image's multi-hot label (:class:`LabelConditioning`).
    2. ``Z = classifier(F')`` (:class:`AtrousClassifier`), ``C + 1`` logits
       per cell, channel 0 the background.
    3. ``loss_pcl`` (:func:`balanced_smoothed_ce`): the IR labels are taken
       to the logit grid by Pillow-style nearest sampling, targets smoothed
       with ``eps``, background and foreground cells averaged separately.
    4. The activation maps are ``softmax(Z)[1:]`` (:meth:`forward_cam`).

    With ``cpal=dict(type='CPALBranch', ...)`` the CPAL branch is attached
    unchanged: ``self.cpal.loss(feats, cams, labels, valid)`` with the
    backbone outputs ``feats`` (before label conditioning), the foreground
    maps ``cams`` on the logit grid (``cpal_cams``), the image labels and
    the crop's valid mask pooled to the grid; it adds ``loss_self``. With
    ``cpal=None`` this is plain AMN.

    Note:
        - AMN needs the image label also at inference. :meth:`forward_cam`
          takes ``labels``; when it is None the labels set with
          :meth:`conditioned_on` (or the attribute ``inference_labels``) are
          used, and when those are None too, all-ones (every class present)
          [choice]. :meth:`predict` uses each sample's ``gt_label``.
        - AMN's ``Net.train`` override never calls ``nn.Module.train``, so
          its dropout stays active at CAM generation; here ``eval()`` turns
          it off [choice].
        - Unsure pixels and crop padding (``valid_mask`` False) are ignored
          by the loss.

    Args:
        backbone (dict): Backbone config returning a tuple of feature maps
            (AMN: ResNet-50 at output stride 16).
        num_classes (int): Foreground classes C.
        in_channels (int): Channels of the backbone output at
            ``feat_index`` (2048 for ResNet-50).
        feat_index (int): Backbone output that is conditioned and
            classified. Defaults to -1.
        dilations (Sequence[int]): Rates of the ASPP classifier. Defaults to
            (6, 12, 18, 24) (AMN).
        dropout_ratio (float): Dropout before the classifier. Defaults to
            0.1 (AMN).
        eps (float): Label smoothing of ``loss_pcl``. Defaults to 0.4 (AMN).
        loss_weight (float): Weight of ``loss_pcl``. Defaults to 1.0.
        ignore_index (int): Unsure label of the IR labels. Defaults to 255.
        cpal (dict, optional): CPAL branch config, built with
            ``num_classes`` filled in. Defaults to None (plain AMN).
        cpal_cams (str): Maps given to the branch as ``cams``: ``'prob'``,
            the foreground softmax probabilities (the maps AMN outputs), or
            ``'logit'``, the raw foreground logits ``Z[:, 1:]``. Defaults to
            'prob' [choice: AMN's logits are trained against a background
            channel, so a present class can have negative logits everywhere
            and an empty reliable mask after ReLU].
        test_cfg (dict, optional): Inference options read by the pseudo-mask
            API, e.g. ``dict(cam_type='pacam')``. Defaults to None.
        data_preprocessor (dict, optional): Normalisation config; an
            ``ImgDataPreprocessor`` by default.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 *,
                 backbone: dict,
                 num_classes: int,
                 in_channels: int,
                 feat_index: int = -1,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 dropout_ratio: float = 0.1,
                 eps: float = AMN_EPS,
                 loss_weight: float = 1.0,
                 ignore_index: int = 255,
                 cpal: Optional[dict] = None,
                 cpal_cams: str = 'prob',
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.test_cfg = dict(test_cfg or {})
        assert isinstance(num_classes, int) and num_classes > 0, (
            f'AMN: num_classes must be an int > 0, got {num_classes!r}')
        assert isinstance(in_channels, int) and in_channels > 0, (
            f'AMN: in_channels must be an int > 0, got {in_channels!r}')
        assert 0.0 <= eps < 1.0, f'AMN: eps must be in [0, 1), got {eps}'
        assert loss_weight >= 0, (
            f'AMN: loss_weight must be >= 0, got {loss_weight}')
        assert 0 <= ignore_index <= 255 and ignore_index > num_classes, (
            f'AMN: ignore_index must be in {num_classes + 1}..255 (not a '
            f'class), got {ignore_index}')
        assert cpal_cams in _CPAL_CAMS, (
            f'AMN: cpal_cams must be one of {_CPAL_CAMS}, got {cpal_cams!r}')
        self.num_classes = num_classes
        self.feat_index = feat_index
        self.eps = float(eps)
        self.loss_weight = float(loss_weight)
        self.ignore_index = ignore_index
        self.cpal_cams = cpal_cams
        # Labels used by forward_cam(labels=None); see conditioned_on().
        self.inference_labels: Optional[Tensor] = None
        self.backbone = MODELS.build(backbone)
        self.label_enc = LabelConditioning(num_classes, in_channels)
        self.classifier = AtrousClassifier(
            in_channels,
            num_classes + 1,
            dilations=tuple(dilations),
            dropout_ratio=dropout_ratio)
        self.cpal = None
        if cpal is not None:
            cpal = dict(cpal)
            cpal.setdefault('num_classes', num_classes)
            assert cpal['num_classes'] == num_classes, (
                f"AMN: cpal.num_classes ({cpal['num_classes']}) must equal "
                f'num_classes ({num_classes})')
            self.cpal = MODELS.build(cpal)

    @property
    def with_cpal(self) -> bool:
        """Whether the CPAL branch is attached."""
        return self.cpal is not None

    # ------------------------------------------------------------------
    # features, logits, maps
    # ------------------------------------------------------------------
    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone feature maps (always a tuple), before conditioning."""
        feats = self.backbone(inputs)
        if isinstance(feats, Tensor):
            feats = (feats, )
        return tuple(feats)

    def resolve_labels(self, labels: Optional[Tensor],
                       batch: int) -> Tensor:
        """The (N, C) label rows used to condition a batch of N inputs.

        Args:
            labels (Tensor, optional): ``(C,)``, ``(N, C)`` or ``(B, C)``
                with N a multiple of B (row i gets ``labels[i % B]``).
                None falls back to ``inference_labels``, then all-ones.
            batch (int): N.

        Returns:
            Tensor: ``(N, C)`` float labels on the model's device.
        """
        if labels is None:
            labels = self.inference_labels
        if labels is None:
            labels = torch.ones(self.num_classes)
        device = self.label_enc.fc.weight.device
        return expand_labels(labels, batch, self.num_classes).to(device)

    def logits_from_feats(self, feats: Sequence[Tensor],
                          labels: Tensor) -> Tensor:
        """``Z = classifier(F * label_enc(y))``: (N, C + 1, h, w)."""
        return self.classifier(self.label_enc(feats[self.feat_index],
                                              labels))

    def forward_logits(self,
                       inputs: Tensor,
                       labels: Optional[Tensor] = None) -> Tensor:
        """Per-cell logits, channel 0 the background.

        Args:
            inputs (Tensor): Preprocessed images (N, 3, H, W).
            labels (Tensor, optional): See :meth:`resolve_labels`.

        Returns:
            Tensor: (N, C + 1, h, w) logits on the feature grid.
        """
        feats = self.extract_feat(inputs)
        return self.logits_from_feats(
            feats, self.resolve_labels(labels, inputs.shape[0]))

    def forward_cam(self,
                    inputs: Tensor,
                    labels: Optional[Tensor] = None) -> Tensor:
        """AMN's foreground activation maps on the feature grid.

        ``softmax(Z)[:, 1:]``: the probability of each class against the
        background and the other classes (AMN: ``F.softmax(cam, dim=0)``
        over the C + 1 channels in ``step/make_amn_cam.py``). Non-negative,
        so a caller's ReLU changes nothing.

        Args:
            inputs (Tensor): Preprocessed images (N, 3, H, W).
            labels (Tensor, optional): Conditioning labels; None uses
                ``inference_labels`` (see :meth:`conditioned_on`), then
                all-ones.

        Returns:
            Tensor: (N, C, h, w) probabilities.
        """
        return self.forward_logits(inputs, labels).softmax(dim=1)[:, 1:]

    @contextlib.contextmanager
    def conditioned_on(self, labels: Optional[Tensor]) -> Iterator[None]:
        """Condition ``forward_cam(inputs)`` on ``labels`` inside a block.

        Example:
            >>> with model.conditioned_on(gt_label):   # (C,) multi-hot
            ...     result = multiscale_cam(model, img, gt_label)

        Args:
            labels (Tensor, optional): ``(C,)`` for every input row, or
                ``(B, C)`` for batches whose row i belongs to image
                ``i % B``. The previous value is restored on exit.
        """
        previous = self.inference_labels
        self.inference_labels = (None if labels is None else
                                 torch.as_tensor(labels).float())
        try:
            yield
        finally:
            self.inference_labels = previous

    def forward_cam_pacam(self, inputs: Tensor,
                          labels: Optional[Tensor] = None
                          ) -> Tuple[Tensor, Tensor]:
        """Activation maps and PACAM of a batch from one backbone pass.

        Mirrors :meth:`loss`: the branch gets the backbone outputs before
        label conditioning, the maps selected by ``cpal_cams`` from the
        label-conditioned logits, and the conditioning labels; each row is
        its own batch (:func:`~mmcpal.models.classifiers.cam_classifier.
        pacam_of_views`), the whole crop valid.

        Args:
            inputs (Tensor): Preprocessed images (N, 3, H, W).
            labels (Tensor, optional): See :meth:`resolve_labels`; None uses
                the labels of :meth:`conditioned_on`, then all-ones.

        Returns:
            tuple[Tensor, Tensor]: :meth:`forward_cam`'s maps (N, C, h, w)
            and the PACAM foreground channels (N, C, h, w), same grid.

        Raises:
            ValueError: The model has no CPAL branch.
        """
        if self.cpal is None:
            raise ValueError(f'AMN: {NO_CPAL_MESSAGE}')
        rows = self.resolve_labels(labels, inputs.shape[0])
        feats = self.extract_feat(inputs)
        logits = self.logits_from_feats(feats, rows)
        prototype_cam = pacam_of_views(self.cpal, feats,
                                       self._cpal_maps(logits), rows)
        return logits.softmax(dim=1)[:, 1:], prototype_cam

    def forward_pacam(self, inputs: Tensor,
                      labels: Optional[Tensor] = None) -> Tensor:
        """PACAM foreground channels (N, C, h, w); see
        :meth:`forward_cam_pacam`."""
        return self.forward_cam_pacam(inputs, labels)[1]

    def _cpal_maps(self, logits: Tensor) -> Tensor:
        if self.cpal_cams == 'prob':
            return logits.softmax(dim=1)[:, 1:]
        return logits[:, 1:]

    # ------------------------------------------------------------------
    # MMEngine entry points
    # ------------------------------------------------------------------
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[WSSSDataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, Tensor], list, Tensor]:
        """Dispatch to ``loss``, ``predict`` or :meth:`forward_cam`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_cam(inputs)
        raise ValueError(f"AMN: mode must be 'loss', 'predict' or 'tensor', "
                         f"got '{mode}'")

    def _sample_labels(self, data_samples: Sequence[WSSSDataSample],
                       batch: int) -> Tensor:
        if all('gt_label' in s for s in data_samples):
            return torch.stack([s.gt_label for s in data_samples]).float().to(
                self.label_enc.fc.weight.device)
        return self.resolve_labels(None, batch)

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """``loss_pcl`` (and ``loss_self`` with CPAL) of a batch.

        Args:
            inputs (Tensor): Preprocessed images (B, 3, H, W).
            data_samples (list[WSSSDataSample]): With ``gt_label`` and the
                IR label map as ``gt_sem_seg`` (``LoadIRLabel``); a
                ``valid_mask`` marks the crop's real pixels.

        Returns:
            dict[str, Tensor]: ``loss_pcl`` (+ the branch's outputs).
        """
        if not all('gt_label' in s for s in data_samples):
            raise ValueError('AMN.loss: every data sample needs gt_label '
                             '(the image-level label conditions the '
                             'features)')
        labels = self._sample_labels(data_samples, inputs.shape[0])
        feats = self.extract_feat(inputs)
        logits = self.logits_from_feats(feats, labels)
        input_hw = tuple(inputs.shape[-2:])
        valid_maps = [
            s.valid_mask.data if 'valid_mask' in s else None
            for s in data_samples
        ]
        ir = stack_ir_labels(
            [s.gt_sem_seg.data if 'gt_sem_seg' in s else None
             for s in data_samples],
            input_hw,
            valid_maps=valid_maps,
            ignore_index=self.ignore_index)
        grid = resize_labels_nearest(ir, tuple(logits.shape[-2:]))
        losses = dict(loss_pcl=self.loss_weight * balanced_smoothed_ce(
            logits, grid.to(logits.device), self.eps, self.ignore_index))
        if self.cpal is not None:
            valid = None
            if any(v is not None for v in valid_maps):
                valid = downsample_valid(
                    pad_valid_masks(valid_maps, input_hw).to(logits.device),
                    tuple(logits.shape[-2:]))
            losses.update(
                self.cpal.loss(feats, self._cpal_maps(logits), labels,
                               valid))
        return losses

    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: List[WSSSDataSample]) -> List[WSSSDataSample]:
        """Activation maps and AMN's segmentation at image resolution.

        Conditioned on each sample's ``gt_label`` (or ``inference_labels``
        / all-ones when a sample has none). Sets ``cams`` (C, H, W): the
        foreground probabilities, zero for absent classes; and
        ``pred_sem_seg`` (1, H, W): the argmax over the background and the
        present classes of the softmax (AMN's per-epoch check in
        ``step/train_amn.py``). Maps are cropped to ``img_shape`` and
        resized to ``ori_shape`` when those are in the metainfo.
        """
        labels = self._sample_labels(data_samples, inputs.shape[0])
        logits = self.logits_from_feats(self.extract_feat(inputs), labels)
        full = F.interpolate(
            logits, size=inputs.shape[-2:], mode='bilinear',
            align_corners=False)
        for i, sample in enumerate(data_samples):
            z = full[i:i + 1]
            img_h, img_w = sample.metainfo.get('img_shape',
                                               inputs.shape[-2:])[:2]
            z = z[..., :img_h, :img_w]
            ori = sample.metainfo.get('ori_shape')
            if ori is not None and tuple(ori[:2]) != (img_h, img_w):
                z = F.interpolate(
                    z, size=tuple(ori[:2]), mode='bilinear',
                    align_corners=False)
            prob = z[0].softmax(dim=0)
            present = labels[i] > 0.5
            keep = torch.cat([present.new_ones(1), present])
            score = prob.masked_fill(~keep[:, None, None], -1.0)
            sample.cams = PixelData(
                data=prob[1:] * present[:, None, None].to(prob.dtype))
            sample.pred_sem_seg = PixelData(
                data=score.argmax(dim=0, keepdim=True))
        return data_samples
