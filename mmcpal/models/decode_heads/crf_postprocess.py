"""Dense-CRF post-processing of MMSeg predictions at test time (optional).

DeepLab-v2 (TPAMI 2018, Sec. 4) refines the upsampled class probabilities of
the network with a fully connected CRF (Krähenbühl & Koltun, NeurIPS 2011);
the WSSS papers report their DeepLab-v2 numbers with it. The reference port
kazuto1011/deeplab-pytorch does it as a separate pass (``main.py crf``):
bilinear upsampling of the logits to the image, softmax, CRF, argmax.

Two thin wrappers apply the same step inside MMSeg's test loop, so
``IoUMetric`` scores the refined masks:

* :class:`CRFEncoderDecoder` - an ``EncoderDecoder`` that refines each
  single-scale prediction after MMSeg has resized it to the original image.
* :class:`CRFSegTTAModel` - a ``SegTTAModel`` that averages the softmax of
  the augmented predictions (as MMSeg does) and then refines the average
  once.

The CRF itself is :func:`mmcpal.pseudo.crf.dense_crf`
(``dense_crf(image (H, W, 3) uint8 RGB, probs (L, H, W), **kwargs) ->
(L, H, W)``), imported only when a ``crf`` option is given; ``crf=None``
(the default) makes both classes behave exactly like their MMSeg parents.
"""
import importlib
from typing import Callable, List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder, SegTTAModel
from torch import Tensor

from mmcpal.registry import MODELS

#: The module that provides ``dense_crf``.
DENSE_CRF_MODULE = 'mmcpal.pseudo.crf'
# Floor of the probabilities before the log stored as ``seg_logits``.
_PROB_EPS = 1e-8


def import_dense_crf() -> Callable:
    """Return :func:`mmcpal.pseudo.crf.dense_crf`.

    Returns:
        Callable: ``dense_crf(image, probs, **kwargs) -> probs``.

    Raises:
        ImportError: When the module or the function is missing.
    """
    try:
        module = importlib.import_module(DENSE_CRF_MODULE)
    except ImportError as err:
        raise ImportError(
            f'test-time CRF (crf=dict(...)) needs {DENSE_CRF_MODULE}.'
            f'dense_crf, which could not be imported: {err}. Set crf=None '
            'to test without CRF.') from err
    fn = getattr(module, 'dense_crf', None)
    if not callable(fn):
        raise ImportError(f'{DENSE_CRF_MODULE} has no callable dense_crf')
    return fn


def load_rgb(img_path: str, shape: Sequence[int]) -> np.ndarray:
    """Read the original image for the CRF's bilateral term.

    Args:
        img_path (str): Image file (the ``img_path`` metainfo of a sample).
        shape (Sequence[int]): Expected (H, W), the prediction's size.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB image.

    Raises:
        FileNotFoundError: The image cannot be read.
        ValueError: Its size differs from ``shape``.
    """
    image = mmcv.imread(img_path, flag='color', channel_order='rgb')
    if image is None:
        raise FileNotFoundError(f'CRF: cannot read image {img_path}')
    if tuple(image.shape[:2]) != tuple(shape):
        raise ValueError(
            f'CRF: image {img_path} is {image.shape[0]}x{image.shape[1]} '
            f'but the prediction is {shape[0]}x{shape[1]}; the prediction '
            'must be at the original image size (ori_shape)')
    return np.ascontiguousarray(image.astype(np.uint8))


def crf_refine(probs: Tensor, image: np.ndarray, crf_cfg: dict,
               dense_crf: Callable) -> Tensor:
    """Refine class probabilities with a dense CRF.

    Args:
        probs (Tensor): (L, H, W) class probabilities (sum to 1 over L).
        image (np.ndarray): (H, W, 3) uint8 RGB image.
        crf_cfg (dict): Keyword arguments of ``dense_crf``.
        dense_crf (Callable): The CRF function.

    Returns:
        Tensor: (L, H, W) float32 refined probabilities, on ``probs``'s
        device.
    """
    if probs.dim() != 3 or tuple(probs.shape[1:]) != tuple(image.shape[:2]):
        raise ValueError(
            f'crf_refine: probs must be (L, H, W) matching the image '
            f'{tuple(image.shape[:2])}, got {tuple(probs.shape)}')
    prob_np = probs.detach().float().cpu().numpy()
    refined = dense_crf(image, prob_np, **crf_cfg)
    refined = torch.as_tensor(np.asarray(refined), dtype=torch.float32)
    if tuple(refined.shape) != tuple(probs.shape):
        raise ValueError(f'crf_refine: dense_crf returned shape '
                         f'{tuple(refined.shape)}, expected '
                         f'{tuple(probs.shape)}')
    return refined.to(probs.device)


def _check_crf(crf: Optional[dict], owner: str) -> Optional[dict]:
    """Validate a ``crf`` option (None or a dict of dense_crf kwargs)."""
    if crf is None:
        return None
    if not isinstance(crf, dict):
        raise TypeError(f'{owner}: crf must be None or a dict of dense_crf '
                        f'keyword arguments, got {type(crf).__name__}')
    return dict(crf)


