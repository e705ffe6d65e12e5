# The synthetic demo set (tools/make_demo_data.py data/demo) as an MMSeg
# segmentation data set: train on pseudo masks of the train list, validate on
# the ground truth of the val list. Images are 128-192 px.
# Classes and palette: mmcpal.datasets.synthetic.DEMO_METAINFO (a test checks
# that they agree).
dataset_type = 'BaseSegDataset'
data_root = 'data/demo'
metainfo = dict(
    classes=('background', 'boat', 'cow', 'train', 'car', 'plane', 'sofa'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128],
             [128, 0, 128], [0, 128, 128]])
crop_size = (160, 160)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(160, 160),
        ratio_range=(0.75, 1.25),
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
img_ratios = [0.75, 1.0, 1.25]
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
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(
            img_path='JPEGImages',
            # Pseudo masks: override with --cfg-options
            # train_dataloader.dataset.data_prefix.seg_map_path=DIR
            seg_map_path='SegmentationClassPseudo'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
