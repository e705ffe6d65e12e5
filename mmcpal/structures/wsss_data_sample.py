"""The data sample that flows through every mmcpal stage."""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement, PixelData


class WSSSDataSample(BaseDataElement):
    """Data sample of weakly-supervised semantic segmentation.

    Field names follow MMSeg's ``SegDataSample`` (``gt_sem_seg``,
    ``pred_sem_seg``) so MMSeg's ``IoUMetric`` reads our samples unchanged, and
    MMPretrain's multi-label metrics read ``pred_score`` / ``gt_score``.

    Note:
        ``gt_label`` is a **multi-hot** float vector over the C foreground
        classes (entry ``i`` is class ``i + 1`` of the masks, 0 being
        background), not a list of indices as in MMPretrain's ``DataSample``.

    Fields:
        - ``gt_label`` (Tensor, (C,)): image-level multi-hot labels.
        - ``valid_mask`` (PixelData, data (1, H, W) bool): real pixels
          (False on crop padding).
        - ``gt_sem_seg`` (PixelData, data (1, H, W) long): ground-truth mask,
          only when the data set has one (for evaluation, never training).
        - ``pred_score`` (Tensor, (C,)): predicted class probabilities.
        - ``gt_score`` (Tensor, (C,)): a copy of ``gt_label`` for
          MMPretrain's multi-label metrics.
        - ``cams`` (PixelData, data (C, H, W)): CAMs at image resolution.
        - ``pred_sem_seg`` (PixelData): a predicted mask.
    """

    @property
    def gt_label(self) -> torch.Tensor:
        return self._gt_label

    @gt_label.setter
    def gt_label(self, value: torch.Tensor) -> None:
        self.set_field(value, '_gt_label', dtype=torch.Tensor)

    @gt_label.deleter
    def gt_label(self) -> None:
        del self._gt_label

    @property
    def gt_score(self) -> torch.Tensor:
        """Multi-hot labels under MMPretrain's name, set by ``predict`` so
        MMPretrain's multi-label metrics read them."""
        return self._gt_score

    @gt_score.setter
    def gt_score(self, value: torch.Tensor) -> None:
        self.set_field(value, '_gt_score', dtype=torch.Tensor)

    @gt_score.deleter
    def gt_score(self) -> None:
        del self._gt_score

    @property
    def valid_mask(self) -> PixelData:
        return self._valid_mask

    @valid_mask.setter
    def valid_mask(self, value: PixelData) -> None:
        self.set_field(value, '_valid_mask', dtype=PixelData)

    @valid_mask.deleter
    def valid_mask(self) -> None:
        del self._valid_mask

    @property
    def gt_sem_seg(self) -> PixelData:
        return self._gt_sem_seg

    @gt_sem_seg.setter
    def gt_sem_seg(self, value: PixelData) -> None:
        self.set_field(value, '_gt_sem_seg', dtype=PixelData)

    @gt_sem_seg.deleter
    def gt_sem_seg(self) -> None:
        del self._gt_sem_seg

    @property
    def pred_sem_seg(self) -> PixelData:
        return self._pred_sem_seg

    @pred_sem_seg.setter
    def pred_sem_seg(self, value: PixelData) -> None:
        self.set_field(value, '_pred_sem_seg', dtype=PixelData)

    @pred_sem_seg.deleter
    def pred_sem_seg(self) -> None:
        del self._pred_sem_seg

    @property
    def pred_score(self) -> torch.Tensor:
        return self._pred_score

    @pred_score.setter
    def pred_score(self, value: torch.Tensor) -> None:
        self.set_field(value, '_pred_score', dtype=torch.Tensor)

    @pred_score.deleter
    def pred_score(self) -> None:
        del self._pred_score

    @property
    def cams(self) -> PixelData:
        return self._cams

    @cams.setter
    def cams(self, value: PixelData) -> None:
        self.set_field(value, '_cams', dtype=PixelData)

    @cams.deleter
    def cams(self) -> None:
        del self._cams


def stack_labels(data_samples: list) -> torch.Tensor:
    """Stack the multi-hot ``gt_label`` of a batch into a (B, C) tensor."""
    return torch.stack([s.gt_label for s in data_samples]).float()


def stack_valid(data_samples: list) -> Optional[torch.Tensor]:
    """Stack the valid masks of a batch into a (B, 1, H, W) float tensor.

    Returns None when no sample carries a valid mask (all pixels real).
    """
    if not all('valid_mask' in s for s in data_samples):
        return None
    return torch.stack([s.valid_mask.data for s in data_samples]).float()
