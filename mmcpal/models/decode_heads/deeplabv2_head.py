"""The DeepLab-v2 ASPP classifier as an MMSegmentation decode head.

DeepLab-v2 (Chen et al., "DeepLab: Semantic Image Segmentation with Deep
Convolutional Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI
2018, arXiv:1606.00915, Sec. 3.1 "ASPP-L") classifies every pixel of the
ResNet-101 ``res5`` features (output stride 8) with four parallel 3x3
convolutions of dilation 6, 12, 18 and 24 that go straight to the class
logits and are summed. There is no batch norm, no image-level pooling and no
1x1 bottleneck (those are DeepLab-v3's ASPP, MMSeg's ``ASPPHead``).

The layer recipe follows the reference PyTorch port used by the WSSS papers,
kazuto1011/deeplab-pytorch (``libs/models/deeplabv2.py``, ``_ASPPModule``):
``nn.Conv2d(2048, n_classes, 3, padding=d, dilation=d, bias=True)`` per rate,
weights ``N(0, 0.01)``, biases 0, outputs summed; and its ``main.py``
(``get_params``): 10x learning rate on those weights, 20x and no weight decay
on their biases (the ``lr_mult`` / ``decay_mult`` of the Caffe prototxt).
"""
from typing import List, Sequence, Tuple, Union

import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor, nn

from mmcpal.registry import MODELS

#: Atrous rates of DeepLab-v2's ASPP-L (paper Sec. 3.1; deeplab-pytorch
#: ``configs/voc12.yaml`` ``ATROUS_RATES``).
DEEPLABV2_DILATIONS: Tuple[int, ...] = (6, 12, 18, 24)


def aspp_sum(x: Tensor, weights: Sequence[Tensor],
             biases: Sequence[Tensor], dilations: Sequence[int]) -> Tensor:
    """Sum of parallel dilated 3x3 convolutions that keep the spatial size.

    Args:
        x (Tensor): (N, Cin, H, W) features.
        weights (Sequence[Tensor]): One (Cout, Cin, 3, 3) kernel per branch.
        biases (Sequence[Tensor]): One (Cout,) bias per branch.
        dilations (Sequence[int]): One dilation (= padding) per branch.

    Returns:
        Tensor: (N, Cout, H, W), ``sum_b conv(x, w_b, b_b, dilation=d_b)``.
    """
    if not (len(weights) == len(biases) == len(dilations) > 0):
        raise ValueError(
            'aspp_sum: weights, biases and dilations must be non-empty and '
            f'of equal length, got {len(weights)}, {len(biases)} and '
            f'{len(dilations)}')
    out = None
    for weight, bias, dilation in zip(weights, biases, dilations):
        branch = F.conv2d(
            x, weight, bias, padding=dilation, dilation=dilation)
        out = branch if out is None else out + branch
    return out


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """DeepLab-v2 head: four dilated 3x3 convolutions to the logits, summed.

    Registered in ``mmcpal.registry.MODELS``; MMSeg configs (default scope
    ``'mmseg'``) name it ``type='mmcpal.DeepLabV2Head'``.

    Note:
        * The base class's 1x1 ``conv_seg`` classifier is deleted: the branch
          convolutions *are* the classifier. Every parameter therefore takes
          part in the loss and DDP needs no ``find_unused_parameters``.
        * The branches are plain ``nn.Conv2d`` (not ``ConvModule``, which
          would re-initialise itself after this head's ``init_cfg``), stored
          as ``aspp.0`` .. ``aspp.3`` so an optimiser ``custom_keys`` entry
          ``'decode_head.aspp'`` reaches exactly them.
        * The default ``init_cfg`` draws every branch weight from
          ``N(0, init_std)`` and sets the biases to 0 when
          :meth:`init_weights` runs (the segmentor's ``init_weights`` calls
          it). Passing another ``init_cfg`` (e.g. ``Pretrained``) replaces it.
        * ``dropout_ratio`` defaults to 0: the ResNet-101 DeepLab-v2 has no
          dropout before its classifier (unlike its VGG-16 variant).

    Args:
        in_channels (int): Channels of the input feature map (2048 for
            ResNet-101 ``res5``).
        num_classes (int): Classes including the background (21 for VOC).
        dilations (Sequence[int]): Dilation (and padding) of each branch.
            Defaults to ``(6, 12, 18, 24)``.
        init_std (float): Std of the normal initialisation of the branch
            weights. Defaults to 0.01.
        dropout_ratio (float): Dropout before the branches. Defaults to 0.
        init_cfg (dict | list[dict], optional): MMEngine initialisation
            config. Defaults to ``Normal(std=init_std, bias=0)`` on every
            ``Conv2d`` of the head.
        **kwargs: Further :class:`BaseDecodeHead` arguments (``in_index``,
            ``loss_decode``, ``ignore_index``, ``align_corners``, ...).
            ``channels`` is not accepted: the head has no hidden layer.
    """

    def __init__(self,
                 in_channels: int,
                 *,
                 num_classes: int,
                 dilations: Sequence[int] = DEEPLABV2_DILATIONS,
                 init_std: float = 0.01,
                 dropout_ratio: float = 0.0,
                 init_cfg: Union[dict, List[dict], None] = None,
                 **kwargs) -> None:
        if 'channels' in kwargs:
            raise ValueError(
                'DeepLabV2Head: do not pass `channels`; the four dilated '
                'convolutions map `in_channels` straight to the logits '
                f"(got channels={kwargs['channels']!r})")
        if not (isinstance(in_channels, int) and in_channels > 0):
            raise ValueError('DeepLabV2Head: in_channels must be a positive '
                             f'int, got {in_channels!r}')
        dilations = tuple(dilations)
        if not dilations or not all(
                isinstance(d, int) and d > 0 for d in dilations):
            raise ValueError('DeepLabV2Head: dilations must be a non-empty '
                             f'sequence of positive ints, got {dilations!r}')
        if not init_std > 0:
            raise ValueError(
                f'DeepLabV2Head: init_std must be > 0, got {init_std!r}')
        if init_cfg is None:
            init_cfg = dict(
                type='Normal', layer='Conv2d', mean=0., std=init_std, bias=0.)
        super().__init__(
            in_channels,
            in_channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        # The base class always builds a 1x1 `conv_seg`; this head has none.
        del self.conv_seg
        self.dilations = dilations
        self.init_std = init_std
        self.aspp = nn.ModuleList([
            nn.Conv2d(
                in_channels,
                self.out_channels,
                kernel_size=3,
                padding=d,
                dilation=d,
                bias=True) for d in dilations
        ])

    def forward(self, inputs: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Compute the class logits on the feature grid.

        Args:
            inputs (Tensor | Sequence[Tensor]): Backbone outputs; the one at
                ``in_index`` is used.

        Returns:
            Tensor: (N, out_channels, H, W) logits, the sum of the branches.
        """
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        return aspp_sum(x, [conv.weight for conv in self.aspp],
                        [conv.bias for conv in self.aspp], self.dilations)

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Not used: the branch convolutions are the classifier."""
        raise NotImplementedError(
            'DeepLabV2Head has no conv_seg; call forward() instead')


__all__ = ['DeepLabV2Head', 'aspp_sum', 'DEEPLABV2_DILATIONS']
