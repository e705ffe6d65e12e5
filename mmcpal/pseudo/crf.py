"""Fully connected (dense) CRF post-processing for CAMs and label maps.

Two backends run the same model, Krähenbühl & Koltun (NeurIPS 2011):
mean-field inference with Potts compatibilities, a smoothness kernel
``exp(-|p_i - p_j|^2 / (2 gauss_sxy^2))`` and an appearance kernel
``exp(-|p_i - p_j|^2 / (2 bilateral_sxy^2) - |I_i - I_j|^2 /
(2 bilateral_srgb^2))``, each normalised symmetrically
(pydensecrf's default ``NORMALIZE_SYMMETRIC``).

* ``backend='torch'`` (default, no extra dependency, any device): a
  permutohedral lattice written in torch that reproduces pydensecrf's lattice
  (see :mod:`mmcpal.pseudo.crf_torch`); labels whose marginal is below 1e-4
  everywhere are skipped in message passing.
* ``backend='pydensecrf'``: the C++ implementation from the optional
  ``pydensecrf2`` package (``pip install 'mmcpal[crf]'``).

Default pairwise parameters are IRN's label CRF (``IRN_LABEL_CRF``);
``PSA_CRF`` holds the probability CRF of PSA.
"""
from typing import Dict, List, Tuple

import numpy as np
import torch

from .crf_pydensecrf import dense_crf_pydensecrf
from .crf_torch import dense_crf_torch

# IRN, jiwoon-ahn/irn misc/imutils.py crf_inference_label:
# addPairwiseGaussian(sxy=3, compat=3),
# addPairwiseBilateral(sxy=50, srgb=5, compat=10), t=10, gt_prob=0.7.
IRN_LABEL_CRF: Dict[str, float] = dict(
    gauss_sxy=3,
    gauss_compat=3,
    bilateral_sxy=50,
    bilateral_srgb=5,
    bilateral_compat=10)
# PSA, jiwoon-ahn/psa tool/imutils.py crf_inference (probability unaries):
# addPairwiseGaussian(sxy=3, compat=3),
# addPairwiseBilateral(sxy=80, srgb=13, compat=10), t=10.
PSA_CRF: Dict[str, float] = dict(
    gauss_sxy=3,
    gauss_compat=3,
    bilateral_sxy=80,
    bilateral_srgb=13,
    bilateral_compat=10)
CRF_PRESETS: Dict[str, Dict[str, float]] = dict(
    irn_label=IRN_LABEL_CRF, psa=PSA_CRF)

BACKENDS = ('torch', 'pydensecrf')
# pydensecrf.utils.unary_from_softmax clips probabilities to [1e-5, 1].
PROB_CLIP = 1e-5


