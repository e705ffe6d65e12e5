"""Multi-scale, flip-augmented CAM inference (train-set CAM seeds).

For one image with ground-truth classes ``keys`` (mask values 1..C):

    M = sum over scales s, flips f of f(up(ReLU(A(f(resize_s(x))))))
    CAM_k = M_k / (max M_k + 1e-5)      for k in keys

with ``A`` the model's raw CAM (``forward_cam``), ``up`` a bilinear
(``align_corners=False``) upsampling to the image size and the scales
``(1.0, 0.5, 1.5, 2.0)`` by default (docs/cpal-method.md section 11; IRN,
``step/make_cam.py`` in jiwoon-ahn/irn).

Two implementations compute the same maps:

- :func:`multiscale_cam_loop`, the reference: the per-image, per-scale loop of
  IRN / AMN. IRN's ``VOC12ClassificationDatasetMSF`` (``voc12/dataloader.py``)
  rescales and normalises the image per scale and stacks ``[img, flip(img)]``;
  ``step/make_cam.py`` runs one forward per scale on that pair;
  ``net/resnet50_cam.py`` (``CAM.forward``) applies ReLU and adds the flipped
  map back; all C classes are upsampled and the image's classes selected at
  the end (``valid_cat``).
- :func:`multiscale_cam` / :func:`multiscale_cam_batch`, the batched one:
  normalises each image once, puts the original and the flip of a scale in one
  forward together with other images of the same size (bounded by
  ``max_pixels_per_batch``), in ``channels_last`` memory format, keeps only
  the labelled classes *before* upsampling and adds the flipped map back on
  the feature grid. Bilinear resizing with ``align_corners=False`` commutes
  with a horizontal flip (sample position ``(x + 0.5) * in / out - 0.5`` is
  mirror-symmetric), so ``up(a) + flip(up(b)) == up(a + flip(b))`` up to
  float rounding.

IRN files cited: jiwoon-ahn/irn at commit 057cea6e.

Speed (``benchmarks/cam_speed.py``, one CPU thread, 500x375 images, 2-core
host shared with other jobs at load ~4, so +-15 % between runs): the batched
path runs 1.5-2.15x the loop's images/s with SqueezeNet (median 1.7x CPU
time) and 1.27x (CPU time; 1.12x without ``fuse``) with a ResNet-50 at
output stride 16. The gains are ``channels_last`` (3.5x faster max-pooling
in SqueezeNet, ~13 % faster convolutions), upsampling only the labelled
classes, and for ResNet-50 the fused clone (``fuse=True``: BatchNorm folded
into the convolutions, 10 % of the loop's time, and oneDNN for 1x1
convolutions). 2x is out of reach on a CPU for ResNet-50: its convolutions
take 84 % of the loop's time and 94 % of the batched path's (profiled: 15.4 s
vs 13.4 s per image), so even with everything else free the ratio stays
below 1.4x. SqueezeNet's convolutions cost about the same in both paths (1.7
vs 1.65 s per 2 images, 45 % of the loop) and most of the rest of the
batched time is ReLU, concatenation and pooling in the model's own forward,
dominated by first-touch page faults of freshly allocated large outputs
(e.g. a 96 MB ReLU: 69 ms fresh vs 12 ms into a reused buffer), which only
kernel fusion (``torch.compile``) would remove. Stacking more images per
forward gains nothing on a CPU (it pays on a GPU).

Note:
    Differences from IRN [choice]: the image is resized bilinearly on the
    normalised float tensor (IRN: PIL bicubic on uint8), and CAMs are
    upsampled straight to the image size (IRN: to the size rounded up to a
    multiple of 16, then cropped). The model must be in ``eval()`` mode
    (BatchNorm statistics); it is not switched here.
"""
from collections import OrderedDict
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .fuse import fuse_for_inference

DEFAULT_SCALES = (1.0, 0.5, 1.5, 2.0)
# Input pixels (batch x height x width) of one forward. The original and its
# flip of one image at scale 2.0 on a 500x375 VOC image take 1.5e6, so the
# default allows one VOC image per forward at scale 2 and ~10 at scale 0.5.
DEFAULT_MAX_PIXELS = 2_000_000
# Added to the per-class max before dividing (IRN step/make_cam.py).
NORM_EPS = 1e-5
# Side of the example crop that fuse_for_inference pairs Conv/BN layers on
# and checks the fused clone with.
FUSE_EXAMPLE_SIZE = 64

