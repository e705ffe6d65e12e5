# MS COCO 2014 (81 classes: background + the 80 object categories) as an
# MMSeg segmentation data set, in the layout tools/prepare_coco.py writes:
#   JPEGImages/{train2014,val2014}/<id>.jpg
#   SegmentationClass/{train2014,val2014}/<id>.png   (GT, 0..80, 255)
#   ImageSets/Segmentation/{train,val}.txt
# Train on pseudo masks of train2014, validate on the GT of val2014. Class
# order: mmcpal.datasets.coco.COCO14_CLASSES (ascending COCO category id; a
# test checks that they agree). MMSeg draws a palette for 81 classes itself.
dataset_type = 'BaseSegDataset'
data_root = 'data/coco2014'
metainfo = dict(classes=(
    'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane',
    'bus', 'train', 'truck', 'boat', 'traffic_light', 'fire_hydrant',
    'stop_sign', 'parking_meter', 'bench', 'bird', 'cat', 'dog', 'horse',
    'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack',
    'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard',
    'sports_ball', 'kite', 'baseball_bat', 'baseball_glove', 'skateboard',
    'surfboard', 'tennis_racket', 'bottle', 'wine_glass', 'cup', 'fork',
    'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot_dog', 'pizza', 'donut', 'cake', 'chair',
    'couch', 'potted_plant', 'bed', 'dining_table', 'toilet', 'tv', 'laptop',
    'mouse', 'remote', 'keyboard', 'cell_phone', 'microwave', 'oven',
    'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy_bear', 'hair_drier', 'toothbrush',
))
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # COCO images have a 640 px long side: random scale factor 0.5-1.5.
    dict(
        type='RandomResize',
        scale=(640, 640),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale_factor=r, keep_ratio=True)
                for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(
    batch_size=10,  # on N GPUs use 10 // N per GPU
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(
            img_path='JPEGImages/train2014',
            # Pseudo masks: override with --cfg-options
            # train_dataloader.dataset.data_prefix.seg_map_path=DIR
            seg_map_path='SegmentationClassPseudo/train2014'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(
            img_path='JPEGImages/val2014',
            seg_map_path='SegmentationClass/val2014'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
