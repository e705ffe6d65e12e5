"""Load an image's IR label map as its segmentation map."""
import os.path as osp
from typing import Optional

from mmcv.transforms import BaseTransform

from mmcpal.pseudo.mask_io import load_mask
from mmcpal.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadIRLabel(BaseTransform):
    """Read ``<ir_label_dir>/<img_id><suffix>`` into ``gt_seg_map``.

    IR labels (0 background, 1..C confident foreground, 255 unsure) are the
    training target of AMN and IRN. They are stored under ``gt_seg_map`` and
    named in ``seg_fields`` because that is the key the geometric transforms
    carry along with the image: mmcv's ``Resize`` / ``RandomFlip`` (and
    ``RandomLongSideResize`` / ``RandomRescale``, built on ``Resize``)
    handle ``gt_seg_map`` only, and ``RandomCropWithValid`` crops
    ``gt_seg_map`` and every ``seg_fields`` key (pad it with 255). Then
    ``PackWSSSInputs`` packs it as the data sample's ``gt_sem_seg``: in an
    AMN/IRN training pipeline ``gt_sem_seg`` holds the IR labels, not the
    ground truth, so do not also load the ground-truth mask (this transform
    refuses to overwrite a ``gt_seg_map`` already loaded).

    Required keys: ``img_id``; ``img`` (optional, its size is checked).
    Added keys: ``gt_seg_map`` (uint8 (H, W)), ``ir_label_path``;
    ``'gt_seg_map'`` is appended to ``seg_fields``.

    Args:
        ir_label_dir (str): Folder of the IR label PNGs (single-channel
            palette or grey, pixel values = labels).
        suffix (str): File suffix. Defaults to '.png'.
        num_classes (int, optional): When given, labels other than
            0..num_classes and ``ignore_index`` raise an error naming the
            file. Defaults to None (no check).
        ignore_index (int): The unsure label. Defaults to 255.
    """

    def __init__(self,
                 ir_label_dir: str,
                 suffix: str = '.png',
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255) -> None:
        if not isinstance(ir_label_dir, str) or not ir_label_dir:
            raise ValueError('LoadIRLabel: ir_label_dir must be a non-empty '
                             f'folder path, got {ir_label_dir!r}')
        if num_classes is not None and not (isinstance(num_classes, int)
                                            and num_classes > 0):
            raise ValueError('LoadIRLabel: num_classes must be an int > 0 or '
                             f'None, got {num_classes!r}')
        if not 0 <= ignore_index <= 255:
            raise ValueError('LoadIRLabel: ignore_index must be in 0..255, '
                             f'got {ignore_index!r}')
        self.ir_label_dir = ir_label_dir
        self.suffix = suffix
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def label_path(self, img_id: str) -> str:
        """``<ir_label_dir>/<img_id><suffix>``."""
        return osp.join(self.ir_label_dir, img_id + self.suffix)

    def transform(self, results: dict) -> dict:
        """Load the IR label map of ``results['img_id']``.

        Args:
            results (dict): The pipeline dict.

        Returns:
            dict: ``results`` with ``gt_seg_map`` = the IR labels.
        """
        img_id = results.get('img_id')
        if img_id is None:
            raise KeyError('LoadIRLabel: results have no img_id (the data '
                           'set must provide it)')
        if results.get('gt_seg_map') is not None:
            raise ValueError(
                f'LoadIRLabel: image {img_id!r} already has a gt_seg_map '
                '(LoadSegMap before LoadIRLabel?); AMN/IRN train on IR '
                'labels only: drop the ground-truth loader')
        path = self.label_path(img_id)
        if not osp.isdir(self.ir_label_dir):
            raise FileNotFoundError(
                f'LoadIRLabel: IR label folder {self.ir_label_dir!r} does '
                'not exist; make the IR labels first (CAMs -> IR labels)')
        label = load_mask(path)
        img = results.get('img')
        if img is not None and label.shape != img.shape[:2]:
            raise ValueError(
                f'LoadIRLabel: IR label {path!r} has size {label.shape} but '
                f'image {img_id!r} has {img.shape[:2]}')
        if self.num_classes is not None:
            bad = (label > self.num_classes) & (label != self.ignore_index)
            if bad.any():
                value = int(label[bad][0])
                raise ValueError(
                    f'LoadIRLabel: IR label {path!r} holds {value}, expected '
                    f'0..{self.num_classes} or {self.ignore_index}')
        results['gt_seg_map'] = label
        results['ir_label_path'] = path
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ir_label_dir='
                f'{self.ir_label_dir!r}, suffix={self.suffix!r}, '
                f'num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
