"""Inference-only model fusion for CAM inference (exact up to rounding).

:func:`fuse_for_inference` returns a *clone* of a model in eval mode in
which

- every eval-mode ``BatchNorm2d`` that directly consumes a ``Conv2d``'s
  output is folded into that convolution (``w' = w * g / sqrt(v + eps)``,
  ``b' = (b - m) * g / sqrt(v + eps) + beta``) and replaced by an identity;
- every ``Conv2d`` with zero padding runs through oneDNN
  (``torch.mkldnn_convolution``) on CPU float32 inputs. PyTorch sends 1x1,
  stride-1 convolutions of small batches to its plain GEMM kernel when one
  thread is used (``use_mkldnn`` in ATen's ``ConvUtils.h``); with
  ``channels_last`` inputs oneDNN was 1.2-2x faster on ResNet-50's 1x1
  shapes in a one-thread micro-benchmark (noisy shared host). Other devices
  and dtypes use ``F.conv2d``.

Measured effect on CAM inference (``benchmarks/cam_speed.py``): ResNet-50
forwards 11 % less CPU time (BatchNorm is ~10 % of an unfused forward);
SqueezeNet (no BatchNorm) within noise. Building the clone costs ~15 ms for
SqueezeNet and ~0.2 s for ResNet-50 (copy, three forwards on the example).

The user's model is never modified: parameters of untouched layers are
shared with the clone (they are only read), everything else is copied.
Conv/BN pairs are found from the data flow of one forward on an example
input (a BN whose input tensor *is* a convolution's output), and the clone
is checked against the model on that input; if the check fails (e.g. a
convolution output also feeds another layer, so folding would change it)
the model itself is returned unchanged.
"""
import copy
import warnings
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

# Relative tolerance of the clone-vs-model check on the example input:
# float32 rounding through ResNet-50 stays below 1e-5 relative (measured);
# a wrong fold changes outputs by O(1).
CHECK_RTOL = 1e-3


