# ../shared/data/voc12-mini: 330 real VOC 2012 train images with image-level
# labels (image_labels.tsv). The masks are for evaluating seeds only; there is
# no validation split, so training runs without a val loop.
dataset_type = 'VOCImageLevelDataset'
data_root = '../shared/data/voc12-mini'
crop_size = 256
train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='RandomLongSideResize', scale_range=(256, 384)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithValid', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(type='mmpretrain.AveragePrecision')
