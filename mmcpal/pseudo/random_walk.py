"""Memory-bounded random walk of CAMs over IRN boundary affinities.

IRN (``misc/indexing.py::propagate_to_edge`` and
``step/make_sem_seg_labels.py`` in jiwoon-ahn/irn) refines the CAMs ``x``
(K, h, w) of an image on the boundary grid ``B`` (h, w) by

    A(p, q) = 1 - max_{path(p, q)} B     for 0 < |p - q| < radius
    A(p, p) = 1,   0 elsewhere
    T = A^beta / column sums             (A^beta element-wise)
    rw = (x * (1 - B)) T^(2^exp_times)

with ``radius=5``, ``beta=10``, ``exp_times=8`` (``run_sample.py``: "the
random walk is performed 2^{exp_times}" times). IRN builds ``T`` as a dense
``hw x hw`` matrix and squares it ``exp_times`` times, which needs
``O((hw)^2)`` memory (8.8 GB per copy for a 1000x750 image on its stride-4
grid). Here the walk is applied step by step: ``A`` is symmetric, so one step
is ``y(p) = sum_o W_o(p) x(p + o)`` with ``W_o(p) = A(p, p + o)^beta /
sum_o' A(p, p + o')^beta`` over the 69 offsets ``o`` of radius 5 (self
included), stored dense-by-offset as (69, h, w). Memory is ``O(hw)``; the
result equals IRN's up to float rounding (checked against a dense reference
in ``tests/test_pseudo/test_random_walk.py``).

The labels follow ``make_sem_seg_labels.py``: the walked maps are upsampled
to the image, divided by their global max, a background channel of constant
``sem_seg_bg_thres`` (0.25) is put in front, and the argmax is mapped through
``[0] + keys``.
"""
from typing import NamedTuple, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmcpal.models.irn.paths import Offset, path_affinity, walk_offsets

# run_sample.py / make_sem_seg_labels.py of jiwoon-ahn/irn.
IRN_WALK_RADIUS = 5
IRN_BETA = 10
IRN_EXP_TIMES = 8
IRN_SEM_SEG_BG_THRES = 0.25
# AMN raises its CAMs to this power before the walk (gaviotas/AMN
# make_sem_seg_labels.py).
AMN_CAM_POWER = 1.3

ArrayLike = Union[Tensor, np.ndarray]


class RandomWalkOutput(NamedTuple):
    """Result of :func:`refine_cams_with_boundary`.

    Attributes:
        scores (Tensor): (K, H, W) walked maps, divided by their global max.
        mask (Tensor): (H, W) uint8 labels 0..C.
    """

    scores: Tensor
    mask: Tensor


def transition_weights(boundary: Tensor,
                       radius: int = IRN_WALK_RADIUS,
                       beta: float = IRN_BETA
                       ) -> Tuple[Tuple[Offset, ...], Tensor]:
    """Row-normalised transition weights ``D^-1 A^beta``, by offset.

    Args:
        boundary (Tensor): (h, w) boundary probabilities in [0, 1].
        radius (int): Neighbourhood radius. Defaults to 5.
        beta (float): Affinity exponent. Defaults to 10.

    Returns:
        tuple: ``(offsets, weights)``: the :func:`walk_offsets` and a
        (len(offsets), h, w) tensor; ``weights[k, y, x]`` is the transition
        weight from ``(y, x)`` to ``(y, x) + offsets[k]`` (0 off the grid),
        and ``weights.sum(0) == 1``.
    """
    if boundary.dim() != 2:
        raise ValueError('transition_weights: boundary must be (h, w), got '
                         f'shape {tuple(boundary.shape)}')
    offsets = walk_offsets(radius)
    affinity = path_affinity(boundary[None], offsets)[0]
    affinity = affinity.clamp_(min=0).pow_(beta)
    # The self affinity is 1, so every degree is >= 1.
    affinity /= affinity.sum(0, keepdim=True)
    return offsets, affinity


def propagate(x: Tensor, weights: Tensor, offsets: Sequence[Offset],
              num_steps: int) -> Tensor:
    """Apply ``num_steps`` steps ``y(p) = sum_k W_k(p) x(p + o_k)``.

    Args:
        x (Tensor): (K, h, w) maps.
        weights (Tensor): (len(offsets), h, w) transition weights.
        offsets (Sequence[tuple[int, int]]): Offsets ``o_k``.
        num_steps (int): Number of steps (>= 0).

    Returns:
        Tensor: (K, h, w).
    """
    if x.dim() != 3 or weights.shape != (len(offsets), ) + x.shape[1:]:
        raise ValueError(
            f'propagate: x must be (K, h, w) and weights (len(offsets), h, '
            f'w); got x {tuple(x.shape)}, weights {tuple(weights.shape)}, '
            f'{len(offsets)} offsets')
    _, h, w = x.shape
    pad = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    padded = F.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    for _ in range(num_steps):
        out.zero_()
        for k, (dy, dx) in enumerate(offsets):
            out.addcmul_(
                weights[k], padded[:, pad + dy:pad + dy + h,
                                   pad + dx:pad + dx + w])
        padded[:, pad:pad + h, pad:pad + w] = out
    return padded[:, pad:pad + h, pad:pad + w].clone()


