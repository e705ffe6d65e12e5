"""IRNet: a class-boundary network trained from IR labels (IRN, CVPR 2019)."""
import contextlib
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor

from mmcpal.registry import MODELS
from mmcpal.structures import WSSSDataSample
from .affinity_loss import affinity_loss_terms, affinity_targets
from .boundary_branch import BoundaryBranch
from .paths import half_directions, path_affinity

# Pair radius of the affinity loss: PathIndex(radius=10) in
# step/train_irn.py of jiwoon-ahn/irn (the random walk uses 5).
IRN_TRAIN_RADIUS = 10


@MODELS.register_module()
class IRNet(BaseModel):
    """Backbone + class-boundary branch, trained with IRN's affinity loss.

    Training reads the IR label map of each image (``gt_sem_seg``: 0
    background, 1..C confident foreground, ``ignore_index`` unsure), takes it
    to the boundary grid by nearest-neighbour sampling (IRN: ``cv2.resize``
    by 0.25, nearest, ``VOC12AffinityDataset``), classifies the pairs within
    ``radius`` (:func:`~mmcpal.models.irn.affinity_loss.affinity_targets`),
    scores them as ``1 - max`` of the predicted boundary along their path
    (:func:`~mmcpal.models.irn.paths.path_affinity`) and applies the balanced
    loss of ``step/train_irn.py``. The losses are returned as three parts
    summing to IRN's ``(L_bg / 2 + L_fg / 2 + L_neg) / 2``: ``loss_aff_bg``
    ``= L_bg / 4``, ``loss_aff_fg = L_fg / 4``, ``loss_aff_neg = L_neg / 2``.

    Note:
        With ``freeze_backbone=True`` (IRN: the backbone features are
        ``.detach()``-ed, the backbone stays in eval mode and only the new
        branches are optimised, ``net/resnet50_irn.py``) the backbone runs
        under ``torch.no_grad`` and its parameters get
        ``requires_grad=False``. IRN starts from ImageNet weights, not from
        the CAM network. The displacement-field branch of IRN (instance
        segmentation only) is not built.

    Args:
        backbone (dict): Config of a backbone returning a tuple of stage
            features, e.g. ``ResNetWithStem`` (IRN's five stages) or
            ``SqueezeNet`` with ``out_indices=(0, 1, 2, 3)``.
        in_channels (Sequence[int]): Channels of each backbone output.
        branch_channels (int): Channels per stage in the boundary branch.
            Defaults to 32.
        num_groups (int): GroupNorm groups of the branch. Defaults to 4.
        grid_index (int): Backbone output whose size is the boundary grid
            (the stride-4 one). Defaults to 1.
        radius (int): Pair radius of the affinity loss (``|d| < radius``).
            Defaults to 10.
        freeze_backbone (bool): Train the boundary branch only. Defaults to
            True.
        ignore_index (int): Unsure label. Defaults to 255.
        data_preprocessor (dict, optional): Normalisation config; an
            ``ImgDataPreprocessor`` by default.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 *,
                 backbone: dict,
                 in_channels: Sequence[int],
                 branch_channels: int = 32,
                 num_groups: int = 4,
                 grid_index: int = 1,
                 radius: int = IRN_TRAIN_RADIUS,
                 freeze_backbone: bool = True,
                 ignore_index: int = 255,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        assert 0 <= ignore_index <= 255, (
            f'IRNet: ignore_index must be in 0..255, got {ignore_index}')
        self.directions = half_directions(radius)
        self.radius = radius
        self.ignore_index = ignore_index
        self.freeze_backbone = bool(freeze_backbone)
        self.backbone = MODELS.build(backbone)
        self.boundary_branch = BoundaryBranch(
            in_channels=in_channels,
            channels=branch_channels,
            num_groups=num_groups,
            grid_index=grid_index)
        if self.freeze_backbone:
            for param in self.backbone.parameters():
                param.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> 'IRNet':
        """Set the mode; a frozen backbone stays in eval mode (IRN)."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def extract_feat(self, inputs: Tensor) -> tuple:
        """Backbone stage features (no gradient when frozen)."""
        context = (
            torch.no_grad()
            if self.freeze_backbone else contextlib.nullcontext())
        with context:
            feats = self.backbone(inputs)
        if isinstance(feats, Tensor):
            feats = (feats, )
        return tuple(feats)

    def forward_boundary(self, inputs: Tensor) -> Tensor:
        """Boundary logits on the grid.

        Args:
            inputs (Tensor): (N, 3, H, W) preprocessed images.

        Returns:
            Tensor: (N, 1, h, w) logits.
        """
        return self.boundary_branch(self.extract_feat(inputs))

    @torch.no_grad()
    def predict_boundary(self, inputs: Tensor, flip: bool = True) -> Tensor:
        """Boundary probabilities, averaged with the horizontal flip.

        IRN's ``EdgeDisplacement.forward``: ``sigmoid(e / 2 +
        flip(e_flipped) / 2)`` with ``e`` the logits of the image and
        ``e_flipped`` those of its mirror image.

        Args:
            inputs (Tensor): (N, 3, H, W) preprocessed images.
            flip (bool): Average with the flipped image. Defaults to True.

        Returns:
            Tensor: (N, h, w) probabilities in [0, 1].
        """
        if not flip:
            return torch.sigmoid(self.forward_boundary(inputs))[:, 0]
        both = self.forward_boundary(torch.cat([inputs,
                                                inputs.flip(-1)]))[:, 0]
        n = inputs.shape[0]
        return torch.sigmoid(both[:n] / 2 + both[n:].flip(-1) / 2)

    def grid_labels(self, data_samples: Sequence[WSSSDataSample],
                    input_hw: Sequence[int], grid_hw: Sequence[int]) -> Tensor:
        """IR labels of the batch, nearest-sampled onto the boundary grid.

        Args:
            data_samples (Sequence[WSSSDataSample]): Each with
                ``gt_sem_seg`` (1, H_i, W_i); parts outside a sample's map
                (batch padding) are ``ignore_index``.
            input_hw (Sequence[int]): (H, W) of the batch inputs.
            grid_hw (Sequence[int]): (h, w) of the boundary grid.

        Returns:
            Tensor: (N, h, w) int64 labels.
        """
        height, width = input_hw
        labels = torch.full((len(data_samples), height, width),
                            self.ignore_index,
                            dtype=torch.long)
        for i, sample in enumerate(data_samples):
            if 'gt_sem_seg' not in sample:
                raise ValueError(
                    f'IRNet.loss: data sample {i} has no gt_sem_seg; the IR '
                    'label map must be loaded as the segmentation map (e.g. '
                    'the LoadIRLabel transform)')
            seg = sample.gt_sem_seg.data[0][:height, :width]
            labels[i, :seg.shape[0], :seg.shape[1]] = seg
        grid = F.interpolate(
            labels[:, None].float(), size=tuple(grid_hw), mode='nearest')
        return grid[:, 0].long()

    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """IRN's affinity loss (three parts, see the class docstring)."""
        logits = self.forward_boundary(inputs)
        labels = self.grid_labels(data_samples, inputs.shape[-2:],
                                  logits.shape[-2:]).to(logits.device)
        affinity = path_affinity(torch.sigmoid(logits[:, 0]), self.directions)
        targets = affinity_targets(labels, self.directions, self.ignore_index)
        terms = affinity_loss_terms(affinity, targets)
        return dict(
            loss_aff_bg=terms['bg_pos'] / 4,
            loss_aff_fg=terms['fg_pos'] / 4,
            loss_aff_neg=terms['neg'] / 2)

    def predict(self, inputs: Tensor,
                data_samples: List[WSSSDataSample]) -> List[WSSSDataSample]:
        """Set ``pred_boundary`` (PixelData (1, h, w), flip-averaged
        probabilities on the grid) of each sample."""
        boundary = self.predict_boundary(inputs)
        for i, sample in enumerate(data_samples):
            sample.pred_boundary = PixelData(data=boundary[i][None])
        return data_samples

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[WSSSDataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, Tensor], list, Tensor]:
        """Dispatch to ``loss``, ``predict`` or the boundary logits
        (``tensor``)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_boundary(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', "
                         f"got '{mode}'")
