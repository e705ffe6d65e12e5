"""AMN's normalisation of its activation maps before seed evaluation."""
import torch
from torch import Tensor

# np.max(...) - np.min(...) + 1e-5 in gaviotas/AMN step/make_amn_cam.py
MINMAX_EPS = 1e-5


def amn_minmax_normalise(cams: Tensor, bg_mask: Tensor) -> Tensor:
    """Min-max normalise each map except on the IR labels' background.

    gaviotas/AMN ``step/make_amn_cam.py``: after multi-scale inference the
    softmax maps of the image's classes are min-max normalised per channel
    (``(x - min) / (max - min + 1e-5)`` over the whole image), but pixels
    the IR labels of the first round call background (label 0) keep the raw
    probabilities. The seed is then the argmax against a constant background
    score (``--cam_eval_thres``, 0.25 by default in ``run_sample.py``).

    Args:
        cams (Tensor): ``(K, H, W)`` maps of the image's K classes.
        bg_mask (Tensor): ``(H, W)`` bool, True where the IR label is 0.

    Returns:
        Tensor: ``(K, H, W)`` maps.
    """
    if cams.dim() != 3:
        raise ValueError('amn_minmax_normalise: `cams` must be (K, H, W), '
                         f'got shape {tuple(cams.shape)}')
    if tuple(bg_mask.shape) != tuple(cams.shape[1:]):
        raise ValueError(f'amn_minmax_normalise: `bg_mask` must have shape '
                         f'{tuple(cams.shape[1:])}, got '
                         f'{tuple(bg_mask.shape)}')
    if cams.shape[0] == 0:
        return cams.clone()
    flat = cams.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    high = flat.max(dim=1).values[:, None, None]
    norm = (cams - low) / (high - low + MINMAX_EPS)
    return torch.where(bg_mask.bool()[None].to(cams.device), cams, norm)