# Name of the PACAM in ``MultiScaleCAM.extra`` (and in the CAM files).
PACAM_KEY = 'pacam'

ExtraFn = Callable[[torch.Tensor], Dict[str, torch.Tensor]]
LabelLike = Union[torch.Tensor, np.ndarray, Sequence[float]]


class MultiScaleCAM(NamedTuple):
    """Result of multi-scale CAM inference for one image.

    Attributes:
        cams (Tensor): (K, H, W) float32 in [0, 1], one map per
            ground-truth class, on the model's device.
        keys (Tensor): (K,) int64 mask values (1..C) of the maps.
        extra (dict[str, Tensor]): Extra maps from ``extra_fn`` (e.g.
            ``pacam``), each (K, H, W), aggregated like ``cams``.
    """
    cams: torch.Tensor
    keys: torch.Tensor
    extra: Dict[str, torch.Tensor]


def _check_scales(scales: Sequence[float]) -> Tuple[float, ...]:
    scales = tuple(float(s) for s in scales)
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f'scales must be a non-empty sequence of positive '
                         f'numbers, got {scales}')
    return scales


def _check_image(img: torch.Tensor, name: str = 'img') -> torch.Tensor:
    if not isinstance(img, torch.Tensor):
        img = torch.from_numpy(np.ascontiguousarray(img))
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f'{name} must be a (3, H, W) BGR tensor (channels '
                         f'first, as PackWSSSInputs gives), got shape '
                         f'{tuple(img.shape)}')
    return img


def label_keys(label: LabelLike, num_classes: int) -> torch.Tensor:
    """Mask values (1..C) of the classes present in a multi-hot label.

    Args:
        label (Tensor | np.ndarray | sequence): Multi-hot (C,) label.
        num_classes (int): C, foreground classes of the model.

    Returns:
        Tensor: (K,) int64 on the CPU, sorted.
    """
    label = torch.as_tensor(np.asarray(label, dtype=np.float32)
                            if not isinstance(label, torch.Tensor) else label)
    if label.dim() != 1 or label.numel() != num_classes:
        raise ValueError(f'label must be a multi-hot vector of length '
                         f'num_classes={num_classes}, got shape '
                         f'{tuple(label.shape)}')
    return torch.nonzero(label.detach().cpu() > 0)[:, 0].long() + 1


def scaled_size(size: Tuple[int, int], scale: float) -> Tuple[int, int]:
    """Image size at ``scale``: ``round(H * s), round(W * s)``, at least 1
    (IRN ``imutils.pil_rescale`` rounds the same way)."""
    return (max(1, int(round(size[0] * scale))),
            max(1, int(round(size[1] * scale))))


def preprocess(model: nn.Module, imgs: torch.Tensor) -> torch.Tensor:
    """Normalise raw BGR images with the model's data preprocessor.

    Calls ``model.data_preprocessor({'inputs': imgs}, False)`` (for an
    ``ImgDataPreprocessor``: move to its device, optional BGR->RGB, float,
    ``(x - mean) / std``, pad to ``pad_size_divisor``) and crops any padding
    away: the CAM of the padded border is not wanted here.

    Args:
        model (nn.Module): A model with a ``data_preprocessor``.
        imgs (Tensor): (N, 3, H, W) uint8 or float BGR images.

    Returns:
        Tensor: (N, 3, H, W) float32 on the preprocessor's device.
    """
    h, w = imgs.shape[-2:]
    out = model.data_preprocessor({'inputs': imgs}, False)['inputs']
    return out[..., :h, :w].float()