class InferenceConv2d(nn.Module):
    """A frozen 2-D convolution (possibly with a folded BatchNorm).

    Args:
        weight (Tensor): (Cout, Cin / groups, kh, kw).
        bias (Tensor, optional): (Cout,). Defaults to None.
        stride (tuple[int, int]): Defaults to (1, 1).
        padding (tuple[int, int] | str): Zero padding. Defaults to (0, 0).
        dilation (tuple[int, int]): Defaults to (1, 1).
        groups (int): Defaults to 1.
        mkldnn (bool): Run through oneDNN on CPU float32 inputs.
            Defaults to True.
    """

    def __init__(self,
                 weight: torch.Tensor,
                 bias: Optional[torch.Tensor] = None,
                 stride: Tuple[int, int] = (1, 1),
                 padding: Union[Tuple[int, int], str] = (0, 0),
                 dilation: Tuple[int, int] = (1, 1),
                 groups: int = 1,
                 mkldnn: bool = True) -> None:
        super().__init__()
        if weight.dim() != 4:
            raise ValueError(f'weight must be (Cout, Cin, kh, kw), got '
                             f'shape {tuple(weight.shape)}')
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = (None if bias is None else nn.Parameter(
            bias, requires_grad=False))
        self.stride = tuple(stride)
        self.padding = padding if isinstance(padding, str) else tuple(padding)
        self.dilation = tuple(dilation)
        self.groups = groups
        self.mkldnn = (mkldnn and not isinstance(padding, str)
                       and torch.backends.mkldnn.is_available())
        # channels_last copy of the weight, made on first use (frozen)
        self._weight_cl: Optional[torch.Tensor] = None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, mkldnn: bool = True,
                  bn: Optional[nn.BatchNorm2d] = None) -> 'InferenceConv2d':
        """Build from a ``Conv2d`` (zero padding), folding ``bn`` if given."""
        weight = conv.weight.detach()
        bias = None if conv.bias is None else conv.bias.detach()
        if bn is not None:
            weight, bias = fold_bn(weight, bias, bn)
        return cls(weight, bias, conv.stride, conv.padding, conv.dilation,
                   conv.groups, mkldnn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (N, Cin, H, W)."""
        if (self.mkldnn and x.device.type == 'cpu'
                and x.dtype == torch.float32 and not x.requires_grad):
            weight = self.weight
            if x.is_contiguous(memory_format=torch.channels_last):
                if (self._weight_cl is None
                        or self._weight_cl.device != weight.device):
                    self._weight_cl = weight.detach().contiguous(
                        memory_format=torch.channels_last)
                weight = self._weight_cl
            return torch.mkldnn_convolution(x, weight, self.bias,
                                            list(self.padding),
                                            list(self.stride),
                                            list(self.dilation), self.groups)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


def fold_bn(weight: torch.Tensor, bias: Optional[torch.Tensor],
            bn: nn.BatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm into the preceding convolution.

    ``bn(conv(x)) = (w * x + b - m) * g / sqrt(v + eps) + beta``.

    Args:
        weight (Tensor): Conv weight (Cout, Cin, kh, kw).
        bias (Tensor, optional): Conv bias (Cout,).
        bn (nn.BatchNorm2d): Uses running statistics (eval mode).

    Returns:
        tuple[Tensor, Tensor]: New weight and bias (float32 maths in the
        weight's dtype).
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError('fold_bn needs a BatchNorm with running statistics '
                         '(track_running_stats=True)')
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach()
    shift = -bn.running_mean * scale
    if bias is not None:
        shift = shift + bias * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach()
    return weight * scale[:, None, None, None], shift.to(weight.dtype)


def _conv_bn_pairs(model: nn.Module, run: Callable[[nn.Module], object]
                   ) -> Dict[str, str]:
    """Names of BN layers whose input is a Conv2d's output -> conv names."""
    outputs: Dict[int, str] = {}
    pairs: Dict[str, str] = {}
    keep: List[torch.Tensor] = []  # keeps ids unique during the forward
    handles = []

    def conv_hook(name):
        def hook(module, args, out):
            keep.append(out)
            outputs[id(out)] = name
        return hook

    def bn_hook(name):
        def hook(module, args):
            if args and id(args[0]) in outputs:
                pairs.setdefault(name, outputs[id(args[0])])
        return hook

    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.padding_mode == 'zeros':
            handles.append(m.register_forward_hook(conv_hook(name)))
        elif isinstance(m, nn.BatchNorm2d):
            handles.append(m.register_forward_pre_hook(bn_hook(name)))
    try:
        run(model)
    finally:
        for h in handles:
            h.remove()
    return pairs


def _set_module(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition('.')
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def fuse_for_inference(model: nn.Module,
                       run: Callable[[nn.Module], torch.Tensor],
                       *,
                       fold_batchnorm: bool = True,
                       mkldnn: bool = True,
                       check: bool = True) -> nn.Module:
    """Clone ``model`` with BatchNorms folded and oneDNN convolutions.

    Args:
        model (nn.Module): Model in eval mode (if any submodule is in
            training mode the model is returned unchanged: folding needs
            running statistics).
        run (callable): ``run(m) -> Tensor`` runs one inference forward of
            a model of this structure on an example input (e.g.
            ``lambda m: m.forward_cam(x)``); used to find the Conv/BN pairs
            and to check the clone. Keep the input small.
        fold_batchnorm (bool): Fold eval-mode BatchNorms into convolutions.
            Defaults to True.
        mkldnn (bool): Run convolutions through oneDNN on CPU float32.
            Defaults to True.
        check (bool): Compare the clone with the model on ``run`` and
            return the model unchanged (with a warning) if they differ by
            more than rounding. Defaults to True.

    Returns:
        nn.Module: The fused clone (or ``model`` itself, see above).
    """
    if any(m.training for m in model.modules()):
        return model
    # Share parameters (read only) with the clone; copy buffers and modules.
    memo = {id(p): p for p in model.parameters()}
    clone = copy.deepcopy(model, memo)
    with torch.no_grad():
        pairs = _conv_bn_pairs(clone, run) if fold_batchnorm else {}
        folded = set(pairs.values())
        for bn_name, conv_name in pairs.items():
            conv = clone.get_submodule(conv_name)
            _set_module(clone, conv_name, InferenceConv2d.from_conv(
                conv, mkldnn, clone.get_submodule(bn_name)))
            _set_module(clone, bn_name, nn.Identity())
        if mkldnn:
            for name, m in list(clone.named_modules()):
                if (name not in folded and isinstance(m, nn.Conv2d)
                        and m.padding_mode == 'zeros'):
                    _set_module(clone, name,
                                InferenceConv2d.from_conv(m, mkldnn))
        if check:
            ref, out = run(model), run(clone)
            tol = CHECK_RTOL * float(ref.abs().max()) + 1e-6
            if ref.shape != out.shape or float(
                    (ref - out).abs().max()) > tol:
                warnings.warn('fuse_for_inference: the fused clone differs '
                              'from the model on the example input; using '
                              'the unfused model')
                return model
    return clone