def _check_image(image: np.ndarray, fn: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or \
            image.shape[2] != 3 or image.dtype != np.uint8:
        desc = (f'{type(image).__name__} {getattr(image, "dtype", "")} '
                f'{getattr(image, "shape", "")}')
        raise ValueError(f'{fn}: image must be an (H, W, 3) uint8 RGB '
                         f'np.ndarray, got {desc}')


def _check_params(fn: str, backend: str, iters: int, gauss_sxy: float,
                  gauss_compat: float, bilateral_sxy: float,
                  bilateral_srgb: float, bilateral_compat: float) -> None:
    if backend not in BACKENDS:
        raise ValueError(f'{fn}: backend must be one of {BACKENDS}, '
                         f'got {backend!r}')
    if not isinstance(iters, (int, np.integer)) or iters < 0:
        raise ValueError(f'{fn}: iters must be an int >= 0, got {iters!r}')
    for name, value in (('gauss_sxy', gauss_sxy),
                        ('bilateral_sxy', bilateral_sxy),
                        ('bilateral_srgb', bilateral_srgb)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f'{fn}: {name} must be a positive number, '
                             f'got {value!r}')
    for name, value in (('gauss_compat', gauss_compat),
                        ('bilateral_compat', bilateral_compat)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f'{fn}: {name} (Potts weight) must be >= 0, '
                             f'got {value!r}')


def unary_from_probs(probs: np.ndarray,
                     clip: float = PROB_CLIP) -> np.ndarray:
    """Unary energies ``-log(clip(p, clip, 1))``.

    As ``pydensecrf.utils.unary_from_softmax``; ``probs`` need not sum to 1
    (PSA passes unnormalised CAM scores).

    Args:
        probs (np.ndarray): ``(L, H, W)`` probabilities or scores.
        clip (float): Smallest probability kept. Defaults to 1e-5.

    Returns:
        np.ndarray: ``(L, H, W)`` float32 energies.
    """
    return -np.log(np.clip(probs, clip, 1.0)).astype(np.float32)


def unary_from_labels(labels: np.ndarray, n_labels: int,
                      gt_prob: float = 0.7) -> np.ndarray:
    """Unary energies from a hard label map.

    As ``pydensecrf.utils.unary_from_labels(..., zero_unsure=False)`` (used
    by IRN): probability ``gt_prob`` for the given label and
    ``(1 - gt_prob) / (n_labels - 1)`` for every other one.

    Args:
        labels (np.ndarray): ``(H, W)`` ints in ``[0, n_labels)``.
        n_labels (int): Number of labels ``L >= 2``.
        gt_prob (float): Confidence in the given labels, in (0, 1).
            Defaults to 0.7.

    Returns:
        np.ndarray: ``(L, H, W)`` float32 energies.
    """
    off = -np.log((1.0 - gt_prob) / (n_labels - 1))
    unary = np.full((n_labels, ) + labels.shape, off, dtype=np.float32)
    np.put_along_axis(unary, labels[None].astype(np.int64),
                      np.float32(-np.log(gt_prob)), axis=0)
    return unary


def dense_crf_unary(image: np.ndarray,
                    unary: np.ndarray,
                    *,
                    backend: str = 'torch',
                    iters: int = 10,
                    gauss_sxy: float = 3,
                    gauss_compat: float = 3,
                    bilateral_sxy: float = 50,
                    bilateral_srgb: float = 5,
                    bilateral_compat: float = 10,
                    device: str | torch.device = 'cpu') -> np.ndarray:
    """Dense CRF marginals from unary energies; see :func:`dense_crf`.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        unary (np.ndarray): ``(L, H, W)`` float unary energies.

    Returns:
        np.ndarray: ``(L, H, W)`` float32 marginals.
    """
    fn = 'dense_crf'
    _check_image(image, fn)
    _check_params(fn, backend, iters, gauss_sxy, gauss_compat, bilateral_sxy,
                  bilateral_srgb, bilateral_compat)
    if unary.ndim != 3 or unary.shape[1:] != image.shape[:2] or \
            unary.shape[0] < 1:
        raise ValueError(f'{fn}: probs/unary must have shape (L, H, W) = '
                         f'(L, {image.shape[0]}, {image.shape[1]}) with '
                         f'L >= 1, got {unary.shape}')
    unary = unary.astype(np.float32, copy=False)
    if not np.isfinite(unary).all():
        raise ValueError(f'{fn}: unary energies contain NaN/inf')
    pairwise: List[Tuple[str, dict, float]] = [
        ('gaussian', dict(sxy=float(gauss_sxy)), float(gauss_compat)),
        ('bilateral',
         dict(sxy=float(bilateral_sxy),
              srgb=float(bilateral_srgb)), float(bilateral_compat)),
    ]
    if backend == 'pydensecrf':
        return dense_crf_pydensecrf(image, unary, iters=iters,
                                    pairwise=pairwise)
    q = dense_crf_torch(
        torch.from_numpy(np.ascontiguousarray(image)).to(device),
        torch.from_numpy(np.ascontiguousarray(unary)).to(device),
        iters=iters,
        pairwise=pairwise)
    return q.cpu().numpy()


def dense_crf(image: np.ndarray,
              probs: np.ndarray,
              *,
              backend: str = 'torch',
              iters: int = 10,
              gauss_sxy: float = 3,
              gauss_compat: float = 3,
              bilateral_sxy: float = 50,
              bilateral_srgb: float = 5,
              bilateral_compat: float = 10,
              device: str | torch.device = 'cpu') -> np.ndarray:
    """Refines per-pixel label probabilities with a dense CRF.

    The unary is ``-log(clip(probs, 1e-5, 1))`` as pydensecrf's
    ``unary_from_softmax``; zero pairwise weights give ``softmax(log p)``.
    Defaults are IRN's CRF parameters (``IRN_LABEL_CRF``); pass
    ``**PSA_CRF`` for PSA's 80/13/10 probability CRF.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        probs (np.ndarray): ``(L, H, W)`` float probabilities (or
            non-negative scores, as PSA uses).
        backend (str): ``'torch'`` (permutohedral lattice in torch) or
            ``'pydensecrf'`` (needs ``pip install 'mmcpal[crf]'``).
            Defaults to 'torch'.
        iters (int): Mean-field iterations. Defaults to 10.
        gauss_sxy (float): Smoothness kernel std in pixels. Defaults to 3.
        gauss_compat (float): Smoothness Potts weight. Defaults to 3.
        bilateral_sxy (float): Appearance kernel spatial std in pixels.
            Defaults to 50.
        bilateral_srgb (float): Appearance kernel colour std. Defaults to 5.
        bilateral_compat (float): Appearance Potts weight. Defaults to 10.
        device (str | torch.device): Device of the torch backend (ignored by
            pydensecrf). Defaults to 'cpu'.

    Returns:
        np.ndarray: ``(L, H, W)`` float32 marginals (sum to 1 per pixel).
    """
    if not isinstance(probs, np.ndarray) or probs.ndim != 3 or \
            not np.issubdtype(probs.dtype, np.floating):
        raise ValueError('dense_crf: probs must be an (L, H, W) float '
                         f'np.ndarray, got {type(probs).__name__} '
                         f'{getattr(probs, "dtype", "")} '
                         f'{getattr(probs, "shape", "")}')
    if np.isnan(probs).any():
        raise ValueError('dense_crf: probs contain NaN')
    return dense_crf_unary(
        image,
        unary_from_probs(probs),
        backend=backend,
        iters=iters,
        gauss_sxy=gauss_sxy,
        gauss_compat=gauss_compat,
        bilateral_sxy=bilateral_sxy,
        bilateral_srgb=bilateral_srgb,
        bilateral_compat=bilateral_compat,
        device=device)


def crf_inference_label(image: np.ndarray,
                        labels: np.ndarray,
                        n_labels: int,
                        gt_prob: float = 0.7,
                        *,
                        backend: str = 'torch',
                        iters: int = 10,
                        gauss_sxy: float = 3,
                        gauss_compat: float = 3,
                        bilateral_sxy: float = 50,
                        bilateral_srgb: float = 5,
                        bilateral_compat: float = 10,
                        device: str | torch.device = 'cpu') -> np.ndarray:
    """Refines a hard label map with a dense CRF, as IRN's IR-label step.

    Mirrors ``crf_inference_label`` of jiwoon-ahn/irn ``misc/imutils.py``:
    unary from labels with ``gt_prob`` (``zero_unsure=False``), pairwise
    3/3 and 50/5/10, 10 iterations, argmax of the marginals.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        labels (np.ndarray): ``(H, W)`` integer labels in ``[0, n_labels)``.
        n_labels (int): Number of labels, >= 1 (1 returns zeros).
        gt_prob (float): Confidence in ``labels``, in (0, 1).
            Defaults to 0.7.
        backend, iters, gauss_sxy, gauss_compat, bilateral_sxy,
        bilateral_srgb, bilateral_compat, device: As :func:`dense_crf`.

    Returns:
        np.ndarray: ``(H, W)`` int64 labels.
    """
    fn = 'crf_inference_label'
    _check_image(image, fn)
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or \
            labels.shape != image.shape[:2] or \
            not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f'{fn}: labels must be an integer np.ndarray of '
                         f'shape {image.shape[:2]}, got '
                         f'{getattr(labels, "dtype", type(labels))} '
                         f'{getattr(labels, "shape", "")}')
    if not isinstance(n_labels, (int, np.integer)) or n_labels < 1:
        raise ValueError(f'{fn}: n_labels must be an int >= 1, '
                         f'got {n_labels!r}')
    if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
        raise ValueError(f'{fn}: labels must lie in [0, {n_labels}), got '
                         f'values in [{labels.min()}, {labels.max()}]')
    if not 0 < gt_prob < 1:
        raise ValueError(f'{fn}: gt_prob must lie in (0, 1), got {gt_prob}')
    if n_labels == 1:
        return np.zeros(labels.shape, dtype=np.int64)
    q = dense_crf_unary(
        image,
        unary_from_labels(labels, n_labels, gt_prob),
        backend=backend,
        iters=iters,
        gauss_sxy=gauss_sxy,
        gauss_compat=gauss_compat,
        bilateral_sxy=bilateral_sxy,
        bilateral_srgb=bilateral_srgb,
        bilateral_compat=bilateral_compat,
        device=device)
    return np.argmax(q, axis=0).astype(np.int64)


