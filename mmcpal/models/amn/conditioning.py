"""AMN's label-conditioned feature modulation."""
import torch
from torch import Tensor, nn


def modulate(feat: Tensor, code: Tensor) -> Tensor:
    """Scale each channel of ``feat`` by the image's label code.

    Args:
        feat (Tensor): ``(B, D, h, w)`` features.
        code (Tensor): ``(B, D)`` per-image channel scales.

    Returns:
        Tensor: ``feat * code[..., None, None]``.
    """
    if code.dim() != 2 or code.shape != feat.shape[:2]:
        raise ValueError(f'modulate: `code` must have shape '
                         f'{tuple(feat.shape[:2])} (B, D of the features), '
                         f'got {tuple(code.shape)}')
    return feat * code[..., None, None]


class LabelConditioning(nn.Module):
    """Multiply features by a linear code of the multi-hot image label.

    AMN (gaviotas/AMN ``net/resnet50_amn.py``): ``label_enc =
    nn.Linear(20, 2048)`` (PyTorch's default initialisation, with bias)
    maps the image-level label to one scale per channel of the last ResNet
    stage, ``x = stage4(...) * label_enc(label)[..., None, None]``, before
    the classifier. The same label vector is used at training and at CAM
    generation (``step/make_amn_cam.py`` feeds the image's labels).

    Args:
        num_classes (int): Foreground classes C (the label length).
        channels (int): Feature channels D.
    """

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        assert num_classes > 0, (
            f'LabelConditioning: num_classes must be > 0, got {num_classes}')
        assert channels > 0, (
            f'LabelConditioning: channels must be > 0, got {channels}')
        self.num_classes = num_classes
        self.fc = nn.Linear(num_classes, channels)

    def forward(self, feat: Tensor, labels: Tensor) -> Tensor:
        """Modulate ``feat`` (B, D, h, w) with ``labels`` (B, C)."""
        if labels.dim() != 2 or labels.shape[1] != self.num_classes:
            raise ValueError(
                f'LabelConditioning: labels must be (B, {self.num_classes}), '
                f'got {tuple(labels.shape)}')
        code = self.fc(labels.to(dtype=self.fc.weight.dtype,
                                 device=self.fc.weight.device))
        return modulate(feat, code.to(feat.dtype))


def expand_labels(labels: Tensor, batch: int, num_classes: int) -> Tensor:
    """Give every input row a label vector.

    Args:
        labels (Tensor): ``(C,)`` (one label for the whole batch) or
            ``(B, C)`` with ``batch % B == 0``; row ``i`` of the batch gets
            ``labels[i % B]`` (the layout ``[x_0..x_{B-1}, flip(x_0)..]`` of
            flip-augmented inference).
        batch (int): Rows of the input batch N.
        num_classes (int): C.

    Returns:
        Tensor: ``(N, C)`` float labels.
    """
    labels = torch.as_tensor(labels).float()
    if labels.dim() == 1:
        labels = labels[None]
    if labels.dim() != 2 or labels.shape[1] != num_classes:
        raise ValueError(f'AMN: labels must be (C,) or (B, C) with C='
                         f'{num_classes}, got shape {tuple(labels.shape)}')
    if labels.shape[0] == 0 or batch % labels.shape[0] != 0:
        raise ValueError(f'AMN: {labels.shape[0]} label rows do not divide '
                         f'the {batch} input rows; give (C,) or (N, C) '
                         f'labels, or (B, C) with N a multiple of B')
    return labels.repeat(batch // labels.shape[0], 1)
