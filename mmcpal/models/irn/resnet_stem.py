"""MMPretrain's ResNet that also returns its stem (IRN's first stage)."""
from typing import Tuple

from mmpretrain.models.backbones import ResNet
from torch import Tensor

from mmcpal.registry import MODELS


@MODELS.register_module()
class ResNetWithStem(ResNet):
    """``mmpretrain.ResNet`` whose outputs start with the stem.

    IRN's boundary branch reads five stages of ResNet-50: ``conv1 + bn1 +
    relu + maxpool`` (64 channels, stride 4) and ``layer1`` .. ``layer4``
    (``stage1`` .. ``stage5`` of ``net/resnet50_irn.py`` in jiwoon-ahn/irn,
    ResNet strides ``[2, 2, 2, 1]``, i.e. mmpretrain ``strides=(1, 2, 2, 1)``:
    grids at strides 4, 4, 8, 16, 16). Same arguments and weights as
    ``mmpretrain.ResNet``; the stem output (after the max-pool) comes first,
    then the ``out_indices`` layers.
    """

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Stem output, then the ``out_indices`` layer outputs.

        Args:
            x (Tensor): (N, 3, H, W) images.

        Returns:
            tuple[Tensor]: ``(stem, *layers)``.
        """
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = [x]
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