class DenseCRF:
    """Dense CRF with fixed parameters (a thin wrapper for configs).

    Args:
        backend (str): ``'torch'`` or ``'pydensecrf'``. Defaults to 'torch'.
        iters (int): Mean-field iterations. Defaults to 10.
        gauss_sxy (float): Defaults to 3.
        gauss_compat (float): Defaults to 3.
        bilateral_sxy (float): Defaults to 50.
        bilateral_srgb (float): Defaults to 5.
        bilateral_compat (float): Defaults to 10.
        device (str): Torch backend device. Defaults to 'cpu'.
    """

    def __init__(self,
                 *,
                 backend: str = 'torch',
                 iters: int = 10,
                 gauss_sxy: float = 3,
                 gauss_compat: float = 3,
                 bilateral_sxy: float = 50,
                 bilateral_srgb: float = 5,
                 bilateral_compat: float = 10,
                 device: str = 'cpu') -> None:
        _check_params('DenseCRF', backend, iters, gauss_sxy, gauss_compat,
                      bilateral_sxy, bilateral_srgb, bilateral_compat)
        self.params = dict(
            backend=backend,
            iters=iters,
            gauss_sxy=gauss_sxy,
            gauss_compat=gauss_compat,
            bilateral_sxy=bilateral_sxy,
            bilateral_srgb=bilateral_srgb,
            bilateral_compat=bilateral_compat,
            device=device)

    def __call__(self, image: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Marginals ``(L, H, W)``; see :func:`dense_crf`."""
        return dense_crf(image, probs, **self.params)

    def label(self,
              image: np.ndarray,
              labels: np.ndarray,
              n_labels: int,
              gt_prob: float = 0.7) -> np.ndarray:
        """Refined ``(H, W)`` labels; see :func:`crf_inference_label`."""
        return crf_inference_label(image, labels, n_labels, gt_prob,
                                   **self.params)
