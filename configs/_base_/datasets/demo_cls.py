# The synthetic demo data set (tools/make_demo_data.py data/demo): images of
# 128-192 px, 6+ classes with sub-types, co-occurring contexts and small
# discriminative parts.
dataset_type = 'SyntheticWSSSDataset'
data_root = 'data/demo'
crop_size = 160
train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='RandomLongSideResize', scale_range=(128, 192)),
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
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmpretrain.AveragePrecision')
test_evaluator = val_evaluator