def random_walk(cams: Tensor,
                boundary: Tensor,
                *,
                radius: int = IRN_WALK_RADIUS,
                beta: float = IRN_BETA,
                exp_times: int = IRN_EXP_TIMES) -> Tensor:
    """IRN's random walk on the boundary grid, in ``O(hw)`` memory.

    Args:
        cams (Tensor): (K, h, w) maps on the boundary grid.
        boundary (Tensor): (h, w) boundary probabilities.
        radius (int): Neighbourhood radius. Defaults to 5.
        beta (float): Affinity exponent. Defaults to 10.
        exp_times (int): The walk takes ``2 ** exp_times`` steps (IRN squares
            its transition matrix ``exp_times`` times). Defaults to 8.

    Returns:
        Tensor: (K, h, w) ``(cams * (1 - boundary)) T^(2^exp_times)``.
    """
    if cams.dim() != 3 or cams.shape[1:] != boundary.shape:
        raise ValueError(
            f'random_walk: cams must be (K, h, w) and boundary (h, w) on the '
            f'same grid, got {tuple(cams.shape)} and '
            f'{tuple(boundary.shape)}')
    if not (isinstance(exp_times, int) and exp_times >= 0):
        raise ValueError(f'random_walk: exp_times must be an int >= 0, got '
                         f'{exp_times!r}')
    if beta <= 0:
        raise ValueError(f'random_walk: beta must be > 0, got {beta!r}')
    boundary = boundary.to(cams.dtype)
    offsets, weights = transition_weights(boundary, radius, beta)
    return propagate(cams * (1 - boundary), weights, offsets, 2**exp_times)


def scores_to_mask(scores: Tensor,
                   keys: ArrayLike,
                   bg_thres: float = IRN_SEM_SEG_BG_THRES) -> Tensor:
    """Labels from max-normalised maps and a constant background score.

    Args:
        scores (Tensor): (K, H, W) maps in [0, 1].
        keys (Tensor | np.ndarray): (K,) class values 1..C of the maps.
        bg_thres (float): Background score. Defaults to 0.25.

    Returns:
        Tensor: (H, W) uint8; 0 where no map exceeds ``bg_thres`` (ties go
        to background, the first channel, as with IRN's argmax).
    """
    # A tensor stays a tensor: np.asarray() of a CUDA tensor raises.
    keys = (keys.detach().long() if isinstance(keys, Tensor) else
            torch.as_tensor(np.asarray(keys), dtype=torch.long))
    if scores.dim() != 3 or keys.shape != (scores.shape[0], ):
        raise ValueError(f'scores_to_mask: scores must be (K, H, W) with one '
                         f'key per map, got {tuple(scores.shape)} and keys '
                         f'{tuple(keys.shape)}')
    if keys.numel() and (keys.min() < 1 or keys.max() > 254):
        raise ValueError(f'scores_to_mask: keys must be class values 1..C '
                         f'(< 255), got {keys.tolist()}')
    padded = F.pad(scores, (0, 0, 0, 0, 1, 0), value=bg_thres)
    lookup = torch.cat([keys.new_zeros(1), keys]).to(scores.device)
    return lookup[padded.argmax(0)].to(torch.uint8)