def _set_prediction(sample, probs: Tensor) -> None:
    """Store ``log(probs)`` as seg_logits and their argmax as the mask."""
    sample.set_data({
        'seg_logits':
        PixelData(data=probs.clamp_min(_PROB_EPS).log()),
        'pred_sem_seg':
        PixelData(data=probs.argmax(dim=0, keepdim=True)),
    })


@MODELS.register_module()
class CRFEncoderDecoder(EncoderDecoder):
    """MMSeg ``EncoderDecoder`` with an optional dense CRF on its predictions.

    Note:
        The CRF runs in :meth:`postprocess_result`, after MMSeg has removed
        padding, undone flips and resized the logits to ``ori_shape``; it
        reads the image again from the sample's ``img_path``. Training is
        unchanged. ``seg_logits`` of a refined sample hold ``log`` of the
        CRF's probabilities.

    Args:
        crf (dict, optional): Keyword arguments of
            :func:`mmcpal.pseudo.crf.dense_crf` (e.g. the DeepLab-v2
            parameters); None disables the CRF. Defaults to None.
        **kwargs: :class:`mmseg.models.EncoderDecoder` arguments.
    """

    def __init__(self, *, crf: Optional[dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.crf = _check_crf(crf, 'CRFEncoderDecoder')
        self._dense_crf: Optional[Callable] = None
        if self.crf is not None:
            if self.out_channels == 1:
                raise ValueError('CRFEncoderDecoder: the CRF needs one '
                                 'output channel per class, got '
                                 'out_channels=1 (binary threshold mode)')
            self._dense_crf = import_dense_crf()

    def postprocess_result(self, seg_logits: Tensor, data_samples=None):
        """MMSeg's post-processing, then the CRF when enabled.

        Args:
            seg_logits (Tensor): (N, C, H, W) logits of the batch.
            data_samples (list[SegDataSample], optional): The samples.

        Returns:
            list[SegDataSample]: With ``seg_logits`` and ``pred_sem_seg``.
        """
        samples = super().postprocess_result(seg_logits, data_samples)
        if self.crf is None:
            return samples
        if data_samples is None:
            raise ValueError('CRFEncoderDecoder: the CRF needs data samples '
                             'with img_path metainfo to read the images')
        for sample in samples:
            probs = sample.seg_logits.data.softmax(dim=0)
            image = load_rgb(sample.img_path, probs.shape[1:])
            _set_prediction(
                sample, crf_refine(probs, image, self.crf, self._dense_crf))
        return samples


@MODELS.register_module()
class CRFSegTTAModel(SegTTAModel):
    """MMSeg's multi-scale / flip test-time augmentation plus a dense CRF.

    The softmax of every augmented prediction (already at the original image
    size) is averaged, as in ``SegTTAModel``; with ``crf`` set the average is
    then refined once by the CRF. Predictions hold ``log`` of the (refined)
    average as ``seg_logits`` and its argmax as ``pred_sem_seg``.

    Args:
        module (dict | nn.Module): The segmentor; its own CRF must be off.
        crf (dict, optional): Keyword arguments of
            :func:`mmcpal.pseudo.crf.dense_crf`; None disables the CRF.
            Defaults to None.
        data_preprocessor (dict | nn.Module, optional): Passed to
            ``BaseTTAModel``. Defaults to None.
    """

    def __init__(self,
                 module,
                 *,
                 crf: Optional[dict] = None,
                 data_preprocessor=None) -> None:
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        if getattr(self.module, 'crf', None) is not None:
            raise ValueError(
                'CRFSegTTAModel: the wrapped segmentor already applies a '
                'CRF to every augmented view; set its crf=None and give the '
                'crf option to CRFSegTTAModel only')
        self.crf = _check_crf(crf, 'CRFSegTTAModel')
        self._dense_crf: Optional[Callable] = None
        if self.crf is not None:
            if self.module.out_channels == 1:
                raise ValueError('CRFSegTTAModel: the CRF needs one output '
                                 'channel per class, got out_channels=1')
            self._dense_crf = import_dense_crf()

    def merge_preds(self, data_samples_list: List[list]) -> list:
        """Average the augmented predictions, then refine with the CRF.

        Args:
            data_samples_list (list[list[SegDataSample]]): For every image,
                its predictions under each augmentation.

        Returns:
            list[SegDataSample]: One merged prediction per image.
        """
        if self.crf is None and self.module.out_channels == 1:
            return super().merge_preds(data_samples_list)
        merged = []
        for views in data_samples_list:
            probs = torch.stack(
                [view.seg_logits.data.softmax(dim=0) for view in views])
            probs = probs.mean(dim=0)
            sample = views[0].clone()
            if self.crf is not None:
                image = load_rgb(sample.img_path, probs.shape[1:])
                probs = crf_refine(probs, image, self.crf, self._dense_crf)
            _set_prediction(sample, probs)
            merged.append(sample)
        return merged
