"""Pack a pipeline dict into model inputs and a WSSSDataSample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData

from mmcpal.registry import TRANSFORMS
from mmcpal.structures.wsss_data_sample import WSSSDataSample

DEFAULT_META_KEYS = ('img_path', 'img_id', 'ori_shape', 'img_shape', 'flip',
                     'flip_direction', 'scale_factor')


@TRANSFORMS.register_module()
class PackWSSSInputs(BaseTransform):
    """Build ``dict(inputs, data_samples)`` for mmcpal models.

    - ``inputs``: the image as a (3, H, W) tensor of its own dtype (uint8
      BGR from the loaders; normalisation is the data preprocessor's job).
    - ``data_samples``: a :class:`WSSSDataSample` with ``gt_label`` (float32
      (C,), when ``results`` has one), ``valid_mask`` (bool (1, H, W); all
      True when no crop recorded one), ``gt_sem_seg`` (int64 (1, H, W), only
      when ``gt_seg_map`` was loaded) and the ``meta_keys`` present in
      ``results`` as metainfo (absent keys are left out, as in MMSeg's
      ``PackSegInputs``).

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo. Defaults
            to ``('img_path', 'img_id', 'ori_shape', 'img_shape', 'flip',
            'flip_direction', 'scale_factor')``.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        if isinstance(meta_keys, str):
            raise TypeError(f'meta_keys must be a sequence of keys, not the '
                            f'string {meta_keys!r}')
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Pack ``results``.

        Args:
            results (dict): Must hold ``img`` (H, W[, 3]).

        Returns:
            dict: ``inputs`` (Tensor (3, H, W)) and ``data_samples``
            (WSSSDataSample).
        """
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0,
                                                                     1)))
        sample = WSSSDataSample()
        if results.get('gt_label') is not None:
            sample.gt_label = torch.as_tensor(
                np.asarray(results['gt_label']), dtype=torch.float32)
        valid = results.get('valid_mask')
        if valid is None:
            valid = np.ones(img.shape[:2], dtype=bool)
        if valid.shape != img.shape[:2]:
            raise ValueError(f'valid_mask has shape {valid.shape} but the '
                             f'image is {img.shape[:2]}')
        sample.valid_mask = PixelData(
            data=torch.from_numpy(np.ascontiguousarray(valid,
                                                       dtype=bool))[None])
        if results.get('gt_seg_map') is not None:
            seg = np.ascontiguousarray(results['gt_seg_map'], dtype=np.int64)
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(seg)[None])
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