def refine_cams_with_boundary(cams: Tensor,
                              boundary: Tensor,
                              keys: ArrayLike,
                              *,
                              radius: int = IRN_WALK_RADIUS,
                              beta: float = IRN_BETA,
                              exp_times: int = IRN_EXP_TIMES,
                              bg_thres: float = IRN_SEM_SEG_BG_THRES,
                              cam_power: float = 1.0) -> RandomWalkOutput:
    """IRN's semantic pseudo labels from image-size CAMs and a boundary map.

    ``cams ** cam_power`` is resized (bilinear) to the boundary grid, walked
    (:func:`random_walk`), resized back to the CAM size, divided by its global
    max and turned into labels (:func:`scores_to_mask`).

    Note:
        IRN walks its stride-4 CAMs (``make_cam.py``: the network output
        interpolated to ``ceil(H / 4)``) and upsamples the result by 4 then
        crops; here the image-size CAMs of ``mmcpal.pseudo.cam_io`` are
        resized straight to the grid and back [choice]. ``cam_power`` 1.0 is
        IRN's rule; AMN raises its CAMs to 1.3 first
        (``make_sem_seg_labels.py`` in gaviotas/AMN).

    Args:
        cams (Tensor): (K, H, W) CAMs of the image's classes in [0, 1].
        boundary (Tensor): (h, w) boundary probabilities of the image.
        keys (Tensor | np.ndarray): (K,) class values 1..C of the CAMs.
        radius (int): Walk radius. Defaults to 5.
        beta (float): Affinity exponent. Defaults to 10.
        exp_times (int): ``2 ** exp_times`` steps. Defaults to 8.
        bg_thres (float): Background score after normalisation. Defaults to
            0.25.
        cam_power (float): Exponent applied to the CAMs first. Defaults to
            1.0.

    Returns:
        RandomWalkOutput: ``scores`` (K, H, W) and ``mask`` (H, W) uint8.
    """
    if cams.dim() != 3:
        raise ValueError(f'refine_cams_with_boundary: cams must be (K, H, W),'
                         f' got {tuple(cams.shape)}')
    size = tuple(cams.shape[-2:])
    if cams.shape[0] == 0:
        return RandomWalkOutput(
            cams.clone(),
            torch.zeros(size, dtype=torch.uint8, device=cams.device))
    cams = cams.float().clamp(min=0)**cam_power
    grid = tuple(boundary.shape)
    small = F.interpolate(
        cams[None], size=grid, mode='bilinear', align_corners=False)[0]
    walked = random_walk(
        small,
        boundary.to(cams.device).float(),
        radius=radius,
        beta=beta,
        exp_times=exp_times)
    scores = F.interpolate(
        walked[None], size=size, mode='bilinear', align_corners=False)[0]
    peak = scores.max()
    if peak > 0:
        scores = scores / peak
    return RandomWalkOutput(scores, scores_to_mask(scores, keys, bg_thres))


@torch.no_grad()
def irn_refine(model: torch.nn.Module,
               image_tensor: Tensor,
               cams: ArrayLike,
               keys: ArrayLike,
               *,
               beta: float = IRN_BETA,
               exp_times: int = IRN_EXP_TIMES,
               radius: int = IRN_WALK_RADIUS,
               bg_thres: float = IRN_SEM_SEG_BG_THRES,
               cam_power: float = 1.0,
               flip: bool = True) -> np.ndarray:
    """Pseudo mask of one image: IRNet boundary + random walk of its CAMs.

    Args:
        model (nn.Module): A trained :class:`~mmcpal.models.irn.IRNet` (any
            model with ``predict_boundary(inputs, flip)``), in eval mode.
        image_tensor (Tensor): (3, H', W') or (1, 3, H', W') image already
            normalised by the model's data preprocessor (IRN: the full
            image at scale 1.0).
        cams (Tensor | np.ndarray): (K, H, W) CAMs in [0, 1] (as
            ``mmcpal.pseudo.cam_io.load_cams`` returns them).
        keys (Tensor | np.ndarray): (K,) class values 1..C.
        beta (float): Affinity exponent. Defaults to 10.
        exp_times (int): ``2 ** exp_times`` walk steps. Defaults to 8.
        radius (int): Walk radius. Defaults to 5.
        bg_thres (float): Background score. Defaults to 0.25.
        cam_power (float): CAM exponent (AMN: 1.3). Defaults to 1.0.
        flip (bool): Flip-averaged boundary (IRN). Defaults to True.

    Returns:
        np.ndarray: (H, W) uint8 mask, values 0 and ``keys``.
    """
    if image_tensor.dim() == 3:
        image_tensor = image_tensor[None]
    if image_tensor.dim() != 4 or image_tensor.shape[:2] != (1, 3):
        raise ValueError('irn_refine: image_tensor must be (3, H, W) or '
                         f'(1, 3, H, W), got {tuple(image_tensor.shape)}')
    param = next(model.parameters(), None)
    device = param.device if param is not None else image_tensor.device
    boundary = model.predict_boundary(
        image_tensor.to(device).float(), flip=flip)[0]
    cams = torch.as_tensor(cams).to(device=device, dtype=torch.float32)
    out = refine_cams_with_boundary(
        cams,
        boundary,
        keys,
        radius=radius,
        beta=beta,
        exp_times=exp_times,
        bg_thres=bg_thres,
        cam_power=cam_power)
    return out.mask.cpu().numpy()
