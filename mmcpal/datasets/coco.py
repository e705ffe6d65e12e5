"""MS COCO 2014 with image-level labels, in the VOC-style layout that
``tools/prepare_coco.py`` writes."""
from typing import Optional, Tuple

from mmcpal.registry import DATASETS

from .voc import VOCImageLevelDataset, voc_palette

#: The 80 COCO category ids in their standard (ascending) order; category
#: ``COCO14_CATEGORY_IDS[i]`` is mask value ``i + 1``.
COCO14_CATEGORY_IDS: Tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13,
                                        14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                                        24, 25, 27, 28, 31, 32, 33, 34, 35, 36,
                                        37, 38, 39, 40, 41, 42, 43, 44, 46, 47,
                                        48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
                                        58, 59, 60, 61, 62, 63, 64, 65, 67, 70,
                                        72, 73, 74, 75, 76, 77, 78, 79, 80, 81,
                                        82, 84, 85, 86, 87, 88, 89, 90)

#: The 80 category names in that order, spaces replaced by ``_`` so that the
#: space-separated ``classes`` column of a label table can hold them (the
#: order of ToCo's ``datasets/coco.py`` ``class_list``).
COCO14_CLASSES: Tuple[str, ...] = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic_light', 'fire_hydrant', 'stop_sign',
    'parking_meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports_ball', 'kite',
    'baseball_bat', 'baseball_glove', 'skateboard', 'surfboard',
    'tennis_racket', 'bottle', 'wine_glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot_dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted_plant',
    'bed', 'dining_table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell_phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy_bear',
    'hair_drier', 'toothbrush')


@DATASETS.register_module()
class COCO14ImageLevelDataset(VOCImageLevelDataset):
    """MS COCO 2014 for classification with image-level labels.

    The layout ``tools/prepare_coco.py`` writes under ``data_root``::

        JPEGImages/{train2014,val2014}/COCO_<split>_<12 digits>.jpg
        SegmentationClass/{train2014,val2014}/<id>.png   (0..80, 255)
        ImageSets/Segmentation/{train,val}.txt
        ImageSets/Segmentation/image_labels.tsv

    Everything else is :class:`VOCImageLevelDataset`: ids from ``ann_file``,
    labels from the label table (default), the masks or XML annotations.

    Note:
        ``data_prefix`` defaults to the train2014 folders; give
        ``dict(img_path='JPEGImages/val2014',
        seg_map_path='SegmentationClass/val2014')`` for val.

    Args:
        ann_file (str): The id list, e.g.
            ``'ImageSets/Segmentation/train.txt'``.
        data_prefix (dict, optional): ``img_path`` and ``seg_map_path``
            relative to ``data_root``. Defaults to None (the train2014
            folders).
        **kwargs: The other arguments of :class:`VOCImageLevelDataset`.
    """

    METAINFO = dict(classes=('background', ) + COCO14_CLASSES,
                    palette=voc_palette(len(COCO14_CLASSES) + 1))

    def __init__(self,
                 ann_file: str,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        prefix = dict(img_path='JPEGImages/train2014',
                      seg_map_path='SegmentationClass/train2014')
        prefix.update(data_prefix or {})
        super().__init__(ann_file=ann_file, data_prefix=prefix, **kwargs)
