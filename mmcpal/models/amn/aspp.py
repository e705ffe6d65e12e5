"""AMN's classifier: dropout and a sum of dilated 3x3 convolutions."""
from typing import Sequence

from torch import Tensor, nn


class AtrousClassifier(nn.Module):
    """DeepLab-v2 style ASPP classifier, as AMN uses it.

    gaviotas/AMN ``net/resnet50_amn.py``: ``nn.Sequential(nn.Dropout(0.1),
    _ASPP(in_ch=2048, out_ch=21, rates=[6, 12, 18, 24]))`` where ``_ASPP``
    sums one 3x3 convolution (with bias, padding = dilation) per rate, its
    weights drawn from N(0, 0.01) and biases 0.

    Args:
        in_channels (int): Input channels.
        num_outputs (int): Output channels (C + 1 for AMN).
        dilations (Sequence[int]): One branch per rate. Defaults to
            (6, 12, 18, 24) (AMN).
        dropout_ratio (float): Dropout before the branches. Defaults to 0.1
            (AMN).
        init_std (float): Std of the normal weight init. Defaults to 0.01.
    """

    def __init__(self,
                 in_channels: int,
                 num_outputs: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 dropout_ratio: float = 0.1,
                 init_std: float = 0.01) -> None:
        super().__init__()
        assert in_channels > 0 and num_outputs > 0, (
            f'AtrousClassifier: channels must be > 0, got in_channels='
            f'{in_channels}, num_outputs={num_outputs}')
        assert len(dilations) > 0 and all(
            isinstance(d, int) and d > 0 for d in dilations), (
                f'AtrousClassifier: dilations must be positive ints, got '
                f'{dilations!r}')
        assert 0.0 <= dropout_ratio < 1.0, (
            f'AtrousClassifier: dropout_ratio must be in [0, 1), got '
            f'{dropout_ratio}')
        self.dropout = nn.Dropout(dropout_ratio)
        self.branches = nn.ModuleList([
            nn.Conv2d(in_channels, num_outputs, 3, padding=d, dilation=d)
            for d in dilations
        ])
        for conv in self.branches:
            nn.init.normal_(conv.weight, mean=0.0, std=init_std)
            nn.init.constant_(conv.bias, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        """(B, D, h, w) -> (B, num_outputs, h, w) logits."""
        x = self.dropout(x)
        out = self.branches[0](x)
        for conv in self.branches[1:]:
            out = out + conv(x)
        return out