def _resize(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def _normalise(maps: torch.Tensor) -> torch.Tensor:
    """Divide each (K, H, W) channel by its max + 1e-5 (IRN make_cam.py)."""
    peak = maps.flatten(1).max(dim=1).values
    return maps / (peak[:, None, None] + NORM_EPS)


def _label_rows(keys: Sequence[torch.Tensor], num_classes: int,
                flip: bool, device: torch.device) -> torch.Tensor:
    """(N, C) multi-hot rows of a forward ``[x_0..x_{b-1}(, flips)]``."""
    rows = torch.zeros(len(keys), num_classes, device=device)
    for j, k in enumerate(keys):
        rows[j, k.to(device) - 1] = 1.0
    return torch.cat([rows, rows]) if flip else rows


def _forward_maps(model: nn.Module, inputs: torch.Tensor,
                  extra_fn: Optional[ExtraFn],
                  pacam_labels: Optional[torch.Tensor] = None
                  ) -> Dict[str, torch.Tensor]:
    """ReLU'd CAM (and extra maps) of a batch, keyed by name.

    With ``pacam_labels`` ((N, C) multi-hot, one row per input row) the CAM
    and the PACAM come from one backbone pass of ``model`` (the fused clone
    when fusing): ``model.forward_cam_pacam(inputs, pacam_labels)``.
    """
    if pacam_labels is None:
        maps = {'cams': model.forward_cam(inputs)}
    else:
        cams, prototype_cam = model.forward_cam_pacam(inputs, pacam_labels)
        maps = {'cams': cams, PACAM_KEY: prototype_cam}
    if extra_fn is not None:
        extra = extra_fn(inputs)
        clash = set(extra) & set(maps)
        if clash:
            raise ValueError(f'extra_fn must not return maps named '
                             f'{sorted(clash)} (computed here)')
        maps.update(extra)
    return {name: F.relu(m.float()) for name, m in maps.items()}


def check_pacam_model(model: nn.Module) -> None:
    """Raise a clear error when ``model`` cannot give a PACAM.

    Args:
        model (nn.Module): A CAM host (``CAMClassifier``, ``AMN``).

    Raises:
        ValueError: It has no ``forward_cam_pacam`` or no CPAL branch.
    """
    if not hasattr(model, 'forward_cam_pacam'):
        raise ValueError(f'{type(model).__name__} cannot compute a PACAM '
                         '(no forward_cam_pacam); --cam-type pacam needs a '
                         'CAMClassifier or AMN with a CPAL branch '
                         '(model.cpal)')
    if getattr(model, 'cpal', None) is None:
        raise ValueError(f'{type(model).__name__}: this model has no CPAL '
                         'branch (model.cpal); --cam-type pacam needs one')


@torch.no_grad()
def multiscale_cam_loop(model: nn.Module,
                        img: torch.Tensor,
                        label: LabelLike,
                        *,
                        scales: Sequence[float] = DEFAULT_SCALES,
                        flip: bool = True,
                        extra_fn: Optional[ExtraFn] = None,
                        pacam: bool = False) -> MultiScaleCAM:
    """Reference multi-scale CAM: one forward per scale, as IRN / AMN do.

    Per scale: resize the raw image, normalise it, forward ``[x, flip(x)]``,
    ReLU, upsample all C maps of both to the image size, flip the second
    back and add; after the last scale keep the labelled classes and
    max-normalise (IRN ``step/make_cam.py``). Slow on purpose: used by the
    tests and the benchmark to check :func:`multiscale_cam`.

    Args:
        model (nn.Module): Has ``forward_cam``, ``num_classes`` and
            ``data_preprocessor``; in eval mode.
        img (Tensor): (3, H, W) uint8 BGR image.
        label (Tensor | np.ndarray | sequence): Multi-hot (C,) label.
        scales (sequence[float]): Defaults to (1.0, 0.5, 1.5, 2.0).
        flip (bool): Add the horizontal flip of each scale.
            Defaults to True.
        extra_fn (callable, optional): See :func:`multiscale_cam_batch`.
            Defaults to None.
        pacam (bool): Also compute the PACAM (``extra['pacam']``), see
            :func:`multiscale_cam_batch`. Defaults to False.

    Returns:
        MultiScaleCAM: ``cams`` (K, H, W), ``keys`` (K,), ``extra``.
    """
    scales = _check_scales(scales)
    img = _check_image(img)
    keys = label_keys(label, model.num_classes)
    if pacam:
        check_pacam_model(model)
    size = tuple(img.shape[-2:])
    total: Dict[str, torch.Tensor] = {}
    for s in scales:
        x = _resize(img[None].float(), scaled_size(size, s))
        x = preprocess(model, x)
        if flip:
            x = torch.cat([x, x.flip(-1)], dim=0)
        rows = (_label_rows([keys], model.num_classes, flip, x.device)
                if pacam else None)
        for name, m in _forward_maps(model, x, extra_fn, rows).items():
            up = _resize(m, size)
            summed = up[0] + up[1].flip(-1) if flip else up[0]
            total[name] = total[name] + summed if name in total else summed
    sel = (keys - 1).to(total['cams'].device)
    out = {name: _normalise(m[sel]) for name, m in total.items()}
    cams = out.pop('cams')
    return MultiScaleCAM(cams, keys.to(cams.device), out)


def _chunks(n: int, per_image: int, max_pixels: int) -> List[slice]:
    """Split ``n`` images into runs whose forward stays under max_pixels."""
    size = max(1, max_pixels // max(1, per_image))
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


@torch.no_grad()
def multiscale_cam_batch(
        model: nn.Module,
        imgs: Sequence[torch.Tensor],
        labels: Sequence[LabelLike],
        *,
        scales: Sequence[float] = DEFAULT_SCALES,
        flip: bool = True,
        max_pixels_per_batch: int = DEFAULT_MAX_PIXELS,
        channels_last: bool = True,
        fuse: Optional[bool] = None,
        extra_fn: Optional[ExtraFn] = None,
        pacam: bool = False) -> List[MultiScaleCAM]:
    """Batched multi-scale CAM of several images.

    Images of the same size share forwards: at each scale the originals and
    their flips of up to ``max_pixels_per_batch // (2 h_s w_s)`` images (at
    least one image with its flip) go through the model at once. Only the
    labelled classes are upsampled. Equal to :func:`multiscale_cam_loop`
    image by image up to float rounding.

    Args:
        model (nn.Module): Has ``forward_cam(inputs) -> (N, C, h, w)`` raw
            CAMs, ``num_classes`` and ``data_preprocessor``; in eval mode.
        imgs (sequence[Tensor]): (3, H, W) uint8 BGR images (any sizes).
        labels (sequence): One multi-hot (C,) label per image.
        scales (sequence[float]): Defaults to (1.0, 0.5, 1.5, 2.0).
        flip (bool): Add the horizontal flip of each scale.
            Defaults to True.
        max_pixels_per_batch (int): Upper bound on N x h x w of one
            forward (memory knob); one image with its flip is always run
            together. Defaults to 2_000_000.
        channels_last (bool): Feed the model NHWC-strided inputs
            (``torch.channels_last``): same maps up to float rounding,
            faster convolutions and pooling with oneDNN on CPU (measured
            1.1-1.8x per forward, ``benchmarks/cam_speed.py``) and with
            cuDNN. Defaults to True.
        fuse (bool, optional): Run ``forward_cam`` on a clone of the model made by
            :func:`mmcpal.pseudo.fuse.fuse_for_inference` (eval-mode
            BatchNorms folded into the convolutions, convolutions through
            oneDNN on CPU float32), built once per call so it sees the
            model's current weights and state (e.g. AMN's
            ``conditioned_on``); same maps up to float rounding, the model
            itself is not modified. A model with a submodule in training
            mode is used as is. Costs ~15 ms (SqueezeNet) to ~0.2 s
            (ResNet-50) per call on a CPU; saves ~11 % of a ResNet-50
            forward there. None (the default) fuses on CPU models only: on a
            GPU the per-call clone would cost more than it saves (cuDNN
            forwards take milliseconds).
        extra_fn (callable, optional): Called on every preprocessed batch
            (N, 3, h, w) that goes through ``forward_cam``; returns a dict of
            extra (N, C, h', w') maps (e.g. ``{'pacam': ...}`` for CPAL's
            inspection), aggregated exactly like the CAM (ReLU, upsample,
            flip back, sum, labelled classes, max-normalise). It is called
            with the user's ``model`` in mind (a closure): it does not see
            the fused clone. Defaults to None.
        pacam (bool): Also compute CPAL's prototype-aware CAM,
            ``extra['pacam']`` (K, H, W): every forward calls
            ``net.forward_cam_pacam(x, rows)`` (one backbone pass for the CAM
            and the PACAM, on the fused clone when fusing) with ``rows`` the
            (N, C) labels of the input rows, so each image's PACAM uses its
            own classes; the PACAM's foreground channels are then
            aggregated exactly like the CAM. Needs a host with a CPAL
            branch. Defaults to False.

    Returns:
        list[MultiScaleCAM]: One result per image, in input order. An image
        without labelled classes gets ``cams`` of shape (0, H, W).
    """
    scales = _check_scales(scales)
    if len(imgs) != len(labels):
        raise ValueError(f'got {len(imgs)} images but {len(labels)} labels')
    if max_pixels_per_batch <= 0:
        raise ValueError(f'max_pixels_per_batch must be > 0, got '
                         f'{max_pixels_per_batch}')
    imgs = [_check_image(im, f'imgs[{i}]') for i, im in enumerate(imgs)]
    keys = [label_keys(lb, model.num_classes) for lb in labels]
    if pacam:
        check_pacam_model(model)
    results: List[Optional[MultiScaleCAM]] = [None] * len(imgs)
    groups: Dict[Tuple[int, int], List[int]] = OrderedDict()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    for i, im in enumerate(imgs):
        if len(keys[i]):
            groups.setdefault(tuple(im.shape[-2:]), []).append(i)
        else:  # nothing to compute: K = 0, on the model's device as K > 0
            results[i] = MultiScaleCAM(
                torch.zeros((0, ) + tuple(im.shape[-2:]), device=device),
                keys[i].to(device), {})

    if fuse is None:
        fuse = param is None or param.device.type == 'cpu'
    net: Optional[nn.Module] = None if fuse else model
    for size, idx in groups.items():
        norm = preprocess(model, torch.stack([imgs[i] for i in idx]))
        if net is None:  # fuse once, on the first group's first image
            example = norm[:1, :, :FUSE_EXAMPLE_SIZE, :FUSE_EXAMPLE_SIZE]
            if channels_last:
                example = example.contiguous(
                    memory_format=torch.channels_last)
            net = fuse_for_inference(
                model, lambda m: m.forward_cam(example))
        totals: List[Dict[str, torch.Tensor]] = [{} for _ in idx]
        for s in scales:
            s_size = scaled_size(size, s)
            per_image = s_size[0] * s_size[1] * (2 if flip else 1)
            for run in _chunks(len(idx), per_image, max_pixels_per_batch):
                x = _resize(norm[run], s_size)
                b = x.shape[0]
                if flip:
                    x = torch.cat([x, x.flip(-1)], dim=0)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                run_keys = [keys[i] for i in idx[run]]
                rows = (_label_rows(run_keys, model.num_classes, flip,
                                    x.device) if pacam else None)
                for name, m in _forward_maps(net, x, extra_fn,
                                             rows).items():
                    if flip:
                        m = m[:b] + m[b:].flip(-1)
                    # The labelled classes of every image of the run,
                    # upsampled in one call.
                    sel = torch.cat([
                        m[j, k.to(m.device) - 1]
                        for j, k in enumerate(run_keys)
                    ])
                    up = _resize(sel[None], size)[0]
                    for j, part in enumerate(
                            up.split([len(k) for k in run_keys])):
                        acc = totals[run.start + j]
                        acc[name] = acc[name] + part if name in acc else part
        for j, i in enumerate(idx):
            out = {name: _normalise(m) for name, m in totals[j].items()}
            cams = out.pop('cams')
            results[i] = MultiScaleCAM(cams, keys[i].to(cams.device), out)
    return results


def multiscale_cam(model: nn.Module,
                   img: torch.Tensor,
                   label: LabelLike,
                   *,
                   scales: Sequence[float] = DEFAULT_SCALES,
                   flip: bool = True,
                   max_pixels_per_batch: int = DEFAULT_MAX_PIXELS,
                   channels_last: bool = True,
                   fuse: Optional[bool] = None,
                   extra_fn: Optional[ExtraFn] = None,
                   pacam: bool = False) -> MultiScaleCAM:
    """Batched multi-scale CAM of one image (see
    :func:`multiscale_cam_batch`).

    Args:
        model (nn.Module): CAM model in eval mode.
        img (Tensor): (3, H, W) uint8 BGR image.
        label (Tensor | np.ndarray | sequence): Multi-hot (C,) label.
        scales (sequence[float]): Defaults to (1.0, 0.5, 1.5, 2.0).
        flip (bool): Defaults to True.
        max_pixels_per_batch (int): Defaults to 2_000_000.
        channels_last (bool): Defaults to True.
        fuse (bool, optional): Defaults to None (fuse on CPU).
        extra_fn (callable, optional): Defaults to None.
        pacam (bool): Also compute the PACAM. Defaults to False.

    Returns:
        MultiScaleCAM: ``cams`` (K, H, W) in [0, 1], ``keys`` (K,) 1..C,
        ``extra``.
    """
    return multiscale_cam_batch(
        model, [img], [label],
        scales=scales,
        flip=flip,
        max_pixels_per_batch=max_pixels_per_batch,
        channels_last=channels_last,
        fuse=fuse,
        extra_fn=extra_fn,
        pacam=pacam)[0]
