"""Loading transforms whose errors name the file and the problem."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations

from mmcpal.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageChecked(LoadImageFromFile):
    """Load an image like mmcv's ``LoadImageFromFile``, with clear errors.

    mmcv reports a missing file with the backend's bare message and a
    corrupt one with ``failed to load image``; this transform raises instead
    ``FileNotFoundError`` / ``ValueError`` naming ``results['img_path']`` and
    the problem. With ``ignore_empty=True`` it returns None on any failure,
    as mmcv does (the data set then fetches another sample).

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``,
    ``ori_shape``.

    Args:
        to_float32 (bool): Convert the image to float32. Defaults to False.
        color_type (str): ``mmcv.imfrombytes`` flag. Defaults to 'color'.
        imdecode_backend (str): Decoding backend. Defaults to 'cv2'.
        ignore_empty (bool): Return None instead of raising. Defaults to
            False.
        backend_args (dict, optional): File backend arguments. Defaults to
            None.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 ignore_empty: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(
            to_float32=to_float32,
            color_type=color_type,
            imdecode_backend=imdecode_backend,
            ignore_empty=ignore_empty,
            backend_args=backend_args)

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``; raise a named error on failure.

        Args:
            results (dict): Must hold ``img_path``.

        Returns:
            dict | None: ``results`` with the image, or None when
            ``ignore_empty`` and the image could not be read.
        """
        path = results['img_path']
        try:
            out = super().transform(results)
        except Exception as e:
            if self.ignore_empty:
                return None
            if isinstance(e, FileNotFoundError):
                raise FileNotFoundError(
                    f'image file not found: {path}') from None
            raise ValueError(
                f'cannot decode image file {path}: empty, truncated or not '
                f'an image ({type(e).__name__}: {e})') from None
        return out


@TRANSFORMS.register_module()
class LoadSegMap(LoadAnnotations):
    """Load the ground-truth mask when there is one (MMSeg's loader).

    A thin wrapper of MMSeg's ``LoadAnnotations`` (Pillow decoding keeps the
    palette indices) that is a no-op when ``results['seg_map_path']`` is None
    (images without a mask), so one pipeline serves images with and without
    ground truth; ``gt_seg_map`` is then absent and ``PackWSSSInputs`` adds
    no ``gt_sem_seg``. A missing or corrupt mask file raises an error naming
    it. ``reduce_zero_label`` is taken from ``results`` (False for our data
    sets).

    Required keys: ``seg_map_path`` (may be None), ``reduce_zero_label``
    (optional, default False), ``seg_fields`` (optional, default []).
    Added keys: ``gt_seg_map`` (uint8 (H, W)); ``'gt_seg_map'`` is appended
    to ``seg_fields``.

    Args:
        imdecode_backend (str): Decoding backend. Defaults to 'pillow'.
        backend_args (dict, optional): File backend arguments. Defaults to
            None.
    """

    def __init__(self,
                 imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(
            imdecode_backend=imdecode_backend, backend_args=backend_args)

    def transform(self, results: dict) -> dict:
        """Load the mask at ``results['seg_map_path']`` unless it is None.

        Args:
            results (dict): The pipeline dict.

        Returns:
            dict: ``results``, with ``gt_seg_map`` when a mask was loaded.
        """
        path = results.get('seg_map_path')
        if path is None:
            return results
        results.setdefault('reduce_zero_label', False)
        results.setdefault('seg_fields', [])
        try:
            return super().transform(results)
        except FileNotFoundError:
            raise FileNotFoundError(f'mask file not found: {path}') from None
        except Exception as e:
            raise ValueError(
                f'cannot decode mask file {path}: empty, truncated or not '
                f'an image ({type(e).__name__}: {e})') from None
