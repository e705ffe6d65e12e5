"""The synthetic demo set as an image-level data set."""
from mmcpal.registry import DATASETS
from ..voc import VOCImageLevelDataset
from .metainfo import DEMO_METAINFO


@DATASETS.register_module()
class SyntheticWSSSDataset(VOCImageLevelDataset):
    """The demo set made by :func:`generate_demo_dataset` (VOC layout).

    Same arguments as :class:`~mmcpal.datasets.voc.VOCImageLevelDataset`;
    only the metainfo differs: the six demo classes (boat, cow, train, car,
    plane, sofa) after 'background', with the first VOC colours. Labels are
    read from ``ImageSets/Segmentation/image_labels.tsv``, which the
    generator writes.

    Example:
        >>> dataset = SyntheticWSSSDataset(
        ...     data_root='data/demo',
        ...     ann_file='ImageSets/Segmentation/train.txt')
    """

    METAINFO = dict(classes=tuple(DEMO_METAINFO['classes']),
                    palette=[list(c) for c in DEMO_METAINFO['palette']])
