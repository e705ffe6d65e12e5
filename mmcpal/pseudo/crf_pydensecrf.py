"""Exact-reference dense CRF backend on ``pydensecrf2`` (optional extra).

``pydensecrf`` does not build on Python 3.11; its fork ``pydensecrf2==1.1``
builds from source (g++) and provides the same ``pydensecrf.densecrf``
module. It is imported only inside :func:`dense_crf_pydensecrf`, so mmcpal
works without it.
"""
from typing import Sequence, Tuple

import numpy as np

_INSTALL_HINT = ('the pydensecrf CRF backend needs the optional package '
                 "pydensecrf2: run `pip install 'mmcpal[crf]'` or "
                 '`pip install pydensecrf2==1.1` (builds with g++), or use '
                 "backend='torch'")


def import_densecrf():
    """Imports ``pydensecrf.densecrf`` with an install hint on failure.

    Returns:
        module: ``pydensecrf.densecrf``.

    Raises:
        ImportError: If pydensecrf2 is not installed.
    """
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as err:
        raise ImportError(
            f'mmcpal.pseudo.crf: {_INSTALL_HINT} ({err})') from err
    return dcrf


def dense_crf_pydensecrf(image: np.ndarray, unary: np.ndarray, *, iters: int,
                         pairwise: Sequence[Tuple[str, dict, float]]
                         ) -> np.ndarray:
    """Runs the dense CRF with pydensecrf's permutohedral lattice.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 image.
        unary (np.ndarray): ``(L, H, W)`` float32 unary energies.
        iters (int): Mean-field iterations.
        pairwise (Sequence[tuple[str, dict, float]]): ``('gaussian',
            dict(sxy=...), w)`` / ``('bilateral', dict(sxy=.., srgb=..), w)``
            terms with Potts weight ``w``; ``w == 0`` terms are skipped.

    Returns:
        np.ndarray: ``(L, H, W)`` float32 marginals.
    """
    dcrf = import_densecrf()
    n_labels, h, w = unary.shape
    crf = dcrf.DenseCRF2D(w, h, n_labels)
    crf.setUnaryEnergy(
        np.ascontiguousarray(unary.reshape(n_labels, -1), dtype=np.float32))
    rgb = np.ascontiguousarray(image, dtype=np.uint8)
    for kind, params, weight in pairwise:
        if weight == 0:
            continue
        # Defaults of pydensecrf: DIAG_KERNEL, NORMALIZE_SYMMETRIC.
        if kind == 'gaussian':
            crf.addPairwiseGaussian(sxy=params['sxy'], compat=weight)
        elif kind == 'bilateral':
            crf.addPairwiseBilateral(
                sxy=params['sxy'], srgb=params['srgb'], rgbim=rgb,
                compat=weight)
        else:
            raise ValueError(f'dense_crf_pydensecrf: unknown pairwise kind '
                             f"{kind!r}, expected 'gaussian' or 'bilateral'")
    q = np.array(crf.inference(iters), dtype=np.float32)
    return q.reshape(n_labels, h, w)
